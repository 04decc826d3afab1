import {Flags} from '@oclif/core'

import {GwCommand} from '../src/cli/base.js'
import {fleetFlags} from '../src/cli/flags.js'

export default class Runs extends GwCommand {
  static override summary = 'The recent runs on this workstation: when, what, who, and how each ended.'
  static override description = `Lists the run folders under ~/.gwfleet/runs (or $GWFLEET_HOME/runs), newest first: the run's id, start time, command, operator, inventory and its gateways counted by status. deploy, upgrade, uninstall and locks clear always keep a run folder; audit, preflight, status, logs, history and locks list keep one only with --save. Each folder holds a log per host (secrets masked), result.json (the command's JSON document) and run.json (the summary listed here).

When a run folder is made, older ones are deleted: beyond the newest 100 (GWFLEET_KEEP_RUNS) and those that started more than 30 days ago (GWFLEET_KEEP_DAYS); 0 turns either limit off. Reads only this workstation; connects to no host.`
  static override examples = [
    {description: 'The last 20 runs', command: '<%= config.bin %> runs'},
    {description: 'The last 5, as JSON', command: '<%= config.bin %> runs -n 5 --json'},
    {description: 'One run in detail', command: '<%= config.bin %> runs show 20261128T114702Z-deploy-14075'},
  ]
  static override flags = {
    json: fleetFlags.json,
    last: Flags.integer({char: 'n', description: 'how many runs to list, newest first', default: 20, min: 1, helpValue: 'N'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Runs)
    const {runsCommand} = await import('../src/cli/runs.js')
    await this.perform(flags.json, () => runsCommand(flags))
  }
}
