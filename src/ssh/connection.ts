// The one seam to the network: an SSH connection to a host (through jump hosts when asked), with
// strict host-key checking, and a pool of shared bastion connections. Logging in is in auth.ts,
// commands in exec.ts, root in sudo.ts, uploads in sftp.ts.
import type {SFTPWrapper} from 'ssh2'
import ssh2 from 'ssh2'

import {LocalError, UnreachableError} from '../errors.js'
import {forgetWithRun, perRunMap} from '../util/per-run.js'
import {authMethods} from './auth.js'
import {execCommand, type ExecOptions, type ExecResult} from './exec.js'
import {appendKnownHost, checkHostKey, fingerprint, formatKnownHostsLine, hostKeyRefusal, keyType, knownHostsName, knownKeyTypes, loadKnownHosts, parseKnownHosts, preferredHostKeyAlgorithms} from './knownhosts.js'
import type {KnownHostEntry} from './knownhosts.js'
import {HandshakeGate, pacedHandshake} from './pacing.js'
import {openSftp, writeFiles, type UploadFile} from './sftp.js'
import type {ConnectOptions, ConnectTarget} from './types.js'

const {Client} = ssh2

const knownHostsCache = perRunMap<string, Promise<KnownHostEntry[]>>()

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

/** The gate of connections opened without one of their own: one for the run. */
let defaultGate: HandshakeGate | undefined
forgetWithRun(() => (defaultGate = undefined))

function describeTarget(t: ConnectTarget): string {
  return `${t.user}@${t.host}${t.port === 22 ? '' : `:${t.port}`}`
}

function classify(err: any, t: ConnectTarget, timeoutMs: number, saturatedRetries = 0): Error {
  // A problem on the workstation (a key file) is the operator's to fix, not the network's.
  if (err instanceof UnreachableError || err instanceof LocalError) return err
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
    return execCommand(this, command, o)
  }

  /** The SFTP session of this connection, opened once. */
  sftp(): Promise<SFTPWrapper> {
    this.sftpPromise ??= openSftp(this)
    return this.sftpPromise
  }

  /** Upload files over SFTP, pipelined (see sftp.ts writeFiles). */
  async writeFiles(files: UploadFile[]): Promise<void> {
    if (files.length === 0) return
    return writeFiles(this, await this.sftp(), files)
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
  const methods = await authMethods(target, opts)
  // connectOnce starts the connect timeout (ssh2's readyTimeout) only once the gate lets it run.
  const gate = opts.handshakes ?? (defaultGate ??= new HandshakeGate())
  return pacedHandshake(gate, `${target.host}:${target.port}`, async () => connectOnce(target, opts, [...methods], sockFactory ? await sockFactory() : undefined), {
    retries: opts.retries,
    dropped: isRetryable,
    timedOut: isTimeout,
    fail: (err, saturated) => classify(err, target, opts.connectTimeoutMs, saturated),
  })
}

async function connectOnce(
  target: ConnectTarget,
  opts: ConnectOptions,
  methods: unknown[],
  sock?: NodeJS.ReadableStream & NodeJS.WritableStream,
): Promise<InstanceType<typeof Client>> {
  const known = await knownHostsFor(target.knownHostsFiles)

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
        const where = knownHostsName(target.host, target.port)
        const refusal = hostKeyRefusal(check, target.host, target.port, key)
        if (check.status === 'match') {
          verify(true)
        } else if (refusal !== null) {
          // Changed, revoked or CA-only: refused whatever the flags; only a host with no entry is new.
          hostKeyError = new UnreachableError(check.status === 'cert-authority' ? 'host-key-unknown' : 'host-key-changed', refusal)
          verify(false)
        } else if (opts.acceptNewHostKeys) {
          const line = formatKnownHostsLine(target.host, target.port, key)
          known.push(...parseKnownHosts(line, target.recordKnownHostsFile))
          appendKnownHost(target.recordKnownHostsFile, line).then(
            () => {
              try {
                opts.onHostKeyRecorded?.({host: where, keyType: keyType(key), fingerprint: fp, file: target.recordKnownHostsFile})
              } catch {
                // Telling the operator is best effort; the key is recorded and the login goes on.
              }
              verify(true)
            },
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

/**
 * Which pooled connection a hop may share: the same login at the same address, checked against the
 * same known_hosts files. A gateway whose known_hosts pins another key for the bastion must have its
 * own connection checked against them, never ride on one another gateway's trust let through.
 */
function bastionKey(chain: ConnectTarget[]): string {
  return JSON.stringify(chain.map((t) => [t.user, t.host, t.port, t.knownHostsFiles, t.recordKnownHostsFile]))
}

/** One shared connection per bastion (and per chain prefix, and per known_hosts trust) for the whole run. */
export class BastionPool {
  private readonly conns = new Map<string, Promise<Connection>>()
  constructor(private readonly opts: ConnectOptions) {}

  /** The connection to the last hop of a chain, opening the earlier hops first. */
  get(chain: ConnectTarget[]): Promise<Connection> {
    const key = bastionKey(chain)
    let p = this.conns.get(key)
    if (!p) {
      const last = chain[chain.length - 1]
      const prefix = chain.slice(0, -1)
      p = Connection.open({...last, jump: prefix}, this.opts, this).catch((e: unknown) => {
        this.conns.delete(key)
        if (e instanceof LocalError) throw e
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
