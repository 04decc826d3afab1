// The run folder: one log per host (secrets redacted) and the results, under ~/.gwfleet/runs.
import {createWriteStream, mkdirSync} from 'node:fs'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'
import type {Writable} from 'node:stream'

import {formatBytes} from '../ssh/output.js'
import {gwfleetHome} from '../util/local.js'
import type {Redactor} from './redact.js'

function stamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
}

/** How much of each host's log is kept: its first and its last bytes; the middle is cut. */
export interface LogCap {
  headBytes: number
  tailBytes: number
}

/** 4 MiB from the start of each host's log and 2 MiB from its end. */
export const DEFAULT_LOG_CAP: LogCap = {headBytes: 4 * 1024 * 1024, tailBytes: 2 * 1024 * 1024}

/** The tail is kept in blocks of about this size, so dropping its oldest part is cheap. */
const TAIL_BLOCK = 64 * 1024

interface Block {
  /** The lines of the block: text while it fills, then bytes (compact, pinning no other string). */
  data: string | Buffer
  bytes: number
  lines: number
}

/**
 * One host's log: lines go to the file until the head is full; after that the newest lines are
 * kept in memory (at most the tail size) and the older ones dropped and counted. On close the
 * tail is appended after one line that says how much was cut.
 */
export class HostLog {
  private head = 0
  private inTail = false
  private readonly blocks: Block[] = []
  private tailBytes = 0
  private cutBytes = 0
  private cutLines = 0

  constructor(
    private readonly stream: Writable,
    private readonly cap: LogCap = DEFAULT_LOG_CAP,
  ) {}

  /** Append one line (without its newline). */
  write(line: string): void {
    const text = `${line}\n`
    const bytes = Buffer.byteLength(text)
    if (!this.inTail && this.head + bytes <= this.cap.headBytes) {
      this.head += bytes
      this.stream.write(text)
      return
    }
    this.inTail = true
    const last = this.blocks.at(-1)
    if (last && last.bytes < TAIL_BLOCK) {
      last.data += text
      last.bytes += bytes
      last.lines++
    } else {
      if (last) last.data = Buffer.from(last.data)
      this.blocks.push({data: text, bytes, lines: 1})
    }
    this.tailBytes += bytes
    // Drop whole blocks from the front until the tail fits (it keeps a block less than its size at worst).
    while (this.blocks.length > 1 && this.tailBytes > this.cap.tailBytes) {
      const old = this.blocks.shift()!
      this.tailBytes -= old.bytes
      this.cutBytes += old.bytes
      this.cutLines += old.lines
    }
  }

  /** Bytes and lines cut so far. */
  get cut(): {bytes: number; lines: number} {
    return {bytes: this.cutBytes, lines: this.cutLines}
  }

  /** Write the kept tail (after the note on what was cut) and close the file. */
  async close(): Promise<void> {
    if (this.cutBytes > 0)
      this.stream.write(
        `${new Date().toISOString()} [gwfleet: ${this.cutLines} line(s), ${formatBytes(this.cutBytes)}, of this log cut here; it keeps its first ${formatBytes(this.cap.headBytes)} and its last ${formatBytes(this.cap.tailBytes)}]\n`,
      )
    for (const b of this.blocks.splice(0)) this.stream.write(b.data)
    this.tailBytes = 0
    await new Promise<void>((resolve) => this.stream.end(() => resolve()))
  }
}

/** One run's folder and its per-host logs (each capped, see HostLog). */
export class RunLog {
  readonly dir: string
  private readonly logs = new Map<string, HostLog>()

  constructor(
    command: string,
    private readonly redactor: Redactor,
    private readonly cap: LogCap = DEFAULT_LOG_CAP,
  ) {
    this.dir = path.join(gwfleetHome(), 'runs', `${stamp()}-${command}-${process.pid}`)
    mkdirSync(this.dir, {recursive: true, mode: 0o700})
  }

  /** Append a timestamped, redacted line to a host's log. */
  write(host: string, line: string): void {
    let log = this.logs.get(host)
    if (!log) {
      log = new HostLog(createWriteStream(path.join(this.dir, `${host}.log`), {flags: 'a', mode: 0o600}), this.cap)
      this.logs.set(host, log)
    }
    log.write(`${new Date().toISOString()} ${this.redactor.redact(line)}`)
  }

  /** Write a redacted JSON document into the run folder. */
  async writeJson(name: string, data: unknown): Promise<void> {
    await writeFile(path.join(this.dir, name), this.redactor.redact(JSON.stringify(data, null, 2)) + '\n', {mode: 0o600})
  }

  /** Flush and close every host log. */
  async close(): Promise<void> {
    await Promise.all([...this.logs.values()].map((l) => l.close()))
    this.logs.clear()
  }
}
