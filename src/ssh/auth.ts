// Logging in: identity files (read, classified, unlocked once per run), the ssh-agent, and the
// order OpenSSH tries them in.
import {readFileSync} from 'node:fs'
import path from 'node:path'
import ssh2 from 'ssh2'

import {KeyFileError} from '../errors.js'
import {homeDir} from '../util/local.js'
import {perRunMap} from '../util/per-run.js'
import type {ConnectOptions, ConnectTarget} from './types.js'

const {OpenSSHAgent, utils} = ssh2

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa']

/** An identity file as found on disk, before any passphrase. */
export interface KeyFileInfo {
  file: string
  data: Buffer
  encrypted: boolean
  /** The public key blob (from the key, the `.pub` beside it, or an OpenSSH key's clear header); null when unknown. */
  publicKey: Buffer | null
}

const inspected = perRunMap<string, KeyFileInfo | KeyFileError>()

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

const agentKeysCache = perRunMap<string, Promise<Buffer[]>>()

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

const unlocked = perRunMap<string, Promise<unknown>>()

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
