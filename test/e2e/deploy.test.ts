// End to end: `gwfleet deploy` against real OpenSSH lab hosts (issue 2's checklist).
// One lab for the whole file (subnet 11); the tests run in order and build on each other:
// plan -> select -> install -> rerun -> reconfigure -> sudo -> jump -> secrets.
import dns from 'node:dns/promises'
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {
  agentVersion,
  changedSince,
  type CliResult,
  findSecrets,
  installs,
  type Lab,
  lab as startLab,
  type LabHost,
  markHost,
  reconfigureSshd,
  SECRETS,
  sshdLog,
  statOn,
  treeSnapshot,
  watchCommandLines,
  Workspace,
  byName,
} from './fleet.js'

const VERSION = '1.5.0'
const SUDO_PASSWORD = 'lab-sudo-pw'

let lab: Lab
let ws: Workspace
let fleet: string // the main inventory
let pwFleet: string // the opspw host alone
const runs: CliResult[] = []
const watches: {hits: string[]; seen: number; sawInstaller: boolean}[] = []

// Gateways of the main inventory: name -> lab host (index) and how it is reached.
const GW = {
  'berlin-1': 0, // root, ring=canary; echo-secret fault
  'berlin-2': 1, // root
  'boston-1': 2, // root
  'boston-2': 3, // ops + become (sudo -n)
  'jumped-1': 5, // through the bastion h8, by a name only the bastion can resolve
  'jumped-2': 6, // idem; echo-secret fault
} as const
type GwName = keyof typeof GW
const NAMES = Object.keys(GW) as GwName[]
const host = (n: GwName): LabHost => lab.hosts[GW[n]]
const pwHost = () => lab.hosts[4] // opspw + become (sudo -S)
const bastion = () => lab.hosts[7]

/**
 * Run the CLI in this process (inprocess.ts) and keep the result for the secret checks at the end.
 * `spawned` starts it as its own process (the real binary; a run that hangs ends after `timeoutMs`).
 */
async function gw(args: string[], env: Record<string, string> = {}, how: 'here' | 'spawned' = 'here', timeoutMs?: number): Promise<CliResult> {
  const r = await ws.runAs(how, args, {env, timeoutMs})
  runs.push(r)
  return r
}

/** Run the CLI while watching every command line on the machine for the secrets and the sudo password. */
async function gwWatched(args: string[], env: Record<string, string> = {}, how: 'here' | 'spawned' = 'here'): Promise<CliResult> {
  const w = watchCommandLines(lab.hosts, [...Object.values(SECRETS), SUDO_PASSWORD])
  try {
    return await gw(args, env, how)
  } finally {
    const res = w.stop()
    watches.push({hits: res.hits, seen: res.seen, sawInstaller: res.matching(/deploy_gateway --helm-values-file-path/)})
  }
}


const runLogs = () => {
  const runsDir = path.join(ws.home, '.gwfleet', 'runs')
  return fs.existsSync(runsDir) ? fs.readdirSync(runsDir).map((d) => path.join(runsDir, d)).sort() : []
}
const lastRunLog = (gateway: string) => fs.readFileSync(path.join(runLogs().at(-1)!, `${gateway}.log`), 'utf8')

/** Logins and SFTP sessions a host's sshd has seen so far (needs LogLevel VERBOSE). */
async function sessions(h: LabHost): Promise<{logins: number; sftp: number}> {
  const log = await sshdLog(h)
  return {logins: log.filter((l) => /Accepted publickey for /.test(l)).length, sftp: log.filter((l) => /Starting session: subsystem 'sftp'/.test(l)).length}
}

/** Release files and values of a gateway on its host: inode, mtime and hash of each. */
const remoteFiles = (n: GwName | 'sudopw-1', h: LabHost) => Promise.all([treeSnapshot(h, '/opt/gwfleet/releases'), statOn(h, `/opt/gwfleet/values/${n}.yaml`)])

beforeAll(async () => {
  lab = await startLab(8, 11, 'e2e-deploy')
  ws = new Workspace(lab, 'deploy')
  await ws.releasesOf(VERSION)

  // The bastion and berlin-1 log at VERBOSE: one "Accepted publickey" per SSH connection and one
  // "Starting session: subsystem 'sftp'" per SFTP session.
  for (const h of [bastion(), host('berlin-1')]) await reconfigureSshd(h, (c) => c.replace(/^LogLevel .*$/m, 'LogLevel VERBOSE'))

  const gws = NAMES.map((name) => {
    const h = host(name)
    const site = name.split('-')[0]
    const labels = {site: site === 'jumped' ? 'dmz' : site, ring: name === 'berlin-1' || name === 'jumped-2' ? 'canary' : 'main'}
    if (name.startsWith('jumped'))
      // `h6`/`h7` resolve only in the bastion's /etc/hosts: reaching them proves the jump was used.
      return {host: {...h, address: h.name} as LabHost, name, opts: {jump: `root@${bastion().address}`, labels}}
    if (name === 'boston-2') return {host: h, name, opts: {user: 'ops', become: true, labels}}
    return {host: h, name, opts: {labels}}
  })
  fleet = ws.inventory(VERSION, gws)
  // known_hosts entries for the names the jumped gateways are reached by.
  fs.appendFileSync(
    path.join(ws.dir, 'known_hosts'),
    [host('jumped-1'), host('jumped-2')].map((h) => h.hostKeyLine.replace(h.address, h.name)).join('\n') + '\n',
  )
  pwFleet = ws.inventory(VERSION, [{host: pwHost(), name: 'sudopw-1', opts: {user: 'opspw', become: true}}], 'pw.yaml')

  await host('berlin-1').setFault('echo-secret', '1')
  await host('jumped-2').setFault('echo-secret', '1')
  // A slow installer on one host, so the command-line watch sees the installer running for sure.
  await host('berlin-2').setFault('sleep', '1')
}, 120_000)

afterAll(async () => {
  await lab?.stop()
  if (ws) fs.rmSync(ws.dir, {recursive: true, force: true})
})

describe('gwfleet deploy (lab subnet 11)', () => {
  it('--dry-run prints the plan and changes nothing on any host', async () => {
    const marks = await Promise.all(lab.hosts.map((h) => markHost(h)))
    expect(marks).toHaveLength(8)

    const text = await gw(['deploy', '-i', fleet, '--dry-run'])
    expect(text.code, text.stderr).toBe(0)
    for (const n of NAMES) expect(text.stdout).toMatch(new RegExp(`^${n}\\s+none\\s+${VERSION}\\s+would install\\b`, 'm'))

    const json = await gw(['deploy', '-i', fleet, '--dry-run', '--json'])
    expect(json.code, json.stderr).toBe(0)
    expect(json.json.dryRun).toBe(true)
    const hosts = byName(json)
    expect(Object.keys(hosts).sort()).toEqual([...NAMES].sort())
    for (const n of NAMES) expect(hosts[n]).toMatchObject({action: 'install', fromVersion: null, toVersion: VERSION, error: null})

    for (const h of lab.hosts) {
      expect(await changedSince(h), `${h.name} changed by a dry run`).toEqual([])
      expect(await h.exists('/opt/gwfleet'), `${h.name}: /opt/gwfleet`).toBe(false)
      expect(await installs(h)).toEqual([])
    }
  })

  it('--limit selects by name, glob, label and exclusion', async () => {
    const selected = async (limit: string) => {
      const r = await gw(['deploy', '-i', fleet, '--dry-run', '--json', '-l', limit])
      expect(r.code, `${limit}: ${r.stdout}${r.stderr}`).toBe(0)
      return r.json.hosts.map((h: any) => h.name).sort()
    }
    expect(await selected('boston-1')).toEqual(['boston-1'])
    expect(await selected('berlin-*')).toEqual(['berlin-1', 'berlin-2'])
    expect(await selected('jumped-?,boston-2')).toEqual(['boston-2', 'jumped-1', 'jumped-2'])
    expect(await selected('ring=canary')).toEqual(['berlin-1', 'jumped-2'])
    expect(await selected('site=b*,!boston-2')).toEqual(['berlin-1', 'berlin-2', 'boston-1'])
    expect(await selected('!ring=main')).toEqual(['berlin-1', 'jumped-2'])

    const bad = await gw(['deploy', '-i', fleet, '--dry-run', '--json', '-l', 'berlin-3'])
    expect(bad.code).toBe(2)
    expect(bad.json).toMatchObject({ok: false})
    expect(bad.json.error).toMatch(/berlin-3/)
  })

  it('installs every gateway: agent running, values 0600 in a 0700 dir, one installer run each', async () => {
    const s0 = await sessions(host('berlin-1'))
    // spawned: the file's end-to-end run of the real gwfleet process (the first install of the whole fleet)
    const r = await gwWatched(['deploy', '-i', fleet, '--json'], {}, 'spawned')
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.json.ok).toBe(true)
    // One SSH connection to the host for the whole run, one SFTP session on it.
    const s1 = await sessions(host('berlin-1'))
    expect({logins: s1.logins - s0.logins, sftp: s1.sftp - s0.sftp}).toEqual({logins: 1, sftp: 1})
    const hosts = byName(r)
    expect(Object.keys(hosts).sort()).toEqual([...NAMES].sort())
    for (const n of NAMES) {
      expect(hosts[n], n).toMatchObject({status: 'ok', action: 'install', fromVersion: null, toVersion: VERSION, hops: [VERSION], error: null})
      const h = host(n)
      expect(await agentVersion(h), n).toBe(VERSION)
      const log = await installs(h)
      expect(log, n).toHaveLength(1)
      expect(log[0]).toContain(`version=${VERSION} agent=${VERSION} values=/opt/gwfleet/values/${n}.yaml`)
      const [file, dir] = await statOn(h, `/opt/gwfleet/values/${n}.yaml`, '/opt/gwfleet/values')
      expect(file, n).toMatch(/^600 root:root /)
      expect(dir, n).toMatch(/^700 root:root /)
      // The host holds the resolved values (secrets included): that is where they belong.
      const values = await h.readFile(`/opt/gwfleet/values/${n}.yaml`)
      expect(values).toContain(SECRETS.GW_CLIENT_SECRET)
      expect(values).toContain(SECRETS.GW_HELM_PASSWORD)
      expect(values).toContain(SECRETS.fileSecret)
      expect(values).toContain(`tenant: "tenant-${n}"`)
      // The record of what was deployed, for the next run.
      const rec = JSON.parse(await h.readFile(`/opt/gwfleet/state/${n}.json`))
      expect(rec).toMatchObject({gateway: n, version: VERSION})
      expect(await h.exists('/opt/gwfleet/state/lock'), `${n}: lock left behind`).toBe(false)
    }
    // Nothing installed on the hosts that are not in the inventory.
    expect(await installs(pwHost())).toEqual([])
    expect(await installs(bastion())).toEqual([])
  })

  it('a rerun is unchanged: no upload and no installer run', async () => {
    const before = await Promise.all(NAMES.map(async (n) => ({files: await remoteFiles(n, host(n)), installs: await installs(host(n))})))
    const marks = await Promise.all(NAMES.map((n) => markHost(host(n))))
    expect(marks).toHaveLength(NAMES.length)

    const s0 = await sessions(host('berlin-1'))
    const r = await gw(['deploy', '-i', fleet, '--json'])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    // One login to read the host, and no SFTP session at all: nothing to send.
    const s1 = await sessions(host('berlin-1'))
    expect({logins: s1.logins - s0.logins, sftp: s1.sftp - s0.sftp}).toEqual({logins: 1, sftp: 0})
    const hosts = byName(r)
    for (const [i, n] of NAMES.entries()) {
      expect(hosts[n], n).toMatchObject({status: 'unchanged', action: 'none', fromVersion: VERSION, toVersion: VERSION, hops: [], error: null})
      const h = host(n)
      expect(await installs(h), `${n}: installer ran again`).toEqual(before[i].installs)
      // Same inodes, mtimes and hashes: nothing was uploaded and renamed into place.
      expect(await remoteFiles(n, h), `${n}: files re-uploaded`).toEqual(before[i].files)
      // Nothing changed on the host but the lock's coming and going, the history, and the directories'
      // modes being re-asserted (a chmod touches only their ctime).
      const changed = await changedSince(h)
      expect(changed.filter((p) => !/^\/opt\/gwfleet(\/state(\/history\.jsonl)?|\/\.stage|\/values|\/releases)?$/.test(p)), `${n}: changed`).toEqual([])
    }
  })

  it('a changed values file reconfigures only that gateway (also with --limit)', async () => {
    const before = Object.fromEntries(await Promise.all(NAMES.map(async (n) => [n, {installs: await installs(host(n)), files: await remoteFiles(n, host(n))}] as const)))
    ws.writeValues('berlin-2', Workspace.valuesText('berlin-2').replace('tenant: tenant-berlin-2', 'tenant: tenant-berlin-2-moved'))
    ws.writeValues('boston-1', Workspace.valuesText('boston-1', 'gpu:\n  enabled: true'))

    // Only berlin-2 is selected: boston-1's new values must wait.
    const limited = await gw(['deploy', '-i', fleet, '--json', '-l', 'berlin-2'])
    expect(limited.code, limited.stdout + limited.stderr).toBe(0)
    expect(limited.json.hosts).toHaveLength(1)
    expect(byName(limited)['berlin-2']).toMatchObject({status: 'ok', action: 'reconfigure', fromVersion: VERSION, toVersion: VERSION})
    expect(await installs(host('berlin-2'))).toHaveLength(before['berlin-2'].installs.length + 1)
    expect(await host('berlin-2').readFile('/opt/gwfleet/values/berlin-2.yaml')).toContain('tenant: "tenant-berlin-2-moved"')
    expect(await host('berlin-2').readFile('/var/lib/gwlab-k3s/last-values.yaml')).toContain('tenant: "tenant-berlin-2-moved"')
    // The release was not sent again for a reconfigure, only the values.
    const [relBefore, valBefore] = before['berlin-2'].files
    const [relAfter, valAfter] = await remoteFiles('berlin-2', host('berlin-2'))
    expect(relAfter).toEqual(relBefore)
    expect(valAfter).not.toEqual(valBefore)
    expect(valAfter[0]).toMatch(/^600 root:root /)
    expect(await installs(host('boston-1'))).toEqual(before['boston-1'].installs)
    expect(await host('boston-1').readFile('/opt/gwfleet/values/boston-1.yaml')).not.toContain('gpu:')

    // The whole fleet: only boston-1 changes now.
    const all = await gw(['deploy', '-i', fleet, '--json'])
    expect(all.code, all.stdout + all.stderr).toBe(0)
    const hosts = byName(all)
    for (const n of NAMES) {
      const expected = n === 'boston-1' ? {status: 'ok', action: 'reconfigure'} : {status: 'unchanged', action: 'none'}
      expect(hosts[n], n).toMatchObject(expected)
      const grown = n === 'boston-1' || n === 'berlin-2' ? 1 : 0
      expect(await installs(host(n)), n).toHaveLength(before[n].installs.length + grown)
    }
    const gpu = await host('boston-1').readFile('/opt/gwfleet/values/boston-1.yaml')
    expect(gpu).toMatch(/gpu:\s*\n\s+enabled: true/)
    expect(await agentVersion(host('boston-1'))).toBe(VERSION)
  })

  it('installs as the sudo user ops (become: true, sudo -n)', async () => {
    const h = host('boston-2')
    expect(await agentVersion(h)).toBe(VERSION)
    expect(await installs(h)).toHaveLength(1)
    // The run logged in as ops and reached root through sudo.
    const firstInstall = runLogs().find((d) => fs.existsSync(path.join(d, 'boston-2.log')) && fs.readFileSync(path.join(d, 'boston-2.log'), 'utf8').includes('running installer'))
    expect(firstInstall).toBeTruthy()
    const log = fs.readFileSync(path.join(firstInstall!, 'boston-2.log'), 'utf8')
    expect(log).toContain(`connected to ops@${h.address}`)
    expect(log).toMatch(/root via sudo\b/)
    const [values, rec] = await statOn(h, '/opt/gwfleet/values/boston-2.yaml', '/opt/gwfleet/state/boston-2.json')
    expect(values).toMatch(/^600 root:root /)
    expect(rec).toMatch(/ root:root /)
  })

  it('opspw without GWFLEET_BECOME_PASSWORD fails fast with a clear error; with it, installs', async () => {
    const h = pwHost()
    // A deploy that waited at the host's sudo prompt would never end: spawned, with a limit of 40s that ends a hang.
    const denied = await gw(['deploy', '-i', pwFleet, '--json'], {}, 'spawned', 40_000)
    expect(denied.code, denied.stdout + denied.stderr).toBe(1)
    const d = byName(denied)['sudopw-1']
    expect(d.status).toBe('failed')
    expect(d.error).toMatch(/password/i)
    expect(d.error).toContain('GWFLEET_BECOME_PASSWORD')
    expect(await installs(h)).toEqual([])
    expect(await h.exists('/opt/gwfleet/state/lock')).toBe(false)

    const ok = await gwWatched(['deploy', '-i', pwFleet, '--json'], {GWFLEET_BECOME_PASSWORD: SUDO_PASSWORD})
    expect(ok.code, ok.stdout + ok.stderr).toBe(0)
    expect(byName(ok)['sudopw-1']).toMatchObject({status: 'ok', action: 'install', toVersion: VERSION, error: null})
    expect(await agentVersion(h)).toBe(VERSION)
    expect(await installs(h)).toHaveLength(1)
    expect((await statOn(h, '/opt/gwfleet/values/sudopw-1.yaml'))[0]).toMatch(/^600 root:root /)
    expect(JSON.parse(await h.readFile('/opt/gwfleet/state/sudopw-1.json'))).toMatchObject({gateway: 'sudopw-1', version: VERSION, operator: expect.any(String)})
    expect(await h.exists('/opt/gwfleet/state/lock')).toBe(false)
    expect(fs.readFileSync(path.join(ok.json.runDir, 'sudopw-1.log'), 'utf8')).toMatch(/== recording [\d.]+\n.*== unlocking/)

    const again = await gw(['deploy', '-i', pwFleet, '--json'], {GWFLEET_BECOME_PASSWORD: SUDO_PASSWORD})
    expect(again.code, again.stdout + again.stderr).toBe(0)
    expect(byName(again)['sudopw-1']).toMatchObject({status: 'unchanged', action: 'none'})
    expect(await installs(h)).toHaveLength(1)

    const wrong = await gw(['deploy', '-i', pwFleet, '--json'], {GWFLEET_BECOME_PASSWORD: 'not-the-password'}, 'spawned', 40_000)
    expect(wrong.code).toBe(1)
    expect(byName(wrong)['sudopw-1'].status).toBe('failed')
    expect(byName(wrong)['sudopw-1'].error).toMatch(/password/i)
    expect(wrong.stdout + wrong.stderr).not.toContain('not-the-password')
  })

  it('reaches two gateways through one jump host, over one shared bastion connection', async () => {
    // The jumped gateways' names do not resolve on the workstation: only the bastion knows them.
    await expect(dns.lookup(host('jumped-1').name)).rejects.toThrow()
    for (const n of ['jumped-1', 'jumped-2'] as const) {
      expect(await agentVersion(host(n)), n).toBe(VERSION)
      expect(await installs(host(n)), n).toHaveLength(1)
      expect((await statOn(host(n), `/opt/gwfleet/values/${n}.yaml`))[0]).toMatch(/^600 root:root /)
    }
    const accepted = async () => (await sshdLog(bastion())).filter((l) => /Accepted publickey for root/.test(l)).length
    const before = await accepted()
    const r = await gw(['deploy', '-i', fleet, '--json', '-l', 'site=dmz'])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const hosts = byName(r)
    expect(Object.keys(hosts).sort()).toEqual(['jumped-1', 'jumped-2'])
    for (const n of ['jumped-1', 'jumped-2']) expect(hosts[n]).toMatchObject({status: 'unchanged', host: host(n as GwName).name})
    expect(await accepted(), 'logins on the bastion for one run of two jumped gateways').toBe(before + 1)
    // The bastion is only a bastion: nothing of gwfleet's lands there.
    expect(await bastion().exists('/opt/gwfleet')).toBe(false)

    // A chain (ProxyJump's comma syntax): the bastion, then berlin-1's host, then jumped-1.
    const chain = ws.inventory(
      VERSION,
      [{host: {...host('jumped-1'), address: host('jumped-1').name} as LabHost, name: 'jumped-1', opts: {jump: `root@${bastion().address},root@${host('berlin-1').address}`}}],
      'chain.yaml',
    )
    const viaChain = await gw(['deploy', '-i', chain, '--json'])
    expect(viaChain.code, viaChain.stdout + viaChain.stderr).toBe(0)
    expect(byName(viaChain)['jumped-1']).toMatchObject({status: 'unchanged'})
    expect(await accepted()).toBe(before + 2)
  })

  it('never shows a secret: not in output, JSON, run logs, files under HOME or remote command lines', async () => {
    // The echo-secret fault made the installer print the client secret: the logs must hold it masked.
    const installLogs = runLogs()
      .flatMap((d) => ['berlin-1', 'jumped-2'].map((n) => path.join(d, `${n}.log`)))
      .filter((f) => fs.existsSync(f))
      .map((f) => fs.readFileSync(f, 'utf8'))
    const echoed = installLogs.flatMap((t) => t.split('\n')).filter((l) => l.includes('Authenticating with client secret:'))
    expect(echoed.length, 'the echo-secret fault did not fire').toBeGreaterThanOrEqual(2)
    for (const l of echoed) expect(l).not.toContain(SECRETS.GW_CLIENT_SECRET)

    const secrets = [...Object.values(SECRETS), SUDO_PASSWORD]
    expect(runs.length).toBeGreaterThan(10)
    expect(findSecrets(runs, [ws.home], secrets)).toEqual([])
    for (const r of runs) if (r.json) expect(JSON.stringify(r.json)).not.toMatch(/e2e-client-secret|e2e-helm-password|e2e-secret-from-file|lab-sudo-pw/)

    // Remote command lines, watched while the installers ran.
    expect(watches.length).toBe(2)
    for (const w of watches) {
      expect(w.sawInstaller, 'the watch never saw an installer running').toBe(true)
      expect(w.hits).toEqual([])
    }

    // On the hosts, only the values file, its copy as applied beside the record (root's, 0600) and the
    // stand-in's own copy may hold them.
    for (const h of [...NAMES.map(host), pwHost()]) {
      const res = await h.exec(`grep -rlF -D skip -e ${secrets.map((s) => `'${s}'`).join(' -e ')} /opt/gwfleet /var/lib /var/tmp /etc /root /home /srv 2>/dev/null`)
      const files = res.stdout.split('\n').filter(Boolean)
      const allowed = /^(\/opt\/gwfleet\/values\/[^/]+\.yaml|\/opt\/gwfleet\/state\/[^/]+\.applied|\/var\/lib\/gwlab-k3s\/last-values\.yaml)$/
      expect(files.filter((f) => !allowed.test(f)), `${h.name}: secrets in`).toEqual([])
      for (const f of files.filter((x) => x.endsWith('.applied'))) expect((await h.exec(`stat -c '%U %a' ${f}; stat -c '%U %a' /opt/gwfleet/state`)).stdout, f).toBe('root 600\nroot 700\n')
      expect(files, h.name).toContain(`/opt/gwfleet/values/${h === pwHost() ? 'sudopw-1' : NAMES.find((n) => host(n) === h)}.yaml`)
      expect((await h.exec('ls -A /opt/gwfleet/.stage 2>/dev/null')).stdout, `${h.name}: stage not cleaned`).toBe('')
    }
  })

  it('a sudo password that sudo never asks for (NOPASSWD) is never run on the host', async () => {
    const h = host('boston-2')
    const ran = '/tmp/gwfleet-password-ran'
    const password = `pw"$(touch ${ran});x>${ran}2 'q`
    const inv = ws.inventory(VERSION, [{host: h, name: 'nopw-1', opts: {user: 'ops', become: true}}], 'nopw.yaml')
    const r = await gw(['deploy', '-i', inv, '--json'], {GWFLEET_BECOME_PASSWORD: password})
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(byName(r)['nopw-1']).toMatchObject({status: 'ok', action: 'reconfigure'})
    expect(await h.exists(ran)).toBe(false)
    expect(await h.exists(`${ran}2`)).toBe(false)
    expect(await h.exists('/opt/gwfleet/state/lock')).toBe(false)
    expect(JSON.parse(await h.readFile('/opt/gwfleet/state/nopw-1.json'))).toMatchObject({gateway: 'nopw-1', version: VERSION})
    // Nothing of the password in the host's log either (no shell error quoting a piece of it).
    const log = fs.readFileSync(path.join(r.json.runDir, 'nopw-1.log'), 'utf8')
    for (const piece of ['touch', 'pw"', "'q"]) expect(log).not.toContain(piece)
  })
})
