// Installs that survive the network and the workstation (lab subnet 41). The stand-in installer
// talks like the real one (a line a second for tens of seconds) and each gateway is reached through
// a TCP proxy of this test's own that can drop every connection for a while. Checked on the hosts:
// how often each installer started, what the host log holds, the lock, the history.
// The runs a drop or a kill hits are spawned; the reruns, audits and status after it run in this
// process (Workspace.runHere).
//
//   npm run build && npx vitest run test/e2e/survive.test.ts
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

// @ts-expect-error plain JS lab module
import {DropProxy} from '../lab/drop-proxy.js'
import {agentVersion, endInstallerPause, installs, lab, runLogShows, Workspace, type Lab, type LabHost} from './fleet.js'


// Several installs run at the same time here, through the same cuts: every gateway at once, not
// deploy's default canary batch.
const AT_ONCE = ['--batch-size', 'all']
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let L: Lab
let ws: Workspace
const proxies = new Map<string, any>()
const COUNT = 8
const h = (i: number) => L.hosts[i - 1]

beforeAll(async () => {
  L = await lab(COUNT, 41, 'survive')
  ws = new Workspace(L, 'survive')
  await ws.releasesOf('1.5.0', '1.6.0')
  const known: string[] = []
  for (const host of L.hosts) {
    const p = new DropProxy(host)
    await p.listen()
    proxies.set(host.name, p)
    known.push(`[127.0.0.1]:${p.port} ${host.hostKeyLine.split(' ').slice(1).join(' ')}`)
  }
  fs.writeFileSync(path.join(ws.dir, 'known_hosts'), `${known.join('\n')}\n`)
})

afterAll(async () => {
  for (const p of proxies.values()) p.close()
  await L?.stop()
})

/** An inventory of these lab hosts (by number), each reached through its proxy. */
function inventory(file: string, version: string, hosts: number[]): string {
  const lines = ['release:', '  dir: releases', `  version: ${version}`, 'defaults:', '  user: root', `  identityFile: ${L.clientKey}`, '  knownHosts: known_hosts', 'gateways:']
  for (const i of hosts) {
    const host = h(i)
    if (!fs.existsSync(path.join(ws.dir, 'values', `${host.name}.yaml`))) ws.writeValues(host.name)
    lines.push(`  ${host.name}:`, '    host: 127.0.0.1', `    port: ${proxies.get(host.name)!.port}`, `    values: values/${host.name}.yaml`)
  }
  const p = path.join(ws.dir, file)
  fs.writeFileSync(p, `${lines.join('\n')}\n`)
  return p
}

/** How many times the stand-in installer started on a host. */
async function starts(host: LabHost): Promise<number> {
  return (await host.exec('cat /var/lib/gwlab-k3s/starts.log 2>/dev/null')).stdout.split('\n').filter(Boolean).length
}

/** Wait until a job runs on each of these hosts (its wrapper noted its pids). */
async function jobsRunning(hosts: LabHost[]): Promise<void> {
  for (let t0 = Date.now(); Date.now() - t0 < 120_000; await sleep(100)) {
    const up = await Promise.all(hosts.map((x) => x.exists('/opt/gwfleet/state/job/pid')))
    if (up.every(Boolean)) return
  }
  throw new Error('the jobs never started')
}

/** Wait until the stand-in installer has started `n` times in all on a host. */
async function startedTimes(host: LabHost, n: number): Promise<void> {
  for (let t0 = Date.now(); Date.now() - t0 < 120_000; await sleep(100)) if ((await starts(host)) >= n) return
  throw new Error(`the installer on ${host.name} never started ${n} times`)
}

/** Wait until the job on a host has ended (its wrapper wrote the exit status). */
async function jobEnded(host: LabHost): Promise<void> {
  for (let t0 = Date.now(); Date.now() - t0 < 120_000; await sleep(200)) if (await host.exists('/opt/gwfleet/state/job/rc')) return
  throw new Error(`the job on ${host.name} never ended`)
}

/** History lines of a gateway on its host. */
async function history(host: LabHost): Promise<any[]> {
  const text = (await host.exec('cat /opt/gwfleet/state/history.jsonl 2>/dev/null')).stdout
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
}

const noLock = async (host: LabHost) => expect(await host.exists('/opt/gwfleet/state/lock')).toBe(false)

describe('installs survive the network and the workstation (lab subnet 41)', () => {
  it('a network blip of 8 s in the middle of 20 s talkative installs: every host ok, each installer started once, every line logged once and in order', async () => {
    const five = [1, 2, 3, 4, 5]
    for (const i of five) await h(i).setFault('talk', '20')
    const inv = inventory('blip.yaml', '1.5.0', five)
    const run = ws.run(['deploy', '-i', inv, ...AT_ONCE, '--json'])
    await jobsRunning(five.map(h))
    await sleep(3000)
    for (const i of five) proxies.get(h(i).name)!.drop(8000)
    const r = await run
    for (const i of five) await h(i).setFault('talk', null)
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.json.hosts.map((x: any) => x.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok'])
    const expected = Array.from({length: 20}, (_, k) => `installing: step ${k + 1} of 20`)
    for (const i of five) {
      const host = h(i)
      expect(await starts(host)).toBe(1)
      expect(await agentVersion(host)).toBe('1.5.0')
      await noLock(host)
      expect((await history(host)).map((e) => e.result)).toEqual(['ok'])
      const log = fs.readFileSync(path.join(r.json.runDir, `${host.name}.log`), 'utf8')
      const steps = log.split('\n').flatMap((l) => (/\| (installing: step \d+ of 20)$/.exec(l) ?? []).slice(1))
      expect(steps).toEqual(expected)
      expect(log).toMatch(/reconnected after \d+s/)
    }
  })

  it('a drop longer than --reconnect-window: unreachable, the install finishes on the host, and the next deploy records it without running it again', async () => {
    const host = h(6)
    await host.setFault('talk', '10')
    const inv = inventory('window.yaml', '1.5.0', [6])
    const run = ws.run(['deploy', '-i', inv, ...AT_ONCE, '--reconnect-window', '2s', '--json'])
    await runLogShows(ws, host.name, /\| installing: step/)
    // Down for longer than any reconnect attempt lasts; back once gwfleet has given up.
    proxies.get(host.name)!.drop(120_000)
    const r = await run
    proxies.get(host.name)!.restore()
    await host.setFault('talk', null)
    expect(r.code).toBe(1)
    expect(r.json.hosts[0].status).toBe('unreachable')
    expect(r.json.hosts[0].error).toMatch(/not reached again within 2s \(--reconnect-window\): the install goes on on the host; `gwfleet deploy` \(or `status`\) picks it up/)
    await jobEnded(host)
    expect(await agentVersion(host)).toBe('1.5.0')
    // The audit sees an install nobody recorded yet.
    const again = await ws.runHere(['deploy', '-i', inv, ...AT_ONCE, '--json'])
    expect(again.code, again.stdout + again.stderr).toBe(0)
    expect(again.json.hosts[0]).toMatchObject({status: 'ok', action: 'install', toVersion: '1.5.0'})
    expect(again.json.hosts[0].notes.join('\n')).toMatch(/picked up the install of 1\.5\.0 .*: it succeeded; recorded in the history/)
    expect(await starts(host)).toBe(1)
    expect((await history(host)).map((e) => e.result)).toEqual(['ok'])
    await noLock(host)
    const audit = await ws.runHere(['audit', '-i', inv, '--json'])
    expect(audit.json.hosts[0].status).toBe('in-sync')
  })

  it('gwfleet killed halfway: the next deploy waits for the running install and reports ok; one that ended meanwhile is recorded as well; each installer started once', async () => {
    const waiting = h(7)
    const ended = h(8)
    // The waiting host's installer talks, then pauses until the next deploy follows it (the test
    // then ends the pause): it still runs for the audit and status below however slow the machine.
    await waiting.setFault('talk', '3')
    await waiting.setFault('sleep', '300')
    await ended.setFault('talk', '2')
    const inv = inventory('killed.yaml', '1.5.0', [7, 8])
    let pid = 0
    const run = ws.run(['deploy', '-i', inv, ...AT_ONCE, '--json'], {onSpawn: (p) => (pid = p)})
    await Promise.all([startedTimes(waiting, 1), startedTimes(ended, 1)])
    process.kill(pid, 'SIGKILL')
    await run
    // One host's install ends before the next run comes; the other's still runs when it comes.
    await jobEnded(ended)
    expect(await waiting.exists('/opt/gwfleet/state/job/rc')).toBe(false)
    // audit and status show the live install, and the one nobody recorded yet.
    const audit = await ws.runHere(['audit', '-i', inv, '--json'])
    expect(audit.json.hosts.map((x: any) => x.status)).toEqual(['installing', 'drift'])
    expect(audit.json.hosts[0].reasons[0]).toMatch(/^the install of 1\.5\.0 by \S+ \(run \S+, deploy\) since \S+: running for \d+s, pid \d+, \d+ bytes of output so far$/)
    expect(audit.json.hosts[1].reasons[0]).toMatch(/ended while nobody watched \(exit code 0\); `gwfleet deploy` judges and records it/)
    const status = await ws.runHere(['status', '-i', inv])
    expect(status.stdout).toMatch(/the install of 1\.5\.0 by .*: running for \d+s, pid \d+/)
    const following = ws.run(['deploy', '-i', inv, ...AT_ONCE, '--json'])
    await runLogShows(ws, waiting.name, /following the install of 1\.5\.0/)
    await endInstallerPause(waiting)
    const next = await following
    for (const x of [waiting, ended]) await x.setFault('talk', null)
    await waiting.setFault('sleep', null)
    expect(next.code, next.stdout + next.stderr).toBe(0)
    expect(next.json.hosts.map((x: any) => x.status)).toEqual(['ok', 'ok'])
    for (const x of [waiting, ended]) {
      expect(await starts(x)).toBe(1)
      expect((await history(x)).map((e) => e.result)).toEqual(['ok'])
      await noLock(x)
    }
    // The run that picked the live one up followed its log.
    const log = fs.readFileSync(path.join(next.json.runDir, `${waiting.name}.log`), 'utf8')
    expect(log).toMatch(/\| installing: step 3 of 3/)
  })

  it('a host rebooted during an install (its job gone without a status): judged failed from the cluster, never ok; the next start is a new execution', async () => {
    const host = h(6)
    await host.setFault('talk', '30')
    const inv = inventory('reboot.yaml', '1.6.0', [6])
    let pid = 0
    const already = await starts(host)
    const run = ws.run(['upgrade', '-i', inv, '--to', '1.6.0', '--json'], {onSpawn: (p) => (pid = p)})
    await startedTimes(host, already + 1)
    process.kill(pid, 'SIGKILL')
    await run
    // The reboot: every process of the job gone at once, the wrapper first, no status written.
    await host.exec('set -- $(cat /opt/gwfleet/state/job/pid); kill -KILL "$1"; kill -KILL -- "-$3"')
    await host.setFault('talk', null)
    const first = (await host.exec('cat /opt/gwfleet/state/job/meta')).stdout
    const next = await ws.runHere(['deploy', '-i', inv, ...AT_ONCE, '--json'])
    expect(next.code).toBe(1)
    expect(next.json.hosts[0].status).toBe('failed')
    expect(next.json.hosts[0].error).toMatch(/picked up the install of 1\.6\.0 .*ended without an exit status \(the host rebooted, or the job was killed\); the cluster runs agent 1\.5\.0/)
    expect((await history(host)).at(-1)).toMatchObject({result: 'failed', toVersion: '1.6.0'})
    expect(await starts(host)).toBe(already + 1)
    const again = await ws.runHere(['deploy', '-i', inv, ...AT_ONCE, '--json'])
    expect(again.code, again.stdout + again.stderr).toBe(0)
    expect(await starts(host)).toBe(already + 2)
    expect(await agentVersion(host)).toBe('1.6.0')
    expect((await host.exec('cat /opt/gwfleet/state/job.last/meta')).stdout).not.toBe(first)
  })

  it('Ctrl-C once, then gwfleet goes away: the installs finish on the hosts; Ctrl-C twice: they are stopped there', async () => {
    const once = h(7)
    const twice = h(8)
    await once.setFault('talk', '6')
    // The second host's installer pauses: the two Ctrl-C always come while it runs.
    await twice.setFault('sleep', '300')
    const inv = (i: number) => inventory(`ctrl-c-${i}.yaml`, '1.6.0', [i])
    const before = await Promise.all([installs(once), installs(twice)])
    const started = await Promise.all([starts(once), starts(twice)])
    let pid = 0
    const r1 = ws.run(['deploy', '-i', inv(7), '--json'], {onSpawn: (p) => (pid = p)})
    await startedTimes(once, started[0] + 1)
    process.kill(pid, 'SIGINT')
    await sleep(500)
    process.kill(pid, 'SIGKILL')
    await r1
    await jobEnded(once)
    expect(await installs(once)).toHaveLength(before[0].length + 1)
    expect(await agentVersion(once)).toBe('1.6.0')
    const r2 = await ws.run(['deploy', '-i', inv(8), '--json'], {
      onSpawn: (p) => {
        void startedTimes(twice, started[1] + 1).then(async () => {
          process.kill(p, 'SIGINT')
          await sleep(300)
          process.kill(p, 'SIGINT')
        })
      },
    })
    await once.setFault('talk', null)
    await twice.setFault('sleep', null)
    expect(r2.code).toBe(130)
    expect(r2.json.hosts[0].status).toBe('failed')
    expect(r2.json.hosts[0].error).toMatch(/stopped by the operator/)
    expect(await installs(twice)).toHaveLength(before[1].length)
    expect(await agentVersion(twice)).toBe('1.5.0')
    await noLock(twice)
  })
})
