// The base of every gwfleet command: bad flags become exit 2 (as JSON with --json), like bad input,
// and a command's work sets the exit code instead of throwing. A command class loads only this and
// flags.ts; the rest of gwfleet is imported when the command runs, so --help (which loads the
// class to show the flags' defaults) stays quick.
import {Command} from '@oclif/core'

import {InputError} from '../errors.js'
import {FlagValueError} from './flags.js'
import {unknownFlagsMessage} from './suggest.js'

/**
 * Output that cannot be written (`| head -1` left, the terminal closed: EPIPE, EIO) is dropped
 * quietly: the run still completes on the hosts, writes its run folder and releases its locks.
 */
export function dropUnwritableOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.removeAllListeners('error')
    stream.on('error', () => undefined)
  }
}

/** oclif's parse error as one line. */
function parseErrorText(message: string): string {
  return message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && l !== 'The following error occurred:' && !l.startsWith('See more help'))
    .join(' ')
    .replace(/Missing required flag (\w[\w-]*)/, 'Missing required flag --$1')
}

/** Base class: runs a command's work and maps oclif's parse errors to SPEC's exit 2 and JSON error document. */
export abstract class GwCommand extends Command {
  /** Runs the command's work after parsing; its exit code, or its error reported (as JSON with `json`), ends the process. */
  protected async perform(json: boolean, work: () => Promise<number>): Promise<void> {
    dropUnwritableOutput()
    const {reportError} = await import('./common.js')
    process.exitCode = await work().catch((e) => reportError(e, json))
  }

  protected override async catch(err: Error & {code?: unknown; oclif?: {exit?: number}}): Promise<any> {
    const json = this.argv.includes('--json')
    // The command line was read and refused: not a command that skipped parsing (oclif warns of
    // those after the run whenever NODE_ENV is development or test).
    this.parsed = true
    // A value one of gwfleet's typed flags refused (src/cli/flags.ts): bad input, named by its flag.
    if (err instanceof FlagValueError) {
      const {reportError} = await import('./common.js')
      process.exitCode = reportError(new InputError(err.reason, {file: err.flag}), json)
      return
    }
    // oclif's own parse errors (unknown flag, missing value, missing required flag): bad input.
    if (err.oclif?.exit !== undefined && err.oclif.exit !== 0 && !(typeof err.code === 'string' && err.code.startsWith('EEXIT'))) {
      const unknown = (err as {flags?: unknown}).flags
      // A flag the command does not have: named, with the closest one it has (as for commands).
      const msg = Array.isArray(unknown) && /^Nonexistent flags?:/.test(err.message) ? unknownFlagsMessage(unknown.map(String), {...this.ctor.flags, help: {}}) : parseErrorText(err.message)
      if (json) process.stdout.write(JSON.stringify({ok: false, error: msg}) + '\n')
      else process.stderr.write(`gwfleet: error: ${msg}\nSee: gwfleet ${(this.id ?? '').replace(/:/g, ' ')} --help\n`)
      process.exitCode = 2
      return
    }
    return super.catch(err)
  }
}
