// File uploads over an open connection's SFTP session.
import type {SFTPWrapper} from 'ssh2'

import {HostStepError, UnreachableError} from '../errors.js'
import type {Link} from './exec.js'

/** Bytes of file data in one SFTP write request (every SFTP server accepts 32 KiB). */
const WRITE_CHUNK = 32 * 1024
/** Bytes of SFTP writes in flight per connection: enough for ~10 MB/s at 100 ms round trip. */
const WRITE_WINDOW = 1024 * 1024

/** One file to upload: where, with which mode, and its contents. */
export interface UploadFile {
  path: string
  data: Buffer | string
  mode: number
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
 * followed) with exactly the given mode; callers stage, verify and move. Pipelined: every open is
 * sent at once, and each file's writes, mode and close go out as soon as its handle is back, without
 * waiting for one another (SFTP answers requests on one handle in order), so the whole batch costs
 * about two round trips plus the transfer. At most WRITE_WINDOW bytes of writes are in flight.
 */
export async function writeFiles(link: Link, sftp: SFTPWrapper, files: UploadFile[]): Promise<void> {
  if (files.length === 0) return
  await new Promise<void>((resolve, reject) => {
    let failure: Error | undefined
    let requests = 0 // answers still due
    let filesLeft = files.length // files whose close is not sent yet
    let inFlight = 0 // bytes of writes sent, not answered
    const queue: (() => void)[] = [] // writes waiting for room in the window
    const onClose = () => finish(new UnreachableError('network', `connection to ${link.target.host} was lost during an upload`))
    const finish = (err?: Error) => {
      link.client.off('close', onClose)
      if (err) reject(err)
      else resolve()
    }
    const done = () => {
      if (requests > 0 || filesLeft > 0 || link.isClosed) return
      finish(failure)
    }
    /** Count a request until it is answered; its error (the first one) fails the batch. */
    const answer = (what: string) => {
      requests++
      return (err?: Error | null) => {
        requests--
        if (err && !failure) failure = new HostStepError(`upload to ${what} failed: ${err.message}`)
        pump()
        done()
      }
    }
    const pump = () => {
      while (queue.length > 0 && (inFlight < WRITE_WINDOW || failure)) queue.shift()!()
    }
    if (link.isClosed) return onClose()
    link.client.once('close', onClose)
    for (const f of files) {
      const data = typeof f.data === 'string' ? Buffer.from(f.data) : f.data
      const opened = answer(f.path)
      sftp.open(f.path, 'wx', {mode: f.mode}, (err, handle) => {
        if (err) {
          filesLeft-- // nothing to close
          return opened(err)
        }
        const closeFile = () => {
          // The server's umask applied at creation: set the mode itself, then close.
          sftp.fchmod(handle, f.mode, answer(f.path))
          sftp.close(handle, answer(f.path))
          filesLeft--
        }
        let left = Math.ceil(data.length / WRITE_CHUNK) // writes not yet sent
        if (left === 0) closeFile()
        for (let off = 0; off < data.length; off += WRITE_CHUNK) {
          const len = Math.min(WRITE_CHUNK, data.length - off)
          queue.push(() => {
            // after a failure, send no more data but still close the handle
            if (!failure) {
              inFlight += len
              const written = answer(f.path)
              sftp.write(handle, data, off, len, off, (e) => {
                inFlight -= len
                written(e)
              })
            }
            if (--left === 0) closeFile()
          })
        }
        opened()
      })
    }
  })
}
