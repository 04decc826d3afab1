// The base of every gwfleet command: bad flags become exit 2 (as JSON with --json), like bad input.
import {Command} from '@oclif/core'

/** Base class: maps oclif's own parse errors to SPEC's exit 2 and JSON error document. */
export abstract class GwCommand extends Command {
  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<any> {
    // A parse error (unknown flag, missing value): bad input.
    if (err.oclif?.exit !== undefined && err.oclif.exit !== 0 && !(err as any).code?.startsWith?.('EEXIT')) {
      const msg = err.message
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && l !== 'The following error occurred:' && !l.startsWith('See more help'))
        .join(' ')
        .replace(/Missing required flag (\w[\w-]*)/, 'Missing required flag --$1')
      if (this.argv.includes('--json')) process.stdout.write(JSON.stringify({ok: false, error: msg}) + '\n')
      else process.stderr.write(`gwfleet: error: ${msg}\nSee: gwfleet ${this.id ?? ''} --help\n`)
      process.exitCode = 2
      return
    }
    return super.catch(err)
  }
}
