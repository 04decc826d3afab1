import {GwCommand} from '../src/cli/base.js'
import {fleetFlags} from '../src/cli/flags.js'

export default class Validate extends GwCommand {
  static override summary = 'Check the inventory, values, secrets and release folder without touching a host (for CI).'
  static override description = `Runs every check a deploy makes on the workstation, and opens no SSH connection: the inventory; each selected gateway's values file (vendor placeholders, the types of the keys the installation guide documents, and every \${env:NAME} / \${file:PATH} reference: which resolve here and which do not; a value is never printed); the release folder (the desired versions' zips and every zip the upgrade policy may install on the way to them, read through and checked); and the upgrade policy: the hops to each desired version from every older series in the folder (a series that cannot get there is a warning).

Exit code 0 when a deploy of the selection would accept all its input, 2 when it would not.`
  static override examples = [
    {description: 'Check the whole inventory', command: '<%= config.bin %> validate -i fleet.yaml'},
    {description: 'In CI, as JSON', command: '<%= config.bin %> validate -i fleet.yaml --json > validate.json'},
    {description: 'Only the canary ring', command: '<%= config.bin %> validate -i fleet.yaml -l ring=canary'},
  ]
  static override flags = {
    inventory: fleetFlags.inventory,
    limit: fleetFlags.limit,
    json: fleetFlags.json,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Validate)
    const {validateCommand} = await import('../src/cli/validate.js')
    await this.perform(flags.json, () => validateCommand(flags))
  }
}
