import {GwCommand} from '../src/cli/base.js'
import {changeFlags, firstFlag, fleetFlags, keepReleasesFlag, rolloutBatchSizeFlag, toFlag} from '../src/cli/flags.js'

export default class Upgrade extends GwCommand {
  static override summary = 'Rolling upgrade of installed gateways to a version, one minor at a time.'
  static override description = `Walks each installed gateway release by release to --to VERSION (for every series in between, the highest patch in the release folder), verifying each hop before the next. Never installs new gateways. Starts with a canary batch of one (the gateways --first or the inventory's rollout.first selects come first, then the rest in inventory order); when failures exceed --max-fail no further batch starts and the rest are skipped. The budget is printed before the rollout starts: failed and unreachable gateways both count (also those found unreachable before the first batch), added up across batches; a percentage is of the selected gateways, rounded down (10% of 15 tolerates 1); it is checked before the first batch and when each batch ends, so the running batch finishes. A failed hop leaves the gateway at its last good version; rerunning continues from what each host actually runs. After each recorded hop the host keeps the release it runs and the one before; older ones are removed (--keep-releases).`
  static override examples = [
    {description: 'Upgrade everything to 1.6.0, canary first', command: '<%= config.bin %> upgrade -i fleet.yaml --to 1.6.0'},
    {description: 'See the hops and batches first', command: '<%= config.bin %> upgrade -i fleet.yaml --to 1.6.0 --dry-run'},
    {description: 'The canary ring first, then the rest', command: '<%= config.bin %> upgrade -i fleet.yaml --to 1.6.0 --first ring=canary'},
    {description: 'Custom batches, tolerate 10% failures', command: '<%= config.bin %> upgrade -i fleet.yaml --to 1.6.0 --batch-size 2,5,50% --max-fail 10%'},
  ]
  static override flags = {
    ...fleetFlags,
    ...changeFlags,
    to: toFlag,
    'batch-size': rolloutBatchSizeFlag,
    first: firstFlag,
    'keep-releases': keepReleasesFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Upgrade)
    const [{changeCommand}, {upgrade}] = await Promise.all([import('../src/cli/actions.js'), import('../src/runner/kinds/upgrade.js')])
    await this.perform(flags.json, () => changeCommand(upgrade, flags))
  }
}
