// End to end: keys and passwords only the operator knows, on real lab hosts (subnet 21).
// A passphrase-protected identityFile held by ssh-agent; the passphrase and sudo prompts in a real
// terminal (tmux); and, without a terminal, clear local errors that are `failed`, not `unreachable`.
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {agentVersion, allFiles, byName, CLI, type CliResult, findSecrets, installs, type Lab, lab as startLab, reconfigureSshd, SECRETS, sshdLog, watchCommandLines, Workspace} from './fleet.js'

const VERSION = '1.5.0'
const PASSPHRASE = 'e2e pass-phrase 8Rq'

let lab: Lab
let ws: Workspace
let key: string // passphrase-protected, authorized for root on h1 and h2
let keyFingerprint: string
let keyFleet: string // h1, h2 as root with `identityFile: key`
let pwFleet: string // h3, h4 as opspw with become (sudo wants a password)
let sudoPassword: string
let agentSock = ''
let agentPid = 0

const keyHosts = () => lab.hosts.slice(0, 2)
const pwHosts = () => lab.hosts.slice(2, 4)
/** How many logins each key host accepted with the protected key so far. */
const keyLogins = () => Promise.all(keyHosts().map(async (h) => (await sshdLog(h)).filter((l) => /Accepted publickey for root/.test(l) && l.includes(keyFingerprint)).length))

// ---------------------------------------------------------------------------------------------
// A small terminal driver: gwfleet in a tmux pane of its own server, typed at and read like a screen.

const TMUX_SOCKET = `gwfleet-e2e-prompts-${process.pid}`
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', TMUX_SOCKET, ...args], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** One gwfleet command line running in a 120x40 terminal. */
class Terminal {
  private static count = 0
  readonly name: string
  constructor(args: string[], env: Record<string, string | undefined>) {
    this.name = `t${++Terminal.count}`
    // The environment goes through a script: tmux sessions take the server's environment, not ours.
    const script = path.join(ws.dir, `${this.name}.sh`)
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
    const exports = Object.entries(env)
      // A terminal run shows the real progress view: no plain-lines switch, no CI.
      .filter(([k, v]) => v !== undefined && /^[A-Z_][A-Z0-9_]*$/.test(k) && k !== 'GWFLEET_PLAIN' && k !== 'CI')
      .map(([k, v]) => `export ${k}=${q(v!)}`)
    const lines = ['unset CI GWFLEET_PLAIN SSH_AUTH_SOCK GWFLEET_BECOME_PASSWORD', 'export TERM=xterm-256color', ...exports, `cd ${q(ws.dir)}`, `${q(process.execPath)} ${q(CLI)} ${args.map(q).join(' ')}`, 'echo "[exit:$?]"', 'sleep 3600']
    fs.writeFileSync(script, lines.join('\n') + '\n', {mode: 0o700})
    tmux('new-session', '-d', '-s', this.name, '-x', '120', '-y', '40', `bash ${q(script)}`)
    tmux('set-option', '-t', this.name, 'history-limit', '5000')
  }

  /** Everything the terminal shows, scrollback included. */
  screen(): string {
    return tmux('capture-pane', '-p', '-J', '-t', this.name, '-S', '-5000')
  }

  /** Wait until the screen matches (a guard against a hang, not a time limit under test). */
  async waitFor(re: RegExp, guardMs = 150_000): Promise<string> {
    const until = Date.now() + guardMs
    for (;;) {
      const s = this.screen()
      if (re.test(s)) return s
      if (Date.now() > until) throw new Error(`terminal ${this.name} never showed ${re}; screen:\n${s}`)
      await sleep(200)
    }
  }

  /** Press keys by tmux key name ('Left', 'Home'). */
  keys(...names: string[]): void {
    tmux('send-keys', '-t', this.name, ...names)
  }

  /** Type text, then Enter. */
  type(text: string): void {
    tmux('send-keys', '-t', this.name, '-l', text)
    tmux('send-keys', '-t', this.name, 'Enter')
  }

  /** Wait for gwfleet to exit; its exit code and the final screen. */
  async exit(): Promise<{code: number; screen: string}> {
    const screen = await this.waitFor(/\[exit:\d+\]/)
    return {code: Number(/\[exit:(\d+)\]/.exec(screen)![1]), screen}
  }

  close(): void {
    try {
      tmux('kill-session', '-t', this.name)
    } catch {
      // already gone
    }
  }
}

/** How many times a text occurs on a screen. */
const occurrences = (screen: string, text: string) => screen.split(text).length - 1

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  lab = await startLab(4, 21, 'prompts')
  sudoPassword = lab.sudoPassword
  ws = new Workspace(lab, 'prompts')
  await ws.releasesOf(VERSION)
  key = path.join(ws.dir, 'protected_ed25519')
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-a', '4', '-N', PASSPHRASE, '-C', 'e2e-protected', '-f', key])
  const pub = fs.readFileSync(`${key}.pub`, 'utf8').trim()
  keyFingerprint = execFileSync('ssh-keygen', ['-l', '-f', `${key}.pub`], {encoding: 'utf8'}).split(' ')[1]
  for (const h of keyHosts()) {
    await h.exec(`echo '${pub}' >> /root/.ssh/authorized_keys`)
    // VERBOSE logs the fingerprint of every key a login is accepted with.
    await reconfigureSshd(h, (c) => c.replace(/^LogLevel .*$/m, 'LogLevel VERBOSE'))
  }
  keyFleet = ws.inventory(
    VERSION,
    keyHosts().map((h, i) => ({host: h, name: `key-${i + 1}`, opts: {extra: `    identityFile: ${key}`}})),
    'keys.yaml',
  )
  pwFleet = ws.inventory(
    VERSION,
    pwHosts().map((h, i) => ({host: h, name: `pw-${i + 1}`, opts: {user: 'opspw', become: true}})),
    'pw.yaml',
  )
}, 120_000)

afterAll(async () => {
  try {
    tmux('kill-server')
  } catch {
    // no session was started
  }
  if (agentPid) process.kill(agentPid)
  await lab?.stop()
  if (ws && !process.env.GWFLEET_E2E_KEEP) fs.rmSync(ws.dir, {recursive: true, force: true})
})

describe('a passphrase-protected identityFile', () => {
  it('without a terminal and without an agent: failed (not unreachable), saying passphrase-protected and ssh-add; exit 1', async () => {
    const r = await ws.run(['deploy', '-i', keyFleet, '--json'])
    expect(r.code, r.stderr).toBe(1)
    for (const name of ['key-1', 'key-2']) {
      const h = byName(r)[name]
      expect(h.status).toBe('failed')
      expect(h.error).toContain(`identity file ${key} is passphrase-protected`)
      expect(h.error).toContain(`ssh-add ${key}`)
    }
    expect(await installs(keyHosts()[0])).toEqual([])
    // audit says the same: a local problem, not the network.
    const a = await ws.run(['audit', '-i', keyFleet, '--json'])
    expect(a.code).toBe(1)
    expect(byName(a)['key-1']).toMatchObject({status: 'failed'})
    expect(byName(a)['key-1'].error).toContain('passphrase-protected')
  })

  it('held by ssh-agent: used through the agent, nothing asked, both hosts reached', async () => {
    const out = execFileSync('ssh-agent', ['-s', '-a', path.join(ws.dir, 'agent.sock')], {encoding: 'utf8'})
    agentSock = /SSH_AUTH_SOCK=([^;]+)/.exec(out)![1]
    agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)![1])
    // The agent gets an unprotected copy of the same key (ssh-add would otherwise ask for the passphrase).
    const copy = path.join(ws.dir, 'agent-copy')
    fs.copyFileSync(key, copy)
    fs.chmodSync(copy, 0o600)
    execFileSync('ssh-keygen', ['-q', '-p', '-P', PASSPHRASE, '-N', '', '-f', copy])
    execFileSync('ssh-add', ['-q', copy], {env: {...process.env, SSH_AUTH_SOCK: agentSock}, stdio: 'ignore'})
    fs.rmSync(copy)

    const before = await keyLogins()
    const r = await ws.runHere(['audit', '-i', keyFleet, '--json'], {env: {SSH_AUTH_SOCK: agentSock}})
    // No gateway installed yet: reachable and read, so `not-installed` on both.
    expect(r.json?.hosts?.map((h: any) => h.status), r.stderr).toEqual(['not-installed', 'not-installed'])
    expect(r.stderr).not.toMatch(/passphrase/i)
    const after = await keyLogins()
    expect(after[0]).toBeGreaterThan(before[0])
    expect(after[1]).toBeGreaterThan(before[1])
  })

  it('IdentityFile from ~/.ssh/config, held by ssh-agent: the same', async () => {
    const h = keyHosts()[0]
    // An inventory without identityFile: the key comes from the workstation's ssh config.
    const inv = path.join(ws.dir, 'sshconfig.yaml')
    fs.writeFileSync(
      inv,
      ['release:', '  dir: releases', `  version: ${VERSION}`, 'defaults:', '  user: root', `  knownHosts: ${path.join(ws.dir, 'known_hosts')}`, 'gateways:', '  cfg-1:', `    host: ${h.address}`, '    values: values/key-1.yaml', ''].join('\n'),
    )
    fs.writeFileSync(path.join(ws.home, '.ssh', 'config'), `Host ${h.address}\n  IdentityFile ${key}\n`)
    try {
      const before = await keyLogins()
      const r = await ws.runHere(['audit', '-i', inv, '--json'], {env: {SSH_AUTH_SOCK: agentSock}})
      expect(byName(r)['cfg-1']?.status, r.stderr).toBe('not-installed')
      expect((await keyLogins())[0]).toBeGreaterThan(before[0])
      // Without the agent: the clear passphrase error, failed.
      const n = await ws.runHere(['audit', '-i', inv, '--json'])
      expect(byName(n)['cfg-1']).toMatchObject({status: 'failed'})
      expect(byName(n)['cfg-1'].error).toContain(`identity file ${key} is passphrase-protected`)
    } finally {
      fs.rmSync(path.join(ws.home, '.ssh', 'config'))
    }
  })
})

describe('in a terminal', () => {
  it('the passphrase is asked once, hidden, naming the file, before the progress view; arrow keys pressed at it are not part of it; both hosts connect', async () => {
    const before = await keyLogins()
    const t = new Terminal(['audit', '-i', keyFleet, '--save'], ws.env())
    try {
      await t.waitFor(/Enter passphrase for key \S+protected_ed25519: $/m)
      // Asked before anything connects: no host row yet.
      expect(t.screen()).not.toMatch(/key-1|key-2/)
      // The operator moves the cursor (the terminal sends escape sequences); the passphrase stays what is typed.
      t.keys('Left', 'Home', 'Right')
      t.type(PASSPHRASE)
      const {code, screen} = await t.exit()
      expect(code, screen).toBe(1) // not-installed is not in sync
      expect(occurrences(screen, 'Enter passphrase for key')).toBe(1)
      expect(screen).toContain(`Enter passphrase for key ${key}:`)
      expect(screen).not.toContain(PASSPHRASE)
      expect(screen).toMatch(/key-1\s.*not-installed/)
      expect(screen).toMatch(/key-2\s.*not-installed/)
      expect(screen).not.toMatch(/unreachable|failed/)
      for (const f of allFiles(path.join(ws.home, '.gwfleet'))) expect(fs.readFileSync(f, 'utf8'), f).not.toContain(PASSPHRASE)
    } finally {
      t.close()
    }
    // Both hosts really logged in with the protected key (the only one the inventory gives).
    const after = await keyLogins()
    expect(after[0]).toBeGreaterThan(before[0])
    expect(after[1]).toBeGreaterThan(before[1])
  })

  it('sudo wants a password: asked once for opspw in the middle of the run, hidden; both hosts installed; the password nowhere', async () => {
    const watch = watchCommandLines(pwHosts(), [sudoPassword])
    const t = new Terminal(['deploy', '-i', pwFleet], ws.env())
    let result: {code: number; screen: string}
    try {
      const asking = await t.waitFor(/sudo password for opspw on the gateway hosts: $/m)
      // The progress view stays out of the prompt's way: the question is the last line, and the
      // screen holds still while it waits (the spinner would redraw it ten times a second).
      expect(asking.trimEnd().split('\n').at(-1)).toBe('[gwfleet] sudo password for opspw on the gateway hosts:')
      await sleep(1000)
      expect(t.screen()).toBe(asking)
      t.type(sudoPassword)
      result = await t.exit()
    } finally {
      t.close()
    }
    const seen = watch.stop()
    const {code, screen} = result
    if (process.env.GWFLEET_E2E_SHOW) console.log(screen)
    expect(code, screen).toBe(0)
    expect(occurrences(screen, 'sudo password for opspw')).toBe(1)
    expect(screen).not.toContain(sudoPassword)
    expect(screen).toMatch(/pw-1\s.*install/)
    expect(screen).toMatch(/pw-2\s.*install/)
    for (const h of pwHosts()) {
      expect(await agentVersion(h)).toBe(VERSION)
      expect(await installs(h)).toHaveLength(1)
    }
    // Never on a command line on the hosts (the watch saw sudo run), never in the run folder.
    expect(seen.hits).toEqual([])
    expect(seen.matching(/sudo -S/)).toBe(true)
    const leaks = findSecrets([{code, stdout: screen, stderr: '', json: null} as CliResult], [ws.home], [sudoPassword, ...Object.values(SECRETS)])
    expect(leaks).toEqual([])
    const logs = allFiles(path.join(ws.home, '.gwfleet', 'runs')).filter((f) => f.endsWith('.log'))
    expect(logs.length).toBeGreaterThan(0)
    expect(logs.map((f) => fs.readFileSync(f, 'utf8')).join('\n')).toMatch(/root via sudo-password \(typed at the prompt\)/)
  })

  it('--ask-become-pass asks before the run; a wrong password is failed with that cause', async () => {
    const t = new Terminal(['audit', '-i', pwFleet, '--ask-become-pass'], ws.env())
    let result: {code: number; screen: string}
    try {
      await t.waitFor(/sudo password for opspw on the gateway hosts: $/m)
      expect(t.screen()).not.toMatch(/pw-1|pw-2/)
      t.type('not-the-password')
      result = await t.exit()
    } finally {
      t.close()
    }
    const {code, screen} = result
    expect(code, screen).toBe(1)
    expect(occurrences(screen, 'sudo password for opspw')).toBe(1)
    expect(screen).toMatch(/pw-1\s+.*failed/)
    expect(screen).toContain('sudo for opspw refused the password typed at the prompt')
    expect(screen).not.toContain('not-the-password')
  })

  it('without a terminal, --ask-become-pass is bad input (exit 2) and sudo asking for a password is failed', async () => {
    const r = await ws.run(['audit', '-i', pwFleet, '--ask-become-pass', '--json'])
    expect(r.code).toBe(2)
    expect(r.json?.error ?? r.stdout).toContain('--ask-become-pass needs a terminal')
    const a = await ws.run(['audit', '-i', pwFleet, '--json'])
    expect(a.code).toBe(1)
    expect(byName(a)['pw-1']).toMatchObject({status: 'failed'})
    expect(byName(a)['pw-1'].error).toContain('sudo for opspw wants a password')
  })
})
