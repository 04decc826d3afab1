import {GwCommand} from '../src/cli/base.js'
import {fleetFlags, saveFlag} from '../src/cli/flags.js'

export default class Diff extends GwCommand {
  static override summary = 'What a deploy would change: per gateway the version path and the values, key by key.'
  static override description = `Reads every selected gateway (as root, like audit) and compares it with the inventory: the version path a deploy would take (from, each hop, to) and the values the host was deployed with against what the inventory renders now, key by key, as data (comments, quoting, key order and whitespace are not changes). Values that come from \${env:...} or \${file:...} are never shown on either side: such keys read <secret changed> or <secret unchanged>. Changes nothing. Exit code 0 when no gateway would change, 1 when one would (or could not be read, or a deploy would refuse it), 2 for bad input. deploy --dry-run --diff prints the same.`
  static override examples = [
    {description: 'What would the next deploy change?', command: '<%= config.bin %> diff -i fleet.yaml'},
    {description: 'The canary ring, as data', command: '<%= config.bin %> diff -i fleet.yaml -l ring=canary --json'},
  ]
  static override flags = {...fleetFlags, save: saveFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(Diff)
    const {diffCommand} = await import('../src/cli/diff.js')
    await this.perform(flags.json, () => diffCommand(flags))
  }
}
