import {Args, Flags} from '@oclif/core'

import {GwCommand} from '../../src/cli/base.js'
import {fleetFlags} from '../../src/cli/flags.js'

export default class RunsShow extends GwCommand {
  static override summary = "One run's gateways and their results, and where its folder is."
  static override description = `Prints a run's command, operator, times and inventory, the table of its gateways (status, action, from and to version, detail), the count per status, and the path of its run folder (with the logs of each host). ID is a run id from "gwfleet runs", or the start of one that only one run has.

--log GATEWAY prints that gateway's log from the run folder instead (secrets masked, as it was written; _run is the run's own log).`
  static override examples = [
    {description: 'A run by its id', command: '<%= config.bin %> runs show 20261128T114702Z-deploy-14075'},
    {description: 'By the start of its id', command: '<%= config.bin %> runs show 20261128T1147'},
    {description: "What happened on one gateway's host in that run", command: '<%= config.bin %> runs show 20261128T1147 --log berlin-1'},
  ]
  static override args = {
    id: Args.string({description: 'the run id (or its unique start)', required: true}),
  }
  static override flags = {
    json: fleetFlags.json,
    log: Flags.string({description: "print this gateway's log from the run folder", helpValue: 'GATEWAY'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(RunsShow)
    const {runsShowCommand} = await import('../../src/cli/runs.js')
    await this.perform(flags.json, () => runsShowCommand(args.id, flags))
  }
}
