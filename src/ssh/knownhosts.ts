// known_hosts files as OpenSSH reads them (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): parse, look up, record.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { appendFile, mkdir, open } from 'node:fs/promises'
import { dirname } from 'node:path'
import { InputError } from '../errors.js'
import { wildcardMatch } from '../util/glob.js'
import { expandHome } from '../util/local.js'

/** One host pattern of a known_hosts line: a (possibly negated) wildcard pattern or a hashed host name. */
export type KnownHostPattern =
  | { kind: 'plain'; pattern: string; negated: boolean }
  | { kind: 'hashed'; salt: Buffer; hash: Buffer }

/** One usable known_hosts line, remembering where it came from. */
export interface KnownHostEntry {
  file: string
  line: number
  marker?: 'cert-authority' | 'revoked'
  hosts: string
  patterns: KnownHostPattern[]
  keyType: string
  key: Buffer
  comment?: string
}

/** A recorded known_hosts key as the operator needs to see it: type, fingerprint and where it is. */
export interface KnownKeyRef {
  keyType: string
  fingerprint: string
  file: string
  line: number
}

/**
 * The verdict on a host key presented by a server. `changed`: the host has recorded keys and none
 * is this one (whatever their types); `cert-authority`: the host is vouched for only by a CA line.
 */
export type HostKeyCheck =
  | { status: 'match' }
  | { status: 'unknown' }
  | { status: 'changed'; known: KnownKeyRef[] }
  | { status: 'revoked'; entry: KnownKeyRef }
  | { status: 'cert-authority'; entries: KnownKeyRef[] }

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

/** The key type named inside an SSH wire-format public key blob (its first SSH string, e.g. `ssh-ed25519`). */
export function keyType(key: Buffer): string {
  if (key.length < 4) throw new Error('malformed SSH public key blob')
  const len = key.readUInt32BE(0)
  if (len === 0 || len > 64 || 4 + len > key.length) throw new Error('malformed SSH public key blob')
  const type = key.toString('latin1', 4, 4 + len)
  if (!/^[\x21-\x7e]+$/.test(type)) throw new Error('malformed SSH public key blob')
  return type
}

/** The OpenSSH-style fingerprint of a key blob: `SHA256:` and unpadded base64, as `ssh-keygen -l` prints it. */
export function fingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '')
}

/** Parse known_hosts text; comments, blank and unreadable lines are skipped, never fatal. */
export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = []
  text.split('\n').forEach((raw, i) => {
    const entry = parseLine(raw, file, i + 1)
    if (entry) out.push(entry)
  })
  return out
}

function parseLine(raw: string, file: string, line: number): KnownHostEntry | undefined {
  const text = raw.replace(/\r$/, '').trim()
  if (text === '' || text.startsWith('#')) return undefined
  const fields = text.split(/[ \t]+/)
  let marker: KnownHostEntry['marker']
  if (fields[0]!.startsWith('@')) {
    const m = fields.shift()!
    if (m === '@cert-authority') marker = 'cert-authority'
    else if (m === '@revoked') marker = 'revoked'
    else return undefined
  }
  if (fields.length < 3) return undefined
  const [hosts, type, b64] = fields as [string, string, string]
  if (!BASE64.test(b64)) return undefined
  const key = Buffer.from(b64, 'base64')
  let blobType: string
  try {
    blobType = keyType(key)
  } catch {
    return undefined
  }
  if (blobType !== type) return undefined
  const patterns = parsePatterns(hosts)
  if (!patterns) return undefined
  const entry: KnownHostEntry = { file, line, hosts, patterns, keyType: blobType, key }
  if (marker) entry.marker = marker
  const comment = fields.slice(3).join(' ')
  if (comment) entry.comment = comment
  return entry
}

function parsePatterns(hosts: string): KnownHostPattern[] | undefined {
  // A hashed host field is one name; OpenSSH does not split it on commas.
  if (hosts.startsWith('|')) {
    const m = /^\|1\|([A-Za-z0-9+/]+={0,2})\|([A-Za-z0-9+/]+={0,2})$/.exec(hosts)
    if (!m) return undefined
    const salt = Buffer.from(m[1]!, 'base64')
    const hash = Buffer.from(m[2]!, 'base64')
    if (salt.length !== 20 || hash.length !== 20) return undefined
    return [{ kind: 'hashed', salt, hash }]
  }
  const out: KnownHostPattern[] = []
  for (const p of hosts.split(',')) {
    if (p === '' || p === '!') continue
    const negated = p.startsWith('!')
    out.push({ kind: 'plain', pattern: (negated ? p.slice(1) : p).toLowerCase(), negated })
  }
  return out.length ? out : undefined
}

/** The name OpenSSH looks up for a host: `host` on port 22, `[host]:port` otherwise (lower-cased). */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase()
  return port === 22 ? h : `[${h}]:${port}`
}

/** Whether the entry's host field names this host/port: any positive pattern matches and no negated one does. */
export function entryMatchesHost(entry: KnownHostEntry, host: string, port: number): boolean {
  const name = knownHostsName(host, port)
  let positive = false
  for (const p of entry.patterns) {
    if (p.kind === 'hashed') {
      const h = createHmac('sha1', p.salt).update(name).digest()
      if (timingSafeEqual(h, p.hash)) positive = true
    } else if (wildcardMatch(name, p.pattern)) {
      if (p.negated) return false
      positive = true
    }
  }
  return positive
}

function refOf(e: KnownHostEntry): KnownKeyRef {
  return { keyType: e.keyType, fingerprint: fingerprint(e.key), file: e.file, line: e.line }
}

/**
 * Check a server's host key blob against known_hosts entries. Any plain entry for the host that is
 * not this key makes it a changed key, also when its type differs (a host that stops offering the
 * recorded type is not "new"); a matching `@revoked` key is refused first; `@cert-authority` lines
 * never vouch for a plain key, but a host they name is not new either.
 */
export function checkHostKey(entries: KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyCheck {
  const relevant = entries.filter((e) => entryMatchesHost(e, host, port))
  const revoked = relevant.find((e) => e.marker === 'revoked' && e.key.equals(key))
  if (revoked) return { status: 'revoked', entry: refOf(revoked) }
  const plain = relevant.filter((e) => e.marker === undefined)
  if (plain.some((e) => e.key.equals(key))) return { status: 'match' }
  if (plain.length > 0) return { status: 'changed', known: plain.map(refOf) }
  const ca = relevant.filter((e) => e.marker === 'cert-authority')
  if (ca.length > 0) return { status: 'cert-authority', entries: ca.map(refOf) }
  return { status: 'unknown' }
}

/**
 * The operator's message for a refused host key (null for `match` and `unknown`): every recorded
 * key with its file and line, the offered key, and how to fix it.
 */
export function hostKeyRefusal(check: HostKeyCheck, host: string, port: number, key: Buffer): string | null {
  const name = knownHostsName(host, port)
  const offered = `${keyType(key)} ${fingerprint(key)}`
  const at = (r: KnownKeyRef) => `${r.keyType} ${r.fingerprint} (${r.file}:${r.line})`
  switch (check.status) {
    case 'changed': {
      // Keys gwfleet cannot negotiate (ssh-dss, security keys) can never match: say so, or the refusal looks wrong.
      const unusable = check.known.every((r) => algorithmsForKeyType(r.keyType).length === 0)
        ? ' gwfleet can check only ed25519, ECDSA and RSA host keys.'
        : ''
      // One line the operator can act on: each entry's FILE:LINE is what to delete once the new key is verified.
      return (
        `HOST KEY CHANGED for ${name}: known ${check.known.map(at).join(' and ')}, offered ${offered}. ` +
        `Refused even with --accept-new-host-keys.${unusable} If the change is expected, verify the new key and delete the old ` +
        `line${check.known.length > 1 ? 's' : ''}`
      )
    }
    case 'revoked':
      return `host key ${offered} of ${name} is marked @revoked in ${check.entry.file}:${check.entry.line}; refusing to connect`
    case 'cert-authority':
      return (
        `${name} is vouched for only by @cert-authority ${check.entries.map((r) => `${r.file}:${r.line}`).join(', ')}, ` +
        `and gwfleet cannot check host certificates; the host offered ${offered}. ` +
        `Refusing to connect, also with --accept-new-host-keys; verify that key and add it for ${name} to known_hosts`
      )
    default:
      return null
  }
}

/** Key types (blob types such as `ssh-rsa`) known for this host, in file order, so negotiation can prefer them. */
export function knownKeyTypes(entries: KnownHostEntry[], host: string, port: number): string[] {
  const types: string[] = []
  for (const e of entries) {
    if (e.marker === undefined && !types.includes(e.keyType) && entryMatchesHost(e, host, port)) types.push(e.keyType)
  }
  return types
}

// ssh2's default host key algorithms, strongest first; an `ssh-rsa` key is negotiated as any of the rsa-* names.
const SSH2_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
]

function algorithmsForKeyType(type: string): string[] {
  if (type === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']
  return SSH2_HOST_KEY_ALGORITHMS.includes(type) ? [type] : []
}

/** ssh2 `algorithms.serverHostKey`: algorithms for the known key types first, then the rest of ssh2's defaults. */
export function preferredHostKeyAlgorithms(knownTypes: string[]): string[] {
  const first = SSH2_HOST_KEY_ALGORITHMS.filter((a) => knownTypes.some((t) => algorithmsForKeyType(t).includes(a)))
  return [...first, ...SSH2_HOST_KEY_ALGORITHMS.filter((a) => !first.includes(a))]
}

/** Read and parse known_hosts files in order; a missing file counts as empty. */
export async function loadKnownHosts(files: string[]): Promise<KnownHostEntry[]> {
  const out: KnownHostEntry[] = []
  for (const file of files) {
    let text: string
    try {
      text = readFileSync(expandHome(file), 'utf8')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw e
    }
    out.push(...parseKnownHosts(text, file))
  }
  return out
}

/** The known_hosts line OpenSSH itself would write for this host and key (unhashed). */
export function formatKnownHostsLine(host: string, port: number, key: Buffer): string {
  if (host === '' || /[\s,#]/.test(host) || /^[|@!]/.test(host) || /[*?]/.test(host)) {
    throw new InputError(`host ${JSON.stringify(host)} cannot be written to known_hosts`, { file: 'known_hosts' })
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InputError(`port ${port} out of range 1-65535`, { file: 'known_hosts' })
  }
  return `${knownHostsName(host, port)} ${keyType(key)} ${key.toString('base64')}`
}

// Appends within this process go one after another, so lines never interleave or race the newline check.
let appendChain: Promise<unknown> = Promise.resolve()

/** Append one line to a known_hosts file (dir 0700 / file 0600 when created), serialized within the process. */
export function appendKnownHost(file: string, line: string): Promise<void> {
  const run = appendChain.then(() => appendNow(expandHome(file), line))
  appendChain = run.catch(() => undefined)
  return run
}

async function appendNow(file: string, line: string): Promise<void> {
  const body = line.replace(/\n$/, '')
  if (body === '' || /[\r\n]/.test(body)) {
    throw new InputError('a known_hosts line must be one non-empty line', { file })
  }
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  const prefix = (await endsWithoutNewline(file)) ? '\n' : ''
  await appendFile(file, `${prefix}${body}\n`, { mode: 0o600 })
}

// A file edited by hand may lack its final newline; our line must not be glued onto the last one.
async function endsWithoutNewline(file: string): Promise<boolean> {
  let fh
  try {
    fh = await open(file, 'r')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw e
  }
  try {
    const { size } = await fh.stat()
    if (size === 0) return false
    const buf = Buffer.alloc(1)
    await fh.read(buf, 0, 1, size - 1)
    return buf[0] !== 0x0a
  } finally {
    await fh.close()
  }
}
