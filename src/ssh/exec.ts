// Remote commands on an open connection: streamed output, bounded memory, timeouts and aborts.
import type {ClientChannel, Client} from 'ssh2'

import {HostStepError, TimeoutError, UnreachableError} from '../errors.js'
import {BoundedBytes, formatBytes, LineSplitter, MAX_COLLECTED_STDOUT, MAX_KEPT_STDERR} from './output.js'

/** What a command or an upload needs of an open connection. */
export interface Link {
  readonly client: Client
  readonly target: {readonly host: string}
  /** True once the connection closed or failed. */
  readonly isClosed: boolean
}

/** What one remote command returned. */
export interface ExecResult {
  code: number | null
  signal?: string
  stdout: string
  stderr: string
}

/** Options for one remote command. */
export interface ExecOptions {
  stdin?: string
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void
  /**
   * stderr's bytes as they come, instead of its lines to onLine (a job's log is streamed there and
   * resumed at a byte offset). Then only what comes before the first stdout is kept in the result's
   * stderr: sudo's complaints, before the script runs.
   */
  onStderr?: (chunk: Buffer) => void
  /** Workstation-side limit; the remote side has its own (timeout(1)) where it matters. */
  timeoutMs?: number
  signal?: AbortSignal
  /**
   * Keep stdout in the result (default true), up to MAX_COLLECTED_STDOUT: more fails the command.
   * Commands that may print without bound (installer, uninstall, logs) pass false and read onLine.
   */
  collect?: boolean
}

/** Run a command on a connection as its login user. Output lines are streamed to onLine as they come. */
export function execCommand(link: Link, command: string, o: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolveOuter, rejectOuter) => {
    if (link.isClosed) {
      rejectOuter(new UnreachableError('network', `connection to ${link.target.host} was lost`))
      return
    }
    // Whatever ssh2 does with a channel when the connection dies, the close settles the command.
    const onClose = () => rejectOuter(new UnreachableError('network', `connection to ${link.target.host} was lost during a remote command`))
    link.client.once('close', onClose)
    const resolve = (r: ExecResult) => {
      link.client.off('close', onClose)
      resolveOuter(r)
    }
    const reject = (e: Error) => {
      link.client.off('close', onClose)
      rejectOuter(e)
    }
    link.client.exec(command, (err, ch: ClientChannel) => {
      if (err) {
        reject(new HostStepError(`cannot start a remote command: ${err.message}`))
        return
      }
      const collect = o.collect !== false
      // Probes are kept whole up to a limit; streamed commands keep nothing. Of stderr only the
      // beginning is kept (sudo's complaints); lines are cut at MAX_LINE. Memory stays bounded.
      const out = new BoundedBytes(collect ? MAX_COLLECTED_STDOUT : 0)
      const errOut = new BoundedBytes(MAX_KEPT_STDERR)
      let code: number | null = null
      let signal: string | undefined
      let timer: NodeJS.Timeout | undefined
      let settled = false
      const so = o.onLine ? new LineSplitter((line) => o.onLine!(line, 'stdout')) : undefined
      const se = o.onLine && !o.onStderr ? new LineSplitter((line) => o.onLine!(line, 'stderr')) : undefined
      let spoke = false
      const finish = (e?: Error) => {
        if (settled) return
        settled = true
        if (timer) clearTimeout(timer)
        o.signal?.removeEventListener('abort', onAbort)
        so?.flush()
        se?.flush()
        if (e) reject(e)
        else {
          const stderr = errOut.text() + (errOut.over ? `\n[gwfleet: ${formatBytes(errOut.dropped)} more of stderr cut]` : '')
          resolve({code, signal, stdout: collect ? out.text() : '', stderr})
        }
      }
      const onAbort = () => {
        ch.close()
        finish(new HostStepError('stopped by the operator'))
      }
      ch.on('data', (d: Buffer) => {
        if (settled) return
        spoke = true
        if (collect && !out.push(d)) {
          ch.close()
          finish(new HostStepError(`the remote command printed more than ${formatBytes(MAX_COLLECTED_STDOUT)}; stopped it (a read of the host prints a few KB)`))
          return
        }
        so?.push(d)
      })
      ch.stderr.on('data', (d: Buffer) => {
        if (settled) return
        if (!o.onStderr || !spoke) errOut.push(d)
        se?.push(d)
        o.onStderr?.(d)
      })
      ch.on('exit', (c: number | null, s?: string) => {
        code = c
        signal = s ?? undefined
      })
      ch.on('close', () => {
        if (code === null && signal === undefined && link.isClosed)
          finish(new UnreachableError('network', `connection to ${link.target.host} was lost during a remote command`))
        else finish()
      })
      if (o.timeoutMs) {
        timer = setTimeout(() => {
          ch.close()
          finish(new TimeoutError(`remote command did not finish within ${Math.round(o.timeoutMs! / 1000)}s`))
        }, o.timeoutMs)
      }
      if (o.signal) {
        if (o.signal.aborted) onAbort()
        else o.signal.addEventListener('abort', onAbort, {once: true})
      }
      if (o.stdin !== undefined) ch.end(o.stdin)
      else ch.end()
    })
  })
}
