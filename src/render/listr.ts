// listr2 view: a row per host with its current step and last installer line, throttled so a chatty
// installer on hundreds of hosts cannot make rendering the bottleneck (or leak, listr2 issue 772).
import {Listr, type ListrTaskWrapper} from 'listr2'

import type {HostResult} from '../runner/result.js'
import type {Mask, Reporter} from './progress.js'

interface Row {
  task?: ListrTaskWrapper<any, any, any>
  step: string
  line: string
  dirty: boolean
  resolve: () => void
  reject: (e: Error) => void
  skip: (msg: string) => void
}

const MAX_LINE = 90

/** Terminal progress with listr2. */
export class ListrReporter implements Reporter {
  private rows = new Map<string, Row>()
  private timer?: NodeJS.Timeout
  private running?: Promise<unknown>
  private list?: Listr<any, any, any>
  constructor(private readonly mask: Mask) {}

  begin(hosts: {name: string; host: string}[], title: string): void {
    const tasks = hosts.map((h) => ({
      title: h.name,
      task: (_ctx: unknown, task: ListrTaskWrapper<any, any, any>) =>
        new Promise<void>((resolve, reject) => {
          const row: Row = {
            task,
            step: 'waiting',
            line: '',
            dirty: true,
            resolve,
            reject,
            skip: (msg) => {
              task.skip(msg)
              resolve()
            },
          }
          this.rows.set(h.name, row)
        }),
    }))
    const list = new Listr(tasks, {
      concurrent: true,
      exitOnError: false,
      renderer: 'default',
      rendererOptions: {collapseErrors: false, collapseSkips: false},
    })
    process.stderr.write(`${title}\n`)
    this.list = list
    this.running = list.run().catch(() => undefined)
    this.timer = setInterval(() => this.flush(), 100)
  }

  private flush() {
    for (const [name, row] of this.rows) {
      if (!row.dirty || !row.task) continue
      row.dirty = false
      const line = row.line ? `  ${row.line.slice(0, MAX_LINE)}` : ''
      row.task.title = this.mask(`${name}: ${row.step}${line}`)
    }
  }

  step(name: string, text: string): void {
    const r = this.rows.get(name)
    if (!r) return
    r.step = text
    r.line = ''
    r.dirty = true
  }

  line(name: string, text: string): void {
    const r = this.rows.get(name)
    if (!r) return
    r.line = text.trim()
    r.dirty = true
  }

  done(res: HostResult): void {
    const r = this.rows.get(res.name)
    if (!r) return
    r.dirty = false
    const text = this.mask(`${res.name}: ${res.status}${res.action !== 'none' ? ` (${res.action})` : ''}${res.error ? ` - ${res.error}` : ''}`)
    if (r.task) r.task.title = text
    if (res.status === 'ok' || res.status === 'unchanged') r.resolve()
    else if (res.status === 'skipped') r.skip(text)
    else r.reject(new Error(text))
  }

  verdict(name: string, label: string, ok: boolean): void {
    const r = this.rows.get(name)
    if (!r) return
    r.dirty = false
    const text = this.mask(`${name}: ${label}`)
    if (r.task) r.task.title = text
    if (ok) r.resolve()
    else r.reject(new Error(text))
  }

  notice(text: string): void {
    process.stderr.write(`${this.mask(text)}\n`)
  }

  async suspend<T>(fn: () => Promise<T>): Promise<T> {
    // listr2's default renderer redraws on a timer and on every title change, and holds the
    // terminal's output (hijack) while it draws: stop all three, clear its rows, give the
    // terminal back; afterwards take it again and redraw. Before the view starts there is nothing to stop.
    const r = (this.list as any)?.renderer
    if (!r?.spinner || !r?.updater || !r?.logger?.process?.active) return fn()
    const update = r.update
    r.update = () => undefined
    r.spinner.stop()
    r.updater.clear()
    r.logger.process.release()
    try {
      return await fn()
    } finally {
      r.logger.process.hijack()
      r.update = update
      r.spinner.start(() => r.update())
      r.update()
    }
  }

  async end(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    for (const r of this.rows.values()) r.resolve()
    await this.running
  }
}
