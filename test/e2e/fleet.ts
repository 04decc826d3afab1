// Shared plumbing for end-to-end tests: a lab of real sshd hosts, a workspace with releases,
// values and an inventory, and a way to run the built CLI and read what it printed.
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {expect} from 'vitest'

// @ts-expect-error plain JS lab module
import {startLab} from '../lab/lab.js'
import {runInProcess} from './inprocess.js'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
/** The CLI under test; GWFLEET_E2E_CLI points at another build (e.g. a snapshot while the tree is being rebuilt). */
export const CLI = process.env.GWFLEET_E2E_CLI || path.join(ROOT, 'bin', 'run.js')

/** Secrets the workspace's values reference; tests search every output for them. */
export const SECRETS = {
  GW_CLIENT_SECRET: 'cs-Zq8#wX!e2e-client-secret',
  GW_HELM_PASSWORD: 'hp-9fK$e2e-helm-password',
  fileSecret: 'fs-e2e-secret-from-file-7Y',
}

export interface LabHost {
  name: string
  address: string
  port: number
  hostKeyLine: string
  /** pid of the process holding the host's namespaces */
  readonly holderPid: number
  exec(cmd: string, opts?: {input?: string | Buffer; timeoutMs?: number}): Promise<{stdout: string; stderr: string; code: number | null; signal?: string | null}>
  readFile(p: string): Promise<string>
  writeFile(p: string, data: string, mode?: number): Promise<void>
  exists(p: string): Promise<boolean>
  stopSshd(): Promise<void>
  startSshd(): Promise<void>
  /** A new host key of this type (default ed25519); sshd then offers only that one. */
  regenerateHostKey(type?: 'ed25519' | 'ecdsa'): Promise<string>
  setFault(name: string, value: string | null): Promise<void>
  setOsRelease(text: string): Promise<void>
}

export interface Lab {
  /** The lab's name, GWFLEET_LAB_OFFSET applied (its hosts' files live under /run/gwfleet-lab/<name>). */
  name: string
  /** The third octet of its hosts' 127.77.<subnet>.<i> addresses, GWFLEET_LAB_OFFSET applied. */
  subnet: number
  /** The password sudo asks of the lab's `opspw` user. */
  sudoPassword: string
  dir: string
  clientKey: string
  knownHostsFile: string
  hosts: LabHost[]
  stop(): Promise<void>
  makeRelease(dir: string, version: string, opts?: Record<string, unknown>): Promise<string>
}

/** Start `count` lab hosts on 127.77.<subnet>.x (each test file uses its own subnet). */
export async function lab(count: number, subnet: number, name: string): Promise<Lab> {
  return startLab({count, subnet, name})
}

export interface GatewayOpts {
  user?: string
  become?: boolean
  jump?: string
  version?: string
  labels?: Record<string, string>
  extra?: string
  values?: string
}

/** A workstation-side workspace: releases, values per gateway, an inventory and a private HOME. */
export class Workspace {
  readonly dir: string
  readonly home: string
  readonly releases: string
  constructor(readonly lab: Lab, tag: string) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `gwfleet-e2e-${tag}-`))
    this.home = path.join(this.dir, 'home')
    this.releases = path.join(this.dir, 'releases')
    fs.mkdirSync(path.join(this.home, '.ssh'), {recursive: true, mode: 0o700})
    fs.mkdirSync(this.releases)
    fs.mkdirSync(path.join(this.dir, 'values'))
    fs.writeFileSync(path.join(this.dir, 'client-secret.txt'), `${SECRETS.fileSecret}\n`, {mode: 0o600})
  }

  /** Put apheris-gateway-<v>.zip files (lab stand-in installer) in the release folder. */
  async releasesOf(...versions: string[]): Promise<void> {
    for (const v of versions) await this.lab.makeRelease(this.releases, v)
  }

  /** The default values file text for a gateway (with secrets as references). */
  static valuesText(name: string, extra = ''): string {
    return [
      `tenant: tenant-${name}`,
      'auth:',
      '  domain: auth.example.net',
      '  orchestrator:',
      `    clientId: client-${name}`,
      '    clientSecret: ${env:GW_CLIENT_SECRET}',
      'dal:',
      '  sources:',
      '    files:',
      '      folder: /srv/datasets',
      'helmRepoUsername: ${file:../client-secret.txt}',
      'helmRepoPassword: ${env:GW_HELM_PASSWORD}',
      extra,
    ].join('\n')
  }

  /** Write values for a gateway. */
  writeValues(name: string, text = Workspace.valuesText(name)): string {
    const p = path.join(this.dir, 'values', `${name}.yaml`)
    fs.writeFileSync(p, text)
    return p
  }

  /** Write the inventory for the given lab hosts (by index) and return its path. */
  inventory(version: string, gws: {host: LabHost; name?: string; opts?: GatewayOpts}[], file = 'fleet.yaml', defaultsExtra = ''): string {
    const lines = [
      'release:',
      '  dir: releases',
      `  version: ${version}`,
      'defaults:',
      '  user: root',
      `  identityFile: ${this.lab.clientKey}`,
      `  knownHosts: ${path.join(this.dir, 'known_hosts')}`,
      ...(defaultsExtra ? [defaultsExtra] : []),
      'gateways:',
    ]
    if (!fs.existsSync(path.join(this.dir, 'known_hosts'))) fs.copyFileSync(this.lab.knownHostsFile, path.join(this.dir, 'known_hosts'))
    for (const g of gws) {
      const name = g.name ?? g.host.name
      const o = g.opts ?? {}
      if (!fs.existsSync(path.join(this.dir, 'values', `${name}.yaml`))) this.writeValues(name, o.values)
      lines.push(`  ${name}:`, `    host: ${g.host.address}`, `    values: values/${name}.yaml`)
      if (o.user) lines.push(`    user: ${o.user}`)
      if (o.become !== undefined) lines.push(`    become: ${o.become}`)
      if (o.jump) lines.push(`    jump: ${o.jump}`)
      if (o.version) lines.push(`    version: ${o.version}`)
      if (o.labels) lines.push(`    labels: ${JSON.stringify(o.labels)}`)
      if (o.extra) lines.push(o.extra)
    }
    const p = path.join(this.dir, file)
    fs.writeFileSync(p, lines.join('\n') + '\n')
    return p
  }

  /** Environment for the CLI: private HOME (own ~/.ssh), secrets, no agent; `extra` last (a key set to undefined is left unset, as spawn skips it). */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {...process.env, HOME: this.home, GWFLEET_HOME: path.join(this.home, '.gwfleet'), GWFLEET_PLAIN: '1', ...SECRETS, ...extra}
    delete env.SSH_AUTH_SOCK
    delete env.GWFLEET_INVENTORY
    delete env.GWFLEET_BECOME_PASSWORD
    return {...env, ...extra}
  }

  /**
   * Run the CLI in this process (see inprocess.ts): for calls that check what a command does and
   * says, not a process seam. Calls queue up one after another.
   */
  runHere(args: string[], opts: {env?: NodeJS.ProcessEnv; cwd?: string} = {}): Promise<CliResult> {
    return runInProcess(args, this.env(opts.env), {cwd: opts.cwd})
  }

  /** Run the CLI in this process, or spawned for a case that wants the real binary (ended after `timeoutMs`, 60 s unless given). */
  runAs(how: 'here' | 'spawned', args: string[], opts: {env?: NodeJS.ProcessEnv; timeoutMs?: number} = {}): Promise<CliResult> {
    return how === 'spawned' ? this.run(args, {env: opts.env, timeoutMs: opts.timeoutMs ?? 60_000}) : this.runHere(args, {env: opts.env})
  }

  /** Spawn the CLI; resolves with exit code and output (never rejects on a non-zero exit). */
  run(args: string[], opts: {env?: NodeJS.ProcessEnv; input?: string; onSpawn?: (pid: number) => void; timeoutMs?: number; cwd?: string} = {}): Promise<CliResult> {
    return runCli(args, this.env(opts.env), opts)
  }
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
  json: any
}

/** Run the built CLI with an environment. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, opts: {input?: string; onSpawn?: (pid: number) => void; timeoutMs?: number; cwd?: string} = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {env, stdio: ['pipe', 'pipe', 'pipe'], ...(opts.cwd ? {cwd: opts.cwd} : {})})
    if (child.pid && opts.onSpawn) opts.onSpawn(child.pid)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 170_000)
    child.stdin.end(opts.input ?? '')
    child.on('close', (code) => {
      clearTimeout(t)
      let json: any = null
      if (args.includes('--json')) {
        try {
          json = JSON.parse(stdout)
        } catch {
          json = null
        }
      }
      resolve({code, stdout, stderr, json})
    })
  })
}

/**
 * End a paused stand-in installer (the `sleep` fault) on a host: only the `sleep` in the running
 * installer's own process group (timeout(1) makes one; its pid is the third field of the job's pid file),
 * again until the installer is done. Lets a test hold an installer for as long as it needs, then go on.
 */
export async function endInstallerPause(host: LabHost, remoteDir = '/opt/gwfleet'): Promise<void> {
  const job = `${remoteDir}/state/job`
  for (let i = 0; i < 600; i++) {
    // While the job runs (its wrapper noted the pids, no exit status yet): the third field is timeout(1)'s pid.
    const r = await host.exec(`[ -f '${job}/pid' ] && [ ! -f '${job}/rc' ] || exit 3; g=$(cut -d' ' -f3 '${job}/pid') && [ -n "$g" ] && pkill -x -g "$g" sleep; true`)
    if (r.code === 3) return
    await new Promise((r) => setTimeout(r, 100))
  }
}

/**
 * Wait until the newest run of this workspace has logged a line from this gateway's host that
 * matches (installer output: the run has then seen the installer start, whatever the load).
 */
export async function runLogShows(ws: Workspace, gateway: string, re: RegExp, timeoutMs = 120_000): Promise<void> {
  const runs = path.join(ws.home, '.gwfleet', 'runs')
  for (const t0 = Date.now(); Date.now() - t0 < timeoutMs; await new Promise((r) => setTimeout(r, 100))) {
    const newest = fs.existsSync(runs) ? fs.readdirSync(runs).sort().at(-1) : undefined
    const log = newest ? path.join(runs, newest, `${gateway}.log`) : ''
    if (log && fs.existsSync(log) && re.test(fs.readFileSync(log, 'utf8'))) return
  }
  throw new Error(`the run never logged ${re} for ${gateway}`)
}

/** The mount namespace of a process ("mnt:[...]"), or null when it is gone. */
export function mntNs(pid: number | string): string | null {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/mnt`)
  } catch {
    return null
  }
}

/** Every process id on the machine (lab hosts share its PID namespace); empty when /proc cannot be read. */
export function procPids(): string[] {
  try {
    return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))
  } catch {
    return []
  }
}

/** The hosts of a JSON result by gateway name (fails the test when there is no JSON document). */
export function byName(r: CliResult): Record<string, any> {
  expect.soft(r.json?.hosts, `no JSON document on stdout (exit ${r.code}): ${r.stdout.slice(0, 300)} ${r.stderr.slice(0, 800)}`).toBeTruthy()
  return Object.fromEntries(((r.json?.hosts ?? []) as any[]).map((h) => [h.name, h]))
}

/** Workspaces of one test file, removed at its end unless GWFLEET_E2E_KEEP=1 (for a post-mortem). */
export class Workspaces {
  private readonly all: Workspace[] = []
  constructor(private readonly labOf: () => Lab) {}
  make(tag: string): Workspace {
    const ws = new Workspace(this.labOf(), tag)
    this.all.push(ws)
    return ws
  }
  cleanup(): void {
    if (!process.env.GWFLEET_E2E_KEEP) for (const ws of this.all) fs.rmSync(ws.dir, {recursive: true, force: true})
  }
}

/** Every file under a directory, recursively (for secret searches). */
export function allFiles(dir: string): string[] {
  const out: string[] = []
  if (!fs.existsSync(dir)) return out
  for (const e of fs.readdirSync(dir, {withFileTypes: true})) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) out.push(...allFiles(p))
    else if (e.isFile()) out.push(p)
  }
  return out
}

/** The agent version the stand-in cluster reports on a host (null when none installed). */
export async function agentVersion(h: LabHost): Promise<string | null> {
  const r = await h.exec("cat /var/lib/gwlab-k3s/agent-image 2>/dev/null | sed 's/.*://'")
  return r.stdout.trim() || null
}

/** Lines of the stand-in's installs log on a host: one per installer run. */
export async function installs(h: LabHost): Promise<string[]> {
  const r = await h.exec('cat /var/lib/gwlab-k3s/installs.log 2>/dev/null')
  return r.stdout.split('\n').filter(Boolean)
}

// ---------------------------------------------------------------------------------------------
// Helpers added for the deploy / hostkeys / audit end-to-end files.

/** The OpenSSH fingerprint (`SHA256:...`, as `ssh-keygen -l` prints it) of a known_hosts line's key. */
export function fingerprintOf(knownHostsLine: string): string {
  const blob = knownHostsLine.trim().split(/\s+/)[2]
  return 'SHA256:' + createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64').replace(/=+$/, '')
}

/** The base64 key blob of a known_hosts line. */
export function keyBlobOf(knownHostsLine: string): string {
  return knownHostsLine.trim().split(/\s+/)[2]
}

/** `stat` of remote paths: one "mode owner:group inode mtime size path" line each ("missing path" when absent). */
export async function statOn(h: LabHost, ...paths: string[]): Promise<string[]> {
  const script = 'for p in "$@"; do stat -c "%a %U:%G %i %.9Y %s %n" -- "$p" 2>/dev/null || echo "missing $p"; done'
  const r = await h.exec(`set -- ${paths.map(shq).join(' ')}; ${script}`)
  return r.stdout.split('\n').filter(Boolean)
}

/** Every regular file under a remote directory with inode, mtime and sha256 (sorted): compare before/after. */
export async function treeSnapshot(h: LabHost, dir: string): Promise<string> {
  const r = await h.exec(
    `[ -d ${shq(dir)} ] || exit 0; find ${shq(dir)} -type f -printf '%i %T@ %m %p\\n' | sort -k4; find ${shq(dir)} -type f -exec sha256sum {} + | sort -k2`,
  )
  return r.stdout
}

/** Create a reference file on a host; see changedSince(). */
export async function markHost(h: LabHost, marker = '/run/gwfleet-e2e-marker'): Promise<string> {
  await h.exec(`touch ${shq(marker)}; sleep 0.01`)
  return marker
}

/**
 * Files and directories changed on a host since markHost() (content or metadata), in the trees a
 * gateway run could touch. Trees the lab shares copy-on-write with the machine and that other processes
 * write to (/tmp, /var/log, /var/cache ...) are left out.
 */
export async function changedSince(h: LabHost, marker = '/run/gwfleet-e2e-marker'): Promise<string[]> {
  const r = await h.exec(
    `find /opt /etc /var/lib /srv /root /home /usr/local \\( -newer ${shq(marker)} -o -cnewer ${shq(marker)} \\) ` +
      `! -path /var/log/wtmp ! -path /var/log/btmp ! -path /var/log/lastlog ! -path /var/log/gwlab-sshd.log ! -path /var/log 2>/dev/null`,
  )
  return r.stdout.split('\n').filter(Boolean)
}

/** Rewrite a lab host's sshd_config (e.g. LogLevel INFO, an extra ListenAddress) and restart its sshd. */
export async function reconfigureSshd(h: LabHost, edit: (config: string) => string): Promise<void> {
  const cfg = await h.readFile('/etc/ssh/sshd_config')
  await h.writeFile('/etc/ssh/sshd_config', edit(cfg), 0o644)
  await h.stopSshd()
  await h.startSshd()
}

/** Lines of a lab host's sshd log (INFO level shows one "Accepted publickey" per login). */
export async function sshdLog(h: LabHost): Promise<string[]> {
  const r = await h.exec('cat /var/log/gwlab-sshd.log 2>/dev/null')
  return r.stdout.split('\n').filter(Boolean)
}

/**
 * Watch the command line of every process running on the given lab hosts (lab hosts share the
 * machine's PID namespace; a process belongs to a host by its mount namespace) while something runs:
 * reports any that contains one of the needles. `seen` counts distinct command lines, `matching(re)`
 * tells whether the watch saw a given command at all (proof it was looking when it mattered).
 */
export function watchCommandLines(hosts: LabHost[], needles: string[], intervalMs = 10): {
  stop(): {hits: string[]; seen: number; matching(re: RegExp): boolean}
} {
  const seen = new Set<string>()
  const hits = new Set<string>()
  const namespaces = new Set(hosts.map((h) => mntNs(h.holderPid)).filter(Boolean))
  const scan = () => {
    for (const pid of procPids()) {
      if (!namespaces.has(mntNs(pid))) continue
      let cmd: string
      try {
        cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
      } catch {
        continue
      }
      if (!cmd || seen.has(cmd)) continue
      seen.add(cmd)
      if (needles.some((n) => cmd.includes(n))) hits.add(`${pid}: ${cmd.slice(0, 300)}`)
    }
  }
  scan()
  const t = setInterval(scan, intervalMs)
  return {
    stop() {
      clearInterval(t)
      scan()
      return {hits: [...hits], seen: seen.size, matching: (re: RegExp) => [...seen].some((c) => re.test(c))}
    },
  }
}

/** Parse RFC 4180 CSV (quoted cells, doubled quotes, CRLF or LF) into rows of cells. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let cell = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"'
        i++
      } else if (c === '"') quoted = false
      else cell += c
    } else if (c === '"') quoted = true
    else if (c === ',') {
      row.push(cell)
      cell = ''
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++
      row.push(cell)
      rows.push(row)
      row = []
      cell = ''
    } else cell += c
  }
  if (cell !== '' || row.length) {
    row.push(cell)
    rows.push(row)
  }
  return rows
}

/** Every place a secret could leak on the workstation: the runs' stdout/stderr and every file under HOME. */
export function findSecrets(results: CliResult[], dirs: string[], secrets: string[] = Object.values(SECRETS)): string[] {
  const leaks: string[] = []
  results.forEach((r, i) => {
    for (const s of secrets) {
      if (r.stdout.includes(s)) leaks.push(`run #${i} stdout contains ${JSON.stringify(s)}`)
      if (r.stderr.includes(s)) leaks.push(`run #${i} stderr contains ${JSON.stringify(s)}`)
    }
  })
  for (const d of dirs)
    for (const f of allFiles(d)) {
      const text = fs.readFileSync(f, 'latin1')
      for (const s of secrets) if (text.includes(s)) leaks.push(`${f} contains ${JSON.stringify(s)}`)
    }
  return leaks
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}
