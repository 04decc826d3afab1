import {Flags} from '@oclif/core'

import {GwCommand} from '../src/cli/base.js'
import {batchSizeFlag, changeFlags, fleetFlags} from '../src/cli/flags.js'

export default class Uninstall extends GwCommand {
  static override summary = 'Remove the gateway from the selected hosts.'
  static override description = `Runs k3s-uninstall.sh (from /usr/local/bin or /usr/bin), then removes Cilium's links and iptables rules unless the gateway's values set cilium.enabled: false. Never deletes the datasets folder (dal.sources.files.folder) or the DAL storage path. Asks for confirmation on a terminal; scripts pass --yes; without either it refuses.`
  static override examples = [
    {description: 'Remove one gateway, asking first', command: '<%= config.bin %> uninstall -i fleet.yaml -l boston-1'},
    {description: 'From a script', command: '<%= config.bin %> uninstall -i fleet.yaml -l site=lab --yes --json'},
  ]
  static override flags = {
    ...fleetFlags,
    ...changeFlags,
    yes: Flags.boolean({char: 'y', description: 'do not ask for confirmation'}),
    'batch-size': batchSizeFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Uninstall)
    const [{changeCommand}, {uninstall}] = await Promise.all([import('../src/cli/actions.js'), import('../src/runner/kinds/uninstall.js')])
    await this.perform(flags.json, () => changeCommand(uninstall, flags))
  }
}
