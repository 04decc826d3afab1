// Progress while a run goes: live rows on a terminal, timestamped lines otherwise, nothing with --json.
// Progress goes to stderr only, so stdout keeps the table or the JSON document whatever it is piped to.
import type {HostResult} from '../runner/result.js'
import {LiveReporter} from './live.js'
import {statusWord} from './words.js'
import type {Mask, Reporter} from './reporter.js'
import {displayLine} from './sanitize.js'
import {duration} from '../util/duration.js'

/** How long a working host may print nothing before the plain lines say so (and again after as long). */
export const QUIET_NOTICE_MS = 60_000

/**
 * Timestamped lines on stderr: for logs, CI and pipes. Installer output is not printed (the run
 * folder has it), so a host that has printed nothing for a minute gets a line saying how long it
 * has been at its step and how long it has been quiet (a hung installer shows as hung), and a
 * result says how long the host took.
 */
export class PlainReporter implements Reporter {
  private hosts = new Map<string, {step: string; started: number; quietSince: number; told: number}>()
  /** Hosts with their result: a late step is printed, not watched. */
  private finished = new Set<string>()
  private timer?: NodeJS.Timeout

  constructor(
    private readonly mask: Mask,
    private readonly out: NodeJS.WritableStream = process.stderr,
    private readonly clock: {now: () => number; quietMs: number} = {now: Date.now, quietMs: QUIET_NOTICE_MS},
  ) {}
  private print(s: string) {
    this.out.write(`${new Date(this.clock.now()).toISOString().slice(11, 19)} ${this.mask(s)}\n`)
  }
  begin(hosts: {name: string}[], title: string): void {
    this.print(`${title}: ${hosts.length} gateway(s)`)
    this.timer = setInterval(() => this.tellQuiet(), Math.max(1000, Math.floor(this.clock.quietMs / 4)))
    this.timer.unref()
  }
  step(name: string, text: string): void {
    const now = this.clock.now()
    const h = this.hosts.get(name)
    if (!this.finished.has(name)) this.hosts.set(name, {step: text, started: h?.started ?? now, quietSince: now, told: now})
    this.print(`${name}: ${text}`)
  }
  line(name: string, _text?: string): void {
    // Installer output goes to the run folder's logs; a fleet's worth would drown the terminal.
    const h = this.hosts.get(name)
    if (h) h.quietSince = h.told = this.clock.now()
  }
  done(r: HostResult, planned = false): void {
    this.print(`${r.name}: ${statusWord(r, planned)}${this.took(r.name)}${r.error ? ` - ${r.error}` : ''}`)
  }
  verdict(name: string, label: string): void {
    this.print(`${name}: ${label}${this.took(name)}`)
  }
  notice(text: string): void {
    this.print(text)
  }
  suspend<T>(fn: () => Promise<T>): Promise<T> {
    return fn()
  }
  async end(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }

  /** For each working host quiet for the limit since it was last told of: a line saying so. */
  tellQuiet(): void {
    const now = this.clock.now()
    for (const [name, h] of this.hosts) {
      if (now - h.told < this.clock.quietMs) continue
      h.told = now
      this.print(`${name}: still ${h.step} · ${duration((now - h.started) / 1000)} · no output for ${duration((now - h.quietSince) / 1000)}`)
    }
  }

  // " (3m12s)": how long a host worked, once it has its result (then it is no longer watched).
  private took(name: string): string {
    const h = this.hosts.get(name)
    this.finished.add(name)
    if (!h) return ''
    this.hosts.delete(name)
    return ` (${duration((this.clock.now() - h.started) / 1000)})`
  }
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
