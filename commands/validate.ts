import {Flags} from '@oclif/core'

import {GwCommand} from '../src/cli/base.js'
import {fleetFlags} from '../src/cli/flags.js'

export default class Validate extends GwCommand {
  static override summary = 'Check the inventory, values, secrets and release folder without touching a host (for CI).'
  static override description = `Runs every check a deploy makes on the workstation, and opens no SSH connection: the inventory; each selected gateway's values file (vendor placeholders, the types of the keys the installation guide documents, keys the guide does not document, with the documented key probably meant, and every \${env:NAME} / \${file:PATH} reference: which resolve here and which do not; a value is never printed); the release folder (the desired versions' zips and every zip the upgrade policy may install on the way to them, read through and checked); and the upgrade policy: the hops to each desired version from every older series in the folder (a series that cannot get there is a warning).

Exit code 0 when a deploy of the selection would accept all its input, 2 when it would not. A values key the guide does not document (auth.domian, gpu.enabeld) is a warning naming file, line and key, since the chart may know keys the guide leaves out; --strict makes it an error. Below proxy (left by the guide to the Helm chart's README) any key is fine.`
  static override examples = [
    {description: 'Check the whole inventory', command: '<%= config.bin %> validate -i fleet.yaml'},
    {description: 'In CI, as JSON', command: '<%= config.bin %> validate -i fleet.yaml --json > validate.json'},
    {description: 'Only the canary ring', command: '<%= config.bin %> validate -i fleet.yaml -l ring=canary'},
    {description: 'Fail on values keys the vendor guide does not know (typos)', command: '<%= config.bin %> validate -i fleet.yaml --strict'},
  ]
  static override flags = {
    inventory: fleetFlags.inventory,
    limit: fleetFlags.limit,
    json: fleetFlags.json,
    strict: Flags.boolean({description: 'values keys the vendor installation guide does not document are errors (exit 2), not warnings'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Validate)
    const {validateCommand} = await import('../src/cli/validate.js')
    await this.perform(flags.json, () => validateCommand(flags))
  }
}
