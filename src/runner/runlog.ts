// The run folder: one log per host (secrets redacted) and the results, under ~/.gwfleet/runs.
import {createWriteStream, mkdirSync, type WriteStream} from 'node:fs'
import {writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import type {Redactor} from './redact.js'

/** The directory gwfleet keeps its run folders in ($GWFLEET_HOME or ~/.gwfleet). */
export function gwfleetHome(): string {
  return process.env.GWFLEET_HOME || path.join(os.homedir(), '.gwfleet')
}

function stamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
}

/** One run's folder and its per-host logs. */
export class RunLog {
  readonly dir: string
  private readonly streams = new Map<string, WriteStream>()

  constructor(command: string, private readonly redactor: Redactor) {
    this.dir = path.join(gwfleetHome(), 'runs', `${stamp()}-${command}-${process.pid}`)
    mkdirSync(this.dir, {recursive: true, mode: 0o700})
  }

  /** Append a timestamped, redacted line to a host's log. */
  write(host: string, line: string): void {
    let s = this.streams.get(host)
    if (!s) {
      s = createWriteStream(path.join(this.dir, `${host}.log`), {flags: 'a', mode: 0o600})
      this.streams.set(host, s)
    }
    s.write(`${new Date().toISOString()} ${this.redactor.redact(line)}\n`)
  }

  /** Write a redacted JSON document into the run folder. */
  async writeJson(name: string, data: unknown): Promise<void> {
    await writeFile(path.join(this.dir, name), this.redactor.redact(JSON.stringify(data, null, 2)) + '\n', {mode: 0o600})
  }

  /** Flush and close every host log. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.streams.values()].map((s) => new Promise<void>((resolve) => s.end(() => resolve()))),
    )
    this.streams.clear()
  }
}
