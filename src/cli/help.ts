// Root help that lists commands by what an operator wants to do, not alphabetically.
import {Help} from '@oclif/core'

const GROUPS: [string, string[]][] = [
  ['ROLL OUT', ['deploy', 'upgrade', 'uninstall']],
  ['LOOK AT THE FLEET', ['audit', 'diff', 'preflight', 'status', 'logs', 'history']],
  ['LOCKS', ['locks list', 'locks clear']],
  ['THIS WORKSTATION', ['runs', 'runs show', 'completion']],
]

/** gwfleet's help class (package.json oclif.helpClass). */
export default class GwHelp extends Help {
  protected override async showRootHelp(): Promise<void> {
    this.log(this.formatRoot())
    this.log('')
    const byId = new Map(this.sortedCommands.map((c) => [c.id.replace(/:/g, ' '), c]))
    const width = Math.max(...[...byId.keys()].map((k) => k.length))
    const shown = new Set<string>()
    for (const [title, ids] of GROUPS) {
      const rows = ids.filter((id) => byId.has(id))
      if (!rows.length) continue
      this.log(title)
      for (const id of rows) {
        shown.add(id)
        this.log(`  ${id.padEnd(width)}  ${this.summary(byId.get(id)!) ?? ''}`)
      }
      this.log('')
    }
    const rest = [...byId.keys()].filter((id) => !shown.has(id))
    if (rest.length) {
      this.log('MORE')
      for (const id of rest) this.log(`  ${id.padEnd(width)}  ${this.summary(byId.get(id)!) ?? ''}`)
      this.log('')
    }
    this.log('Run `gwfleet COMMAND --help` for a command\'s flags and examples.')
  }
}
