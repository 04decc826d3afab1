// Bounded handling of what a remote command prints: a line splitter that cuts overlong lines, and
// the limits on what a command's result may hold. Whatever a host prints, memory stays bounded.
import {StringDecoder} from 'node:string_decoder'

/** Longest line handed on (characters); the rest of a longer line is dropped and counted. */
export const MAX_LINE = 16 * 1024

/** Most stdout a collected command may print (probes print a few KB); more is an error. */
export const MAX_COLLECTED_STDOUT = 8 * 1024 * 1024

/** Most stderr kept in a command's result: its beginning, where sudo and the shell complain. */
export const MAX_KEPT_STDERR = 64 * 1024

/**
 * Splits a byte stream into lines (UTF-8, a trailing \r dropped) and hands each to `emit`. A line
 * longer than `maxLine` is handed on cut, with a note of how many characters were dropped, when
 * its newline (or the end) comes: nothing but the kept part is held meanwhile.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8')
  private rest = ''
  private dropped = 0

  constructor(
    private readonly emit: (line: string) => void,
    private readonly maxLine = MAX_LINE,
  ) {}

  /** Feed one chunk as it came off the wire. */
  push(chunk: Buffer): void {
    const s = this.decoder.write(chunk)
    let start = 0
    for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', start)) {
      this.keep(s.slice(start, i))
      this.endLine()
      start = i + 1
    }
    if (start < s.length) this.keep(s.slice(start))
  }

  /** The stream ended: hand on a last line that had no newline. */
  flush(): void {
    this.keep(this.decoder.end())
    if (this.rest !== '' || this.dropped > 0) this.endLine()
  }

  private keep(part: string): void {
    const room = this.maxLine - this.rest.length
    if (part.length <= room) this.rest += part
    else {
      this.rest += part.slice(0, room)
      this.dropped += part.length - room
    }
  }

  private endLine(): void {
    let line = this.rest
    if (this.dropped > 0) line += ` [gwfleet: ${this.dropped} more characters of this line cut]`
    else if (line.endsWith('\r')) line = line.slice(0, -1)
    this.rest = ''
    this.dropped = 0
    this.emit(line)
  }
}

/** Collects a stream's bytes up to a limit; `over` says the limit was passed (what came after is dropped). */
export class BoundedBytes {
  private readonly chunks: Buffer[] = []
  private kept = 0
  /** Bytes that did not fit. */
  dropped = 0

  constructor(readonly limit: number) {}

  /** Keep what fits of a chunk; false once the limit is passed. */
  push(chunk: Buffer): boolean {
    const room = this.limit - this.kept
    // Copies: a kept slice must not pin the transport's larger buffer.
    if (chunk.length <= room) {
      this.chunks.push(Buffer.from(chunk))
      this.kept += chunk.length
    } else {
      if (room > 0) this.chunks.push(Buffer.from(chunk.subarray(0, room)))
      this.kept += room
      this.dropped += chunk.length - room
    }
    return this.dropped === 0
  }

  get over(): boolean {
    return this.dropped > 0
  }

  /** What was kept, decoded as UTF-8 (decoded once, so characters split across chunks stay whole). */
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8')
  }
}

/** A byte count for messages: "812 KiB", "3.4 MiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KiB`
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`
}
