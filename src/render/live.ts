// Live progress on a terminal: one row per host, redrawn in place on stderr. Rows exist from the
// start and a result is plain state, so no order of events can lose one; nothing here waits for
// anything, listens for signals or exits. Redraws are throttled so a chatty installer on hundreds
// of hosts cannot make drawing the bottleneck. A working host's row says how long it has been at
// it and how long ago its last output line came, so a hung installer reads as hung.
import type {HostResult} from '../runner/result.js'
import type {Mask, Reporter} from './reporter.js'
import {statusWord} from './words.js'
import {displayLine, ellipsize} from './sanitize.js'
import {duration} from '../util/duration.js'

type State = 'waiting' | 'running' | 'ok' | 'failed' | 'skipped'

interface Row {
  name: string
  state: State
  step: string
  line: string
  /** When the host started working (its first step), in ms. */
  started?: number
  /** When its last output line of the current step came, in ms. */
  lastOutput?: number
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']
const REDRAW_MS = 100

/** One line of text, made inert for the terminal (see sanitize.ts), cut to `width` characters. */
export function fit(text: string, width: number): string {
  return ellipsize(displayLine(text), width)
}

/** The progress state of a fleet run, and the lines that show it. Pure: tested without a terminal. */
export class ProgressBoard {
  private rows = new Map<string, Row>()

  constructor(
    hosts: {name: string}[],
    /** The clock, in ms (tests pass their own). */
    private readonly now: () => number = Date.now,
  ) {
    for (const h of hosts) this.rows.set(h.name, {name: h.name, state: 'waiting', step: 'waiting', line: ''})
  }

  /** A host moved to a new step (ignored once the host has its result). */
  step(name: string, text: string): void {
    const r = this.rows.get(name)
    if (!r || isFinal(r.state)) return
    r.state = 'running'
    r.started ??= this.now()
    r.step = text
    r.line = ''
    r.lastOutput = undefined
  }

  /** The last installer line of a running host. */
  line(name: string, text: string): void {
    const r = this.rows.get(name)
    if (!r || isFinal(r.state)) return
    r.line = text.trim()
    r.lastOutput = this.now()
  }

  /** A host's result: it is final, whatever came before and whatever comes after. */
  result(name: string, state: 'ok' | 'failed' | 'skipped', text: string): void {
    const r = this.rows.get(name)
    if (!r) return
    r.state = state
    r.step = text
    r.line = ''
  }

  /** True when every host has its result. */
  get complete(): boolean {
    return [...this.rows.values()].every((r) => isFinal(r.state))
  }

  /**
   * The lines to draw: at most `height`, each at most `width` characters. When the hosts do not
   * fit, the ones still working come first, then problems, then the rest, and a last line counts
   * what is not shown.
   */
  lines(width: number, height: number, frame = 0, color = false): string[] {
    const all = [...this.rows.values()]
    const paint = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s)
    const icon = (r: Row) => {
      switch (r.state) {
        case 'ok':
          return paint('32', '✔')
        case 'failed':
          return paint('31', '✖')
        case 'skipped':
          return paint('33', '↓')
        case 'running':
          return paint('36', SPINNER[frame % SPINNER.length])
        default:
          return '·'
      }
    }
    const now = this.now()
    const since = (t: number) => duration((now - t) / 1000)
    // The times come before the output line, so a narrow terminal cuts the line, not them.
    const times = (r: Row) =>
      r.state === 'running' && r.started !== undefined ? ` · ${since(r.started)}${r.lastOutput !== undefined ? ` · last output ${since(r.lastOutput)} ago` : ''}` : ''
    const text = (r: Row) => fit(`${r.name}: ${r.step}${times(r)}${r.line ? `  ${r.line}` : ''}`, Math.max(1, width - 3))
    const show = (r: Row) => `${icon(r)} ${text(r)}`
    if (all.length <= height) return all.map(show)
    const rank: Record<State, number> = {running: 0, failed: 1, waiting: 2, skipped: 3, ok: 4}
    const ordered = [...all].sort((a, b) => rank[a.state] - rank[b.state])
    const shown = ordered.slice(0, Math.max(0, height - 1))
    const hidden = ordered.slice(shown.length)
    const counts = new Map<State, number>()
    for (const r of hidden) counts.set(r.state, (counts.get(r.state) ?? 0) + 1)
    const summary = [...counts.entries()].map(([s, n]) => `${n} ${s}`).join(', ')
    return [...shown.map(show), fit(`  … ${hidden.length} more: ${summary}`, width - 1)]
  }
}

function isFinal(s: State): boolean {
  return s === 'ok' || s === 'failed' || s === 'skipped'
}

/** The state a changing command's status shows as. */
function stateOf(status: HostResult['status']): 'ok' | 'failed' | 'skipped' {
  if (status === 'ok' || status === 'unchanged') return 'ok'
  return status === 'skipped' ? 'skipped' : 'failed'
}

/** Terminal progress: the board, redrawn in place on stderr. */
export class LiveReporter implements Reporter {
  private board = new ProgressBoard([])
  private timer?: NodeJS.Timeout
  private drawn = 0
  private frame = 0
  private active = false
  /** True while a prompt has the terminal (see suspend). */
  private paused = false
  private readonly color: boolean

  constructor(
    private readonly mask: Mask,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.color = process.env.NO_COLOR === undefined || process.env.NO_COLOR === ''
  }

  begin(hosts: {name: string; host: string}[], title: string): void {
    this.board = new ProgressBoard(hosts)
    this.write(`${fit(this.mask(title), this.width())}\n`)
    this.active = true
    this.draw()
    // The spinner turns even when nothing reports, so a slow step still looks alive.
    this.timer = setInterval(() => {
      this.frame++
      this.draw()
    }, REDRAW_MS)
    this.timer.unref()
  }

  step(name: string, text: string): void {
    this.board.step(name, this.mask(text))
  }

  line(name: string, text: string): void {
    this.board.line(name, this.mask(text))
  }

  done(res: HostResult, planned = false): void {
    // A dry run's plan reads as the table does: `would install`, not `ok (install)`.
    const word = statusWord(res, planned)
    const text = `${word}${res.action !== 'none' && word === res.status ? ` (${res.action})` : ''}${res.error ? ` - ${res.error}` : ''}`
    this.board.result(res.name, stateOf(res.status), this.mask(text))
    this.draw()
  }

  verdict(name: string, label: string, ok: boolean): void {
    this.board.result(name, ok ? 'ok' : 'failed', this.mask(label))
    this.draw()
  }

  /** A message for the whole run: printed above the rows at once, and kept. */
  notice(text: string): void {
    if (!this.active) {
      this.write(`${displayLine(this.mask(text))}\n`)
      return
    }
    if (!this.paused) this.erase()
    this.write(`${displayLine(this.mask(text))}\n`)
    this.draw()
  }

  /** Run `fn` (a prompt) with the rows cleared and no redraw, then draw again. */
  async suspend<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.active || this.paused) return fn()
    this.erase()
    this.paused = true
    try {
      return await fn()
    } finally {
      this.paused = false
      this.draw()
    }
  }

  async end(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    if (!this.active) return
    this.draw()
    this.active = false
    this.drawn = 0
  }

  private width(): number {
    return Math.max(20, this.out.columns || 80)
  }

  private height(): number {
    // One line stays free for the cursor; a very short window still shows a few rows.
    return Math.max(3, (this.out.rows || 24) - 1)
  }

  private write(s: string): void {
    // A terminal that went away (closed window, EIO) must not stop the run: drop the output.
    if (this.out.destroyed || this.out.writableEnded) return
    this.out.write(s)
  }

  /** Move back to the first drawn row and clear from there down. */
  private erase(): void {
    if (this.drawn > 0) this.write(`\x1b[${this.drawn}F\x1b[J`)
    this.drawn = 0
  }

  private draw(): void {
    if (!this.active || this.paused) return
    const lines = this.board.lines(this.width() - 1, this.height(), this.frame, this.color)
    const back = this.drawn > 0 ? `\x1b[${this.drawn}F` : ''
    // Each line is cleared to its end, then what is left below the new rows.
    this.write(`${back}${lines.map((l) => `${l}\x1b[K\n`).join('')}\x1b[J`)
    this.drawn = lines.length
  }
}
