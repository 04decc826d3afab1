// The one seam to the network: an SSH connection to a host (through jump hosts when asked),
// with strict host-key checking, exec with streamed output, root execution and SFTP uploads.
import {readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type {ClientChannel, SFTPWrapper} from 'ssh2'
import ssh2 from 'ssh2'

import {HostStepError, UnreachableError} from '../errors.js'
import {appendKnownHost, checkHostKey, fingerprint, formatKnownHostsLine, keyType, knownKeyTypes, loadKnownHosts, parseKnownHosts, preferredHostKeyAlgorithms} from './knownhosts.js'
import type {KnownHostEntry} from './knownhosts.js'
import {HandshakeGate, pacedHandshake} from './pacing.js'
import {shq} from './quote.js'

const {Client, utils} = ssh2

/** Where and how to log in: everything already resolved from inventory and ~/.ssh/config. */
export interface ConnectTarget {
  host: string          // the name or address to connect to (HostName already applied)
  port: number
  user: string
  identityFiles: string[]
  knownHostsFiles: string[]
  /** Where a newly accepted key of this host is recorded: a file this host's checks read. */
  recordKnownHostsFile: string
  jump: ConnectTarget[] // hops in order, empty for a direct connection
}

/** Knobs shared by every connection of a run. */
export interface ConnectOptions {
  acceptNewHostKeys: boolean
  connectTimeoutMs: number
  keepaliveIntervalMs: number
  /** Attempts when sshd drops the connection before the handshake (MaxStartups). */
  retries: number
  /** Bounds the handshakes in flight for the whole run (one gate per run; a default one otherwise). */
  handshakes?: HandshakeGate
  agentSocket?: string
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
  /** Workstation-side limit; the remote side has its own (timeout(1)) where it matters. */
  timeoutMs?: number
  signal?: AbortSignal
  /** Keep stdout in the result (default true). */
  collect?: boolean
  /**
   * Keeps stdin open (after `stdin`) and is asked about every stdout line; the first line it
   * answers (returns text for) gets that text sent as the rest of stdin, then stdin is closed.
   */
  answer?: (line: string) => string | undefined
}

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa']
const keyCache = new Map<string, Promise<Buffer | null>>()

function readKey(file: string): Promise<Buffer | null> {
  let p = keyCache.get(file)
  if (!p) {
    p = (async () => {
      let data: Buffer
      try {
        data = readFileSync(file)
      } catch {
        return null
      }
      const parsed = utils.parseKey(data)
      if (parsed instanceof Error) return null
      return data
    })()
    keyCache.set(file, p)
  }
  return p
}

const knownHostsCache = new Map<string, Promise<KnownHostEntry[]>>()

/** known_hosts files are read once per run; accepted keys are added to the cache too. */
function knownHostsFor(files: string[]): Promise<KnownHostEntry[]> {
  const k = files.join('\0')
  let p = knownHostsCache.get(k)
  if (!p) {
    p = loadKnownHosts(files)
    knownHostsCache.set(k, p)
  }
  return p
}

/** The gate of connections opened without one of their own (one run per process). */
let defaultGate: HandshakeGate | undefined

function describeTarget(t: ConnectTarget): string {
  return `${t.user}@${t.host}${t.port === 22 ? '' : `:${t.port}`}`
}

function classify(err: any, t: ConnectTarget, timeoutMs: number, saturatedRetries = 0): UnreachableError {
  if (err instanceof UnreachableError) return err
  const code = err?.code as string | undefined
  const where = `${t.host}:${t.port}`
  const msg = String(err?.message ?? err)
  if (code === 'ECONNREFUSED') return new UnreachableError('refused', `connection refused by ${where} (is sshd running?)`)
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new UnreachableError('dns', `cannot resolve host name ${t.host}`)
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return new UnreachableError('network', `no route to ${where}`)
  if (code === 'ETIMEDOUT' || isTimeout(err)) {
    // Said so the operator sees that this workstation, not only the host, was slow.
    const retried = saturatedRetries > 0 ? ` (tried ${saturatedRetries + 1} times, ${saturatedRetries} of them while this workstation was overloaded)` : ''
    return new UnreachableError('timeout', `no SSH handshake from ${where} within ${Math.round(timeoutMs / 1000)}s${retried}`)
  }
  if (err?.level === 'client-authentication')
    return new UnreachableError('auth', `authentication refused for ${describeTarget(t)} (no accepted key; check identityFile, ssh-agent and authorized_keys)`)
  if (code === 'ECONNRESET' || /Connection lost before handshake/.test(msg))
    return new UnreachableError('network', `connection to ${where} closed before the SSH handshake`)
  return new UnreachableError('network', `cannot connect to ${where}: ${msg}`)
}

function isRetryable(err: any): boolean {
  const msg = String(err?.message ?? '')
  return /Connection lost before handshake/.test(msg) || err?.code === 'ECONNRESET'
}

/** ssh2's readyTimeout: no handshake and login within the connect timeout, counted from connect(). */
function isTimeout(err: any): boolean {
  return err?.level === 'client-timeout' || /Timed out while waiting for handshake/.test(String(err?.message ?? ''))
}

/** An authenticated SSH connection to one host. */
export class Connection {
  private sftpPromise?: Promise<SFTPWrapper>
  private closed = false
  readonly describe: string

  private constructor(
    readonly client: InstanceType<typeof Client>,
    readonly target: ConnectTarget,
  ) {
    this.describe = describeTarget(target)
    // Every pending command and upload listens for the close; a release may have many files.
    client.setMaxListeners(0)
    client.on('close', () => {
      this.closed = true
    })
    client.on('error', () => {
      this.closed = true
    })
  }

  /** Open a connection, through jump hosts if the target has any (one shared connection per bastion). */
  static async open(target: ConnectTarget, opts: ConnectOptions, bastions?: BastionPool): Promise<Connection> {
    let sockFactory: (() => Promise<NodeJS.ReadableStream & NodeJS.WritableStream>) | undefined
    if (target.jump.length > 0) {
      const pool = bastions ?? new BastionPool(opts)
      const last = await pool.get(target.jump)
      sockFactory = () =>
        new Promise((resolve, reject) => {
          last.client.forwardOut('127.0.0.1', 0, target.host, target.port, (err, stream) => {
            if (err)
              reject(new UnreachableError('jump', `jump host ${last.describe} could not reach ${target.host}:${target.port}: ${err.message}`))
            else resolve(stream)
          })
        })
    }
    const client = await connectWithRetry(target, opts, sockFactory)
    return new Connection(client, target)
  }

  /** Run a command as the login user. Output lines are streamed to onLine as they come. */
  exec(command: string, o: ExecOptions = {}): Promise<ExecResult> {
    return new Promise((resolveOuter, rejectOuter) => {
      if (this.closed) {
        rejectOuter(new UnreachableError('network', `connection to ${this.target.host} was lost`))
        return
      }
      // Whatever ssh2 does with a channel when the connection dies, the close settles the command.
      const onClose = () => rejectOuter(new UnreachableError('network', `connection to ${this.target.host} was lost during a remote command`))
      this.client.once('close', onClose)
      const resolve = (r: ExecResult) => {
        this.client.off('close', onClose)
        resolveOuter(r)
      }
      const reject = (e: Error) => {
        this.client.off('close', onClose)
        rejectOuter(e)
      }
      this.client.exec(command, (err, ch: ClientChannel) => {
        if (err) {
          reject(new HostStepError(`cannot start a remote command: ${err.message}`))
          return
        }
        const collect = o.collect !== false
        const out: string[] = []
        const errOut: string[] = []
        let code: number | null = null
        let signal: string | undefined
        let timer: NodeJS.Timeout | undefined
        let settled = false
        const splitter = (stream: 'stdout' | 'stderr', sink: string[], ask?: (line: string) => void) => {
          let rest = ''
          const wantLines = Boolean(o.onLine || (ask && o.answer))
          return {
            push(chunk: Buffer) {
              const s = chunk.toString('utf8')
              if (collect || stream === 'stderr') sink.push(s)
              if (!wantLines) return
              rest += s
              let i
              while ((i = rest.indexOf('\n')) >= 0) {
                const line = rest.slice(0, i).replace(/\r$/, '')
                rest = rest.slice(i + 1)
                o.onLine?.(line, stream)
                ask?.(line)
              }
            },
            flush() {
              if (o.onLine && rest) o.onLine(rest, stream)
              rest = ''
            },
          }
        }
        let answered = false
        const ask = (line: string) => {
          if (answered || !o.answer) return
          let reply: string | undefined
          try {
            reply = o.answer(line)
          } catch {
            // No answer: the remote side finds stdin closed and ends on its own.
            reply = ''
          }
          if (reply === undefined) return
          answered = true
          ch.end(reply)
        }
        const so = splitter('stdout', out, ask)
        const se = splitter('stderr', errOut)
        const finish = (e?: Error) => {
          if (settled) return
          settled = true
          if (timer) clearTimeout(timer)
          o.signal?.removeEventListener('abort', onAbort)
          so.flush()
          se.flush()
          if (e) reject(e)
          else resolve({code, signal, stdout: out.join(''), stderr: errOut.join('')})
        }
        const onAbort = () => {
          ch.close()
          finish(new HostStepError('stopped by the operator'))
        }
        ch.on('data', (d: Buffer) => so.push(d))
        ch.stderr.on('data', (d: Buffer) => se.push(d))
        ch.on('exit', (c: number | null, s?: string) => {
          code = c
          signal = s ?? undefined
        })
        ch.on('close', () => {
          if (code === null && signal === undefined && this.closed)
            finish(new UnreachableError('network', `connection to ${this.target.host} was lost during a remote command`))
          else finish()
        })
        if (o.timeoutMs) {
          timer = setTimeout(() => {
            ch.close()
            finish(new HostStepError(`remote command did not finish within ${Math.round(o.timeoutMs! / 1000)}s`))
          }, o.timeoutMs)
        }
        if (o.signal) {
          if (o.signal.aborted) onAbort()
          else o.signal.addEventListener('abort', onAbort, {once: true})
        }
        if (o.answer) {
          if (o.stdin !== undefined) ch.write(o.stdin)
        } else if (o.stdin !== undefined) ch.end(o.stdin)
        else ch.end()
      })
    })
  }

  /** The SFTP session of this connection, opened once. */
  sftp(): Promise<SFTPWrapper> {
    this.sftpPromise ??= new Promise((resolve, reject) => {
      const onClose = () => reject(new UnreachableError('network', `connection to ${this.target.host} was lost while opening SFTP`))
      this.client.once('close', onClose)
      this.client.sftp((err, s) => {
        this.client.off('close', onClose)
        if (err) reject(new HostStepError(`cannot open SFTP: ${err.message}`))
        else resolve(s)
      })
    })
    return this.sftpPromise
  }

  /** One SFTP request; the connection's close settles it too (ssh2 may never call back when it dies). */
  private async sftpRequest(what: string, fn: (sftp: SFTPWrapper, cb: (err?: Error | null) => void) => void): Promise<void> {
    const sftp = await this.sftp()
    await new Promise<void>((resolve, reject) => {
      const onClose = () => reject(new UnreachableError('network', `connection to ${this.target.host} was lost during an upload`))
      if (this.closed) return onClose()
      this.client.once('close', onClose)
      fn(sftp, (err) => {
        this.client.off('close', onClose)
        if (!err) resolve()
        else if (this.closed) onClose()
        else reject(new HostStepError(`${what} failed: ${err.message}`))
      })
    })
  }

  /** Write bytes to a path over SFTP with exactly the given mode (no rename: callers stage then move). */
  async writeFile(remotePath: string, data: Buffer | string, mode: number): Promise<void> {
    await this.sftpRequest(`upload to ${remotePath}`, (sftp, cb) => sftp.writeFile(remotePath, data, {mode}, cb))
    // The server's umask applies when the file is created; set the mode itself.
    await this.sftpRequest(`upload to ${remotePath}`, (sftp, cb) => sftp.chmod(remotePath, mode, cb))
  }

  /** Make one directory over SFTP. */
  mkdir(remotePath: string, mode: number): Promise<void> {
    return this.sftpRequest(`creating ${remotePath}`, (sftp, cb) => sftp.mkdir(remotePath, {mode}, cb))
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Close this connection (bastions are closed by their pool). */
  close(): void {
    if (!this.closed) this.client.end()
    this.closed = true
  }
}

async function connectWithRetry(
  target: ConnectTarget,
  opts: ConnectOptions,
  sockFactory?: () => Promise<NodeJS.ReadableStream & NodeJS.WritableStream>,
): Promise<InstanceType<typeof Client>> {
  // connectOnce starts the connect timeout (ssh2's readyTimeout) only once the gate lets it run.
  const gate = opts.handshakes ?? (defaultGate ??= new HandshakeGate())
  return pacedHandshake(gate, `${target.host}:${target.port}`, async () => connectOnce(target, opts, sockFactory ? await sockFactory() : undefined), {
    retries: opts.retries,
    dropped: isRetryable,
    timedOut: isTimeout,
    fail: (err, saturated) => classify(err, target, opts.connectTimeoutMs, saturated),
  })
}

async function connectOnce(
  target: ConnectTarget,
  opts: ConnectOptions,
  sock?: NodeJS.ReadableStream & NodeJS.WritableStream,
): Promise<InstanceType<typeof Client>> {
  const known = await knownHostsFor(target.knownHostsFiles)
  const keys: Buffer[] = []
  const explicit = target.identityFiles.length > 0
  const files = explicit ? target.identityFiles : DEFAULT_IDENTITIES.map((n) => path.join(os.homedir(), '.ssh', n))
  for (const f of files) {
    const k = await readKey(f)
    if (k) keys.push(k)
  }
  if (explicit && keys.length === 0)
    throw new UnreachableError('auth', `cannot use identity file ${target.identityFiles.join(', ')} (missing, unreadable or passphrase-protected; use ssh-agent for protected keys)`)
  const methods: any[] = keys.map((key) => ({type: 'publickey', username: target.user, key}))
  const agent = opts.agentSocket ?? process.env.SSH_AUTH_SOCK
  if (agent) methods.splice(explicit ? methods.length : 0, 0, {type: 'agent', username: target.user, agent})

  let hostKeyError: UnreachableError | undefined
  return new Promise((resolve, reject) => {
    const client = new Client()
    let done = false
    const fail = (err: unknown) => {
      if (done) return
      done = true
      client.end()
      reject(hostKeyError ?? err)
    }
    client.once('ready', () => {
      if (done) return
      done = true
      resolve(client)
    })
    client.on('error', fail)
    client.once('close', () => fail(new UnreachableError('network', `connection to ${target.host}:${target.port} closed during login`)))
    client.connect({
      host: sock ? undefined : target.host,
      port: sock ? undefined : target.port,
      sock: sock as any,
      username: target.user,
      readyTimeout: opts.connectTimeoutMs,
      keepaliveInterval: opts.keepaliveIntervalMs,
      keepaliveCountMax: 3,
      algorithms: {serverHostKey: preferredHostKeyAlgorithms(knownKeyTypes(known, target.host, target.port)) as any},
      authHandler: (_left: unknown, _partial: unknown, next: (m: unknown) => void) => {
        next(methods.length > 0 ? methods.shift() : false)
      },
      // Callback form on purpose: ssh2 treats a returned Promise as "accept".
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
        const check = checkHostKey(known, target.host, target.port, key)
        const fp = fingerprint(key)
        const where = target.port === 22 ? target.host : `[${target.host}]:${target.port}`
        if (check.status === 'match') {
          verify(true)
        } else if (check.status === 'changed') {
          hostKeyError = new UnreachableError(
            'host-key-changed',
            `HOST KEY CHANGED for ${where}: known ${check.knownFingerprint} (${check.knownFile}:${check.knownLine}), offered ${fp} (${keyType(key)}). Refusing to connect; remove the old entry only if the change is expected`,
          )
          verify(false)
        } else if (check.status === 'revoked') {
          hostKeyError = new UnreachableError('host-key-changed', `host key ${fp} of ${where} is marked @revoked`)
          verify(false)
        } else if (opts.acceptNewHostKeys) {
          const line = formatKnownHostsLine(target.host, target.port, key)
          known.push(...parseKnownHosts(line, target.recordKnownHostsFile))
          appendKnownHost(target.recordKnownHostsFile, line).then(
            () => verify(true),
            (e) => {
              hostKeyError = new UnreachableError('host-key-unknown', `cannot record host key of ${where}: ${e.message}`)
              verify(false)
            },
          )
        } else {
          hostKeyError = new UnreachableError(
            'host-key-unknown',
            `unknown host key for ${where}: ${fp} (${keyType(key)}). Verify it, then add it to known_hosts or rerun with --accept-new-host-keys`,
          )
          verify(false)
        }
      },
    } as any)
  })
}

/** One shared connection per bastion (and per chain prefix) for the whole run. */
export class BastionPool {
  private readonly conns = new Map<string, Promise<Connection>>()
  constructor(private readonly opts: ConnectOptions) {}

  /** The connection to the last hop of a chain, opening the earlier hops first. */
  get(chain: ConnectTarget[]): Promise<Connection> {
    const key = chain.map((t) => `${t.user}@${t.host}:${t.port}`).join(',')
    let p = this.conns.get(key)
    if (!p) {
      const last = chain[chain.length - 1]
      const prefix = chain.slice(0, -1)
      p = Connection.open({...last, jump: prefix}, this.opts, this).catch((e: unknown) => {
        this.conns.delete(key)
        const msg = e instanceof Error ? e.message : String(e)
        throw new UnreachableError(e instanceof UnreachableError && e.kind.startsWith('host-key') ? e.kind : 'jump', `jump host ${last.host}: ${msg}`)
      })
      this.conns.set(key, p)
    }
    return p
  }

  /** Close every bastion connection. */
  async closeAll(): Promise<void> {
    for (const p of this.conns.values()) {
      try {
        ;(await p).close()
      } catch {
        // already failed
      }
    }
    this.conns.clear()
  }
}

/** The remote command line that runs `script` as the login user, whatever their login shell. */
export function userCommand(script: string): string {
  return `sh -c ${shq(script)}`
}

/** How a root command is wrapped for this login: plain sh for root, sudo otherwise. */
export interface RootMode {
  kind: 'root' | 'sudo' | 'sudo-password' | 'none'
  password?: string
}

/** Build the remote command line that runs `script` as root. The password never appears in it. */
export function rootCommand(script: string, mode: RootMode): {command: string; stdin?: string} {
  const sh = userCommand(script)
  switch (mode.kind) {
    case 'root':
      return {command: sh}
    case 'sudo':
      return {command: `sudo -n -- ${sh}`}
    case 'sudo-password':
      return {command: `sudo -S -p '' -- ${sh}`, stdin: `${mode.password}\n`}
    default:
      throw new HostStepError('root is required: log in as root or set become: true')
  }
}

/** Turn sudo's own complaints into one clear line. */
export function sudoProblem(stderr: string, user: string): string | undefined {
  if (/a password is required|a terminal is required/.test(stderr))
    return `sudo for ${user} wants a password: set GWFLEET_BECOME_PASSWORD or allow NOPASSWD for ${user}`
  if (/incorrect password|Sorry, try again/.test(stderr)) return `sudo for ${user} refused the password in GWFLEET_BECOME_PASSWORD`
  if (/is not in the sudoers file|not allowed to execute|may not run sudo/.test(stderr)) return `${user} may not use sudo on this host`
  if (/sudo: (command )?not found|sudo: No such file/.test(stderr)) return `sudo is not installed on this host`
  return undefined
}
