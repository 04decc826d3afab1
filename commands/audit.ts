import {GwCommand} from '../src/cli/base.js'
import {fleetFlags, outputFlag} from '../src/cli/flags.js'

export default class Audit extends GwCommand {
  static override summary = 'What runs where, and what is off: the fleet version audit.'
  static override description = `Reads every selected gateway in parallel: reachable or why not, the installed agent version, the desired version, whether the values on the host match what the inventory renders now (no value is ever printed), and the last change. Status is in-sync, drift, not-installed, unreachable (network, sshd) or failed with its cause (a key or sudo problem, or a cluster that cannot say whether a gateway runs); installed or not is decided as status and logs decide it; problems are listed first, then a count per version. Changes nothing. Exit code 0 only when every gateway is reachable and in sync, so it can run from cron or CI.`
  static override examples = [
    {description: 'The fleet at a glance', command: '<%= config.bin %> audit -i fleet.yaml'},
    {description: 'For a spreadsheet', command: '<%= config.bin %> audit -i fleet.yaml --output csv > fleet.csv'},
    {description: 'From CI', command: '<%= config.bin %> audit -i fleet.yaml --json'},
  ]
  static override flags = {
    ...fleetFlags,
    output: outputFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Audit)
    const {auditCommand} = await import('../src/cli/actions.js')
    await this.perform(flags.json, () => auditCommand(flags))
  }
}
