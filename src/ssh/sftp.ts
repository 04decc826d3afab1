// File uploads over an open connection's SFTP session.
import type {SFTPWrapper} from 'ssh2'

import {HostStepError, UnreachableError} from '../errors.js'
import type {Link} from './exec.js'

/** Bytes of file data in one SFTP write request (every SFTP server accepts 32 KiB). */
const WRITE_CHUNK = 32 * 1024
/** Bytes of SFTP writes in flight per connection: enough for ~10 MB/s at 100 ms round trip. */
const WRITE_WINDOW = 1024 * 1024
/**
 * Bytes of SFTP writes in flight across every connection of the process (80 MB/s in all at 100 ms
 * round trip), so what uploads hold stays bounded however many hosts upload at once.
 */
const TOTAL_WINDOW = 8 * 1024 * 1024

/** One file to upload: where, with which mode, and its contents (bytes, or a stream opened when its turn comes). */
export interface UploadFile {
  path: string
  mode: number
  data: Buffer | string | (() => Promise<AsyncIterable<Uint8Array>>)
}

/** Open the SFTP session of a connection (its owner keeps the promise, so it is opened once). */
export function openSftp(link: Link): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) => {
    const onClose = () => reject(new UnreachableError('network', `connection to ${link.target.host} was lost while opening SFTP`))
    link.client.once('close', onClose)
    link.client.sftp((err, s) => {
      link.client.off('close', onClose)
      if (err) reject(new HostStepError(`cannot open SFTP: ${err.message}`))
      else resolve(s)
    })
  })
}

/**
 * Write several files over SFTP, each created new (O_EXCL: nothing already there, no link, is
 * followed) with exactly the given mode; callers stage, verify and move. Streamed and pipelined:
 * FILES_AT_ONCE files are open at a time, each read from its source chunk by chunk while the
 * writes of all of them share one window of WRITE_WINDOW bytes in flight, and the batches of all
 * connections TOTAL_WINDOW (a source is read no faster than the host takes it, so memory stays flat
 * whatever the sizes and the number of hosts); a file's mode and close
 * go out right after its last write, without waiting (SFTP answers requests on one handle in
 * order). The first failure (the host's, or a source's own error) fails the batch: nothing more is
 * sent, every open handle is closed, and the call ends once the host has answered.
 */
export async function writeFiles(link: Link, sftp: SFTPWrapper, files: UploadFile[]): Promise<void> {
  if (files.length === 0) return
  await new Upload(link, sftp).run(files)
}

/** Files open at once per batch: enough to hide the open round trips of many small files. */
const FILES_AT_ONCE = 4

/** The writes in flight of every batch in the process, and the files waiting for room. */
const allUploads = {
  inFlight: 0,
  waiters: [] as {upload: Upload; resolve: () => void}[],
  /** Wake the files of batches that now have room (in their own window and the total one), in order. */
  wake(): void {
    for (let i = 0; i < this.waiters.length; ) {
      const w = this.waiters[i]!
      if (w.upload.hasRoom()) {
        this.waiters.splice(i, 1)
        w.resolve()
      } else i++
    }
  },
}

/** One batch of writeFiles. */
class Upload {
  failure?: Error
  private lost?: UnreachableError
  private requests = 0 // answers still due
  private inFlight = 0 // bytes of this batch's writes sent, not answered
  private settle?: () => void // the batch waits for the last answer, or for the connection's loss

  constructor(
    private readonly link: Link,
    private readonly sftp: SFTPWrapper,
  ) {}

  private readonly onClose = (): void => {
    this.lost = new UnreachableError('network', `connection to ${this.link.target.host} was lost during an upload`)
    // Its writes will never be answered (or only with an error): their room goes back to the others now.
    allUploads.inFlight -= this.inFlight
    this.inFlight = 0
    this.fail(this.lost)
    this.settle?.()
  }

  async run(files: UploadFile[]): Promise<void> {
    if (this.link.isClosed) this.onClose()
    else this.link.client.once('close', this.onClose)
    try {
      let next = 0
      const worker = async (): Promise<void> => {
        while (!this.failure && next < files.length) await this.put(files[next++]!)
      }
      let working = true
      // Ends once every file is through and every answer is in, or at once when the connection is
      // lost (its answers never come; the files stop on their own).
      const ended = new Promise<void>((resolve) => {
        this.settle = () => {
          if (this.lost || (!working && this.requests === 0)) resolve()
        }
      })
      this.settle!()
      await Promise.race([Promise.all(Array.from({length: Math.min(FILES_AT_ONCE, files.length)}, worker)), ended])
      working = false
      this.settle!()
      await ended
      if (this.failure) throw this.failure
    } finally {
      this.link.client.off('close', this.onClose)
    }
  }

  private fail(err: Error): void {
    this.failure ??= err
    allUploads.wake()
  }

  /** Whether a file of this batch may send a write now (or, failed, should stop waiting). */
  hasRoom(): boolean {
    return this.failure !== undefined || (this.inFlight < WRITE_WINDOW && allUploads.inFlight < TOTAL_WINDOW)
  }

  /** Count a request until it is answered; its error (the first one) fails the batch. */
  private request(what: string): (err?: Error | null) => void {
    this.requests++
    return (err) => {
      this.requests--
      if (err) this.fail(new HostStepError(`upload to ${what} failed: ${err.message}`))
      this.settle?.()
    }
  }

  private open(f: UploadFile): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const answered = this.request(f.path)
      this.sftp.open(f.path, 'wx', {mode: f.mode}, (err, handle) => {
        answered(err)
        resolve(err ? undefined : handle)
      })
    })
  }

  /** One file: open, its writes as its source gives bytes and the window has room, then mode and close. */
  private async put(f: UploadFile): Promise<void> {
    const handle = await this.open(f)
    if (!handle) return
    try {
      if (this.failure) return
      const source = typeof f.data === 'function' ? await f.data() : [typeof f.data === 'string' ? Buffer.from(f.data) : f.data]
      let pos = 0
      for await (const bytes of source) {
        const chunk = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
        for (let off = 0; off < chunk.length; off += WRITE_CHUNK) {
          while (!this.hasRoom()) await new Promise<void>((resolve) => allUploads.waiters.push({upload: this, resolve}))
          // after a failure, send no more data (the source is closed on the way out) but still close the handle
          if (this.failure) return
          const len = Math.min(WRITE_CHUNK, chunk.length - off)
          this.inFlight += len
          allUploads.inFlight += len
          const written = this.request(f.path)
          this.sftp.write(handle, chunk, off, len, pos, (err) => {
            if (!this.lost) {
              this.inFlight -= len
              allUploads.inFlight -= len
              allUploads.wake()
            }
            written(err)
          })
          pos += len
        }
      }
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)))
    } finally {
      if (!this.lost) {
        // The server's umask applied at creation: set the mode itself, then close.
        if (!this.failure) this.sftp.fchmod(handle, f.mode, this.request(f.path))
        this.sftp.close(handle, this.request(f.path))
      }
    }
  }
}
