// End to end: the host lock on real OpenSSH lab hosts (subnet 25, lab "locks").
//   h1: a lock stamped an hour in the future (the host's clock went back): listed honestly, holds
//       off a deploy, and its clock restarts so it can expire.
//   h2, h3: an upgrade with two hops and a slow installer; mid-install another operator clears
//       h2's lock and a third run's lock replaces h3's: the heartbeat reports each lock lost,
//       no further hop starts, the hosts end interrupted at the hop recorded ok, and the other run's lock is left alone. The
//       run's heartbeat is shortened (GWFLEET_LOCK_HEARTBEAT_MS) and each installer's pause is
//       ended once the run's host log says the lock was lost, so nothing waits on a clock.
//
//   npm run build && GWFLEET_LAB_OFFSET=<n> npx vitest run test/e2e/locks.test.ts
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {agentVersion, endInstallerPause, installs, lab as startLab, type Lab, type LabHost, Workspace} from './fleet.js'

const LOCK = '/opt/gwfleet/state/lock'
const other = {owner: 'ana@ws-7', pid: 4242, command: 'upgrade', started: '2024-05-01T10:00:00.000Z', token: 'tok-e2e-other'}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

let lab: Lab
let ws: Workspace
let fleet: string
const h = (i: number): LabHost => lab.hosts[i - 1]

/** Seconds between the lock's mtime and the host's clock (negative: stamped in the future). */
async function lockAge(host: LabHost): Promise<number> {
  const r = await host.exec(`echo $(( $(date +%s) - $(stat -c %Y ${LOCK}) ))`)
  expect(r.code, r.stderr).toBe(0)
  return Number(r.stdout.trim())
}

/** How many run folders of the workspace have a host log for `name` that says `text`. */
function hostLogsSaying(name: string, text: string): number {
  const runs = path.join(ws.home, '.gwfleet', 'runs')
  if (!fs.existsSync(runs)) return 0
  return fs.readdirSync(runs).filter((id) => {
    try {
      return fs.readFileSync(path.join(runs, id, `${name}.log`), 'utf8').includes(text)
    } catch {
      return false
    }
  }).length
}

/** Whether a run folder of the workspace has a host log for `name` that says `text`. */
function hostLogSays(name: string, text: string): boolean {
  return hostLogsSaying(name, text) > 0
}

beforeAll(async () => {
  lab = await startLab(3, 25, 'locks')
  ws = new Workspace(lab, 'locks')
  await ws.releasesOf('1.4.0', '1.5.0', '1.6.0')
  fleet = ws.inventory('1.4.0', [{host: h(1)}, {host: h(2)}, {host: h(3)}])
  const d = await ws.runHere(['deploy', '-i', fleet, '-l', 'h2,h3', '--json'])
  expect(d.code, d.stdout + d.stderr).toBe(0)
}, 240_000)

afterAll(async () => {
  await lab?.stop()
})

describe('a lock stamped in the future', () => {
  it('is listed as stamped in the future, held, not expired', async () => {
    await h(1).exec(`mkdir -p /opt/gwfleet/state && printf '%s\\n' '${JSON.stringify(other)}' > ${LOCK} && touch -d '+1 hour' ${LOCK}`)
    const r = await ws.runHere(['locks', 'list', '-i', fleet, '-l', 'h1', '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.json.hosts[0]).toMatchObject({name: 'h1', locked: true, lock: {owner: 'ana@ws-7', pid: 4242, expired: false}})
    expect(r.json.hosts[0].lock.ageSeconds).toBeLessThanOrEqual(-3590)
    const t = await ws.runHere(['locks', 'list', '-i', fleet, '-l', 'h1'])
    expect(t.stdout).toMatch(new RegExp(`^h1\\s+${re(h(1).address)}\\s+held\\s+stamped 3[56]\\d\\ds in the future\\s+ana@ws-7 pid 4242 \\(upgrade\\)`, 'm'))
    // listing is read-only: the stamp is still in the future
    expect(await lockAge(h(1))).toBeLessThanOrEqual(-3000)
  })

  it('holds off a deploy, which says so and restarts its clock (so it expires unless refreshed)', async () => {
    const r = await ws.runHere(['deploy', '-i', fleet, '-l', 'h1', '--json'])
    expect(r.code).toBe(1)
    expect(r.json.hosts[0].status).toBe('failed')
    expect(r.json.hosts[0].error).toMatch(/^locked by another run: ana@ws-7 pid 4242 \(upgrade\) since 2024-05-01T10:00:00\.000Z; stamped 3[56]\d\ds in the future \(the host's clock went back\)/)
    const age = await lockAge(h(1))
    expect(age).toBeGreaterThanOrEqual(0)
    expect(age).toBeLessThan(120)
    expect(JSON.parse(await h(1).readFile(LOCK))).toEqual(other)
    // the same lock once its 120s have passed without a refresh: the next deploy takes it over
    await h(1).exec(`touch -d '-121 seconds' ${LOCK}`)
    // spawned: this file's deploy by the real binary; and right after a deploy here that was refused within a
    // second, an in-process one can get the same run folder name (same second, same pid: EEXIST)
    const again = await ws.run(['deploy', '-i', fleet, '-l', 'h1', '--json'], {timeoutMs: 150_000})
    expect(again.code, again.stdout + again.stderr).toBe(0)
    expect(again.json.hosts[0].notes.join('\n')).toMatch(/took over the lock of a run that is gone \(ana@ws-7 pid 4242/)
    expect(await h(1).exists(LOCK)).toBe(false)
  }, 300_000)
})

describe('a lock cleared mid-rollout', () => {
  it('the heartbeat reports it lost: no further hop starts, the host is interrupted at its last hop, the other run keeps its lock', async () => {
    // A pause far longer than a heartbeat; the test ends it once the loss is seen (below).
    for (const i of [2, 3]) await h(i).setFault('sleep', '120')
    const before = await Promise.all([installs(h(2)), installs(h(3))])
    // spawned: it holds the locks while another run clears one (and GWFLEET_LOCK_HEARTBEAT_MS is read once per process)
    const run = ws.run(['upgrade', '-i', fleet, '-l', 'h2,h3', '--to', '1.6.0', '--batch-size', '100%'], {
      env: {GWFLEET_PLAIN: '1', GWFLEET_LOCK_HEARTBEAT_MS: '500'},
      timeoutMs: 240_000,
    })
    // wait until both installers of the first hop run
    for (let i = 0; i < 600; i++) {
      const running = await Promise.all([h(2).exists('/opt/gwfleet/state/job/pid'), h(3).exists('/opt/gwfleet/state/job/pid')])
      if (running.every(Boolean)) break
      await sleep(100)
    }
    // on h3 a third run's lock replaces the run's own in one step (a clear and a later write would
    // let a short heartbeat see the gap first); on h2 another operator clears it from a second process
    // (here: the clear runs in this process, the upgrade in its own)
    await h(3).exec(`printf '%s\\n' '${JSON.stringify(other)}' > ${LOCK}.e2e && mv -f ${LOCK}.e2e ${LOCK}`)
    const clear = await ws.runHere(['locks', 'clear', '-i', fleet, '-l', 'h2', '--yes', '--json'])
    expect(clear.code, clear.stderr).toBe(0)
    expect(clear.json.hosts.map((x: any) => [x.name, x.cleared])).toEqual([['h2', true]])
    // the installers are still paused: the heartbeat, not the hop's end, must notice the loss
    for (const [name, why] of [['h2', 'lock lost: removed'], ['h3', 'lock lost: now held by ana@ws-7']]) {
      for (let i = 0; i < 1200 && !hostLogSays(name, why); i++) await sleep(100)
      expect(hostLogSays(name, why), `${name}'s run log says "${why}" while its installer runs`).toBe(true)
    }
    await Promise.all([endInstallerPause(h(2)), endInstallerPause(h(3))])
    const r = await run
    for (const i of [2, 3]) await h(i).setFault('sleep', null)
    expect(r.code, r.stdout + r.stderr).toBe(1)
    const out = r.stdout + r.stderr
    expect(out).toMatch(/h2: lock lost: removed \(the lock file is gone: cleared by an operator or removed by hand\); no further hop starts/)
    expect(out).toMatch(/h3: lock lost: now held by ana@ws-7 pid 4242 \(upgrade\) since 2024-05-01T10:00:00\.000Z; no further hop starts/)
    // The first hop stands and is recorded ok: the run says interrupted there, not failed.
    expect(r.stdout).toMatch(/^h2\s.*interrupted.*lock lost: removed/m)
    expect(r.stdout).toMatch(/^h3\s.*interrupted.*lock lost: now held by ana@ws-7/m)
    // the hop that was running finished; the second one never started
    const after = await Promise.all([installs(h(2)), installs(h(3))])
    for (const [i, lines] of after.entries()) {
      const ran = lines.slice(before[i].length).map((l) => /version=(\S+)/.exec(l)?.[1])
      expect(ran).toEqual(['1.5.0'])
    }
    expect(await agentVersion(h(2))).toBe('1.5.0')
    expect(await agentVersion(h(3))).toBe('1.5.0')
    // the run's release took nothing that was not its own: h2 free, h3 still the other run's
    expect(await h(2).exists(LOCK)).toBe(false)
    expect(JSON.parse(await h(3).readFile(LOCK))).toEqual(other)
    // one clear over both hosts: each is listed, h2 had nothing to clear, h3's lock goes
    const clearBoth = await ws.runHere(['locks', 'clear', '-i', fleet, '-l', 'h2,h3', '--yes', '--json'])
    expect(clearBoth.code, clearBoth.stderr).toBe(0)
    expect(clearBoth.json.hosts.map((x: any) => [x.name, x.cleared])).toEqual([
      ['h2', false],
      ['h3', true],
    ])
    expect(await h(3).exists(LOCK)).toBe(false)
  }, 300_000)

  it('one truth: a lock cleared while the last hop runs leaves the change recorded ok, and the run reports ok with a note', async () => {
    // h2 stands at 1.5.0 (above): one hop to 1.6.0.
    await h(2).setFault('sleep', '120')
    const seen = hostLogsSaying('h2', 'lock lost: removed')
    // spawned: it holds the lock while another run clears it (and GWFLEET_LOCK_HEARTBEAT_MS is read once per process)
    const run = ws.run(['upgrade', '-i', fleet, '-l', 'h2', '--to', '1.6.0', '--json'], {env: {GWFLEET_LOCK_HEARTBEAT_MS: '500'}, timeoutMs: 240_000})
    for (let i = 0; i < 600 && !(await h(2).exists('/opt/gwfleet/state/job/pid')); i++) await sleep(100)
    const clear = await ws.runHere(['locks', 'clear', '-i', fleet, '-l', 'h2', '--yes', '--json'])
    expect(clear.json.hosts.map((x: any) => [x.name, x.cleared])).toEqual([['h2', true]])
    // This run's heartbeat, not the hop's end, notices the loss.
    for (let i = 0; i < 1200 && hostLogsSaying('h2', 'lock lost: removed') === seen; i++) await sleep(100)
    expect(hostLogsSaying('h2', 'lock lost: removed')).toBe(seen + 1)
    await endInstallerPause(h(2))
    const r = await run
    await h(2).setFault('sleep', null)
    expect(await agentVersion(h(2))).toBe('1.6.0')
    const history = await ws.runHere(['history', '-i', fleet, '-l', 'h2', '--json'])
    const hop = history.json.entries.filter((e: any) => e.gateway === 'h2' && e.toVersion === '1.6.0')
    expect(hop.map((e: any) => e.result)).toEqual(['ok'])
    // What the run reports is what the history says.
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.json.hosts[0]).toMatchObject({name: 'h2', status: 'ok', toVersion: '1.6.0', reached: ['1.6.0']})
    expect(r.json.hosts[0].notes.join('\n')).toMatch(/the lock was lost during the change \(removed .*\); the change had started, finished and is recorded in the history/)
  }, 300_000)
})
