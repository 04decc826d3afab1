import {Args} from '@oclif/core'

import {GwCommand} from '../src/cli/base.js'
import {fleetFlags, lastFlag, saveFlag} from '../src/cli/flags.js'

export default class History extends GwCommand {
  static override summary = 'The changes gwfleet recorded on each host: who, when, what, from, to, result.'
  static override description = `Every deploy, upgrade hop and uninstall appends one line to <remoteDir>/state/history.jsonl on the host (operator, time, command, action, from and to version, values sha256, result). This reads it for one gateway (the argument) or the gateways --limit selects (else the whole fleet) and prints the changes oldest first. Changes nothing.`
  static override examples = [
    {description: 'What happened to one gateway', command: '<%= config.bin %> history berlin-1 -i fleet.yaml'},
    {description: 'The last 20 changes across the fleet', command: '<%= config.bin %> history -i fleet.yaml --last 20'},
    {description: 'As JSON', command: '<%= config.bin %> history -i fleet.yaml -l site=boston --json'},
  ]
  static override args = {
    gateway: Args.string({description: 'one gateway, by its name in the inventory (else --limit, else the whole fleet)', required: false}),
  }
  static override flags = {
    ...fleetFlags,
    last: lastFlag,
    save: saveFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(History)
    const {historyCommand} = await import('../src/cli/ops.js')
    await this.perform(flags.json, () => historyCommand(args.gateway, flags))
  }
}
