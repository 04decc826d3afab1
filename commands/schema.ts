import {GwCommand} from '../src/cli/base.js'

export default class Schema extends GwCommand {
  static override summary = 'Print the JSON Schema of the inventory, for editors.'
  static override description = `The schema is generated from the checks gwfleet itself runs on an inventory (keys, types, version and name patterns), with a description of each key. Point your editor's YAML support at it with a first line such as

  # yaml-language-server: $schema=./inventory.schema.json

The package ships the same file as inventory.schema.json. Checks the schema cannot express (host names, jump syntax, values files) are made by gwfleet validate.`
  static override examples = [
    {description: 'Save it beside the inventory', command: '<%= config.bin %> schema > inventory.schema.json'},
  ]

  async run(): Promise<void> {
    await this.parse(Schema)
    const {inventoryJsonSchema} = await import('../src/inventory/schema.js')
    await this.perform(false, async () => {
      process.stdout.write(`${JSON.stringify(inventoryJsonSchema(), null, 2)}\n`)
      return 0
    })
  }
}
