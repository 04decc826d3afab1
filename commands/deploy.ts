import {Flags} from '@oclif/core'

import {GwCommand} from '../src/cli/base.js'
import {changeFlags, diffFlag, firstFlag, fleetFlags, keepReleasesFlag, rolloutBatchSizeFlag} from '../src/cli/flags.js'

export default class Deploy extends GwCommand {
  static override summary = 'Bring every selected gateway to its desired version with its values.'
  static override description = `Installs where no gateway runs, reconfigures where the values changed, upgrades hop by hop (one minor at a time) where older, and does nothing where in sync. Refusals (downgrades, missing release series) are decided before anything changes on that host.

A gateway marked \`state: absent\` in the inventory is removed as uninstall removes it. Removing gateways and --reinstall ask for confirmation on a terminal; scripts pass --yes; without either the run refuses before any host is touched.

Each host gets one SSH connection; release files and values are uploaded only when their sha256 differs from what the host already has. The installer runs as root and must report both "Deployed versions" with the right agent version and "All services are ready.". Once a hop is recorded, older releases are removed from <remoteDir>/releases: the host keeps the one it runs and the one before (--keep-releases, rollout.keepReleases); a release that cannot be removed is a note, not a failure.

The rollout goes in batches, by default a canary of one, then the rest (--batch-size 1,100%): the gateways --first (or the inventory's rollout.first) selects fill the first batches, then the rest follow in inventory order; the dry run lists the batches. The failure budget is printed before the rollout starts: failed and unreachable gateways both count, added up across batches; a percentage is of the selected gateways, rounded down; when a batch ends past the budget, no further batch starts.`
  static override examples = [
    {description: 'Deploy the whole fleet', command: '<%= config.bin %> deploy -i fleet.yaml'},
    {description: 'Show the plan for the canary ring only', command: '<%= config.bin %> deploy -i fleet.yaml -l ring=canary --dry-run'},
    {description: 'The canary ring first, then the rest', command: '<%= config.bin %> deploy -i fleet.yaml --first ring=canary'},
    {description: 'Run the installer of the desired version again on one broken gateway', command: '<%= config.bin %> deploy -i fleet.yaml -l lyon-1 --reinstall'},
    {description: 'Roll out in batches (1 canary, then quarters), tolerating one failure', command: '<%= config.bin %> deploy -i fleet.yaml --batch-size 1,25% --max-fail 1'},
  ]
  static override flags = {
    ...fleetFlags,
    ...changeFlags,
    'batch-size': rolloutBatchSizeFlag,
    first: firstFlag,
    'keep-releases': keepReleasesFlag,
    diff: diffFlag,
    'skip-preflight': Flags.boolean({description: 'do not run the prerequisite checks on hosts about to be installed'}),
    reinstall: Flags.boolean({
      description:
        "run the desired version's installer again on the selected gateways, whatever their cluster reports (a version off the chain, a broken install), then verify as usual; asks for confirmation like uninstall",
    }),
    yes: Flags.boolean({char: 'y', description: 'do not ask for confirmation (--reinstall, and gateways marked state: absent, which deploy removes)'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Deploy)
    const [{changeCommand}, {deploy}] = await Promise.all([import('../src/cli/actions.js'), import('../src/runner/kinds/deploy.js')])
    await this.perform(flags.json, () => changeCommand(deploy, flags))
  }
}
