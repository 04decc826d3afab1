// End to end: strict host-key checking against real OpenSSH lab hosts (issue 2's checklist), the
// seams only: unknown keys refused, then accepted, recorded (where each gateway looks, `[host]:port`
// for another port) and announced with --accept-new-host-keys; a changed key (also one of another
// type, offered by a real sshd) always refused with both fingerprints; jump hosts checked too.
// The matching rules (hashed `|1|` and `[host]:port` entries, wildcards, @revoked, @cert-authority,
// another key type through hashed names) and the refusal's words are unit tests:
// test/unit/knownhosts.test.ts, with ssh-keygen -H files and ssh-keygen -F as the reference.
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {
  agentVersion,
  changedSince,
  type CliResult,
  findSecrets,
  fingerprintOf,
  installs,
  keyBlobOf,
  type Lab,
  lab as startLab,
  type LabHost,
  markHost,
  reconfigureSshd,
  Workspace,
  byName,
} from './fleet.js'

const VERSION = '1.5.0'
const ALT_PORT = 2222

let lab: Lab
let ws: Workspace
const runs: CliResult[] = []
const h = (i: number): LabHost => lab.hosts[i - 1]
const file = (name: string) => path.join(ws.dir, name)
const read = (name: string) => (fs.existsSync(file(name)) ? fs.readFileSync(file(name), 'utf8') : '')
const userKnownHosts = () => path.join(ws.home, '.ssh', 'known_hosts')

/** Runs a command in this process (inprocess.ts) or, with 'spawned', as its own process. */
async function gw(args: string[], how: 'here' | 'spawned' = 'here'): Promise<CliResult> {
  const r = await ws.runAs(how, args)
  runs.push(r)
  return r
}


/** The bytes of a file, or null when it does not exist (to compare known_hosts byte for byte). */
const bytes = (p: string): Buffer | null => (fs.existsSync(p) ? fs.readFileSync(p) : null)

/** The line --accept-new-host-keys prints and logs for a key it recorded. */
const recordedLine = (name: string, keyLine: string, kh: string) =>
  `recorded the host key of ${name}: ${keyLine.split(/\s+/)[1]} ${fingerprintOf(keyLine)} in ${kh}`

/** The run folders of this workspace whose run-level log mentions `text`. */
function runLogsMentioning(text: string): string[] {
  const runs = path.join(ws.home, '.gwfleet', 'runs')
  return fs
    .readdirSync(runs)
    .map((d) => path.join(runs, d, '_run.log'))
    .filter((f) => fs.existsSync(f) && fs.readFileSync(f, 'utf8').includes(text))
}

/** Whether OpenSSH's own client accepts a known_hosts file for a host (strict checking by default, no prompt). */
function opensshAccepts(knownHosts: string, host: LabHost, port = 22, strict = 'yes'): {ok: boolean; stderr: string} {
  const r = spawnSync(
    'ssh',
    ['-i', lab.clientKey, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', `StrictHostKeyChecking=${strict}`,
      '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'ConnectTimeout=5', '-p', String(port), `root@${host.address}`, 'true'],
    {encoding: 'utf8', timeout: 15_000},
  )
  return {ok: r.status === 0, stderr: r.stderr}
}

beforeAll(async () => {
  lab = await startLab(5, 12, 'e2e-hostkeys')
  ws = new Workspace(lab, 'hostkeys')
  await ws.releasesOf(VERSION)
  // An empty known_hosts for the inventory (and none in ~/.ssh): every key is unknown at first.
  fs.writeFileSync(file('known_hosts'), '')
  ws.inventory(VERSION, [{host: h(1), name: 'k1'}, {host: h(2), name: 'k2'}], 'fleet.yaml')
  // h5 also listens on a second port, for `[host]:port` entries.
  await reconfigureSshd(h(5), (c) => c.replace(/^(ListenAddress .*)$/m, `$1\nListenAddress ${h(5).address}:${ALT_PORT}`))
}, 120_000)

afterAll(async () => {
  await lab?.stop()
  if (ws) fs.rmSync(ws.dir, {recursive: true, force: true})
})

describe('host keys (lab subnet 12)', () => {
  it('refuses an unknown host key, naming its fingerprint and the accept flag; changes nothing', async () => {
    await Promise.all([h(1), h(2)].map((x) => markHost(x)))
    const r = await gw(['deploy', '-i', file('fleet.yaml'), '--json'])
    expect(r.code, r.stdout + r.stderr).toBe(1)
    expect(r.json.ok).toBe(false)
    const hosts = byName(r)
    for (const [name, host] of [['k1', h(1)], ['k2', h(2)]] as const) {
      expect(hosts[name].status, name).toBe('unreachable')
      expect(hosts[name].error).toContain(fingerprintOf(host.hostKeyLine))
      expect(hosts[name].error).toContain('--accept-new-host-keys')
      expect(hosts[name].error).toContain(host.address)
      expect(await changedSince(host), `${name}: the host was logged in to`).toEqual([])
      expect(await host.exists('/opt/gwfleet')).toBe(false)
    }
    // Nothing was recorded anywhere.
    expect(read('known_hosts')).toBe('')
    expect(fs.existsSync(userKnownHosts())).toBe(false)

    // The audit says the same, and the table shows it.
    const audit = await gw(['audit', '-i', file('fleet.yaml')])
    expect(audit.code).toBe(1)
    expect(audit.stdout).toMatch(/^k1\s+\S+\s+unreachable\b/m)
    expect(audit.stdout).toContain(fingerprintOf(h(1).hostKeyLine))
  })

  it('accepts and records new keys with --accept-new-host-keys; the next run needs no flag', async () => {
    // spawned: this file's deploy by the real binary, end to end
    const r = await gw(['deploy', '-i', file('fleet.yaml'), '--json', '--accept-new-host-keys'], 'spawned')
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const hosts = byName(r)
    for (const [name, host] of [['k1', h(1)], ['k2', h(2)]] as const) {
      expect(hosts[name], name).toMatchObject({status: 'ok', action: 'install', toVersion: VERSION})
      expect(await agentVersion(host)).toBe(VERSION)
    }
    // Recorded once per host, in a form OpenSSH itself accepts.
    const recorded = read('known_hosts') + (fs.existsSync(userKnownHosts()) ? fs.readFileSync(userKnownHosts(), 'utf8') : '')
    for (const host of [h(1), h(2)]) {
      expect(recorded.split('\n').filter((l) => l.includes(keyBlobOf(host.hostKeyLine))), host.name).toHaveLength(1)
      const where = read('known_hosts').includes(keyBlobOf(host.hostKeyLine)) ? file('known_hosts') : userKnownHosts()
      expect(opensshAccepts(where, host).ok, `OpenSSH rejects the recorded entry for ${host.name}`).toBe(true)
    }

    // Each recorded key is announced on stderr (stdout is the JSON document) and in the run log.
    const runLog = fs.readFileSync(path.join(r.json.runDir, '_run.log'), 'utf8')
    for (const host of [h(1), h(2)]) {
      const said = recordedLine(host.address, host.hostKeyLine, file('known_hosts'))
      expect(r.stderr.split('\n').filter((l) => l.includes(said)), host.name).toHaveLength(1)
      expect(runLog, host.name).toContain(said)
    }
    expect(r.stdout).not.toContain('recorded')

    const again = await gw(['deploy', '-i', file('fleet.yaml'), '--json'])
    expect(again.code, again.stdout + again.stderr).toBe(0)
    expect(again.stderr).not.toContain('recorded')
    for (const name of ['k1', 'k2']) expect(byName(again)[name], name).toMatchObject({status: 'unchanged', action: 'none'})
    expect(await installs(h(1))).toHaveLength(1)
  })

  it('refuses a changed host key with both fingerprints, even with --accept-new-host-keys', async () => {
    const oldFp = fingerprintOf(h(2).hostKeyLine)
    const oldBlob = keyBlobOf(h(2).hostKeyLine)
    const newLine = await h(2).regenerateHostKey()
    const newFp = fingerprintOf(newLine)
    expect(newFp).not.toBe(oldFp)
    const knownBefore = read('known_hosts')
    const userBefore = fs.existsSync(userKnownHosts()) ? fs.readFileSync(userKnownHosts(), 'utf8') : null
    await markHost(h(2))

    for (const flags of [[], ['--accept-new-host-keys']]) {
      const r = await gw(['deploy', '-i', file('fleet.yaml'), '--json', ...flags])
      expect(r.code, `${flags}: ${r.stdout}${r.stderr}`).toBe(1)
      const hosts = byName(r)
      expect(hosts.k1, 'k1 is not affected').toMatchObject({status: 'unchanged'})
      expect(hosts.k2.status, `${flags}`).toBe('unreachable')
      expect(hosts.k2.error).toContain(oldFp)
      expect(hosts.k2.error).toContain(newFp)
      expect(hosts.k2.error).toMatch(/changed/i)
    }
    // Never recorded, never logged in.
    expect(read('known_hosts')).toBe(knownBefore)
    expect(fs.existsSync(userKnownHosts()) ? fs.readFileSync(userKnownHosts(), 'utf8') : null).toBe(userBefore)
    expect(read('known_hosts')).toContain(oldBlob)
    expect(await changedSince(h(2))).toEqual([])
    expect(await installs(h(2))).toHaveLength(1)

    const audit = await gw(['audit', '-i', file('fleet.yaml'), '--json'])
    expect(audit.code).toBe(1)
    expect(byName(audit).k2).toMatchObject({status: 'unreachable', valuesInSync: null})
    expect(byName(audit).k2.error).toContain(newFp)
  })

  it('records an accepted key where that gateway looks for it (gateways with their own knownHosts)', async () => {
    // k4 keeps its key in kh-site-a; k5 (port 2222) has its own, still empty, kh-site-b.
    fs.writeFileSync(file('kh-site-a'), h(4).hostKeyLine + '\n')
    fs.writeFileSync(file('kh-site-b'), '')
    const inv = ws.inventory(
      VERSION,
      [
        {host: h(4), name: 'k4', opts: {extra: `    knownHosts: ${file('kh-site-a')}`}},
        {host: h(5), name: 'k5', opts: {extra: `    port: ${ALT_PORT}\n    knownHosts: ${file('kh-site-b')}`}},
      ],
      'sites.yaml',
    )
    const first = await gw(['audit', '-i', inv, '--json', '-l', 'k5', '--accept-new-host-keys'])
    expect(byName(first).k5.status, first.stdout).not.toBe('unreachable')
    // Recorded in a file k5 reads (its own knownHosts or ~/.ssh/known_hosts), not in k4's.
    const entry = `[${h(5).address}]:${ALT_PORT} ssh-ed25519 ${keyBlobOf(h(5).hostKeyLine)}`
    const k5Reads = read('kh-site-b') + (fs.existsSync(userKnownHosts()) ? fs.readFileSync(userKnownHosts(), 'utf8') : '')
    expect(k5Reads, `recorded in kh-site-a (k4's file) instead: ${read('kh-site-a').includes(entry)}`).toContain(entry)
    // Without the flag, the key accepted a moment ago must be known now.
    const second = await gw(['audit', '-i', inv, '--json', '-l', 'k5'])
    expect(byName(second).k5.status, `k5's accepted key was recorded where k5 does not look: ${byName(second).k5.error}`).not.toBe('unreachable')
  })

  it('checks the jump host\'s key too: unknown refused, then accepted and recorded', async () => {
    // k1 (installed, key known) reached through h3 as a bastion, whose key this file does not know.
    fs.writeFileSync(file('kh-jump'), h(1).hostKeyLine + '\n')
    const inv = ws.inventory(VERSION, [{host: h(1), name: 'k1', opts: {jump: `root@${h(3).address}`, extra: `    knownHosts: ${file('kh-jump')}`}}], 'jump.yaml')
    const r = await gw(['deploy', '-i', inv, '--json'])
    expect(r.code, r.stdout + r.stderr).toBe(1)
    expect(byName(r).k1.status).toBe('unreachable')
    expect(byName(r).k1.error).toContain(h(3).address)
    expect(byName(r).k1.error).toContain(fingerprintOf(h(3).hostKeyLine))

    const ok = await gw(['deploy', '-i', inv, '--json', '--accept-new-host-keys'])
    expect(ok.code, ok.stdout + ok.stderr).toBe(0)
    expect(byName(ok).k1).toMatchObject({status: 'unchanged'})
    expect(read('kh-jump')).toContain(`${h(3).address} ssh-ed25519 ${keyBlobOf(h(3).hostKeyLine)}`)
    const again = await gw(['deploy', '-i', inv, '--json'])
    expect(again.code, again.stdout + again.stderr).toBe(0)
  })

  it('refuses a host that now offers only another key type, with and without --accept-new-host-keys', async () => {
    const h4Ed25519 = h(4).hostKeyLine
    fs.writeFileSync(file('kh-type'), `# site A\n${h4Ed25519}\n`)
    const inv = ws.inventory(VERSION, [{host: h(4), name: 'k4', opts: {extra: `    knownHosts: ${file('kh-type')}`}}], 'type.yaml')
    const ecdsaLine = await h(4).regenerateHostKey('ecdsa')
    expect(ecdsaLine.split(' ')[1]).toBe('ecdsa-sha2-nistp256')
    // OpenSSH's own client, even with StrictHostKeyChecking=accept-new, calls this a changed identification.
    fs.copyFileSync(file('kh-type'), file('kh-type-openssh'))
    const openssh = opensshAccepts(file('kh-type-openssh'), h(4), 22, 'accept-new')
    expect(openssh.ok).toBe(false)
    expect(openssh.stderr).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED')
    expect(read('kh-type-openssh')).toBe(read('kh-type'))
    const before = {kh: bytes(file('kh-type')), user: bytes(userKnownHosts()), fleet: bytes(file('known_hosts'))}
    await markHost(h(4))

    // deploy with the flag (the case that must not record) and audit without it: the refusal's words
    // for every command and flag are unit tests of hostKeyRefusal (test/unit/knownhosts.test.ts).
    for (const [command, flags] of [['deploy', ['--accept-new-host-keys']], ['audit', []]] as const) {
      const what = `${command} ${flags.join(' ')}`
      const r = await gw([command, '-i', inv, '--json', ...flags])
      expect(r.code, `${what}: ${r.stdout}${r.stderr}`).toBe(1)
      const k4 = byName(r).k4
      expect(k4.status, what).toBe('unreachable')
      expect(k4.error, what).toMatch(/HOST KEY CHANGED/)
      expect(k4.error, what).toContain(`ssh-ed25519 ${fingerprintOf(h4Ed25519)} (${file('kh-type')}:2)`)
      expect(k4.error, what).toContain(`ecdsa-sha2-nistp256 ${fingerprintOf(ecdsaLine)}`)
      expect(k4.error, what).toMatch(/Refused even with --accept-new-host-keys.*delete the old line$/)
      expect(k4.error.length, what).toBeLessThan(400)
      expect(r.stderr, what).not.toContain('recorded the host key')
    }
    // The table without --json says the same, with both fingerprints.
    const table = await gw(['deploy', '-i', inv, '--accept-new-host-keys'])
    expect(table.code).toBe(1)
    expect(table.stdout).toMatch(/^k4\s+\S+\s+unreachable\b/m)
    expect(table.stdout + table.stderr).toContain(fingerprintOf(h4Ed25519))
    expect(table.stdout + table.stderr).toContain(fingerprintOf(ecdsaLine))

    // Nothing recorded anywhere (byte for byte), nothing done on the host.
    expect(bytes(file('kh-type'))).toEqual(before.kh)
    expect(bytes(userKnownHosts())).toEqual(before.user)
    expect(bytes(file('known_hosts'))).toEqual(before.fleet)
    expect(await changedSince(h(4))).toEqual([])
    expect(await installs(h(4))).toEqual([])

    // The fix the message gives works: delete the old line (here with ssh-keygen -R), then accept the new key.
    const rm = spawnSync('ssh-keygen', ['-R', h(4).address, '-f', file('kh-type')], {encoding: 'utf8'})
    expect(rm.status, rm.stderr).toBe(0)
    const fixed = await gw(['audit', '-i', inv, '--json', '--accept-new-host-keys'])
    expect(byName(fixed).k4.status, fixed.stdout).not.toBe('unreachable')
    expect(fixed.stderr).toContain(recordedLine(h(4).address, ecdsaLine, file('kh-type')))
    expect(read('kh-type')).toContain(`${h(4).address} ecdsa-sha2-nistp256 ${keyBlobOf(ecdsaLine)}`)
    expect(opensshAccepts(file('kh-type'), h(4)).ok).toBe(true)
  })

  it('--accept-new-host-keys prints each key it records (host, type, fingerprint, file) on stderr and logs it', async () => {
    // Two unknown keys in one run: the bastion h3 and the gateway h5 behind it, plain output.
    fs.writeFileSync(file('kh-print'), '')
    const inv = ws.inventory(VERSION, [{host: h(5), name: 'k5', opts: {jump: `root@${h(3).address}`, extra: `    knownHosts: ${file('kh-print')}`}}], 'print.yaml')
    const r = await gw(['audit', '-i', inv, '--accept-new-host-keys', '--save'])
    expect(r.stdout, r.stderr).not.toMatch(/^k5\s+\S+\s+unreachable\b/m)
    const said = [recordedLine(h(3).address, h(3).hostKeyLine, file('kh-print')), recordedLine(h(5).address, h(5).hostKeyLine, file('kh-print'))]
    for (const line of said) {
      expect(r.stderr.split('\n').filter((l) => l.includes(line)), `${line}\n${r.stderr}`).toHaveLength(1)
      expect(r.stdout).not.toContain(line)
    }
    // What it says is what it wrote.
    expect(read('kh-print')).toBe(`${h(3).hostKeyLine}\n${h(5).hostKeyLine}\n`)
    // The run folder's run log has both lines.
    const logs = runLogsMentioning(file('kh-print'))
    expect(logs).toHaveLength(1)
    for (const line of said) expect(fs.readFileSync(logs[0]!, 'utf8')).toContain(line)

    const again = await gw(['audit', '-i', inv])
    expect(again.stdout, again.stderr).not.toMatch(/^k5\s+\S+\s+unreachable\b/m)
    expect(again.stderr).not.toContain('recorded the host key')
  })

  it('prints no secret anywhere', () => {
    expect(findSecrets(runs, [ws.home])).toEqual([])
  })
})
