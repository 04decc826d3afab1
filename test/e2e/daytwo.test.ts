// End to end: day two with a real fleet (issue 21) on lab hosts: canaries chosen by label, one bad
// gateway that never blocks the rest, a way out (deploy --reinstall, state: absent), and an audit
// that counts statuses. The tests run in order and build on each other.
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {agentVersion, byName, changedSince, type CliResult, findSecrets, installs, type Lab, lab as startLab, type LabHost, markHost, Workspace} from './fleet.js'
import {parseExposition} from './prometheus-text.js'

const VERSION = '1.5.0'

let lab: Lab
let ws: Workspace
let inv: string
const runs: CliResult[] = []

// berlin-2 comes first in the inventory; lyon-1 is the canary by label.
const GW = {'berlin-2': 0, 'lyon-1': 1, 'boston-1': 2, 'paris-1': 3} as const
type Name = keyof typeof GW
const NAMES = Object.keys(GW) as Name[]
const host = (n: Name): LabHost => lab.hosts[GW[n]]

/** The commands run in this process (inprocess.ts): the cases check what they do and report. */
async function gw(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const r = await ws.runHere(args, {env})
  runs.push(r)
  return r
}

/** The inventory: lyon-1 labelled ring=canary, rollout.first naming that ring; `extra` per gateway. */
function writeInventory(extra: Partial<Record<Name, string>> = {}): string {
  const p = ws.inventory(
    VERSION,
    NAMES.map((name) => ({host: host(name), name, opts: {labels: (name === 'lyon-1' ? {ring: 'canary', site: 'lyon'} : {site: name.split('-')[0]}) as Record<string, string>, ...(extra[name] ? {extra: extra[name]} : {})}})),
  )
  fs.appendFileSync(p, 'rollout:\n  first: ring=canary\n')
  return p
}

beforeAll(async () => {
  lab = await startLab(4, 50, 'e2e-daytwo')
  ws = new Workspace(lab, 'daytwo')
  await ws.releasesOf('1.4.0', VERSION)
  inv = writeInventory()
}, 120_000)

afterAll(async () => {
  await lab?.stop()
  if (ws) fs.rmSync(ws.dir, {recursive: true, force: true})
})

describe('day two with a real fleet (lab subnet 50)', () => {
  it('canaries by label: the dry run puts the rollout.first gateways in the first batch, a canary of one by default', async () => {
    const r = await gw(['deploy', '-i', inv, '--dry-run'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/Batches:\n\s+1\. lyon-1\n\s+2\. berlin-2, boston-1, paris-1/)
    const j = await gw(['deploy', '-i', inv, '--dry-run', '--json'])
    expect(j.json.batches).toEqual([['lyon-1'], ['berlin-2', 'boston-1', 'paris-1']])
    // --first wins over the inventory's default; the help shows the default batches.
    const f = await gw(['deploy', '-i', inv, '--dry-run', '--json', '--first', 'site=boston'])
    expect(f.json.batches).toEqual([['boston-1'], ['berlin-2', 'lyon-1', 'paris-1']])
    const help = await gw(['deploy', '--help'])
    expect(help.stdout).toMatch(/--batch-size=LIST\s+\[default: 1,100%\]/)
    expect(help.stdout).toMatch(/--first=SELECTOR/)
  })

  it('a failing canary chosen by label stops the rollout: no production gateway was touched', async () => {
    await host('lyon-1').setFault('fail', '1')
    for (const n of NAMES) await markHost(host(n))
    const r = await gw(['deploy', '-i', inv, '--json'])
    expect(r.code, r.stderr).toBe(1)
    const hosts = byName(r)
    expect(hosts['lyon-1']).toMatchObject({status: 'failed', action: 'install'})
    for (const n of ['berlin-2', 'boston-1', 'paris-1'] as Name[]) {
      expect(hosts[n].status, n).toBe('skipped')
      expect(await installs(host(n)), n).toEqual([])
    }
    await host('lyon-1').setFault('fail', null)
    const again = await gw(['deploy', '-i', inv, '--json'])
    expect(again.code, again.stderr).toBe(0)
    expect(again.json.batches[0]).toEqual(['lyon-1'])
    for (const n of NAMES) expect(await agentVersion(host(n)), n).toBe(VERSION)
  })

  it('a bad gateway never blocks the rest: audit reports it invalid (file:line), the others as they are, and the Prometheus file is written', async () => {
    // paris-1's values file is gone; boston-1's values need a secret that is not set.
    fs.rmSync(path.join(ws.dir, 'values', 'paris-1.yaml'))
    ws.writeValues('boston-1', Workspace.valuesText('boston-1').replace('${env:GW_HELM_PASSWORD}', '${env:GW_BOSTON_ONLY}'))
    const r = await gw(['audit', '-i', inv, '--json'])
    expect(r.code, r.stderr).toBe(1)
    const hosts = byName(r)
    expect(hosts['berlin-2']).toMatchObject({status: 'in-sync', version: VERSION})
    expect(hosts['lyon-1']).toMatchObject({status: 'in-sync', version: VERSION})
    expect(hosts['paris-1']).toMatchObject({status: 'invalid', version: VERSION, valuesInSync: null})
    expect(hosts['paris-1'].error).toMatch(new RegExp(`${inv.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+ \\(gateways\\.paris-1\\.values\\): values file not found`))
    expect(hosts['boston-1']).toMatchObject({status: 'invalid', version: VERSION, valuesInSync: null})
    expect(hosts['boston-1'].error).toMatch(/boston-1\.yaml:\d+ \(helmRepoPassword\).*GW_BOSTON_ONLY/)
    expect(r.json.summary).toMatchObject({statuses: {'in-sync': 2, invalid: 2}, versions: {[VERSION]: 4}})

    const table = await gw(['audit', '-i', inv])
    expect(table.stdout.trim().split('\n').at(-1)).toBe(`in-sync: 2   invalid: 2   |   versions ${VERSION}: 4`)

    const prom = path.join(ws.dir, 'gwfleet.prom')
    const p = await gw(['audit', '-i', inv, '--output', 'prometheus', '--output-file', prom])
    expect(p.code, p.stderr).toBe(1)
    const {samples} = parseExposition(fs.readFileSync(prom, 'utf8'))
    const counts = Object.fromEntries(samples.filter((s) => s.name === 'gwfleet_gateways').map((s) => [s.labels.status, s.value]))
    expect(counts).toMatchObject({'in-sync': 2, invalid: 2})
  })

  it('a changing command works on the selected gateways beside a bad one (a warning), and refuses a selected bad one before touching any host', async () => {
    await ws.writeValues('berlin-2', Workspace.valuesText('berlin-2', 'gpu:\n  enabled: true'))
    for (const n of NAMES) await markHost(host(n))
    const r = await gw(['deploy', '-i', inv, '-l', 'berlin-2', '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(byName(r)['berlin-2']).toMatchObject({status: 'ok', action: 'reconfigure'})
    expect(r.stderr).toMatch(/warning: paris-1 \(not selected\): .*values file not found/)
    const bad = await gw(['deploy', '-i', inv, '-l', 'paris-1,berlin-2', '--json'])
    expect(bad.code).toBe(2)
    expect(bad.json).toMatchObject({ok: false, error: expect.stringMatching(/gateways\.paris-1\.values\): values file not found/)})
    const secret = await gw(['deploy', '-i', inv, '-l', 'boston-1'])
    expect(secret.code).toBe(2)
    expect(secret.stderr).toMatch(/boston-1\.yaml:\d+ \(helmRepoPassword\)/)
    for (const n of ['lyon-1', 'boston-1', 'paris-1'] as Name[]) expect(await changedSince(host(n)), n).toEqual([])
    // The read-only commands read every host.
    for (const cmd of [['status'], ['history'], ['locks', 'list']]) {
      const o = await gw([...cmd, '-i', inv, '--json'])
      expect(o.code, `${cmd.join(' ')}: ${o.stderr}`).not.toBe(2)
      expect(o.stdout, cmd.join(' ')).toContain('paris-1')
    }
    // Back to good input for what follows.
    ws.writeValues('paris-1')
    ws.writeValues('boston-1')
  })

  it('deploy --reinstall: the way out of a version off the chain, confirmed like uninstall', async () => {
    // A broken install left the cluster reporting 0.0.1: off the chain, deploy refuses it.
    await host('boston-1').exec('echo quay.io/apheris/gateway-agent:0.0.1 > /var/lib/gwlab-k3s/agent-image')
    const refused = await gw(['deploy', '-i', inv, '-l', 'boston-1', '--json'])
    expect(refused.code).toBe(1)
    expect(byName(refused)['boston-1']).toMatchObject({status: 'refused', fromVersion: '0.0.1'})
    await markHost(host('boston-1'))
    const noYes = await gw(['deploy', '-i', inv, '-l', 'boston-1', '--reinstall'])
    expect(noYes.code).toBe(2)
    expect(noYes.stderr).toMatch(/deploy needs confirmation \(it would reinstall .* 1 host\(s\): boston-1\): no terminal to ask on, pass --yes/)
    expect(await changedSince(host('boston-1'))).toEqual([])
    const before = (await installs(host('boston-1'))).length
    const r = await gw(['deploy', '-i', inv, '-l', 'boston-1', '--reinstall', '--yes', '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(byName(r)['boston-1']).toMatchObject({status: 'ok', action: 'install', fromVersion: '0.0.1', toVersion: VERSION, hops: [VERSION]})
    expect(await agentVersion(host('boston-1'))).toBe(VERSION)
    expect((await installs(host('boston-1'))).length).toBe(before + 1)
  })

  it('a failed change tells the truth: audit, status and diff name the run and say its values were never applied; diff shows the difference against what was last applied', async () => {
    ws.writeValues('lyon-1', Workspace.valuesText('lyon-1', 'gpu:\n  enabled: true'))
    await host('lyon-1').setFault('fail', '1')
    const failed = await gw(['deploy', '-i', inv, '-l', 'lyon-1', '--json'])
    expect(failed.code).toBe(1)
    expect(byName(failed)['lyon-1']).toMatchObject({status: 'failed', action: 'reconfigure'})
    const run = path.basename(failed.json.runDir)
    await host('lyon-1').setFault('fail', null)

    const audit = await gw(['audit', '-i', inv, '--json'])
    const a = byName(audit)['lyon-1']
    expect(a).toMatchObject({status: 'drift', version: VERSION, valuesInSync: false, lastAttempt: {result: 'failed', run, action: 'reconfigure', toVersion: VERSION}})
    expect(a.error).toMatch(new RegExp(`^last change failed \\(run ${run}\\): values not applied`))
    expect(a.reasons.join('\n')).not.toMatch(/values on the host differ/)
    expect(audit.json.summary.statuses).toMatchObject({drift: 1})
    const table = await gw(['audit', '-i', inv])
    expect(table.stdout).toMatch(new RegExp(`^lyon-1\\s.*drift.*last change failed \\(run ${run}\\): values not applied`, 'm'))
    const status = await gw(['status', '-i', inv, '-l', 'lyon-1'])
    expect(status.stdout).toContain(`last change failed (run ${run}): values not applied`)

    const diff = await gw(['diff', '-i', inv, '-l', 'lyon-1', '--json'])
    const d = byName(diff)['lyon-1']
    expect(d).toMatchObject({status: 'changes', action: 'reconfigure'})
    expect(d.values.state).toBe('changed')
    expect(d.values.changes).toContainEqual({key: 'gpu.enabled', kind: 'added', secret: false, to: 'true'})
    expect(d.values.note).toMatch(new RegExp(`^compared with the values last applied \\(${VERSION.replace(/\./g, '\\.')}\\); the values file on the host is that of the failed reconfigure to ${VERSION.replace(/\./g, '\\.')} of run ${run}`))
    const text = await gw(['diff', '-i', inv, '-l', 'lyon-1'])
    expect(text.stdout).not.toMatch(/values: same data/)
    expect(text.stdout).toMatch(/\+ gpu\.enabled: true/)

    // Deployed again, the values are applied and the failure is old news.
    const again = await gw(['deploy', '-i', inv, '-l', 'lyon-1', '--json'])
    expect(byName(again)['lyon-1']).toMatchObject({status: 'ok', action: 'reconfigure'})
    const after = await gw(['audit', '-i', inv, '-l', 'lyon-1', '--json'])
    expect(byName(after)['lyon-1']).toMatchObject({status: 'in-sync', valuesInSync: true})
    expect(byName(after)['lyon-1'].lastAttempt).toBeUndefined()
  })

  it('state: absent: audit says what runs there, deploy removes it (with --yes), then audit reports it absent and in sync', async () => {
    inv = writeInventory({'paris-1': '    state: absent'})
    const drift = await gw(['audit', '-i', inv, '--json'])
    expect(byName(drift)['paris-1']).toMatchObject({status: 'drift', desiredVersion: null})
    expect(byName(drift)['paris-1'].error).toMatch(/marked state: absent, but gateway 1\.5\.0 runs here; `gwfleet deploy` removes it/)
    await markHost(host('paris-1'))
    const noYes = await gw(['deploy', '-i', inv, '--json'])
    expect(noYes.code).toBe(2)
    expect(noYes.json.error).toMatch(/remove the gateway \(state: absent in the inventory\) from 1 host\(s\): paris-1/)
    expect(await changedSince(host('paris-1'))).toEqual([])
    const r = await gw(['deploy', '-i', inv, '--yes', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const hosts = byName(r)
    expect(hosts['paris-1']).toMatchObject({status: 'ok', action: 'uninstall'})
    expect(await agentVersion(host('paris-1'))).toBeNull()
    const audit = await gw(['audit', '-i', inv, '--json'])
    expect(audit.code, audit.stdout).toBe(0)
    expect(byName(audit)['paris-1']).toMatchObject({status: 'absent', version: null, error: null})
    expect(audit.json.summary.statuses).toMatchObject({'in-sync': 3, absent: 1})
    // A second deploy has nothing to remove: unchanged.
    const again = await gw(['deploy', '-i', inv, '--yes', '--json'])
    expect(again.code).toBe(0)
    expect(byName(again)['paris-1']).toMatchObject({status: 'unchanged'})
  })

  it('no secret reached any output', () => {
    expect(findSecrets(runs, [ws.home])).toEqual([])
  })
})
