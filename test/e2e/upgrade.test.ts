// Upgrades one minor at a time, rolling batches, max-fail, interruption, locks and uninstall, on real sshd hosts.
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {agentVersion, endInstallerPause, installs, lab, runLogShows, Workspace, type CliResult, type Lab, type LabHost} from './fleet.js'

let L: Lab
let ws: Workspace
let inv: string
let hosts: LabHost[]

const versions = async () => Promise.all(hosts.map((h) => agentVersion(h)))
const installLog = async () => Promise.all(hosts.map((h) => installs(h)))
/** The versions each host's installer ran, in order. */
const ranVersions = (lines: string[]) => lines.map((l) => /version=(\S+)/.exec(l)?.[1])
const noLocks = async () => {
  for (const h of hosts) expect(await h.exists('/opt/gwfleet/state/lock'), `lock left on ${h.name}`).toBe(false)
}

beforeAll(async () => {
  L = await lab(4, 18, 'upgrade')
  hosts = L.hosts
  ws = new Workspace(L, 'upgrade')
  await ws.releasesOf('1.4.0', '1.5.0', '1.5.1', '1.6.0')
  inv = ws.inventory('1.4.0', hosts.map((host) => ({host})))
  const r = await ws.runHere(['deploy', '-i', inv, '--json'])
  expect(r.code, r.stderr).toBe(0)
  expect(await versions()).toEqual(['1.4.0', '1.4.0', '1.4.0', '1.4.0'])
})

afterAll(async () => {
  await L?.stop()
})

describe('upgrade', () => {
  it('refuses a missing series and changes nothing', async () => {
    const other = new Workspace(L, 'upgrade-gap')
    await other.releasesOf('1.4.0', '1.6.0')
    const gapInv = other.inventory('1.4.0', hosts.map((host) => ({host})))
    const before = await installLog()
    const r = await other.runHere(['upgrade', '-i', gapInv, '--to', '1.6.0', '--json'])
    expect(r.code).toBe(1)
    for (const h of r.json.hosts) {
      expect(h.status).toBe('refused')
      expect(h.error).toMatch(/series 1\.5/)
    }
    expect(await installLog()).toEqual(before)
    expect(await versions()).toEqual(['1.4.0', '1.4.0', '1.4.0', '1.4.0'])
    await noLocks()
  })

  it('dry-run shows hops and batches and changes nothing', async () => {
    const before = await installLog()
    const r = await ws.runHere(['upgrade', '-i', inv, '--to', '1.6.0', '--dry-run'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/h1\s+1\.4\.0\s+1\.6\.0\s+would upgrade\s+1\.5\.1 > 1\.6\.0/)
    expect(r.stdout).toMatch(/Batches:\n\s+1\. h1\n\s+2\. h2, h3, h4/)
    expect(await installLog()).toEqual(before)
  })

  it('goes 1.4.0 -> 1.5.1 -> 1.6.0 on every host, canary first', async () => {
    const before = await installLog()
    const r = await ws.runHere(['upgrade', '-i', inv, '--to', '1.6.0', '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.json.batches).toEqual([['h1'], ['h2', 'h3', 'h4']])
    for (const h of r.json.hosts) {
      expect(h).toMatchObject({status: 'ok', action: 'upgrade', fromVersion: '1.4.0', toVersion: '1.6.0', hops: ['1.5.1', '1.6.0']})
    }
    expect(await versions()).toEqual(['1.6.0', '1.6.0', '1.6.0', '1.6.0'])
    const after = await installLog()
    for (let i = 0; i < hosts.length; i++) {
      expect(ranVersions(after[i].slice(before[i].length))).toEqual(['1.5.1', '1.6.0'])
    }
    // The host keeps a history line per hop.
    const hist = (await hosts[0].readFile('/opt/gwfleet/state/history.jsonl')).trim().split('\n').map((l) => JSON.parse(l))
    expect(hist.slice(-2).map((e: any) => [e.fromVersion, e.toVersion, e.result])).toEqual([
      ['1.4.0', '1.5.1', 'ok'],
      ['1.5.1', '1.6.0', 'ok'],
    ])
    await noLocks()
  })

  it('refuses a downgrade and changes nothing', async () => {
    const before = await installLog()
    const r = await ws.runHere(['upgrade', '-i', inv, '--to', '1.5.1', '--json'])
    expect(r.code).toBe(1)
    expect(r.json.hosts.map((h: any) => h.status)).toEqual(['refused', 'refused', 'refused', 'refused'])
    expect(r.json.hosts[0].error).toMatch(/downgrade from 1\.6\.0 to 1\.5\.1/)
    expect(await installLog()).toEqual(before)
  })

  it('a failing canary stops the rollout and leaves the other hosts untouched', async () => {
    await ws.releasesOf('1.7.0')
    await hosts[0].setFault('fail', '1')
    const before = await installLog()
    const r = await ws.runHere(['upgrade', '-i', inv, '--to', '1.7.0', '--json'])
    await hosts[0].setFault('fail', null)
    expect(r.code).toBe(1)
    expect(r.json.hosts.map((h: any) => h.status)).toEqual(['failed', 'skipped', 'skipped', 'skipped'])
    expect(r.json.hosts[0].error).toMatch(/exited with code 3/)
    expect(r.json.hosts[1].error).toMatch(/rollout stopped/)
    expect(await versions()).toEqual(['1.6.0', '1.6.0', '1.6.0', '1.6.0'])
    const after = await installLog()
    expect(after.slice(1)).toEqual(before.slice(1))
    await noLocks()
  })

  it('--max-fail 1 rolls past one failure', async () => {
    await hosts[0].setFault('fail', '1')
    const r = await ws.runHere(['upgrade', '-i', inv, '--to', '1.7.0', '--batch-size', '1', '--max-fail', '1', '--json'])
    await hosts[0].setFault('fail', null)
    expect(r.code).toBe(1)
    expect(r.json.hosts.map((h: any) => h.status)).toEqual(['failed', 'ok', 'ok', 'ok'])
    expect(await versions()).toEqual(['1.6.0', '1.7.0', '1.7.0', '1.7.0'])
  })

  it('an interrupted rollout writes its results, frees locks, and resumes', async () => {
    await ws.releasesOf('1.8.0')
    // The canary's installer pauses until the run has taken the Ctrl-C (its run log says so), so its
    // next hop cannot have started however slow the machine: then the test ends the pause.
    await hosts[0].setFault('sleep', '600')
    let pid = 0
    // spawned: the run is sent a SIGINT by pid and exits 130
    const run = ws.run(['upgrade', '-i', inv, '--to', '1.8.0', '--batch-size', '1', '--json'], {onSpawn: (p) => (pid = p)})
    // the job's pid file exists while the canary's installer runs (the file is in that host's own /opt).
    for (let i = 0; i < 1200 && !(await hosts[0].exists('/opt/gwfleet/state/job/pid')); i++) await new Promise((r) => setTimeout(r, 100))
    // The Ctrl-C is sent once the canary's installer is running.
    expect(await hosts[0].exists('/opt/gwfleet/state/job/pid')).toBe(true)
    expect(pid).toBeGreaterThan(0)
    process.kill(pid, 'SIGINT')
    await runLogShows(ws, '_run', /Interrupted: no new host or hop will start/)
    await endInstallerPause(hosts[0])
    const r = await run
    await hosts[0].setFault('sleep', null)
    expect(r.code, 'an interrupted run exits 130').toBe(130)
    expect(r.json, r.stdout).not.toBeNull()
    const statuses = r.json.hosts.map((h: any) => h.status)
    expect(statuses.filter((s: string) => s === 'skipped').length).toBeGreaterThanOrEqual(2)
    expect(fs.existsSync(path.join(r.json.runDir, 'result.json'))).toBe(true)
    // The canary's running hop was allowed to finish; its next hop did not start.
    // Stopped part-way by the operator: interrupted, and TO is where it stands.
    expect(r.json.hosts[0]).toMatchObject({status: 'interrupted', reached: ['1.7.0'], toVersion: '1.7.0'})
    expect(r.json.hosts[0].error).toMatch(/interrupted by the operator before the hop to 1\.8\.0.*stays at 1\.7\.0/)
    expect(await agentVersion(hosts[0])).toBe('1.7.0')
    await noLocks()
    // Resume: every host ends at 1.8.0 from whatever it runs now.
    const again = await ws.runHere(['upgrade', '-i', inv, '--to', '1.8.0', '--batch-size', '2', '--json'])
    expect(again.code, again.stdout + again.stderr).toBe(0)
    expect(await versions()).toEqual(['1.8.0', '1.8.0', '1.8.0', '1.8.0'])
    expect(again.json.hosts[0].hops).toEqual(['1.8.0'])
  })

  it('a second run on a locked host is refused, naming the holder', async () => {
    // The first run's installer pauses until the second run has ended (then the test ends the pause).
    await hosts[1].setFault('sleep', '600')
    ws.writeValues('h2', Workspace.valuesText('h2', 'extraKey: changed-for-lock-test'))
    const invB = ws.inventory('1.8.0', hosts.map((host) => ({host})), 'fleet-18.yaml')
    // spawned (both runs): two runs at once, the second meeting the first's lock
    const first = ws.run(['deploy', '-i', invB, '-l', 'h2', '--json'])
    // Wait for the first run's installer to be running on h2, then start the second run.
    let running = false
    for (let t0 = Date.now(); !running && Date.now() - t0 < 60_000; ) {
      running = await hosts[1].exists('/opt/gwfleet/state/job/pid')
      if (!running) await new Promise((r) => setTimeout(r, 100))
    }
    expect(running, 'the first run never started its installer').toBe(true)
    const second = await ws.run(['deploy', '-i', invB, '-l', 'h2', '--json'])
    await hosts[1].setFault('sleep', null)
    await endInstallerPause(hosts[1])
    const firstR = await first
    expect(firstR.json.hosts[0].status).toBe('ok')
    expect(second.code, JSON.stringify(second.json) + second.stderr).toBe(1)
    expect(second.json.hosts[0].status).toBe('failed')
    expect(second.json.hosts[0].error).toMatch(/locked by another run: root@\S+ pid \d+ \(deploy\)/)
    await noLocks()
  })

  it('uninstall refuses without --yes off a terminal, then removes the gateway but keeps the datasets', async () => {
    // spawned: refusing off a terminal depends on the process's own stdin and stderr
    const refused = await ws.run(['uninstall', '-i', inv, '-l', 'h3,h4', '--json'])
    expect(refused.code, refused.stdout + refused.stderr).toBe(2)
    expect(refused.json.error).toMatch(/--yes/)
    expect(await agentVersion(hosts[2])).toBe('1.8.0')

    const r = await ws.runHere(['uninstall', '-i', inv, '-l', 'h3,h4', '--yes', '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.json.hosts.map((h: any) => [h.name, h.status, h.action])).toEqual([
      ['h3', 'ok', 'uninstall'],
      ['h4', 'ok', 'uninstall'],
    ])
    for (const h of [hosts[2], hosts[3]]) {
      expect(await agentVersion(h)).toBeNull()
      expect(await h.exists('/usr/local/bin/k3s-uninstall.sh')).toBe(false)
      expect(await h.exists('/srv/datasets')).toBe(true)
      expect((await h.exec('ls /srv/datasets')).stdout.trim()).not.toBe('')
      expect(await h.exists('/opt/gwfleet/values/' + h.name + '.yaml')).toBe(false)
    }
    // The others are untouched, and the audit tells the story.
    expect(await agentVersion(hosts[0])).toBe('1.8.0')
    const audit = await ws.runHere(['audit', '-i', inv, '--json'])
    expect(audit.json.hosts.map((h: any) => h.status)).toEqual(['drift', 'drift', 'not-installed', 'not-installed'])
    // A second uninstall has nothing to do.
    const again = await ws.runHere(['uninstall', '-i', inv, '-l', 'h3', '--yes', '--json'])
    expect(again.json.hosts[0]).toMatchObject({status: 'unchanged', action: 'none'})
  })
})
