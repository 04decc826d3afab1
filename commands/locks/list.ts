import {GwCommand} from '../../src/cli/base.js'
import {fleetFlags, saveFlag} from '../../src/cli/flags.js'

export default class LocksList extends GwCommand {
  static override summary = "Show who holds each selected host's lock, and for how long."
  static override description = `deploy, upgrade and uninstall hold a lock on each host they work on (<remoteDir>/state/lock: user@workstation, pid, command, start time), refreshed while they run. This lists each selected host's lock: free, held (a run is working there) or expired (its run went away; the next run takes it over). Changes nothing.`
  static override examples = [
    {description: 'Locks across the fleet', command: '<%= config.bin %> locks list -i fleet.yaml'},
    {description: 'One site, as JSON', command: '<%= config.bin %> locks list -i fleet.yaml -l site=berlin --json'},
  ]
  static override flags = {...fleetFlags, save: saveFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(LocksList)
    const {locksCommand} = await import('../../src/cli/ops.js')
    await this.perform(flags.json, () => locksCommand('list', flags))
  }
}
