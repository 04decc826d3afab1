// Fault injection on the lab (subnet 16, lab "faults"). Every fault hits some hosts while others
// are healthy. For each: the healthy hosts end ok; the faulty one ends failed or unreachable with a
// one-line error an operator can act on; the run ends in bounded time; nothing is half-written at a
// final path on the host; locks are released; a rerun after the fault is cleared completes.
//
//   npm run build && npx vitest run test/e2e/faults.test.ts
import {spawnSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

// @ts-expect-error plain JS lab module
import {generateEd25519, LAB_ROOT} from '../lab/lab.js'
import {agentVersion, endInstallerPause, installs, lab, runLogShows, Workspace, type CliResult, type Lab, type LabHost, byName, mntNs, procPids, Workspaces} from './fleet.js'


// These cases are about hosts that fail on their own while the others go on: every gateway at once,
// each on its own, not deploy's default canary batch.
const AT_ONCE = ['--batch-size', 'all']
// The runs a fault hits are spawned (the test cuts, kills and interrupts them while they run); the
// setup runs and the reruns after a fault is cleared run in this process (Workspace.runHere).
const LAB_NAME = 'faults'
const SUBNET = 16
const REMOTE = '/opt/gwfleet'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// ------------------------------------------------------------------------------ host inspection


interface Proc {
  pid: number
  comm: string
  args: string
}

/** Processes living in a lab host's mount namespace (all lab hosts share the machine's PID namespace). */
function hostProcs(h: LabHost): Proc[] {
  const ns = mntNs(h.holderPid)
  if (!ns) return []
  const out: Proc[] = []
  for (const e of procPids()) {
    if (mntNs(e) !== ns) continue
    try {
      const args = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ')
      const comm = fs.readFileSync(`/proc/${e}/comm`, 'utf8').trim()
      out.push({pid: Number(e), comm, args})
    } catch {
      // gone
    }
  }
  return out
}

/**
 * The installer (its timeout(1) wrapper, the script, and the `sleep infinity` of the hang fault) running
 * on a host. Matched by its arguments: gwfleet's probe runs `sha256sum ./deploy_gateway ...`, which is not it.
 */
function installerProcs(h: LabHost): Proc[] {
  return hostProcs(h).filter((p) => /deploy_gateway --helm-values-file-path/.test(p.args) || p.args === 'sleep infinity')
}

/** SIGKILL every sshd process of one host: the listener and every session (a cut connection). */
function killSshd(h: LabHost): number {
  const victims = hostProcs(h).filter((p) => /^sshd/.test(p.comm) || /\bsshd\b/.test(p.args.split(' ')[0] ?? ''))
  for (const p of victims) {
    try {
      process.kill(p.pid, 'SIGKILL')
    } catch {
      // gone
    }
  }
  return victims.length
}

/** SIGKILL the sshd session processes of one host, not its listener: the connection is cut, the host stays reachable. */
function cutSessions(h: LabHost): number {
  const victims = hostProcs(h).filter((p) => /^sshd/.test(p.comm) && !/ -D |\[listener\]/.test(p.args))
  for (const p of victims) {
    try {
      process.kill(p.pid, 'SIGKILL')
    } catch {
      // gone
    }
  }
  return victims.length
}

/** sha256 of every file in a release zip, by its path under the release root (flat layout). */
function zipShas(zip: string): Map<string, string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-faults-unzip-'))
  try {
    const r = spawnSync('unzip', ['-q', '-o', zip, '-d', dir], {encoding: 'utf8'})
    if (r.status !== 0) throw new Error(`unzip ${zip}: ${r.stderr}`)
    const out = new Map<string, string>()
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, {withFileTypes: true})) {
        const p = path.join(d, e.name)
        if (e.isDirectory()) walk(p)
        else out.set(path.relative(dir, p), createHash('sha256').update(fs.readFileSync(p)).digest('hex'))
      }
    }
    walk(dir)
    return out
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
}

/**
 * Files at final paths that are not whole: a release file whose bytes differ from the zip's, a
 * values file that is cut short. Staging leftovers are not final paths and are not counted here.
 */
async function halfWritten(h: LabHost, version: string, expected: Map<string, string>, remoteDir = REMOTE): Promise<string[]> {
  const problems: string[] = []
  const rel = `${remoteDir}/releases/${version}`
  const r = await h.exec(`[ -d '${rel}' ] && cd '${rel}' && find . -type f -exec sha256sum {} + ; true`)
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const m = /^([0-9a-f]{64}) {2}\.\/(.*)$/.exec(line)
    if (!m) continue
    const want = expected.get(m[2])
    if (want !== m[1]) problems.push(`${h.name}:${rel}/${m[2]} ${want ? 'differs from the release' : 'is not part of the release'}`)
  }
  const v = await h.exec(`for f in '${remoteDir}'/values/*.yaml; do [ -f "$f" ] || continue; grep -q '^helmRepoPassword:' "$f" || echo "$f"; done`)
  for (const f of v.stdout.split('\n').filter(Boolean)) problems.push(`${h.name}:${f} is cut short`)
  const tmp = await h.exec(`find '${remoteDir}' -path '${remoteDir}/.stage' -prune -o -type f \\( -name '*.tmp' -o -name '*.partial' \\) -print 2>/dev/null; true`)
  for (const f of tmp.stdout.split('\n').filter(Boolean)) problems.push(`${h.name}:${f} temp file left at a final path`)
  return problems
}

/** The lock file's content on a host, or null when there is none. */
async function lockOn(h: LabHost, remoteDir = REMOTE): Promise<string | null> {
  const r = await h.exec(`cat '${remoteDir}/state/lock' 2>/dev/null`)
  return r.code === 0 ? r.stdout.trim() : null
}

/** Hosts of the run's JSON document by gateway name ({} when there is no document: a soft failure). */

function statuses(res: CliResult): Record<string, string> {
  return Object.fromEntries(Object.entries(byName(res)).map(([k, v]) => [k, `${v.status}${v.error ? `: ${v.error}` : ''}`]))
}

/** A one-line error an operator can act on. */
function expectActionable(h: any, re: RegExp, what: string) {
  expect.soft(h?.error, `${what}: error`).toEqual(expect.any(String))
  if (typeof h?.error !== 'string') return
  expect.soft(h.error, `${what}: one line`).not.toMatch(/[\r\n]/)
  expect.soft(h.error.length, `${what}: short`).toBeLessThan(400)
  expect.soft(h.error, `${what}: says what to do`).toMatch(re)
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(everyMs)
  }
}

/** A TCP port that accepts connections and never says a word (no SSH banner). */
async function silentPort(address: string, port = 22): Promise<{connections: () => number; close: () => Promise<void>}> {
  const sockets = new Set<net.Socket>()
  let count = 0
  const server = net.createServer((s) => {
    count++
    sockets.add(s)
    s.on('error', () => undefined)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, address, () => resolve())
  })
  return {
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

// ------------------------------------------------------------------------------ the lab

let L: Lab
const H = (i: number): LabHost => L.hosts[i - 1]!

beforeAll(async () => {
  L = await lab(28, SUBNET, LAB_NAME)
})

afterAll(async () => {
  await L?.stop()
  spaces.cleanup()
})

const spaces = new Workspaces(() => L)
const workspace = (tag: string): Workspace => spaces.make(tag)

describe('faults', () => {
  // ---------------------------------------------------------------------------- one run, ten faults
  it('ten faults in one deploy beside two healthy hosts; the rerun after clearing them completes', async () => {
    const ws = workspace('faults-many')
    // A 256 KiB file so that the tmpfs of 64 KiB fills during the upload.
    const zip = await L.makeRelease(ws.releases, '1.5.0', {extraFiles: {'payload/blob.bin': 'z'.repeat(256 * 1024)}})
    const want = zipShas(zip)
    const wrongKey = path.join(ws.dir, 'wrong_key')
    fs.writeFileSync(wrongKey, generateEd25519('not-authorized').privateKey, {mode: 0o600})

    const names = {
      refused: 'sshd-stopped',
      silent: 'silent-port',
      key: 'wrong-key',
      hostKey: 'changed-host-key',
      fail: 'installer-fails',
      hang: 'installer-hangs',
      ready: 'never-ready',
      version: 'wrong-version',
      disk: 'disk-full',
      sudo: 'sudo-wants-password',
      ok1: 'healthy-1',
      ok2: 'healthy-2',
    }
    const gws = (fixed: boolean) => [
      {host: H(1), name: names.refused},
      {host: H(2), name: names.silent},
      {host: H(3), name: names.key, opts: fixed ? {} : {extra: `    identityFile: ${wrongKey}`}},
      {host: H(4), name: names.hostKey},
      {host: H(5), name: names.fail},
      {host: H(6), name: names.hang},
      {host: H(7), name: names.ready},
      {host: H(8), name: names.version},
      {host: H(9), name: names.disk},
      {host: H(10), name: names.sudo, opts: {user: 'opspw', become: true}},
      {host: H(11), name: names.ok1},
      {host: H(12), name: names.ok2},
    ]
    const inv = ws.inventory('1.5.0', gws(false))

    // Inject.
    await H(1).stopSshd()
    await H(2).stopSshd()
    const silent = await silentPort(H(2).address)
    const oldHostKeyLine = H(4).hostKeyLine
    await H(4).regenerateHostKey()
    await H(5).setFault('fail', '1')
    await H(6).setFault('hang', '1')
    await H(7).setFault('never-ready', '1')
    await H(8).setFault('wrong-version', '1')
    const mnt = await H(9).exec(`mkdir -p ${REMOTE} && mount -t tmpfs -o size=64k,mode=0755 gwfleet-full ${REMOTE}`)
    expect(mnt.code, mnt.stderr).toBe(0)

    let res: CliResult
    const t0 = Date.now()
    try {
      res = await ws.run(['deploy', '-i', inv, ...AT_ONCE, '--json', '--timeout', '20s', '--connect-timeout', '10s'], {timeoutMs: 150_000})
    } finally {
      await silent.close()
    }
    const took = Date.now() - t0
    const hosts = byName(res)
    // Bounded by the faults' own limits (the hang 20s, then stopped on the host; the silent port 10s),
    // not by a clock here: a busy machine is slow. The limits leave the healthy hosts' handshakes
    // and installs room on a loaded machine (at 3s and 5s a healthy host timed out under load).
    // The run's own limit (150s) catches a hang.
    expect.soft(res.code, `the run took ${took}ms`).toBe(1)
    expect.soft(res.json?.ok).toBe(false)

    expect.soft(hosts[names.ok1]?.status, statuses(res)[names.ok1]).toBe('ok')
    expect.soft(hosts[names.ok2]?.status, statuses(res)[names.ok2]).toBe('ok')
    expect.soft(await agentVersion(H(11))).toBe('1.5.0')
    expect.soft(await agentVersion(H(12))).toBe('1.5.0')

    for (const n of [names.refused, names.silent, names.key, names.hostKey]) expect.soft(hosts[n]?.status, statuses(res)[n]).toBe('unreachable')
    for (const n of [names.fail, names.hang, names.ready, names.version, names.disk, names.sudo]) expect.soft(hosts[n]?.status, statuses(res)[n]).toBe('failed')

    expectActionable(hosts[names.refused], /refused.*sshd|sshd.*(not running|refused)/i, 'sshd stopped')
    expectActionable(hosts[names.silent], /handshake.*10s|10s.*handshake/i, 'silent port')
    expectActionable(hosts[names.key], /authentication.*(identityFile|key)/i, 'wrong key')
    expectActionable(hosts[names.hostKey], /host key changed/i, 'changed host key')
    expectActionable(hosts[names.fail], /exited with code 3/, 'installer fails')
    expectActionable(hosts[names.hang], /20s.*stopped on the host/, 'installer hangs')
    expectActionable(hosts[names.ready], /All services are ready/, 'never ready')
    expectActionable(hosts[names.version], /9\.9\.9.*1\.5\.0|1\.5\.0.*9\.9\.9/, 'wrong version')
    expectActionable(hosts[names.disk], /no space|disk (is )?full|ENOSPC|space left/i, 'disk full')
    expectActionable(hosts[names.sudo], /password.*GWFLEET_BECOME_PASSWORD/, 'sudo wants a password')
    // The silent port was tried, but not hammered (a timeout is not retried like a MaxStartups drop).
    expect.soft(silent.connections()).toBeGreaterThanOrEqual(1)
    expect.soft(silent.connections()).toBeLessThanOrEqual(3)
    // No hang at a sudo prompt: the refusal says sudo asked (above), and the run ended.

    // The hung installer was stopped on the host, not only on the workstation (a stopped process may take a moment to leave /proc).
    await waitFor('the hung installer to be stopped on the host', () => installerProcs(H(6)).length === 0, 30_000, 100).catch(() => undefined)
    expect.soft(installerProcs(H(6)).map((p) => `${p.pid} ${p.args}`), 'installer left running on the host').toEqual([])
    // Locks released and nothing half-written wherever gwfleet got in.
    for (const i of [5, 6, 7, 8, 9, 10, 11, 12]) {
      expect.soft(await lockOn(H(i)), `lock left on ${H(i).name}`).toBeNull()
      expect.soft(await halfWritten(H(i), '1.5.0', want)).toEqual([])
    }
    // The partial upload on the full disk never reached a final path.
    expect.soft(await H(9).exists(`${REMOTE}/releases/1.5.0/payload/blob.bin`)).toBe(false)
    // The host was never changed where the gateway was unreachable.
    for (const i of [1, 2, 3, 4]) expect.soft(await H(i).exists(`${REMOTE}/state`), `${H(i).name} touched`).toBe(false)

    // Clear every fault, rerun: everything completes.
    await H(1).startSshd()
    await H(2).startSshd()
    const kh = path.join(ws.dir, 'known_hosts')
    fs.writeFileSync(kh, fs.readFileSync(kh, 'utf8').replace(oldHostKeyLine, H(4).hostKeyLine))
    for (const i of [5, 6, 7, 8]) for (const f of ['fail', 'hang', 'never-ready', 'wrong-version']) await H(i).setFault(f, null)
    // The wrong-version installer left agent 9.9.9 in the cluster; going down to 1.5.0 would be a
    // downgrade, which gwfleet refuses by policy. The operator repairs the cluster first.
    await H(8).exec('rm -f /var/lib/gwlab-k3s/agent-image')
    await H(9).exec(`umount ${REMOTE}`)
    ws.inventory('1.5.0', gws(true))
    const again = await ws.runHere(['deploy', '-i', inv, ...AT_ONCE, '--json', '--timeout', '30s', '--connect-timeout', '5s'], {env: {GWFLEET_BECOME_PASSWORD: L.sudoPassword}})
    const st = statuses(again)
    expect.soft(again.code, JSON.stringify(st, null, 1)).toBe(0)
    for (const n of Object.values(names)) expect.soft(['ok', 'unchanged'], `${n}: ${st[n]}`).toContain(byName(again)[n]?.status)
    for (let i = 1; i <= 12; i++) {
      expect.soft(await agentVersion(H(i)), H(i).name).toBe('1.5.0')
      expect.soft(await lockOn(H(i)), `lock left on ${H(i).name}`).toBeNull()
      expect.soft(await halfWritten(H(i), '1.5.0', want)).toEqual([])
    }
  })

  // ---------------------------------------------------------------------------- connection cut mid-upload
  it('sshd killed in the middle of an upload: the partial file never reaches its final path; the rerun completes', async () => {
    const ws = workspace('faults-upload')
    // 100 MiB that deflate barely shrinks: one letter repeated would be a zip bomb (1000:1), refused before any upload.
    const zip = await L.makeRelease(ws.releases, '1.5.0', {extraFiles: {'payload/huge.bin': randomBytes(75 * 1024 * 1024).toString('base64')}})
    const want = zipShas(zip)
    const victim = H(13)
    const healthy = H(14)
    const inv = ws.inventory('1.5.0', [{host: victim}, {host: healthy}])
    const upper = path.join(LAB_ROOT, L.name, 'hosts', victim.name, 'opt', 'upper', 'gwfleet', '.stage', 'upload')
    const stagedBytes = () => {
      try {
        // uploads land in the login user's folder of the stage, each under a random name
        return fs
          .readdirSync(upper)
          .map((f) => path.join(upper, f))
          .reduce((n, f) => n + fs.statSync(f).size, 0)
      } catch {
        return 0
      }
    }
    let killedAt = -1
    const t0 = Date.now()
    const run = ws.run(['deploy', '-i', inv, ...AT_ONCE, '--json', '--connect-timeout', '5s'], {timeoutMs: 120_000})
    await waitFor('the upload to start on the victim', () => stagedBytes() > 4 * 1024 * 1024, 60_000, 10)
    killedAt = stagedBytes()
    expect(killSshd(victim)).toBeGreaterThan(0)
    const res = await run
    const took = Date.now() - t0
    const hosts = byName(res)
    expect.soft(killedAt).toBeLessThan(100 * 1024 * 1024)
    // No limit on how long it took (a busy machine is slow): the run ending at all, within its own timeout, is the point; `took` is for the message.
    expect.soft(res.code, `took ${took}ms`).toBe(1)
    expect.soft(hosts[healthy.name]?.status, statuses(res)[healthy.name]).toBe('ok')
    expect.soft(['unreachable', 'failed']).toContain(hosts[victim.name]?.status)
    expectActionable(hosts[victim.name], /connection.*(lost|closed|reset)|lost.*connection/i, 'cut mid-upload')
    // Nothing half-written: the huge file is either absent or whole at its final path.
    expect.soft(await halfWritten(victim, '1.5.0', want)).toEqual([])
    expect.soft(await victim.exists(`${REMOTE}/releases/1.5.0/payload/huge.bin`)).toBe(false)
    expect.soft(await lockOn(healthy)).toBeNull()

    // Clear the fault (sshd back), rerun: the victim completes, the healthy host is left alone.
    await sleep(200)
    await victim.startSshd()
    const again = await ws.runHere(['deploy', '-i', inv, ...AT_ONCE, '--json', '--connect-timeout', '5s'])
    expect.soft(again.code, JSON.stringify(statuses(again), null, 1)).toBe(0)
    expect.soft(byName(again)[victim.name]?.status, statuses(again)[victim.name]).toBe('ok')
    expect.soft(byName(again)[healthy.name]?.status).toBe('unchanged')
    expect.soft(await agentVersion(victim)).toBe('1.5.0')
    expect.soft(await halfWritten(victim, '1.5.0', want)).toEqual([])
    for (const h of [victim, healthy]) expect.soft(await lockOn(h), `lock left on ${h.name}`).toBeNull()
    // The rerun left no staging debris either.
    const stage = await victim.exec(`ls -A ${REMOTE}/.stage 2>/dev/null`)
    expect.soft(stage.stdout.trim(), 'staging leftovers on the victim').toBe('')
  })

  // ---------------------------------------------------------------------------- connection cut mid-installer
  it('sshd killed while the installer runs: the host ends unreachable when --reconnect-window is over, the install goes on; the rerun records it without running it again', async () => {
    const ws = workspace('faults-installer')
    const zip = await L.makeRelease(ws.releases, '1.5.0')
    const want = zipShas(zip)
    const victim = H(15)
    const healthy = H(16)
    const inv = ws.inventory('1.5.0', [{host: victim}, {host: healthy}])
    // The victim's installer pauses until the test ends the pause (after the run gave it up), so the
    // cut always comes while it runs, however slow the machine.
    await victim.setFault('sleep', '300')
    await healthy.setFault('sleep', '2')
    const t0 = Date.now()
    const run = ws.run(['deploy', '-i', inv, ...AT_ONCE, '--json', '--connect-timeout', '5s', '--reconnect-window', '3s'], {timeoutMs: 120_000})
    await waitFor('the installer to run on the victim', () => installerProcs(victim).length > 0, 30_000, 20)
    // The run has seen it start (its log shows the installer's first line).
    await runLogShows(ws, victim.name, /\| \[gwlab stand-in\]/)
    expect(killSshd(victim)).toBeGreaterThan(0)
    // A session sshd was forking at that moment may have escaped: kill until none is left, so the
    // paused installer's connection is surely cut.
    await waitFor('no sshd process left on the victim', () => killSshd(victim) === 0, 30_000, 100)
    const res = await run
    const took = Date.now() - t0
    const hosts = byName(res)
    expect.soft(res.code, `took ${took}ms`).toBe(1)
    expect.soft(hosts[healthy.name]?.status, statuses(res)[healthy.name]).toBe('ok')
    expect.soft(hosts[victim.name]?.status).toBe('unreachable')
    expect.soft(hosts[victim.name]?.error).toMatch(/not reached again within 3s \(--reconnect-window\): the install goes on on the host; `gwfleet deploy` \(or `status`\) picks it up/)
    expect.soft(await lockOn(healthy)).toBeNull()

    // The installer is not a child of the connection: it still runs; once its pause ends it runs to its end; no half-written file at a final path.
    expect.soft(installerProcs(victim).length, 'the installer goes on after the run gave the host up').toBeGreaterThan(0)
    await endInstallerPause(victim)
    await waitFor('the installer to end', () => installerProcs(victim).length === 0, 60_000, 100).catch(() => undefined)
    expect.soft(installerProcs(victim).map((p) => p.args)).toEqual([])
    expect.soft(await halfWritten(victim, '1.5.0', want)).toEqual([])
    expect.soft(await installs(victim)).toHaveLength(1)

    await victim.setFault('sleep', null)
    await healthy.setFault('sleep', null)
    await victim.startSshd()
    const again = await ws.runHere(['deploy', '-i', inv, ...AT_ONCE, '--json', '--connect-timeout', '5s'])
    expect.soft(again.code, JSON.stringify(statuses(again), null, 1)).toBe(0)
    // The install that went on is picked up and recorded: it is not run a second time.
    expect.soft(byName(again)[victim.name]?.status).toBe('ok')
    expect.soft(byName(again)[healthy.name]?.status).toBe('unchanged')
    expect.soft(await agentVersion(victim)).toBe('1.5.0')
    expect.soft(await installs(victim)).toHaveLength(1)
    for (const h of [victim, healthy]) expect.soft(await lockOn(h), `lock left on ${h.name}`).toBeNull()
    // A later deploy sees the victim in sync (the record was written by the rerun).
    const third = await ws.runHere(['deploy', '-i', inv, ...AT_ONCE, '--json'])
    expect.soft(statuses(third)).toEqual({[victim.name]: 'unchanged', [healthy.name]: 'unchanged'})
  })

  // ---------------------------------------------------------------------------- connection cut, host still up
  it('the connection cut while the installer runs (sshd itself stays up): gwfleet reconnects, reads the log on, and the host ends ok with one installer run', async () => {
    const ws = workspace('faults-cut')
    const zip = await L.makeRelease(ws.releases, '1.5.0')
    const want = zipShas(zip)
    const victim = H(25)
    const healthy = H(26)
    const inv = ws.inventory('1.5.0', [{host: victim}, {host: healthy}])
    // The installer pauses until the run has reconnected (then the test ends the pause): the cut
    // always comes while it runs, however slow the machine.
    await victim.setFault('sleep', '300')
    const run = ws.run(['deploy', '-i', inv, ...AT_ONCE, '--json', '--connect-timeout', '5s'], {timeoutMs: 120_000})
    await waitFor('the installer to run on the victim', () => installerProcs(victim).length > 0, 30_000, 20)
    await runLogShows(ws, victim.name, /\| \[gwlab stand-in\]/)
    expect(cutSessions(victim)).toBeGreaterThan(0)
    await runLogShows(ws, victim.name, /reconnected after \d+s/)
    await endInstallerPause(victim)
    const res = await run
    const hosts = byName(res)
    expect.soft(res.code, JSON.stringify(statuses(res))).toBe(0)
    expect.soft(hosts[healthy.name]?.status, statuses(res)[healthy.name]).toBe('ok')
    expect.soft(hosts[victim.name]?.status, hosts[victim.name]?.error).toBe('ok')
    expect.soft(fs.readFileSync(path.join(res.json.runDir, `${victim.name}.log`), 'utf8')).toMatch(/reconnected after \d+s/)
    expect.soft(await installs(victim)).toHaveLength(1)
    for (const h of [victim, healthy]) expect.soft(await lockOn(h), `lock left on ${h.name}`).toBeNull()
    expect.soft(await halfWritten(victim, '1.5.0', want)).toEqual([])
    await victim.setFault('sleep', null)
    const again = await ws.runHere(['deploy', '-i', inv, ...AT_ONCE, '--json'])
    expect.soft(again.code, JSON.stringify(statuses(again), null, 1)).toBe(0)
    expect.soft(statuses(again)).toEqual({[victim.name]: 'unchanged', [healthy.name]: 'unchanged'})
  })

  // ---------------------------------------------------------------------------- burst against MaxStartups
  it('a burst: 100 gateways at once on one sshd (default MaxStartups 10:30:100) all end ok', async () => {
    const ws = workspace('faults-burst')
    await ws.releasesOf('1.5.0')
    const host = H(17)
    const neighbour = H(18)
    const gws = Array.from({length: 100}, (_, i) => {
      const name = `burst-${String(i + 1).padStart(3, '0')}`
      return {host, name, opts: {extra: `    remoteDir: ${REMOTE}/burst/${name}`}}
    })
    const inv = ws.inventory('1.5.0', [...gws, {host: neighbour, name: 'burst-neighbour'}])
    const t0 = Date.now()
    const res = await ws.run(['deploy', '-i', inv, ...AT_ONCE, '--json'], {timeoutMs: 170_000})
    const took = Date.now() - t0
    const st = statuses(res)
    const bad = Object.entries(st).filter(([, s]) => s !== 'ok')
    expect.soft(bad, `took ${took}ms`).toEqual([])
    expect.soft(res.code).toBe(0)
    expect.soft(Object.keys(st).length).toBe(101)
    expect.soft((await installs(host)).length).toBe(100)
    // Every gateway's own directory got its values and its lock back.
    const left = await host.exec(`ls ${REMOTE}/burst/*/state/lock 2>/dev/null | wc -l; ls ${REMOTE}/burst/*/values/*.yaml | wc -l`)
    expect.soft(left.stdout.split('\n').filter(Boolean)).toEqual(['0', '100'])
    // And a second burst (the audit) reads them all back.
    const audit = await ws.run(['audit', '-i', inv, '--json'], {timeoutMs: 170_000})
    const notInSync = (audit.json?.hosts ?? []).filter((h: any) => h.status !== 'in-sync').map((h: any) => `${h.name}: ${h.status} ${h.error}`)
    expect.soft(notInSync).toEqual([])
    expect.soft(audit.code).toBe(0)
  })

  it('a burst against a stricter MaxStartups (3:50:6): dropped handshakes are retried with backoff, none lost', async () => {
    const ws = workspace('faults-burst-strict')
    await ws.releasesOf('1.5.0')
    const host = H(27)
    const cfg = await host.readFile('/etc/ssh/sshd_config')
    await host.writeFile('/etc/ssh/sshd_config', `${cfg.replace('LogLevel ERROR', 'LogLevel INFO')}MaxStartups 3:50:6\n`, 0o644)
    await host.stopSshd()
    await host.startSshd()
    const gws = Array.from({length: 40}, (_, i) => {
      const name = `strict-${String(i + 1).padStart(2, '0')}`
      return {host, name, opts: {extra: `    remoteDir: ${REMOTE}/strict/${name}`}}
    })
    const inv = ws.inventory('1.5.0', gws)
    const audit = await ws.run(['audit', '-i', inv, '--json'], {timeoutMs: 170_000})
    const lost = (audit.json?.hosts ?? []).filter((h: any) => h.status === 'unreachable').map((h: any) => `${h.name}: ${h.error}`)
    expect.soft(audit.json?.hosts?.length).toBe(40)
    expect.soft(lost).toEqual([])
    // sshd did drop handshakes (so the retries were exercised), and every gateway was read anyway.
    const log = await host.exec('cat /var/log/gwlab-sshd.log')
    const drops = log.stdout.split('\n').filter((l) => /MaxStartups|drop connection/i.test(l)).length
    expect.soft(drops, 'handshakes sshd dropped').toBeGreaterThan(0)
  })

  // ---------------------------------------------------------------------------- Ctrl-C in a rolling upgrade
  it('Ctrl-C in the middle of a rolling upgrade: results written, locks freed, the rerun resumes', async () => {
    const ws = workspace('faults-sigint')
    await ws.releasesOf('1.4.0', '1.5.0', '1.6.0')
    const hs = [H(19), H(20), H(21)]
    const inv = ws.inventory('1.4.0', hs.map((host) => ({host})))
    const first = await ws.runHere(['deploy', '-i', inv, ...AT_ONCE, '--json'])
    expect(first.code, JSON.stringify(statuses(first))).toBe(0)

    // One Ctrl-C: the running installer may finish, no new host starts. The canary's installer
    // pauses until the run has taken the Ctrl-C (its run log says so), so no later batch can have started.
    await hs[0]!.setFault('sleep', '300')
    let pid = 0
    const run = ws.run(['upgrade', '-i', inv, '--to', '1.5.0', '--batch-size', '1', '--json'], {onSpawn: (p) => (pid = p), timeoutMs: 120_000})
    // The job's pid file (which endInstallerPause reads) is written as its installer starts: wait for both.
    await waitFor('the canary installer to run', async () => installerProcs(hs[0]!).length > 0 && (await hs[0]!.exists('/opt/gwfleet/state/job/pid')), 30_000, 20)
    process.kill(pid, 'SIGINT')
    await runLogShows(ws, '_run', /Interrupted: no new host or hop will start/)
    await endInstallerPause(hs[0]!)
    const res = await run
    const hosts = byName(res)
    expect.soft(res.code, 'an interrupted run exits 130').toBe(130)
    expect.soft(res.json?.command).toBe('upgrade')
    const list = Object.values(hosts)
    expect.soft(list.filter((h) => h.status === 'ok').map((h) => h.name), JSON.stringify(statuses(res), null, 1)).toEqual([hs[0]!.name])
    for (const h of list.filter((x) => x.name !== hs[0]!.name)) {
      expect.soft(h.status, `${h.name}: ${h.error}`).toBe('skipped')
      expectActionable(h, /interrupted by the operator/, `${h.name} skipped`)
    }
    // The results are in the run folder too.
    const saved = JSON.parse(fs.readFileSync(path.join(res.json.runDir, 'result.json'), 'utf8'))
    expect.soft(saved.hosts.map((h: any) => [h.name, h.status])).toEqual(res.json.hosts.map((h: any) => [h.name, h.status]))
    for (const h of hs) expect.soft(await lockOn(h), `lock left on ${h.name}`).toBeNull()
    expect.soft(await agentVersion(hs[0]!)).toBe('1.5.0')
    expect.soft(await agentVersion(hs[1]!)).toBe('1.4.0')

    // The rerun resumes: the upgraded host is left alone, the rest are upgraded.
    await hs[0]!.setFault('sleep', null)
    const again = await ws.runHere(['upgrade', '-i', inv, '--to', '1.5.0', '--batch-size', '1', '--json'])
    expect.soft(statuses(again)).toEqual({[hs[0]!.name]: 'unchanged', [hs[1]!.name]: 'ok', [hs[2]!.name]: 'ok'})
    expect.soft(again.code).toBe(0)
    for (const h of hs) expect.soft(await agentVersion(h)).toBe('1.5.0')

    // Two Ctrl-C: the running installer is stopped on the host, at once.
    await hs[0]!.setFault('sleep', '300')
    const installsBefore = (await installs(hs[0]!)).length
    let pid2 = 0
    const run2 = ws.run(['upgrade', '-i', inv, '--to', '1.6.0', '--batch-size', '1', '--json'], {onSpawn: (p) => (pid2 = p), timeoutMs: 120_000})
    await waitFor('the canary installer to run', () => installerProcs(hs[0]!).length > 0, 30_000, 20)
    process.kill(pid2, 'SIGINT')
    await sleep(300)
    process.kill(pid2, 'SIGINT')
    const res2 = await run2
    // The run did not wait for the paused installer: the stand-in notes an install only after its
    // pause, and none was noted; the installer is stopped on the host (it may take a moment to leave /proc).
    expect.soft(await installs(hs[0]!), 'the paused installer never finished').toHaveLength(installsBefore)
    expect.soft(await agentVersion(hs[0]!)).toBe('1.5.0')
    await waitFor('the second Ctrl-C to have stopped the installer on the host', () => installerProcs(hs[0]!).length === 0, 30_000, 50).catch(() => undefined)
    const h2 = byName(res2)
    expect.soft(res2.code, 'an interrupted run exits 130').toBe(130)
    expect.soft(['failed', 'skipped']).toContain(h2[hs[0]!.name]?.status)
    expectActionable(h2[hs[0]!.name], /stopped by the operator|interrupted by the operator/, 'installer stopped by Ctrl-C')
    // The rest were skipped because the operator stopped the run, and they say so (the canary's
    // failure is the operator's doing, not a reason to blame --max-fail).
    for (const h of hs.slice(1)) {
      expect.soft(h2[h.name]?.status).toBe('skipped')
      expectActionable(h2[h.name], /interrupted by the operator/, `${h.name} skipped after two Ctrl-C`)
    }
    expect.soft(installerProcs(hs[0]!).map((p) => p.args), 'installer left running after two Ctrl-C').toEqual([])
    for (const h of hs) expect.soft(await lockOn(h), `lock left on ${h.name}`).toBeNull()
    await hs[0]!.setFault('sleep', null)
    const again2 = await ws.runHere(['upgrade', '-i', inv, '--to', '1.6.0', '--batch-size', '1', '--json'])
    expect.soft(again2.code, JSON.stringify(statuses(again2))).toBe(0)
    for (const h of hs) expect.soft(await agentVersion(h)).toBe('1.6.0')
  })

  // ---------------------------------------------------------------------------- two operators at once
  it('two runs at once on overlapping hosts: the second is refused on the overlap, naming the holder', async () => {
    const ws = workspace('faults-two')
    await ws.releasesOf('1.5.0')
    const [a, both, b] = [H(22), H(23), H(24)]
    const inv = ws.inventory('1.5.0', [{host: a}, {host: both}, {host: b}])
    // Run A's installers pause until run B is over (the test then ends the pause): B always finds the shared host held.
    await a.setFault('sleep', '300')
    await both.setFault('sleep', '300')
    let pidA = 0
    const runA = ws.run(['deploy', '-i', inv, ...AT_ONCE, '-l', `${a.name},${both.name}`, '--json'], {onSpawn: (p) => (pidA = p), timeoutMs: 120_000})
    await waitFor('run A to hold the lock on the shared host', async () => (await lockOn(both)) !== null, 30_000, 50)
    const resB = await ws.run(['deploy', '-i', inv, ...AT_ONCE, '-l', `${both.name},${b.name}`, '--json'], {timeoutMs: 120_000})
    // Their jobs' pid files (which endInstallerPause reads) are written as the installers start: wait for those.
    await waitFor("run A's installers to run", async () => (await a.exists('/opt/gwfleet/state/job/pid')) && (await both.exists('/opt/gwfleet/state/job/pid')), 60_000, 50)
    await Promise.all([endInstallerPause(a), endInstallerPause(both)])
    const resA = await runA
    const hb = byName(resB)
    expect.soft(statuses(resA)).toEqual({[a.name]: 'ok', [both.name]: 'ok'})
    expect.soft(hb[b.name]?.status, statuses(resB)[b.name]).toBe('ok')
    expect.soft(hb[both.name]?.status, statuses(resB)[both.name]).toBe('failed')
    expectActionable(hb[both.name], new RegExp(`locked by another run.*pid ${pidA}\\b.*deploy`), 'lock held')
    expect.soft(resB.code).toBe(1)
    for (const h of [a, both, b]) expect.soft(await lockOn(h), `lock left on ${h.name}`).toBeNull()
    // Run A's installs were not disturbed by B: exactly one install on the shared host.
    expect.soft((await installs(both)).length).toBe(1)
    await a.setFault('sleep', null)
    await both.setFault('sleep', null)
    const again = await ws.runHere(['deploy', '-i', inv, ...AT_ONCE, '-l', `${both.name},${b.name}`, '--json'])
    expect.soft(statuses(again)).toEqual({[both.name]: 'unchanged', [b.name]: 'unchanged'})
    expect.soft(again.code).toBe(0)
  })
})
