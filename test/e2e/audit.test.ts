// End to end: `gwfleet audit` on lab hosts in every state (issue 4's audit checklist): in sync,
// version drift, values drift, not installed, sshd stopped, wrong host key. JSON, table and CSV,
// exit codes, and that an audit changes nothing on any host.
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {
  agentVersion,
  changedSince,
  type CliResult,
  findSecrets,
  fingerprintOf,
  type Lab,
  lab as startLab,
  type LabHost,
  markHost,
  parseCsv,
  treeSnapshot,
  Workspace,
  byName,
} from './fleet.js'

const VERSION = '1.5.0'
const OLD = '1.4.2'

let lab: Lab
let ws: Workspace
let auditInv: string
const runs: CliResult[] = []
const snapshots = new Map<string, string>()

// name -> lab host index, and what the audit must say about it.
const STATE = {
  'a-sync': {i: 0, status: 'in-sync', version: VERSION, desired: VERSION, values: true},
  'a-pinned': {i: 1, status: 'in-sync', version: OLD, desired: OLD, values: true}, // pinned and at its pin
  'a-verdrift': {i: 2, status: 'drift', version: VERSION, desired: OLD, values: true}, // inventory pins another version
  'a-valdrift': {i: 3, status: 'drift', version: VERSION, desired: VERSION, values: false}, // values file edited after deploy
  'a-hostedit': {i: 7, status: 'drift', version: VERSION, desired: VERSION, values: false}, // values edited on the host
  'a-none': {i: 4, status: 'not-installed', version: null, desired: VERSION, values: null},
  'a-down': {i: 5, status: 'unreachable', version: null, desired: VERSION, values: null}, // sshd stopped
  'a-badkey': {i: 6, status: 'unreachable', version: null, desired: VERSION, values: null}, // host key changed
} as const
type Name = keyof typeof STATE
const NAMES = Object.keys(STATE) as Name[]
const host = (n: Name): LabHost => lab.hosts[STATE[n].i]
const reachable = () => NAMES.filter((n) => n !== 'a-down' && n !== 'a-badkey')
let oldKeyLine = ''
let newKeyLine = ''

/** Runs a command in this process (inprocess.ts): these cases check what the audit reports; `spawned` runs the real binary. */
async function gw(args: string[], how: 'here' | 'spawned' = 'here'): Promise<CliResult> {
  const r = await ws.runAs(how, args)
  runs.push(r)
  return r
}


beforeAll(async () => {
  lab = await startLab(8, 13, 'e2e-audit')
  ws = new Workspace(lab, 'audit')
  await ws.releasesOf(OLD, VERSION)

  // Deploy what should be installed: everything but a-none and a-down, a-pinned at its pin.
  const deployed = NAMES.filter((n) => n !== 'a-none' && n !== 'a-down')
  const deployInv = ws.inventory(
    VERSION,
    deployed.map((name) => ({host: host(name), name, opts: name === 'a-pinned' ? {version: OLD} : {}})),
    'deploy.yaml',
  )
  // spawned: this file's deploy by the real binary, end to end
  const d = await gw(['deploy', '-i', deployInv, '--json'], 'spawned')
  expect(d.code, d.stdout + d.stderr).toBe(0)
  for (const n of deployed) expect(await agentVersion(host(n)), n).toBe(n === 'a-pinned' ? OLD : VERSION)

  // The audit's inventory: every gateway; a-pinned still pinned, a-verdrift now pinned elsewhere.
  auditInv = ws.inventory(
    VERSION,
    NAMES.map((name) => ({host: host(name), name, opts: name === 'a-pinned' || name === 'a-verdrift' ? {version: OLD} : {}})),
    'audit.yaml',
  )
  ws.writeValues('a-valdrift', Workspace.valuesText('a-valdrift', 'gpu:\n  enabled: true'))
  await host('a-hostedit').exec("printf 'gpu:\\n  enabled: true\\n' >> /opt/gwfleet/values/a-hostedit.yaml")
  await host('a-down').stopSshd()
  oldKeyLine = host('a-badkey').hostKeyLine
  newKeyLine = await host('a-badkey').regenerateHostKey()

  // From here on nothing may change on any host.
  for (const n of NAMES) {
    await markHost(host(n))
    snapshots.set(n, await treeSnapshot(host(n), '/opt/gwfleet'))
  }
}, 120_000)

afterAll(async () => {
  await lab?.stop()
  if (ws) fs.rmSync(ws.dir, {recursive: true, force: true})
})

describe('gwfleet audit (lab subnet 13)', () => {
  it('reports each state with its status, versions and values verdict in JSON, and exits 1', async () => {
    // --save: this audit keeps a run folder (read-only commands keep none otherwise), searched for secrets below.
    const r = await gw(['audit', '-i', auditInv, '--json', '--save'])
    expect(r.code, r.stdout + r.stderr).toBe(1)
    expect(r.json).toMatchObject({command: 'audit', ok: false})
    const hosts = byName(r)
    expect(Object.keys(hosts).sort()).toEqual([...NAMES].sort())
    for (const n of NAMES) {
      const want = STATE[n]
      expect(hosts[n], n).toMatchObject({status: want.status, version: want.version, desiredVersion: want.desired, valuesInSync: want.values})
      if (want.status === 'in-sync') expect(hosts[n].error, n).toBeNull()
      else expect(hosts[n].error, n).toEqual(expect.any(String))
    }
    expect(hosts['a-verdrift'].error).toContain(VERSION)
    expect(hosts['a-verdrift'].error).toContain(OLD)
    expect(hosts['a-valdrift'].error).toMatch(/values/i)
    expect(hosts['a-hostedit'].error).toMatch(/values/i)
    expect(hosts['a-none'].error).toMatch(/kubectl|no gateway|not installed/i)
    expect(hosts['a-down'].error).toMatch(/refused/i)
    expect(hosts['a-badkey'].error).toContain(fingerprintOf(oldKeyLine))
    expect(hosts['a-badkey'].error).toContain(fingerprintOf(newKeyLine))
    // The last change recorded on the host, for the installed ones.
    expect(hosts['a-sync'].lastChange).toMatchObject({version: VERSION})
    expect(hosts['a-pinned'].lastChange).toMatchObject({version: OLD})
  })

  it('prints a table with the problems first and a summary line by version', async () => {
    const r = await gw(['audit', '-i', auditInv])
    expect(r.code, r.stderr).toBe(1)
    const lines = r.stdout.split('\n').filter((l) => l.trim() !== '')
    const header = lines.findIndex((l) => /^GATEWAY\s/.test(l))
    expect(header, r.stdout).toBeGreaterThanOrEqual(0)
    expect(lines[header]).toMatch(/STATUS/)
    expect(lines[header]).toMatch(/VERSION/)
    const rows = lines.slice(header + 1, header + 1 + NAMES.length)
    const statusOf = (row: string) => {
      const name = row.split(/\s+/)[0] as Name
      expect(NAMES, row).toContain(name)
      expect(row, name).toMatch(new RegExp(`\\s${STATE[name].status}\\s`))
      return STATE[name].status
    }
    const statuses = rows.map(statusOf)
    expect(new Set(rows.map((row) => row.split(/\s+/)[0])).size).toBe(NAMES.length)
    // Problems first: no in-sync row above a problem row.
    const firstInSync = statuses.indexOf('in-sync')
    expect(firstInSync).toBe(statuses.length - 2)
    expect(statuses.slice(firstInSync).every((s) => s === 'in-sync')).toBe(true)
    // The summary: per status, then per installed version, newest first.
    expect(lines.at(-1)).toBe(`in-sync: 2   drift: 3   not-installed: 1   unreachable: 2   |   versions ${VERSION}: 4   ${OLD}: 1`)
  })

  it('--output csv is parseable, with the right columns and values', async () => {
    const r = await gw(['audit', '-i', auditInv, '--output', 'csv'])
    expect(r.code, r.stderr).toBe(1)
    const [head, ...rows] = parseCsv(r.stdout)
    for (const col of ['name', 'host', 'status', 'version', 'desiredVersion', 'valuesInSync']) expect(head, col).toContain(col)
    expect(rows).toHaveLength(NAMES.length)
    for (const row of rows) expect(row, row.join(',')).toHaveLength(head.length)
    const rec = Object.fromEntries(rows.map((row) => [row[head.indexOf('name')], Object.fromEntries(head.map((k, i) => [k, row[i]]))]))
    for (const n of NAMES) {
      const want = STATE[n]
      expect(rec[n], n).toMatchObject({
        host: host(n).address,
        status: want.status,
        version: want.version ?? '',
        desiredVersion: want.desired,
        valuesInSync: want.values === null ? '' : String(want.values),
      })
    }
    // Problems first here too.
    const statuses = rows.map((row) => row[head.indexOf('status')])
    expect(statuses.slice(-2)).toEqual(['in-sync', 'in-sync'])
  })

  it('exits 0 when every selected gateway is in sync', async () => {
    const r = await gw(['audit', '-i', auditInv, '--json', '-l', 'a-sync,a-pinned'])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.json.ok).toBe(true)
    expect(r.json.hosts.map((x: any) => x.status)).toEqual(['in-sync', 'in-sync'])
    const t = await gw(['audit', '-i', auditInv, '-l', 'a-sync,a-pinned'])
    expect(t.code).toBe(0)
    expect(t.stdout.trim().split('\n').at(-1)).toBe(`in-sync: 2   |   versions ${VERSION}: 1   ${OLD}: 1`)
  })

  it('says why a host is unreachable: auth refused, no SSH handshake (bounded by --connect-timeout)', async () => {
    // A TCP listener that accepts and never speaks SSH.
    const silent = net.createServer(() => undefined)
    const sockets = new Set<net.Socket>()
    silent.on('connection', (s) => sockets.add(s))
    // Beside the lab's hosts, on its 127.77.<subnet> (GWFLEET_LAB_OFFSET shifts the subnet).
    const silentAddress = `${lab.hosts[0]!.address.split('.').slice(0, 3).join('.')}.200`
    await new Promise<void>((resolve) => silent.listen(22, silentAddress, resolve))
    try {
      const inv = ws.inventory(
        VERSION,
        [
          {host: host('a-sync'), name: 'why-auth', opts: {user: 'nosuchuser'}},
          {host: {...host('a-sync'), address: silentAddress} as LabHost, name: 'why-silent'},
        ],
        'why.yaml',
      )
      const r = await gw(['audit', '-i', inv, '--json', '--connect-timeout', '2s'])
      expect(r.code, r.stdout + r.stderr).toBe(1)
      const hosts = byName(r)
      expect(hosts['why-auth'].status).toBe('unreachable')
      expect(hosts['why-auth'].error).toMatch(/authentication/i)
      expect(hosts['why-auth'].error).toContain('nosuchuser')
      expect(hosts['why-silent'].status).toBe('unreachable')
      expect(hosts['why-silent'].error).toMatch(/handshake|timed? ?out/i)
      expect(hosts['why-silent'].error).toContain(silentAddress)
    } finally {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => silent.close(resolve))
    }
  })

  it('changed nothing on any host, and printed no secret', async () => {
    for (const n of reachable()) {
      expect(await changedSince(host(n)), `${n} changed by an audit`).toEqual([])
      expect(await treeSnapshot(host(n), '/opt/gwfleet'), n).toBe(snapshots.get(n))
      expect(await host(n).exists('/opt/gwfleet/state/lock'), n).toBe(false)
    }
    // The stopped and the re-keyed hosts were never logged in to.
    expect(await treeSnapshot(host('a-badkey'), '/opt/gwfleet')).toBe(snapshots.get('a-badkey'))
    expect(await changedSince(host('a-badkey'))).toEqual([])
    expect(await host('a-none').exists('/opt/gwfleet')).toBe(false)
    expect(findSecrets(runs, [ws.home])).toEqual([])
    // Only the audit run with --save kept a run folder, with a log per gateway.
    const runsDir = path.join(ws.home, '.gwfleet', 'runs')
    const audits = fs.readdirSync(runsDir).filter((d) => d.includes('-audit-'))
    expect(audits).toHaveLength(1)
    expect(fs.readdirSync(path.join(runsDir, audits[0])).filter((f) => f.endsWith('.log') && !f.startsWith('_')).sort()).toEqual(NAMES.map((n) => `${n}.log`).sort())
  })
})
