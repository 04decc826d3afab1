import {Flags} from '@oclif/core'

import {GwCommand} from '../../src/cli/base.js'
import {fleetFlags} from '../../src/cli/flags.js'

export default class LocksClear extends GwCommand {
  static override summary = 'Remove the lock on the selected hosts (after a crashed run).'
  static override description = `Removes <remoteDir>/state/lock on each selected host, whoever holds it, and prints whose lock it was. Use it when a run died without releasing its locks and you do not want to wait for them to expire. A lock that is still live belongs to a run that may be working: clearing it lets another run start on that host at the same time, so check "locks list" first. Needs --yes.`
  static override examples = [
    {description: 'Clear the lock a crashed run left on one gateway', command: '<%= config.bin %> locks clear -i fleet.yaml -l berlin-1 --yes'},
    {description: 'Clear every lock in a site', command: '<%= config.bin %> locks clear -i fleet.yaml -l site=boston --yes --json'},
  ]
  static override flags = {
    ...fleetFlags,
    yes: Flags.boolean({char: 'y', description: 'confirm: remove the locks'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(LocksClear)
    const {locksCommand} = await import('../../src/cli/ops.js')
    await this.perform(flags.json, () => locksCommand('clear', flags))
  }
}
