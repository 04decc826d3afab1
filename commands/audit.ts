import {GwCommand} from '../src/cli/base.js'
import {fleetFlags, outputFileFlag, outputFlag, saveFlag} from '../src/cli/flags.js'

export default class Audit extends GwCommand {
  static override summary = 'What runs where, and what is off: the fleet version audit.'
  static override description = `Reads every selected gateway in parallel: reachable or why not, the installed agent version, the desired version, whether the values on the host match what the inventory renders now (no value is ever printed), and the last change. Status is in-sync, drift, not-installed, unreachable (network, sshd) or failed with its cause (a key or sudo problem, or a cluster that cannot say whether a gateway runs); installed or not is decided as status and logs decide it; problems are listed first, then a count per version. Changes nothing. Exit code 0 only when every gateway is reachable and in sync, so it can run from cron or CI.

--output prometheus prints metrics in the node_exporter textfile-collector format (gwfleet_gateway_info, gwfleet_gateway_in_sync, gwfleet_gateway_reachable, gwfleet_gateway_values_in_sync, gwfleet_gateways by status, gwfleet_audit_timestamp_seconds); with --output-file the output replaces FILE in one step, so a collector never reads half a file. Keeps no run folder unless --save.`
  static override examples = [
    {description: 'The fleet at a glance', command: '<%= config.bin %> audit -i fleet.yaml'},
    {description: 'For a spreadsheet', command: '<%= config.bin %> audit -i fleet.yaml --output csv > fleet.csv'},
    {description: 'From CI', command: '<%= config.bin %> audit -i fleet.yaml --json'},
    {description: 'Metrics for node_exporter (from cron)', command: '<%= config.bin %> audit -i fleet.yaml --output prometheus --output-file /var/lib/node_exporter/textfile_collector/gwfleet.prom'},
  ]
  static override flags = {
    ...fleetFlags,
    output: outputFlag,
    'output-file': outputFileFlag,
    save: saveFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Audit)
    const {auditCommand} = await import('../src/cli/actions.js')
    await this.perform(flags.json, () => auditCommand(flags))
  }
}
