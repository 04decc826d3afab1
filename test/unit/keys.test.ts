// Identity files as OpenSSH treats them: classification of unusable files, matching the agent's keys
// (a real ssh-agent), passphrases asked once per file, and the prompt machinery itself.
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {PassThrough} from 'node:stream'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {KeyFileError, LocalError} from '../../src/errors.js'
import {Credentials, HiddenInput, Prompter, readHidden} from '../../src/prompt.js'
import {agentPublicKeys, authMethods, inspectKeyFile, opensshPublicKey} from '../../src/ssh/auth.js'
import type {ConnectOptions, ConnectTarget} from '../../src/ssh/types.js'
import {sudoProblem, sudoWantsPassword} from '../../src/ssh/sudo.js'

const PASS = 'correct horse 42'
let dir: string
let agentSock: string
let agentPid: number

function keygen(file: string, args: string[]): void {
  execFileSync('ssh-keygen', ['-q', '-a', '2', '-C', path.basename(file), '-f', file, ...args])
}
const pubOf = (file: string) => Buffer.from(fs.readFileSync(`${file}.pub`, 'utf8').split(' ')[1], 'base64')

function target(identityFiles: string[], user = 'root'): ConnectTarget {
  return {host: '127.0.0.1', port: 22, user, identityFiles, knownHostsFiles: [], recordKnownHostsFile: '/dev/null', jump: []}
}
function options(extra: Partial<ConnectOptions> = {}): ConnectOptions {
  return {acceptNewHostKeys: false, connectTimeoutMs: 1000, keepaliveIntervalMs: 1000, retries: 0, agentSocket: '', ...extra}
}
/** The keys an agent method would offer, as ssh2 asks for them. */
function offered(method: any): Promise<Buffer[]> {
  return new Promise((resolve, reject) => method.agent.getIdentities((err: Error | null, keys?: any[]) => (err ? reject(err) : resolve((keys ?? []).map((k) => k.getPublicSSH())))))
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-keys-'))
  const out = execFileSync('ssh-agent', ['-s', '-a', path.join(dir, 'agent.sock')], {encoding: 'utf8'})
  agentSock = /SSH_AUTH_SOCK=([^;]+)/.exec(out)![1]
  agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)![1])
})

afterAll(() => {
  if (agentPid) process.kill(agentPid)
  fs.rmSync(dir, {recursive: true, force: true})
})

describe('identity file classification', () => {
  it('missing', () => {
    const f = path.join(dir, 'nope')
    const e = catchErr(() => inspectKeyFile(f))
    expect(e).toBeInstanceOf(KeyFileError)
    expect(e).toBeInstanceOf(LocalError)
    expect(e.problem).toBe('missing')
    expect(e.message).toBe(`identity file ${f} does not exist`)
  })

  it('unreadable (a directory where the key should be)', () => {
    const f = path.join(dir, 'adir')
    fs.mkdirSync(f)
    const e = catchErr(() => inspectKeyFile(f))
    expect(e.problem).toBe('unreadable')
    expect(e.message).toContain(`identity file ${f} cannot be read`)
  })

  // Root reads any file: the permission case runs the built module as the unprivileged `nobody`.
  const built = path.resolve(import.meta.dirname, '../../dist/src/ssh/auth.js')
  it.skipIf(!fs.existsSync(built) || process.getuid?.() !== 0)('unreadable (permission denied, as another user)', () => {
    const open = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-keys-perm-'))
    try {
      fs.chmodSync(open, 0o755)
      const k = path.join(open, 'root-only')
      keygen(k, ['-t', 'ed25519', '-N', ''])
      fs.chmodSync(k, 0o600)
      // The module is loaded while still root (the checkout may sit in a folder only root may
      // enter, such as /root), then the process becomes `nobody` before it opens the key.
      const code = `const m = await import(${JSON.stringify(built)}); process.setgroups([]); process.setgid(65534); process.setuid(65534); try { m.inspectKeyFile(${JSON.stringify(k)}); console.log('read') } catch (e) { console.log(JSON.stringify({uid: process.getuid(), problem: e.problem, message: e.message})) }`
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], {encoding: 'utf8'})
      expect(JSON.parse(out)).toEqual({uid: 65534, problem: 'unreadable', message: `identity file ${k} cannot be read (permission denied; check its owner and mode)`})
    } finally {
      fs.rmSync(open, {recursive: true, force: true})
    }
  })

  it('wrong format: not a key, and a public key given as identityFile', () => {
    const junk = path.join(dir, 'junk')
    fs.writeFileSync(junk, 'hello, not a key\n')
    const e = catchErr(() => inspectKeyFile(junk))
    expect(e.problem).toBe('wrong-format')
    expect(e.message).toContain('is not a private key')
    const k = path.join(dir, 'plain')
    keygen(k, ['-t', 'ed25519', '-N', ''])
    const e2 = catchErr(() => inspectKeyFile(`${k}.pub`))
    expect(e2.problem).toBe('wrong-format')
    expect(e2.message).toContain('is a public key')
  })

  it('a usable key carries its public key', () => {
    const k = path.join(dir, 'ok')
    keygen(k, ['-t', 'ed25519', '-N', ''])
    const info = inspectKeyFile(k)
    expect(info.encrypted).toBe(false)
    expect(info.publicKey?.equals(pubOf(k))).toBe(true)
  })

  it('needs a passphrase: its public key comes from the .pub, else from the OpenSSH header; none for PEM without .pub', () => {
    const k = path.join(dir, 'prot')
    keygen(k, ['-t', 'ed25519', '-N', PASS])
    const pub = pubOf(k)
    const info = inspectKeyFile(k)
    expect(info.encrypted).toBe(true)
    expect(info.publicKey?.equals(pub)).toBe(true)
    expect(opensshPublicKey(fs.readFileSync(k))?.equals(pub)).toBe(true)
    const pem = path.join(dir, 'prot-pem')
    keygen(pem, ['-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', PASS])
    const pemPub = pubOf(pem)
    expect(inspectKeyFile(pem).publicKey?.equals(pemPub)).toBe(true)
    const bare = path.join(dir, 'prot-pem-bare')
    fs.copyFileSync(pem, bare)
    expect(inspectKeyFile(bare)).toMatchObject({encrypted: true, publicKey: null})
  })

  it('without a way to ask, a protected key is a clear error naming the file and ssh-add', async () => {
    const k = path.join(dir, 'prot-noask')
    keygen(k, ['-t', 'ed25519', '-N', PASS])
    const e = await authMethods(target([k]), options()).then(() => null, (x) => x)
    expect(e).toBeInstanceOf(KeyFileError)
    expect(e.problem).toBe('passphrase')
    expect(e.message).toContain(`identity file ${k} is passphrase-protected`)
    expect(e.message).toContain(`ssh-add ${k}`)
  })

  it('an unusable identity file is the error only when no identity file can be used', async () => {
    const good = path.join(dir, 'good2')
    keygen(good, ['-t', 'ed25519', '-N', ''])
    const methods = (await authMethods(target([path.join(dir, 'absent'), good]), options())) as any[]
    expect(methods.map((m) => m.type)).toEqual(['publickey'])
    const e = await authMethods(target([path.join(dir, 'absent')]), options()).then(() => null, (x) => x)
    expect(e?.problem).toBe('missing')
  })
})

describe('passphrases', () => {
  it('asked once per file for every host, retried after a wrong answer, masked in the output', async () => {
    const k = path.join(dir, 'asked')
    keygen(k, ['-t', 'ed25519', '-N', PASS])
    const questions: string[] = []
    const answers = ['wrong one', PASS]
    const secrets: string[] = []
    const creds = new Credentials(new Prompter((fn) => fn(), true, async (q) => (questions.push(q), answers.shift()!)), {add: (v) => secrets.push(...v)}, undefined)
    const opts = options({askPassphrase: (f, unlocks) => creds.passphrase(f, unlocks)})
    const [a, b] = (await Promise.all([authMethods(target([k]), opts), authMethods(target([k], 'ops'), opts)])) as any[][]
    expect(questions).toEqual([`Enter passphrase for key ${k}: `, `Wrong passphrase, try again. Enter passphrase for key ${k}: `])
    expect(a[0].type).toBe('publickey')
    expect(a[0].key.getPublicSSH().equals(pubOf(k))).toBe(true)
    expect(b[0].key).toBe(a[0].key)
    expect(secrets).toContain(PASS)
  })

  it('three wrong answers: a passphrase error, and the file is not asked for again', async () => {
    const k = path.join(dir, 'wrong3')
    keygen(k, ['-t', 'ed25519', '-N', PASS])
    let asked = 0
    const creds = new Credentials(new Prompter((fn) => fn(), true, async () => (asked++, 'nope')), {add: () => undefined}, undefined)
    const opts = options({askPassphrase: (f, unlocks) => creds.passphrase(f, unlocks)})
    const e = await authMethods(target([k]), opts).then(() => null, (x) => x)
    expect(e).toMatchObject({problem: 'passphrase'})
    expect(e.message).toContain('wrong 3 times')
    await authMethods(target([k]), opts).catch(() => undefined)
    expect(asked).toBe(3)
  })
})

describe('the agent', () => {
  it('holds the identity file: used through the agent with that key only, nothing asked', async () => {
    const k = path.join(dir, 'agent-held')
    keygen(k, ['-t', 'ed25519', '-N', PASS])
    const other = path.join(dir, 'agent-other')
    keygen(other, ['-t', 'ed25519', '-N', ''])
    // The agent gets the same key (an unprotected copy, so ssh-add needs no passphrase) and another one.
    const copy = path.join(dir, 'agent-held-copy')
    fs.copyFileSync(k, copy)
    fs.chmodSync(copy, 0o600)
    execFileSync('ssh-keygen', ['-q', '-p', '-P', PASS, '-N', '', '-f', copy])
    execFileSync('ssh-add', ['-q', copy, other], {env: {...process.env, SSH_AUTH_SOCK: agentSock}, stdio: 'ignore'})
    const pub = pubOf(k)
    fs.rmSync(`${k}.pub`) // matched through the OpenSSH key's own header
    const held = await agentPublicKeys(agentSock)
    expect(held.length).toBe(2)

    let asked = 0
    const opts = options({agentSocket: agentSock, askPassphrase: async () => (asked++, undefined)})
    const methods = (await authMethods(target([k]), opts)) as any[]
    expect(methods.map((m) => m.type)).toEqual(['agent', 'agent'])
    expect((await offered(methods[0])).map((b) => b.toString('base64'))).toEqual([pub.toString('base64')])
    // The agent's other keys come after, without the one already tried.
    expect((await offered(methods[1])).map((b) => b.toString('base64'))).toEqual([pubOf(other).toString('base64')])
    expect(asked).toBe(0)
  })

  it('does not hold it: the file (asked for), then the agent', async () => {
    const k = path.join(dir, 'agent-not')
    keygen(k, ['-t', 'ed25519', '-N', PASS])
    const creds = new Credentials(new Prompter((fn) => fn(), true, async () => PASS), {add: () => undefined}, undefined)
    const methods = (await authMethods(target([k]), options({agentSocket: agentSock, askPassphrase: (f, u) => creds.passphrase(f, u)}))) as any[]
    expect(methods.map((m) => m.type)).toEqual(['publickey', 'agent'])
  })
})

describe('prompts', () => {
  it('one at a time, each inside the reporter suspension', async () => {
    const log: string[] = []
    const suspend = async <T>(fn: () => Promise<T>) => {
      log.push('suspend')
      try {
        return await fn()
      } finally {
        log.push('resume')
      }
    }
    const p = new Prompter(suspend, true, async (q) => {
      log.push(`ask ${q}`)
      await new Promise((r) => setTimeout(r, 20))
      return q.toUpperCase()
    })
    const [a, b] = await Promise.all([p.turn((ask) => ask('a')), p.turn((ask) => ask('b'))])
    expect([a, b]).toEqual(['A', 'B'])
    expect(log).toEqual(['suspend', 'ask a', 'resume', 'suspend', 'ask b', 'resume'])
  })

  it('sudo password: asked once per login user, hosts asking at the same time share the answer; none without a terminal', async () => {
    const asked: string[] = []
    const secrets: string[] = []
    const creds = new Credentials(new Prompter((fn) => fn(), true, async (q) => (asked.push(q), `pw-${asked.length}`)), {add: (v) => secrets.push(...v)}, undefined)
    const got = await Promise.all([creds.becomePassword('opspw'), creds.becomePassword('opspw'), creds.becomePassword('ops2')])
    expect(got).toEqual(['pw-1', 'pw-1', 'pw-2'])
    expect(asked).toEqual(['[gwfleet] sudo password for opspw on the gateway hosts: ', '[gwfleet] sudo password for ops2 on the gateway hosts: '])
    expect(await creds.knownBecomePassword('opspw')).toBe('pw-1')
    expect(creds.becomeSource('opspw')).toBe('prompt')
    expect(secrets).toEqual(['pw-1', 'pw-2'])

    const none = new Credentials(new Prompter((fn) => fn(), false), {add: () => undefined}, undefined)
    expect(await none.becomePassword('opspw')).toBeUndefined()
    expect(await none.passphrase('/k', () => true)).toBeUndefined()
    const env = new Credentials(new Prompter((fn) => fn(), false), {add: () => undefined}, 'from-env')
    expect(await env.becomePassword('anyone')).toBe('from-env')
    expect(env.becomeSource('anyone')).toBe('environment')
  })

  it('hidden input: nothing typed is echoed; backspace and Ctrl-U edit; Ctrl-D on an empty line gives up', async () => {
    const input = Object.assign(new PassThrough(), {isRaw: false, modes: [] as boolean[], setRawMode(m: boolean) {
      this.modes.push(m)
      this.isRaw = m
      return this
    }}) as any
    let shown = ''
    const output = new PassThrough()
    output.on('data', (d) => (shown += d))
    const p = readHidden('Password: ', input, output)
    input.write('junk\u0015se')
    input.write('cx\u007fret\rafter')
    expect(await p).toBe('secret')
    expect(shown).toBe('Password: \n')
    expect(input.modes).toEqual([true, false])
    const q = readHidden('Again: ', input, output)
    input.write('\u0004')
    await expect(q).rejects.toThrow('no answer given')
  })
})

describe('keys at a hidden prompt', () => {
  /** What a line of keys comes to: the value and how it ended. */
  const typed = (...chunks: string[]) => {
    const line = new HiddenInput()
    let end: string | undefined
    for (const c of chunks) end ??= line.feed(c)
    return {value: line.value, end}
  }

  it('arrow keys and other escape sequences are not part of the passphrase (Left, p, w, Right is "pw")', () => {
    expect(typed('\x1b[Dpw\x1b[C\r')).toEqual({value: 'pw', end: 'enter'})
    // SS3 arrows (application cursor mode), Home/End/Delete/PageUp, F5, modifiers, Alt+key, Alt+Left.
    expect(typed('\x1bOAa\x1b[1~b\x1b[3~c\x1b[5~\x1b[15~d\x1b[1;5De\x1bxf\x1b\x1b[Dg\n')).toEqual({value: 'abcdefg', end: 'enter'})
    // OSC and DCS strings (a terminal's answer to a query) up to BEL or ST.
    expect(typed('h\x1b]11;rgb:0000/0000/0000\x07i\x1bP1$r0m\x1b\\j\r')).toEqual({value: 'hij', end: 'enter'})
    // A pasted passphrase in bracketed-paste markers keeps its text.
    expect(typed('\x1b[200~pa ss\x1b[201~\r')).toEqual({value: 'pa ss', end: 'enter'})
    // 8-bit CSI and other C1 controls.
    expect(typed('k\u009bDl\u0085m\r')).toEqual({value: 'klm', end: 'enter'})
  })

  it('Enter and Ctrl-C end the line whatever sequence they cut short (Alt+], Alt+P, a lone Esc or SS3)', () => {
    expect(typed('pw\x1b]\r')).toEqual({value: 'pw', end: 'enter'})
    expect(typed('pw\x1bPx\x03')).toEqual({value: 'pw', end: 'interrupt'})
    expect(typed('pw\x1b\x1b\r')).toEqual({value: 'pw', end: 'enter'})
    expect(typed('pw\x1bO\n')).toEqual({value: 'pw', end: 'enter'})
  })

  it('a sequence split between reads is still dropped; a lone Esc key drops nothing typed after it', () => {
    expect(typed('p\x1b', '[', 'D', 'w\r')).toEqual({value: 'pw', end: 'enter'})
    expect(typed('p\x1b[1', ';5', 'C', 'w\r')).toEqual({value: 'pw', end: 'enter'})
    expect(typed('p\x1b', 'w\r')).toEqual({value: 'pw', end: 'enter'})
  })

  it('Backspace deletes, Ctrl-U clears, other control keys are ignored; Enter, Ctrl-C and Ctrl-D end it', () => {
    expect(typed('abx\x7f\bc\x15se\tc\x00r\x1bOPe\x7fet\x05\x0c\r')).toEqual({value: 'secret', end: 'enter'})
    expect(typed('päss wörd 🔑\r')).toEqual({value: 'päss wörd 🔑', end: 'enter'})
    expect(typed('ab\x03cd')).toEqual({value: 'ab', end: 'interrupt'})
    expect(typed('\x04')).toEqual({value: '', end: 'eof'})
    expect(typed('a\x04b\r')).toEqual({value: 'ab', end: 'enter'})
    expect(typed('\x1b[Dab')).toEqual({value: 'ab', end: undefined})
  })

  it('readHidden gives back the passphrase without the escape sequences, also with a character split between reads', async () => {
    const input = Object.assign(new PassThrough(), {isRaw: false, setRawMode(m: boolean) {
      this.isRaw = m
      return this
    }}) as any
    let shown = ''
    const output = new PassThrough()
    output.on('data', (d) => (shown += d))
    const p = readHidden('Enter passphrase for key /k: ', input, output)
    const utf8 = Buffer.from('ö')
    input.write(Buffer.from('\x1b[Dp'))
    input.write(Buffer.concat([Buffer.from('w'), utf8.subarray(0, 1)]))
    input.write(Buffer.concat([utf8.subarray(1), Buffer.from('\x1b[C\r')]))
    expect(await p).toBe('pwö')
    expect(shown).toBe('Enter passphrase for key /k: \n')
  })
})

describe('sudo', () => {
  it('tells a password request from other refusals and says where a refused password came from', () => {
    expect(sudoWantsPassword('sudo: a password is required\n')).toBe(true)
    expect(sudoWantsPassword('installer: a password is required\n')).toBe(false)
    expect(sudoProblem('sudo: a password is required', 'opspw')).toMatch(/^sudo for opspw wants a password: set GWFLEET_BECOME_PASSWORD, run gwfleet on a terminal/)
    expect(sudoProblem('Sorry, try again.\nsudo: 1 incorrect password attempt', 'opspw', 'prompt')).toBe('sudo for opspw refused the password typed at the prompt')
    expect(sudoProblem('Sorry, try again.', 'opspw')).toBe('sudo for opspw refused the password in GWFLEET_BECOME_PASSWORD')
  })
})

function catchErr(fn: () => unknown): any {
  try {
    fn()
  } catch (e) {
    return e
  }
  throw new Error('expected an error')
}
