// The one seam to the network: an SSH connection to a host (through jump hosts when asked),
// with strict host-key checking, exec with streamed output, root execution and SFTP uploads.
import {readFileSync} from 'node:fs'
import path from 'node:path'
import type {ClientChannel, SFTPWrapper} from 'ssh2'
import ssh2 from 'ssh2'

import {HostStepError, KeyFileError, LocalError, TimeoutError, UnreachableError} from '../errors.js'
import {appendKnownHost, checkHostKey, fingerprint, formatKnownHostsLine, hostKeyRefusal, keyType, knownHostsName, knownKeyTypes, loadKnownHosts, parseKnownHosts, preferredHostKeyAlgorithms} from './knownhosts.js'
import type {KnownHostEntry} from './knownhosts.js'
import {BoundedBytes, formatBytes, LineSplitter, MAX_COLLECTED_STDOUT, MAX_KEPT_STDERR} from './output.js'
import {HandshakeGate, pacedHandshake} from './pacing.js'
import {shq} from './quote.js'
import {homeDir} from '../util/local.js'

const {Client, OpenSSHAgent, utils} = ssh2

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
  /**
   * Asks the operator for a key file's passphrase until `unlocks` accepts it; undefined when
   * nobody can be asked (no terminal).
   */
  askPassphrase?: (file: string, unlocks: (passphrase: string) => boolean) => Promise<string | undefined>
  /** Told of each host key --accept-new-host-keys wrote to a known_hosts file (for the operator and the run log). */
  onHostKeyRecorded?: (recorded: RecordedHostKey) => void
}

/** A host key written to known_hosts: the name it was recorded under, its type and fingerprint, and the file. */
export interface RecordedHostKey {
  host: string
  keyType: string
  fingerprint: string
  file: string
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

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa']

/** An identity file as found on disk, before any passphrase. */
export interface KeyFileInfo {
  file: string
  data: Buffer
  encrypted: boolean
  /** The public key blob (from the key, the `.pub` beside it, or an OpenSSH key's clear header); null when unknown. */
  publicKey: Buffer | null
}

const inspected = new Map<string, KeyFileInfo | KeyFileError>()

/**
 * Read and classify an identity file, asking nothing: missing, unreadable or wrong format throw a
 * KeyFileError naming the file and the problem; a passphrase-protected key comes back `encrypted`.
 */
export function inspectKeyFile(file: string): KeyFileInfo {
  let r = inspected.get(file)
  if (!r) {
    r = inspectUncached(file)
    inspected.set(file, r)
  }
  if (r instanceof KeyFileError) throw r
  return r
}

function inspectUncached(file: string): KeyFileInfo | KeyFileError {
  let data: Buffer
  try {
    data = readFileSync(file)
  } catch (e: any) {
    if (e?.code === 'ENOENT' || e?.code === 'ENOTDIR') return new KeyFileError('missing', file, `identity file ${file} does not exist`)
    const why = e?.code === 'EACCES' || e?.code === 'EPERM' ? 'permission denied; check its owner and mode' : e?.code === 'EISDIR' ? 'it is a directory' : String(e?.code ?? e?.message)
    return new KeyFileError('unreadable', file, `identity file ${file} cannot be read (${why})`)
  }
  const parsed = utils.parseKey(data)
  if (parsed instanceof Error) {
    if (/no passphrase given/.test(parsed.message)) return {file, data, encrypted: true, publicKey: publicKeyBeside(file) ?? opensshPublicKey(data)}
    return new KeyFileError('wrong-format', file, `identity file ${file} is not a private key in a format gwfleet reads (OpenSSH, PEM or PuTTY): ${parsed.message}`)
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  if (!key.isPrivateKey()) return new KeyFileError('wrong-format', file, `identity file ${file} is a public key; identityFile must name the private key`)
  return {file, data, encrypted: false, publicKey: key.getPublicSSH()}
}

/** The public key in `FILE.pub`, as OpenSSH reads it to match a key the agent holds; null when absent or bad. */
function publicKeyBeside(file: string): Buffer | null {
  try {
    const k = utils.parseKey(readFileSync(`${file}.pub`))
    const key = Array.isArray(k) ? k[0] : k
    return key instanceof Error ? null : key.getPublicSSH()
  } catch {
    return null
  }
}

/** An OpenSSH-format private key carries its public key unencrypted in its header (PROTOCOL.key). */
export function opensshPublicKey(data: Buffer): Buffer | null {
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(data.toString('latin1'))
  if (!m) return null
  const b = Buffer.from(m[1].replace(/\s+/g, ''), 'base64')
  const magic = 'openssh-key-v1\0'
  if (b.subarray(0, magic.length).toString('latin1') !== magic) return null
  let at = magic.length
  const field = (): Buffer | null => {
    if (at + 4 > b.length) return null
    const n = b.readUInt32BE(at)
    if (at + 4 + n > b.length) return null
    const f = b.subarray(at + 4, at + 4 + n)
    at += 4 + n
    return f
  }
  // cipher name, kdf name, kdf options, then the key count and the first public key.
  if (!field() || !field() || !field() || at + 4 > b.length) return null
  at += 4
  const pub = field()
  return pub && pub.length > 0 ? Buffer.from(pub) : null
}

const agentKeysCache = new Map<string, Promise<Buffer[]>>()

/** The public keys the ssh-agent at `socket` holds, asked once per run; empty when it cannot be asked. */
export function agentPublicKeys(socket: string): Promise<Buffer[]> {
  let p = agentKeysCache.get(socket)
  if (!p) {
    p = new Promise<Buffer[]>((resolve) => {
      new OpenSSHAgent(socket).getIdentities((err: Error | null | undefined, keys?: any[]) => {
        resolve(err || !keys ? [] : keys.map((k) => k.getPublicSSH() as Buffer))
      })
    })
    agentKeysCache.set(socket, p)
  }
  return p
}

/** The ssh-agent, offering only the keys `keep` accepts (so each key is tried once, in OpenSSH's order). */
class SomeKeysAgent extends OpenSSHAgent {
  constructor(socket: string, private readonly keep: (publicKey: Buffer) => boolean) {
    super(socket)
  }
  override getIdentities(cb: (err: Error | null | undefined, keys?: any[]) => void): void {
    super.getIdentities((err: Error | null | undefined, keys?: any[]) => (err || !keys ? cb(err) : cb(undefined, keys.filter((k) => this.keep(k.getPublicSSH())))))
  }
}

const unlocked = new Map<string, Promise<unknown>>()

/** A key file's private key, its passphrase asked at most once per file per run. */
function privateKeyOf(info: KeyFileInfo, ask: ConnectOptions['askPassphrase']): Promise<unknown> {
  let p = unlocked.get(info.file)
  if (!p) {
    p = (async () => {
      if (!info.encrypted) return utils.parseKey(info.data)
      // Decrypting is slow (bcrypt_pbkdf): the key that opened is the one used.
      let opened: unknown
      const opens = (pp: string) => {
        const k = utils.parseKey(info.data, pp)
        if (k instanceof Error) return false
        opened = Array.isArray(k) ? k[0] : k
        return true
      }
      const pp = ask ? await ask(info.file, opens) : undefined
      if (pp === undefined || opened === undefined)
        throw new KeyFileError(
          'passphrase',
          info.file,
          `identity file ${info.file} is passphrase-protected and there is no terminal to ask for its passphrase: load it into ssh-agent (ssh-add ${info.file}) and run gwfleet with SSH_AUTH_SOCK set`,
        )
      return opened
    })()
    unlocked.set(info.file, p)
  }
  return p
}

/**
 * How to log in, the way OpenSSH does it. With identity files: those the agent holds (matched by
 * public key) through the agent, the others from disk (asking a passphrase when needed), then the
 * agent's other keys; a file that cannot be used, when no identity file can, is a KeyFileError.
 * Without: the agent first, then the default keys in ~/.ssh that exist and can be opened.
 */
export async function authMethods(target: ConnectTarget, opts: ConnectOptions): Promise<unknown[]> {
  const explicit = target.identityFiles.length > 0
  const files = explicit ? target.identityFiles : DEFAULT_IDENTITIES.map((n) => path.join(homeDir(), '.ssh', n))
  const agent = opts.agentSocket ?? process.env.SSH_AUTH_SOCK
  const held = agent ? await agentPublicKeys(agent) : []
  const viaAgent: Buffer[] = []
  const keys: unknown[] = []
  let problem: KeyFileError | undefined
  for (const f of files) {
    try {
      const info = inspectKeyFile(f)
      const pub = info.publicKey
      if (pub && held.some((h) => h.equals(pub))) {
        viaAgent.push(pub)
        continue
      }
      // A protected default key is asked for only when there is no agent key to try instead.
      if (info.encrypted && !explicit && held.length > 0) continue
      keys.push(await privateKeyOf(info, opts.askPassphrase))
    } catch (e) {
      if (!(e instanceof KeyFileError)) throw e
      problem ??= e
    }
  }
  if (explicit && problem && viaAgent.length === 0 && keys.length === 0) throw problem
  const user = target.user
  const fromFiles = keys.map((key) => ({type: 'publickey', username: user, key}))
  if (!agent) return fromFiles
  if (!explicit) return [{type: 'agent', username: user, agent}, ...fromFiles]
  const matched = (k: Buffer) => viaAgent.some((v) => v.equals(k))
  return [
    ...(viaAgent.length ? [{type: 'agent', username: user, agent: new SomeKeysAgent(agent, matched)}] : []),
    ...fromFiles,
    {type: 'agent', username: user, agent: new SomeKeysAgent(agent, (k) => !matched(k))},
  ]
}

/**
 * Open every identity file the targets will use now, so passphrases are asked before the progress
 * view starts; problems are left for each host's own connection to report.
 */
export async function prepareAuth(targets: ConnectTarget[], opts: ConnectOptions): Promise<void> {
  const seen = new Set<string>()
  for (const t of targets) {
    for (const hop of [...t.jump, t]) {
      const k = `${hop.user}\0${hop.identityFiles.join('\0')}`
      if (seen.has(k)) continue
      seen.add(k)
      await authMethods(hop, opts).catch(() => undefined)
    }
  }
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

/** Bytes of file data in one SFTP write request (every SFTP server accepts 32 KiB). */
const WRITE_CHUNK = 32 * 1024
/** Bytes of SFTP writes in flight per connection: enough for ~10 MB/s at 100 ms round trip. */
const WRITE_WINDOW = 1024 * 1024

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
          if (code === null && signal === undefined && this.closed)
            finish(new UnreachableError('network', `connection to ${this.target.host} was lost during a remote command`))
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

  /**
   * Write several files over SFTP, each created new (O_EXCL: nothing already there, no link, is
   * followed) with exactly the given mode; callers stage, verify and move. Pipelined: every open is
   * sent at once, and each file's writes, mode and close go out as soon as its handle is back, without
   * waiting for one another (SFTP answers requests on one handle in order), so the whole batch costs
   * about two round trips plus the transfer. At most WRITE_WINDOW bytes of writes are in flight.
   */
  async writeFiles(files: {path: string; data: Buffer | string; mode: number}[]): Promise<void> {
    if (files.length === 0) return
    const sftp = await this.sftp()
    await new Promise<void>((resolve, reject) => {
      let failure: Error | undefined
      let requests = 0 // answers still due
      let filesLeft = files.length // files whose close is not sent yet
      let inFlight = 0 // bytes of writes sent, not answered
      const queue: (() => void)[] = [] // writes waiting for room in the window
      const onClose = () => finish(new UnreachableError('network', `connection to ${this.target.host} was lost during an upload`))
      const finish = (err?: Error) => {
        this.client.off('close', onClose)
        if (err) reject(err)
        else resolve()
      }
      const done = () => {
        if (requests > 0 || filesLeft > 0 || this.closed) return
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
      if (this.closed) return onClose()
      this.client.once('close', onClose)
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
export function bastionKey(chain: ConnectTarget[]): string {
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

/** The remote command line that runs `script` as the login user, whatever their login shell. */
export function userCommand(script: string): string {
  return `sh -c ${shq(script)}`
}

/** How a root command is wrapped for this login: plain sh for root, sudo otherwise. */
export interface RootMode {
  kind: 'root' | 'sudo' | 'sudo-password' | 'none'
  password?: string
}

/**
 * Build the remote command line that runs `script` as root, and what its stdin carries: `input` for
 * the script, after the password line under sudo -S (sudo reads that line byte by byte and leaves the
 * rest to the script). The password never appears in the command line. A script reading `input`
 * must find its start itself (see stdinPayload): a sudo that did not ask leaves the password line there.
 */
export function rootCommand(script: string, mode: RootMode, input?: string): {command: string; stdin?: string} {
  const sh = userCommand(script)
  switch (mode.kind) {
    case 'root':
      return {command: sh, stdin: input}
    case 'sudo':
      return {command: `sudo -n -- ${sh}`, stdin: input}
    case 'sudo-password':
      return {command: `sudo -S -p '' -- ${sh}`, stdin: `${mode.password}\n${input ?? ''}`}
    default:
      throw new HostStepError('root is required: log in as root or set become: true')
  }
}

/** Whether sudo stopped because it wants a password (sudo -n), before running anything. */
export function sudoWantsPassword(stderr: string): boolean {
  return /^sudo: (a password is required|a terminal is required)/m.test(stderr)
}

/**
 * Turn sudo's own complaints into one clear line. `given` says where the password sudo refused came
 * from (the environment or the operator's answer at the prompt).
 */
export function sudoProblem(stderr: string, user: string, given: 'environment' | 'prompt' = 'environment'): string | undefined {
  if (/a password is required|a terminal is required/.test(stderr))
    return `sudo for ${user} wants a password: set GWFLEET_BECOME_PASSWORD, run gwfleet on a terminal (it asks; --ask-become-pass asks up front) or allow NOPASSWD for ${user}`
  if (/incorrect password|Sorry, try again/.test(stderr))
    return given === 'prompt' ? `sudo for ${user} refused the password typed at the prompt` : `sudo for ${user} refused the password in GWFLEET_BECOME_PASSWORD`
  if (/is not in the sudoers file|not allowed to execute|may not run sudo/.test(stderr)) return `${user} may not use sudo on this host`
  if (/sudo: (command )?not found|sudo: No such file/.test(stderr)) return `sudo is not installed on this host`
  return undefined
}
