import { execFileSync } from 'node:child_process'
import { createHmac, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InputError } from '../../src/errors.js'
import {
  appendKnownHost,
  checkHostKey,
  fingerprint,
  formatKnownHostsLine,
  hostKeyRefusal,
  keyType,
  knownKeyTypes,
  loadKnownHosts,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
} from '../../src/ssh/knownhosts.js'

let dir: string
// Real keys made by ssh-keygen: the .pub file's base64 field is the wire-format blob ssh2 hands to hostVerifier.
const keys: Record<'ed1' | 'ed2' | 'rsa' | 'ecdsa', { blob: Buffer; b64: string; pub: string }> = {} as never

function makeKey(name: string, args: string[]) {
  const path = join(dir, name)
  execFileSync('ssh-keygen', ['-q', '-N', '', '-C', `${name}@test`, '-f', path, ...args])
  const b64 = readFileSync(`${path}.pub`, 'utf8').split(' ')[1]!
  return { blob: Buffer.from(b64, 'base64'), b64, pub: `${path}.pub` }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gwfleet-kh-'))
  keys.ed1 = makeKey('ed1', ['-t', 'ed25519'])
  keys.ed2 = makeKey('ed2', ['-t', 'ed25519'])
  keys.rsa = makeKey('rsa', ['-t', 'rsa', '-b', '2048'])
  keys.ecdsa = makeKey('ecdsa', ['-t', 'ecdsa', '-b', '256'])
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

const kh = (text: string, file = 'kh') => parseKnownHosts(text, file)
const line = (hosts: string, k: { b64: string; blob: Buffer }) => `${hosts} ${keyType(k.blob)} ${k.b64}`

// A hashed host field exactly as OpenSSH builds it: HMAC-SHA1 of the lookup name keyed by a random salt.
function hashed(name: string, salt = randomBytes(20)): string {
  const h = createHmac('sha1', salt).update(name).digest()
  return `|1|${salt.toString('base64')}|${h.toString('base64')}`
}

describe('keyType and fingerprint', () => {
  it('read the type from the blob', () => {
    expect(keyType(keys.ed1.blob)).toBe('ssh-ed25519')
    expect(keyType(keys.rsa.blob)).toBe('ssh-rsa')
    expect(keyType(keys.ecdsa.blob)).toBe('ecdsa-sha2-nistp256')
    expect(() => keyType(Buffer.from([0, 0, 0, 9, 1]))).toThrow(/malformed/)
  })

  it('prints fingerprints exactly as ssh-keygen -l does', () => {
    for (const k of Object.values(keys)) {
      const out = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', k.pub], { encoding: 'utf8' })
      expect(fingerprint(k.blob)).toBe(out.split(' ')[1])
      expect(fingerprint(k.blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)
    }
  })
})

describe('formatKnownHostsLine', () => {
  it('writes host or [host]:port, type and base64', () => {
    expect(formatKnownHostsLine('gw.example', 22, keys.ed1.blob)).toBe(`gw.example ssh-ed25519 ${keys.ed1.b64}`)
    expect(formatKnownHostsLine('GW.Example', 2222, keys.rsa.blob)).toBe(`[gw.example]:2222 ssh-rsa ${keys.rsa.b64}`)
    expect(formatKnownHostsLine('::1', 22, keys.ed1.blob)).toBe(`::1 ssh-ed25519 ${keys.ed1.b64}`)
    expect(formatKnownHostsLine('::1', 2200, keys.ed1.blob)).toBe(`[::1]:2200 ssh-ed25519 ${keys.ed1.b64}`)
  })

  it('refuses hosts that would corrupt the file', () => {
    for (const h of ['', 'a b', 'a,b', 'a\nb', '*.x', '!x', '|1|x', '@revoked']) {
      expect(() => formatKnownHostsLine(h, 22, keys.ed1.blob)).toThrow(InputError)
    }
    expect(() => formatKnownHostsLine('x', 0, keys.ed1.blob)).toThrow(InputError)
  })

  it('round-trips through the parser', () => {
    const e = kh(formatKnownHostsLine('gw', 2222, keys.ed1.blob))
    expect(checkHostKey(e, 'gw', 2222, keys.ed1.blob)).toEqual({ status: 'match' })
    expect(checkHostKey(e, 'gw', 22, keys.ed1.blob)).toEqual({ status: 'unknown' })
  })
})

describe('checkHostKey host matching', () => {
  it('plain entry, case-insensitive', () => {
    const e = kh(line('gw.example', keys.ed1))
    expect(checkHostKey(e, 'gw.example', 22, keys.ed1.blob)).toEqual({ status: 'match' })
    expect(checkHostKey(e, 'GW.EXAMPLE', 22, keys.ed1.blob)).toEqual({ status: 'match' })
    expect(checkHostKey(e, 'other.example', 22, keys.ed1.blob)).toEqual({ status: 'unknown' })
    expect(checkHostKey(e, 'gw.example', 2222, keys.ed1.blob)).toEqual({ status: 'unknown' })
  })

  it('comma lists', () => {
    const e = kh(line('gw1,gw2.example,10.0.0.7', keys.ed1))
    for (const h of ['gw1', 'gw2.example', '10.0.0.7']) {
      expect(checkHostKey(e, h, 22, keys.ed1.blob).status).toBe('match')
    }
    expect(checkHostKey(e, 'gw3', 22, keys.ed1.blob).status).toBe('unknown')
  })

  it('wildcards * and ?', () => {
    const e = kh([line('*.example.com', keys.ed1), line('gw-?', keys.rsa)].join('\n'))
    expect(checkHostKey(e, 'a.example.com', 22, keys.ed1.blob).status).toBe('match')
    expect(checkHostKey(e, 'a.b.example.com', 22, keys.ed1.blob).status).toBe('match')
    expect(checkHostKey(e, 'example.com', 22, keys.ed1.blob).status).toBe('unknown')
    expect(checkHostKey(e, 'gw-1', 22, keys.rsa.blob).status).toBe('match')
    expect(checkHostKey(e, 'gw-10', 22, keys.rsa.blob).status).toBe('unknown')
    expect(checkHostKey(e, 'gw-', 22, keys.rsa.blob).status).toBe('unknown')
  })

  it('negation excludes a host whatever the order', () => {
    for (const hosts of ['*.example.com,!bad.example.com', '!bad.example.com,*.example.com']) {
      const e = kh(line(hosts, keys.ed1))
      expect(checkHostKey(e, 'good.example.com', 22, keys.ed1.blob).status).toBe('match')
      expect(checkHostKey(e, 'bad.example.com', 22, keys.ed1.blob).status).toBe('unknown')
    }
    // A negated pattern alone never matches anything.
    expect(checkHostKey(kh(line('!nope', keys.ed1)), 'other', 22, keys.ed1.blob).status).toBe('unknown')
  })

  it('[host]:port entries apply only to that port; port 22 uses the bare name', () => {
    const e = kh([line('[gw.example]:2222', keys.ed1), line('[gw22]:22', keys.ed1), line('[*.lab]:2200', keys.rsa)].join('\n'))
    expect(checkHostKey(e, 'gw.example', 2222, keys.ed1.blob).status).toBe('match')
    expect(checkHostKey(e, 'gw.example', 22, keys.ed1.blob).status).toBe('unknown')
    expect(checkHostKey(e, 'gw.example', 2223, keys.ed1.blob).status).toBe('unknown')
    expect(checkHostKey(e, 'gw22', 22, keys.ed1.blob).status).toBe('unknown')
    expect(checkHostKey(e, 'x.lab', 2200, keys.rsa.blob).status).toBe('match')
    expect(checkHostKey(e, 'x.lab', 22, keys.rsa.blob).status).toBe('unknown')
  })

  it('IPv6 addresses', () => {
    const e = kh([line('::1', keys.ed1), line('[2001:db8::5]:2222', keys.rsa)].join('\n'))
    expect(checkHostKey(e, '::1', 22, keys.ed1.blob).status).toBe('match')
    expect(checkHostKey(e, '2001:db8::5', 2222, keys.rsa.blob).status).toBe('match')
  })

  it('hashed entries built with HMAC-SHA1', () => {
    const e = kh([line(hashed('gw.example'), keys.ed1), line(hashed('[gw.example]:2222'), keys.rsa)].join('\n'))
    expect(checkHostKey(e, 'gw.example', 22, keys.ed1.blob).status).toBe('match')
    expect(checkHostKey(e, 'Gw.Example', 22, keys.ed1.blob).status).toBe('match')
    expect(checkHostKey(e, 'gw.example', 2222, keys.rsa.blob).status).toBe('match')
    // A recorded key of another type still makes the host known: a different key is a changed one.
    expect(checkHostKey(e, 'gw.example', 2222, keys.ed1.blob).status).toBe('changed')
    expect(checkHostKey(e, 'gw.example', 22, keys.rsa.blob).status).toBe('changed')
    expect(checkHostKey(e, 'other', 22, keys.ed1.blob).status).toBe('unknown')
  })

  it('hashed lines written by ssh-keygen -H', () => {
    const file = join(dir, 'hashed_known_hosts')
    writeFileSync(file, [line('gw.example', keys.ed1), line('[gw.example]:2222', keys.ecdsa)].join('\n') + '\n')
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' })
    const text = readFileSync(file, 'utf8')
    expect(text).not.toContain('gw.example')
    const e = kh(text, file)
    expect(e).toHaveLength(2)
    expect(e.every((x) => x.hosts.startsWith('|1|'))).toBe(true)
    expect(checkHostKey(e, 'gw.example', 22, keys.ed1.blob)).toEqual({ status: 'match' })
    expect(checkHostKey(e, 'gw.example', 2222, keys.ecdsa.blob)).toEqual({ status: 'match' })
    expect(checkHostKey(e, 'gw.example', 22, keys.ed2.blob)).toEqual({
      status: 'changed',
      known: [{ keyType: 'ssh-ed25519', fingerprint: fingerprint(keys.ed1.blob), file, line: 1 }],
    })
    expect(checkHostKey(e, 'gw.other', 22, keys.ed1.blob)).toEqual({ status: 'unknown' })
  })
})

describe('agreement with OpenSSH lookups (ssh-keygen -F)', () => {
  it('finds exactly the hosts OpenSSH finds', () => {
    const file = join(dir, 'crosscheck')
    const text = [
      line('plain.example,Other.Example', keys.ed1),
      line('*.wild.example,!no.wild.example', keys.ed1),
      line('gw-?', keys.ed1),
      line('[ported.example]:2222,[*.lab]:2200', keys.ed1),
      line('10.1.2.*', keys.ed1),
      line(hashed('secret.example'), keys.ed1),
      line(hashed('[secret.example]:2022'), keys.ed1),
    ].join('\n')
    writeFileSync(file, text + '\n')
    const entries = kh(text)
    const queries: Array<[string, number]> = [
      ['plain.example', 22], ['other.example', 22], ['plain.example', 2222], ['x.wild.example', 22],
      ['no.wild.example', 22], ['wild.example', 22], ['gw-1', 22], ['gw-12', 22], ['ported.example', 2222],
      ['ported.example', 22], ['a.lab', 2200], ['a.lab', 22], ['10.1.2.3', 22], ['10.1.3.3', 22],
      ['secret.example', 22], ['secret.example', 2022], ['secret.example', 2023], ['nothing', 22],
    ]
    for (const [host, port] of queries) {
      const name = port === 22 ? host : `[${host}]:${port}`
      let openssh = true
      try {
        execFileSync('ssh-keygen', ['-F', name, '-f', file], { stdio: 'ignore' })
      } catch {
        openssh = false
      }
      const ours = checkHostKey(entries, host, port, keys.ed1.blob).status === 'match'
      expect(ours, `${name}`).toBe(openssh)
    }
  })
})

const ref = (k: { blob: Buffer }, file: string, line: number) => ({ keyType: keyType(k.blob), fingerprint: fingerprint(k.blob), file, line })

describe('checkHostKey verdicts', () => {
  it('same host and type, different key: changed, naming every recorded key and where it is', () => {
    const e = kh(['# header', line('gw', keys.rsa), line('gw', keys.ed1), line('other', keys.ed2)].join('\n'), '/tmp/kh')
    expect(checkHostKey(e, 'gw', 22, keys.ed2.blob)).toEqual({ status: 'changed', known: [ref(keys.rsa, '/tmp/kh', 2), ref(keys.ed1, '/tmp/kh', 3)] })
  })

  it('any listed key is accepted (rotation with both listed, or keys of several types)', () => {
    const e = kh([line('gw', keys.ed1), line('gw', keys.ed2), line('gw', keys.ecdsa)].join('\n'))
    for (const k of [keys.ed1, keys.ed2, keys.ecdsa]) expect(checkHostKey(e, 'gw', 22, k.blob).status).toBe('match')
  })

  it('recorded keys of another type only: changed, not new (the host stopped offering the recorded type)', () => {
    const e = kh([line('gw', keys.ed1), line('elsewhere', keys.ecdsa)].join('\n'), 'kh')
    expect(checkHostKey(e, 'gw', 22, keys.ecdsa.blob)).toEqual({ status: 'changed', known: [ref(keys.ed1, 'kh', 1)] })
    const two = kh([line('gw', keys.rsa), line('gw,other', keys.ecdsa)].join('\n'), 'kh')
    expect(checkHostKey(two, 'gw', 22, keys.ed1.blob)).toEqual({ status: 'changed', known: [ref(keys.rsa, 'kh', 1), ref(keys.ecdsa, 'kh', 2)] })
    expect(knownKeyTypes(two, 'gw', 22)).toEqual(['ssh-rsa', 'ecdsa-sha2-nistp256'])
    expect(knownKeyTypes(two, 'nowhere', 22)).toEqual([])
    // Only a host with no entry at all is new.
    expect(checkHostKey(e, 'nowhere', 22, keys.ecdsa.blob)).toEqual({ status: 'unknown' })
  })

  it('another type counts through wildcards, hashed names and [host]:port, and not through a negation or another port', () => {
    const wild = kh(line('*.example', keys.ed1), 'w')
    expect(checkHostKey(wild, 'gw.example', 22, keys.ecdsa.blob)).toEqual({ status: 'changed', known: [ref(keys.ed1, 'w', 1)] })
    const negated = kh(line('*.example,!gw.example', keys.ed1))
    expect(checkHostKey(negated, 'gw.example', 22, keys.ecdsa.blob)).toEqual({ status: 'unknown' })
    const h = kh([line(hashed('gw.example'), keys.ed1), line(hashed('[gw.example]:2222'), keys.rsa)].join('\n'), 'h')
    expect(checkHostKey(h, 'gw.example', 22, keys.ecdsa.blob)).toEqual({ status: 'changed', known: [ref(keys.ed1, 'h', 1)] })
    expect(checkHostKey(h, 'gw.example', 2222, keys.ecdsa.blob)).toEqual({ status: 'changed', known: [ref(keys.rsa, 'h', 2)] })
    expect(checkHostKey(h, 'gw.example', 2200, keys.ecdsa.blob)).toEqual({ status: 'unknown' })
    const ported = kh(line('[gw.example]:2222', keys.ed1))
    expect(checkHostKey(ported, 'gw.example', 22, keys.ecdsa.blob)).toEqual({ status: 'unknown' })
    expect(checkHostKey(ported, 'gw.example', 2222, keys.ecdsa.blob).status).toBe('changed')
  })

  it('the same through ssh-keygen -H hashed files', () => {
    const file = join(dir, 'hashed_types')
    writeFileSync(file, `# kept\n${line('gw.example', keys.ed1)}\n`)
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' })
    const e = kh(readFileSync(file, 'utf8'), file)
    expect(e[0]!.hosts).toMatch(/^\|1\|/)
    const check = checkHostKey(e, 'gw.example', 22, keys.ecdsa.blob)
    expect(check).toEqual({ status: 'changed', known: [ref(keys.ed1, file, e[0]!.line)] })
  })

  it('prefers the host key algorithms of known key types, keeping the rest', () => {
    const rsa = preferredHostKeyAlgorithms(['ssh-rsa'])
    expect(rsa.slice(0, 3)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'])
    expect(rsa).toContain('ssh-ed25519')
    expect(new Set(rsa).size).toBe(rsa.length)
    expect(preferredHostKeyAlgorithms(['ecdsa-sha2-nistp256', 'ssh-ed25519']).slice(0, 2)).toEqual([
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
    ])
    expect(preferredHostKeyAlgorithms([])[0]).toBe('ssh-ed25519')
    expect(preferredHostKeyAlgorithms(['sk-ssh-ed25519@openssh.com'])).toEqual(preferredHostKeyAlgorithms([]))
  })

  it('@revoked wins over a matching entry, and names its line', () => {
    const e = kh([line('gw', keys.ed1), `@revoked ${line('*', keys.ed1)}`].join('\n'), 'r')
    expect(checkHostKey(e, 'gw', 22, keys.ed1.blob)).toEqual({ status: 'revoked', entry: ref(keys.ed1, 'r', 2) })
    expect(checkHostKey(e, 'gw', 22, keys.ed2.blob)).toEqual({ status: 'changed', known: [ref(keys.ed1, 'r', 1)] })
    expect(knownKeyTypes(e, 'other', 22)).toEqual([])
  })

  it('@revoked applies to a host with no other entry, also through a hashed name', () => {
    const e = kh(`@revoked ${line(hashed('gw'), keys.ecdsa)}`, 'r')
    expect(e[0]!.marker).toBe('revoked')
    expect(checkHostKey(e, 'gw', 22, keys.ecdsa.blob)).toEqual({ status: 'revoked', entry: ref(keys.ecdsa, 'r', 1) })
    // A revocation vouches for nothing: another key of that host is simply new.
    expect(checkHostKey(e, 'gw', 22, keys.ed1.blob)).toEqual({ status: 'unknown' })
  })

  it('@revoked for another host does not apply', () => {
    const e = kh([line('gw', keys.ed1), `@revoked ${line('elsewhere', keys.ed1)}`].join('\n'))
    expect(checkHostKey(e, 'gw', 22, keys.ed1.blob)).toEqual({ status: 'match' })
  })

  it('@cert-authority lines never vouch for a plain key, but a host they name is not new', () => {
    const e = kh(`@cert-authority ${line('*.example', keys.ed1)}`, 'ca')
    expect(e[0]!.marker).toBe('cert-authority')
    // Even the CA's own key offered as a host key is not accepted.
    expect(checkHostKey(e, 'gw.example', 22, keys.ed1.blob)).toEqual({ status: 'cert-authority', entries: [ref(keys.ed1, 'ca', 1)] })
    expect(checkHostKey(e, 'gw.example', 22, keys.ed2.blob)).toEqual({ status: 'cert-authority', entries: [ref(keys.ed1, 'ca', 1)] })
    expect(checkHostKey(e, 'gw.elsewhere', 22, keys.ed2.blob)).toEqual({ status: 'unknown' })
    expect(knownKeyTypes(e, 'gw.example', 22)).toEqual([])
    // Beside plain entries, the plain entries decide.
    const mixed = kh([`@cert-authority ${line('*.example', keys.ed1)}`, line('gw.example', keys.ecdsa)].join('\n'), 'm')
    expect(checkHostKey(mixed, 'gw.example', 22, keys.ecdsa.blob)).toEqual({ status: 'match' })
    expect(checkHostKey(mixed, 'gw.example', 22, keys.ed2.blob)).toEqual({ status: 'changed', known: [ref(keys.ecdsa, 'm', 2)] })
  })
})

describe('hostKeyRefusal', () => {
  it('says nothing for a match or a new host', () => {
    expect(hostKeyRefusal({ status: 'match' }, 'gw', 22, keys.ed1.blob)).toBeNull()
    expect(hostKeyRefusal({ status: 'unknown' }, 'gw', 22, keys.ed1.blob)).toBeNull()
  })

  it('a changed key: every recorded type and fingerprint with file and line, the offered one, and the fix', () => {
    const e = kh(['# x', line('gw', keys.ed1), line('gw', keys.rsa)].join('\n'), '/home/op/.ssh/known_hosts')
    const msg = hostKeyRefusal(checkHostKey(e, 'gw', 2222, keys.ecdsa.blob), 'gw', 2222, keys.ecdsa.blob)
    expect(msg).toBeNull() // another port: that name has no entry
    const port22 = hostKeyRefusal(checkHostKey(e, 'GW', 22, keys.ecdsa.blob), 'GW', 22, keys.ecdsa.blob)!
    expect(port22).toBe(
      `HOST KEY CHANGED for gw: known ssh-ed25519 ${fingerprint(keys.ed1.blob)} (/home/op/.ssh/known_hosts:2) and ` +
        `ssh-rsa ${fingerprint(keys.rsa.blob)} (/home/op/.ssh/known_hosts:3), offered ecdsa-sha2-nistp256 ${fingerprint(keys.ecdsa.blob)}. ` +
        `Refused even with --accept-new-host-keys. If the change is expected, verify the new key and delete the old lines`,
    )
  })

  it('stays one short line for a typical single entry (an operator reads it in a table)', () => {
    const file = '/home/operator/fleets/production-eu-west/known_hosts'
    const msg = hostKeyRefusal(checkHostKey(kh(line('gw-0042.eu-west.example.com', keys.ed1), file), 'gw-0042.eu-west.example.com', 2222, keys.ecdsa.blob), 'gw-0042.eu-west.example.com', 2222, keys.ecdsa.blob)
    expect(msg).toBeNull()
    const one = hostKeyRefusal(checkHostKey(kh(line('gw-0042.eu-west.example.com', keys.ed1), file), 'gw-0042.eu-west.example.com', 22, keys.ecdsa.blob), 'gw-0042.eu-west.example.com', 22, keys.ecdsa.blob)!
    expect(one).toContain(`(${file}:1)`)
    expect(one).toMatch(/delete the old line$/)
    expect(one).not.toMatch(/[\r\n]/)
    expect(one.length).toBeLessThan(400)
  })

  it('names [host]:port and each file of entries spread over two files', () => {
    const e = [...kh(line('[gw]:2222', keys.ed1), 'a'), ...kh(`#\n${line('[gw]:2222', keys.ed2)}`, 'b')]
    const msg = hostKeyRefusal(checkHostKey(e, 'gw', 2222, keys.ecdsa.blob), 'gw', 2222, keys.ecdsa.blob)!
    expect(msg).toMatch(/^HOST KEY CHANGED for \[gw\]:2222: /)
    expect(msg).toContain(`known ssh-ed25519 ${fingerprint(keys.ed1.blob)} (a:1) and ssh-ed25519 ${fingerprint(keys.ed2.blob)} (b:2), offered`)
  })

  it('explains keys gwfleet cannot use', () => {
    const dss = Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('ssh-dss'), Buffer.alloc(40, 1)])
    const e = kh(`gw ssh-dss ${dss.toString('base64')}`)
    const msg = hostKeyRefusal(checkHostKey(e, 'gw', 22, keys.ed1.blob), 'gw', 22, keys.ed1.blob)!
    expect(msg).toContain(`known ssh-dss ${fingerprint(dss)}`)
    expect(msg).toContain('only ed25519, ECDSA and RSA')
    const usable = hostKeyRefusal(checkHostKey(kh(line('gw', keys.rsa)), 'gw', 22, keys.ed1.blob), 'gw', 22, keys.ed1.blob)!
    expect(usable).not.toContain('only ed25519')
  })

  it('revoked and CA-only hosts: refused with the line, also with --accept-new-host-keys', () => {
    const r = kh(`@revoked ${line('gw', keys.ed1)}`, 'kh')
    expect(hostKeyRefusal(checkHostKey(r, 'gw', 22, keys.ed1.blob), 'gw', 22, keys.ed1.blob)).toBe(
      `host key ssh-ed25519 ${fingerprint(keys.ed1.blob)} of gw is marked @revoked in kh:1; refusing to connect`,
    )
    const ca = kh(`@cert-authority ${line('gw', keys.rsa)}`, 'kh')
    const msg = hostKeyRefusal(checkHostKey(ca, 'gw', 22, keys.ed1.blob), 'gw', 22, keys.ed1.blob)!
    expect(msg).toContain('@cert-authority kh:1')
    expect(msg).toContain(`offered ssh-ed25519 ${fingerprint(keys.ed1.blob)}`)
    expect(msg).toContain('also with --accept-new-host-keys')
  })
})

describe('parseKnownHosts', () => {
  it('skips comments, blanks and garbage without throwing, keeping line numbers', () => {
    const text = [
      '# a comment',
      '',
      '   ',
      'onlyahost',
      'host ssh-ed25519',
      'host ssh-ed25519 !!!not-base64!!!',
      `host ssh-rsa ${keys.ed1.b64}`,
      `@bogus host ssh-ed25519 ${keys.ed1.b64}`,
      'host 2048 35 1234567890',
      `|1|bad|bad ssh-ed25519 ${keys.ed1.b64}`,
      `|1|${Buffer.alloc(5).toString('base64')}|${Buffer.alloc(20).toString('base64')} ssh-ed25519 ${keys.ed1.b64}`,
      'host ssh-ed25519 AAAA',
      `,,, ssh-ed25519 ${keys.ed1.b64}`,
      `  ok.example\tssh-ed25519 ${keys.ed1.b64} a comment here\r`,
      '\u0000\u0001binary junk',
      `[ok]:2222 ssh-rsa ${keys.rsa.b64}`,
    ].join('\n')
    const e = kh(text, 'f')
    expect(e.map((x) => [x.line, x.hosts, x.keyType, x.comment])).toEqual([
      [14, 'ok.example', 'ssh-ed25519', 'a comment here'],
      [16, '[ok]:2222', 'ssh-rsa', undefined],
    ])
    expect(e[0]!.file).toBe('f')
    expect(checkHostKey(e, 'ok.example', 22, keys.ed1.blob).status).toBe('match')
  })
})

describe('loadKnownHosts', () => {
  it('treats missing files as empty and remembers file and line', async () => {
    const a = join(dir, 'kh-a')
    const b = join(dir, 'kh-b')
    writeFileSync(a, `# x\n${line('gw', keys.ed1)}\n`)
    writeFileSync(b, `${line('gw', keys.rsa)}\n`)
    const e = await loadKnownHosts([join(dir, 'missing'), a, b])
    expect(e.map((x) => [x.file, x.line, x.keyType])).toEqual([
      [a, 2, 'ssh-ed25519'],
      [b, 1, 'ssh-rsa'],
    ])
    expect(await loadKnownHosts([])).toEqual([])
  })
})

describe('appendKnownHost', () => {
  it('creates dir 0700 and file 0600, and OpenSSH finds the line', async () => {
    const file = join(dir, 'new', 'sub', 'known_hosts')
    await appendKnownHost(file, formatKnownHostsLine('gw.lab', 2222, keys.ed1.blob))
    expect(statSync(join(dir, 'new', 'sub')).mode & 0o777).toBe(0o700)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readFileSync(file, 'utf8')).toBe(`[gw.lab]:2222 ssh-ed25519 ${keys.ed1.b64}\n`)
    const found = execFileSync('ssh-keygen', ['-F', '[gw.lab]:2222', '-f', file], { encoding: 'utf8' })
    expect(found).toContain(keys.ed1.b64)
    const e = await loadKnownHosts([file])
    expect(checkHostKey(e, 'gw.lab', 2222, keys.ed1.blob)).toEqual({ status: 'match' })
  })

  it('keeps concurrent appends whole and separate', async () => {
    const file = join(dir, 'concurrent', 'known_hosts')
    const lines = Array.from({ length: 60 }, (_, i) => formatKnownHostsLine(`gw-${i}.lab`, 22, (i % 2 ? keys.rsa : keys.ed1).blob))
    await Promise.all(lines.map((l) => appendKnownHost(file, l)))
    const got = readFileSync(file, 'utf8').split('\n')
    expect(got.pop()).toBe('')
    expect(got.sort()).toEqual([...lines].sort())
  })

  it('does not glue onto a last line missing its newline', async () => {
    const file = join(dir, 'nonl')
    writeFileSync(file, line('first', keys.ed1))
    await appendKnownHost(file, line('second', keys.rsa) + '\n')
    expect(readFileSync(file, 'utf8')).toBe(`${line('first', keys.ed1)}\n${line('second', keys.rsa)}\n`)
  })

  it('refuses multi-line or empty input, and a failure does not block later appends', async () => {
    const file = join(dir, 'refuse')
    await expect(appendKnownHost(file, 'a\nb')).rejects.toThrow(InputError)
    await expect(appendKnownHost(file, '')).rejects.toThrow(InputError)
    await appendKnownHost(file, line('ok', keys.ed1))
    expect(readFileSync(file, 'utf8')).toBe(`${line('ok', keys.ed1)}\n`)
  })
})
