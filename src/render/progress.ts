// Progress while a run goes: live rows on a terminal, timestamped lines otherwise, nothing with --json.
// Progress goes to stderr only, so stdout keeps the table or the JSON document whatever it is piped to.
import type {HostResult} from '../runner/result.js'
import {LiveReporter} from './live.js'
import {statusWord} from './words.js'
import type {Mask, Reporter} from './reporter.js'
import {displayLine} from './sanitize.js'

/** Timestamped lines on stderr: for logs, CI and pipes. */
export class PlainReporter implements Reporter {
  constructor(private readonly mask: Mask, private readonly out: NodeJS.WritableStream = process.stderr) {}
  private print(s: string) {
    this.out.write(`${new Date().toISOString().slice(11, 19)} ${this.mask(s)}\n`)
  }
  begin(hosts: {name: string}[], title: string): void {
    this.print(`${title}: ${hosts.length} gateway(s)`)
  }
  step(name: string, text: string): void {
    this.print(`${name}: ${text}`)
  }
  line(): void {
    // Installer output goes to the run folder's logs; a fleet's worth would drown the terminal.
  }
  done(r: HostResult, planned = false): void {
    this.print(`${r.name}: ${statusWord(r, planned)}${r.error ? ` - ${r.error}` : ''}`)
  }
  verdict(name: string, label: string): void {
    this.print(`${name}: ${label}`)
  }
  notice(text: string): void {
    this.print(text)
  }
  suspend<T>(fn: () => Promise<T>): Promise<T> {
    return fn()
  }
  async end(): Promise<void> {}
}

/** Prints nothing: --json keeps stdout for the document, and stderr quiet. */
export class SilentReporter implements Reporter {
  begin(): void {}
  step(): void {}
  line(): void {}
  done(): void {}
  verdict(): void {}
  notice(): void {}
  suspend<T>(fn: () => Promise<T>): Promise<T> {
    return fn()
  }
  async end(): Promise<void> {}
}

/** True when stderr is a terminal that can show live rows (GWFLEET_PLAIN=1, CI and TERM=dumb ask for plain lines). */
export function liveTerminal(env: NodeJS.ProcessEnv = process.env, err: {isTTY?: boolean; columns?: number} = process.stderr): boolean {
  // A terminal without a usable width (some CI log viewers) gets plain lines too.
  return Boolean(err.isTTY) && (err.columns ?? 0) >= 40 && env.GWFLEET_PLAIN !== '1' && env.CI === undefined && env.TERM !== 'dumb'
}

/** Pick the reporter for this terminal. */
export function makeReporter(opts: {json: boolean; mask: Mask}): Reporter {
  if (opts.json) return new SilentReporter()
  // Secrets masked first, then host text made inert for the terminal.
  const mask: Mask = (s) => displayLine(opts.mask(s))
  if (liveTerminal()) return new LiveReporter(mask)
  return new PlainReporter(mask)
}
