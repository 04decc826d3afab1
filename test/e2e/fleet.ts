// Shared plumbing for end-to-end tests: a lab of real sshd hosts, a workspace with releases,
// values and an inventory, and a way to run the built CLI and read what it printed.
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

// @ts-expect-error plain JS lab module
import {startLab} from '../lab/lab.js'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const CLI = path.join(ROOT, 'bin', 'run.js')

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
  exec(cmd: string): Promise<{stdout: string; stderr: string; code: number}>
  readFile(p: string): Promise<string>
  writeFile(p: string, data: string, mode?: number): Promise<void>
  exists(p: string): Promise<boolean>
  stopSshd(): Promise<void>
  startSshd(): Promise<void>
  regenerateHostKey(): Promise<string>
  setFault(name: string, value: string | null): Promise<void>
  setOsRelease(text: string): Promise<void>
}

export interface Lab {
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

  /** Environment for the CLI: private HOME (own ~/.ssh), secrets, no agent. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {...process.env, HOME: this.home, GWFLEET_HOME: path.join(this.home, '.gwfleet'), GWFLEET_PLAIN: '1', ...SECRETS, ...extra}
    delete env.SSH_AUTH_SOCK
    delete env.GWFLEET_INVENTORY
    delete env.GWFLEET_BECOME_PASSWORD
    return {...env, ...extra}
  }

  /** Run the CLI; resolves with exit code and output (never rejects on a non-zero exit). */
  run(args: string[], opts: {env?: Record<string, string>; input?: string; onSpawn?: (pid: number) => void; timeoutMs?: number} = {}): Promise<CliResult> {
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
export function runCli(args: string[], env: NodeJS.ProcessEnv, opts: {input?: string; onSpawn?: (pid: number) => void; timeoutMs?: number} = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {env, stdio: ['pipe', 'pipe', 'pipe']})
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
