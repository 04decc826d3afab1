// End to end on real OpenSSH lab hosts (subnet 38, lab "hooks"):
//   - hooks of a rolling deploy: before-run, before-host (failing for h2, its stderr quoted in h2's
//     detail: h2 is never touched),
//     after-host (told each outcome), after-batch, after-run, with GWFLEET_* variables, no secret
//     of the run in their environment, and their output in the run log;
//   - -l @failed: the next deploy retries only the host that failed;
//   - --lock-wait: a host locked by another run is deployed once that lock goes away; without it
//     the host fails at once naming the holder.
//
//   npm run build && GWFLEET_LAB_OFFSET=<n> npx vitest run test/e2e/hooks.test.ts
import fs from 'node:fs'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {agentVersion, installs, lab as startLab, type Lab, type LabHost, SECRETS, Workspace} from './fleet.js'

const LOCK = '/opt/gwfleet/state/lock'
const other = {owner: 'ana@ws-7', pid: 4242, command: 'upgrade', started: '2026-11-30T10:00:00.000Z', token: 'tok-e2e-other'}

let lab: Lab
let ws: Workspace
const h = (i: number): LabHost => lab.hosts[i - 1]

beforeAll(async () => {
  lab = await startLab(4, 38, 'hooks')
  ws = new Workspace(lab, 'hooks')
  await ws.releasesOf('1.5.0')
}, 120_000)

afterAll(async () => {
  await lab?.stop()
})

describe('hooks', () => {
  it('run at their points with the outcome; a failing before-host leaves its host untouched', async () => {
    const out = path.join(ws.dir, 'hooks.out')
    const say = (what: string) => `echo "${what} gw=$GWFLEET_GATEWAY action=$GWFLEET_ACTION to=$GWFLEET_TO_VERSION status=$GWFLEET_STATUS batch=$GWFLEET_BATCH/$GWFLEET_BATCHES ok=$GWFLEET_OK failed=$GWFLEET_FAILED" >> ${out}; env >> ${out}.env`
    const hooks = [
      'hooks:',
      `  before-run: '${say('run')}'`,
      '  before-host:',
      `    command: '${say('host')}; echo draining $GWFLEET_GATEWAY; [ "$GWFLEET_GATEWAY" != h2 ] || { echo "drain of $GWFLEET_GATEWAY refused:" >&2; printf "\\033[31mmaintenance window closed\\033[0m\\n" >&2; exit 4; }'`,
      '    timeout: 30s',
      `  after-host: '${say('after')}'`,
      `  after-batch: '${say('batch')}'`,
      `  after-run: '${say('end')}'`,
    ].join('\n')
    const inv = ws.inventory('1.5.0', [{host: h(1)}, {host: h(2)}, {host: h(3)}])
    fs.appendFileSync(inv, `${hooks}\n`)
    const r = await ws.runHere(['deploy', '-i', inv, '--batch-size', '1', '--max-fail', '1', '--json'])
    expect(r.code, r.stdout + r.stderr).toBe(1)
    const byName = Object.fromEntries(r.json.hosts.map((x: any) => [x.name, x]))
    expect(byName.h1.status).toBe('ok')
    expect(byName.h3.status).toBe('ok')
    expect(byName.h2.status).toBe('failed')
    // The failed hook's detail says what it printed last on stderr (inert: no colour codes).
    expect(byName.h2.error).toMatch(/^hook before-host \(fleet\.yaml:\d+\) exited with code 4; its stderr ended: "drain of h2 refused:" \/ "maintenance window closed"; nothing on the host was changed$/)
    // h2 was never changed: no installer ran, no release or values were put in place, no lock left.
    expect(await installs(h(2))).toHaveLength(0)
    expect(await h(2).exists('/opt/gwfleet/values/h2.yaml')).toBe(false)
    expect(await h(2).exists(LOCK)).toBe(false)
    for (const i of [1, 3]) expect(await agentVersion(h(i))).toBe('1.5.0')

    const lines = fs.readFileSync(out, 'utf8').trim().split('\n')
    expect(lines).toEqual([
      'run gw= action= to= status= batch=/ ok= failed=',
      'host gw=h1 action=install to=1.5.0 status= batch=1/ ok= failed=',
      'after gw=h1 action=install to=1.5.0 status=ok batch=1/ ok= failed=',
      'batch gw= action= to= status= batch=1/3 ok=1 failed=0',
      'host gw=h2 action=install to=1.5.0 status= batch=2/ ok= failed=',
      'after gw=h2 action=install to=1.5.0 status=failed batch=2/ ok= failed=',
      'batch gw= action= to= status= batch=2/3 ok=0 failed=1',
      'host gw=h3 action=install to=1.5.0 status= batch=3/ ok= failed=',
      'after gw=h3 action=install to=1.5.0 status=ok batch=3/ ok= failed=',
      'batch gw= action= to= status= batch=3/3 ok=1 failed=0',
      'end gw= action= to= status=failed batch=/ ok=2 failed=1',
    ])
    // No secret of the run reaches a hook; hook output is in the gateway's log.
    const env = fs.readFileSync(`${out}.env`, 'utf8')
    for (const s of Object.values(SECRETS)) expect(env).not.toContain(s)
    expect(env).toContain(`GWFLEET_RUN_DIR=${r.json.runDir}`)
    expect(fs.readFileSync(path.join(r.json.runDir, 'h2.log'), 'utf8')).toMatch(/hook before-host \| draining h2/)
  })
})

describe('-l @failed', () => {
  it('retries the gateways the last deploy against the inventory did not finish, and only those', async () => {
    // The run above failed h2 in its before-host hook; the same inventory file, without the hooks.
    const inv = ws.inventory('1.5.0', [{host: h(1)}, {host: h(2)}, {host: h(3)}])
    const r = await ws.runHere(['deploy', '-i', inv, '-l', '@failed', '--json'])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.json.hosts.map((x: any) => [x.name, x.status])).toEqual([['h2', 'ok']])
    expect(await agentVersion(h(2))).toBe('1.5.0')
    // Combined with other terms; and once nothing failed, there is nothing to retry.
    const none = await ws.runHere(['deploy', '-i', inv, '-l', '@failed,!h3', '--json'])
    expect(none.code).toBe(2)
    expect(none.json.error).toMatch(/@failed: every gateway of run \S+-deploy-\d+ ended ok or unchanged; nothing to retry/)
    const other = await ws.runHere(['deploy', '-i', ws.inventory('1.5.0', [{host: h(1)}], 'other.yaml'), '-l', '@failed', '--json'])
    expect(other.code).toBe(2)
    expect(other.json.error).toMatch(/@failed: no earlier deploy run against \S+other\.yaml/)
  })
})

describe('--lock-wait', () => {
  it('fails a locked host at once without it; with it, deploys once the other run lets go', async () => {
    const inv = ws.inventory('1.5.0', [{host: h(4)}], 'wait.yaml')
    await h(4).exec(`mkdir -p /opt/gwfleet/state && printf '%s\\n' '${JSON.stringify(other)}' > ${LOCK}`)
    const at = await ws.runHere(['deploy', '-i', inv, '--json'])
    expect(at.code).toBe(1)
    expect(at.json.hosts[0].error).toMatch(/^locked by another run: ana@ws-7 pid 4242 \(upgrade\)/)
    expect(await installs(h(4))).toHaveLength(0)

    const runs = path.join(ws.home, '.gwfleet', 'runs')
    const before = new Set(fs.existsSync(runs) ? fs.readdirSync(runs) : [])
    // spawned: the test removes the lock while this run waits for it (in-process the run would share the
    // test's environment and output while the test works), and this file's deploy by the real binary
    const waiting = ws.run(['deploy', '-i', inv, '--lock-wait', '2m'], {timeoutMs: 150_000})
    // Once the run waits for the lock (its log says so), the other run goes away: its lock is removed.
    const deadline = Date.now() + 90_000
    const isWaiting = () =>
      fs.existsSync(runs) &&
      fs.readdirSync(runs).some((d) => !before.has(d) && fs.existsSync(path.join(runs, d, 'h4.log')) && fs.readFileSync(path.join(runs, d, 'h4.log'), 'utf8').includes('== waiting for the lock'))
    while (!isWaiting()) {
      if (Date.now() > deadline) throw new Error('the run never waited for the lock')
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(await h(4).exists(LOCK)).toBe(true)
    await h(4).exec(`rm -f ${LOCK}`)
    const r = await waiting
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stderr, r.stderr).toMatch(/h4: waiting up to 120s for the lock held by ana@ws-7 pid 4242 \(upgrade\)/)
    expect(await agentVersion(h(4))).toBe('1.5.0')
    expect(await h(4).exists(LOCK)).toBe(false)
  })
})
