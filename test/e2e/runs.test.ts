// End to end on lab hosts: which commands keep a run folder (changing ones always, read-only ones
// only with --save), pruning at the start of a changing run, the run summary and `gwfleet runs`,
// `audit --output prometheus --output-file` parsed back, and the failure budget printed before a
// rollout.
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {agentVersion, byName, type CliResult, type Lab, lab as startLab, type LabHost, Workspace} from './fleet.js'
import {parseExposition, sampleValue} from './prometheus-text.js'

const VERSION = '1.5.0'

let lab: Lab
let ws: Workspace
let inv: string
let h: (i: number) => LabHost
const runsDir = () => path.join(ws.home, '.gwfleet', 'runs')
const runFolders = () => (fs.existsSync(runsDir()) ? fs.readdirSync(runsDir()).filter((d) => /^\d{8}T\d{6}Z-/.test(d)).sort() : [])
/** The commands run in this process (inprocess.ts): the cases check what they do, keep and report. */
const gw = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> => ws.runHere(args, {env})

/** A run id that started `days` days ago. */
function oldId(days: number, cmd: string, pid: number): string {
  return `${new Date(Date.now() - days * 86_400_000).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${cmd}-${pid}`
}

beforeAll(async () => {
  lab = await startLab(4, 34, 'e2e-runs')
  ws = new Workspace(lab, 'runs')
  await ws.releasesOf(VERSION)
  h = (i) => lab.hosts[i - 1]
  inv = ws.inventory(VERSION, [1, 2, 3, 4].map((i) => ({host: h(i), name: `r${i}`, opts: {labels: {ring: i === 1 ? 'canary' : 'main'}}})))
  // r3 is installed up front; r4's sshd is down for the whole file.
  const d = await gw(['deploy', '-i', inv, '-l', 'r3', '--json'])
  expect(d.code, d.stdout + d.stderr).toBe(0)
  await h(4).stopSshd()
}, 150_000)

afterAll(async () => {
  await lab?.stop()
  if (ws) fs.rmSync(ws.dir, {recursive: true, force: true})
})

describe('run folders and gwfleet runs (lab subnet 34)', () => {
  it('read-only commands keep no run folder unless --save', async () => {
    const before = runFolders()
    for (const args of [['audit'], ['status'], ['history'], ['locks', 'list'], ['preflight', '-l', 'r1'], ['logs', 'r3', '--tail', '1']]) {
      const r = await gw([...args, '-i', inv])
      expect([0, 1], `${args.join(' ')}: ${r.stderr}`).toContain(r.code)
      expect(runFolders(), args.join(' ')).toEqual(before)
    }
    const j = await gw(['audit', '-i', inv, '--json'])
    expect(j.json.runDir).toBeNull()
    expect(runFolders()).toEqual(before)

    const saved = await gw(['audit', '-i', inv, '--json', '--save'])
    const added = runFolders().filter((d) => !before.includes(d))
    expect(added).toHaveLength(1)
    expect(saved.json.runDir).toBe(path.join(runsDir(), added[0]))
    expect(fs.readdirSync(saved.json.runDir).sort()).toEqual(['r1.log', 'r2.log', 'r3.log', 'r4.log', 'result.json', 'run.json'])
    const summary = JSON.parse(fs.readFileSync(path.join(saved.json.runDir, 'run.json'), 'utf8'))
    expect(summary).toMatchObject({id: added[0], command: 'audit', inventory: inv, ok: false, counts: {'in-sync': 1, 'not-installed': 2, unreachable: 1}})
  })

  it('audit --output prometheus --output-file: the file parses back and agrees with --json', async () => {
    const dir = path.join(ws.dir, 'textfile')
    fs.mkdirSync(dir)
    const file = path.join(dir, 'gwfleet.prom')
    fs.writeFileSync(file, 'stale\n')
    const t0 = Math.floor(Date.now() / 1000)
    const r = await gw(['audit', '-i', inv, '--output', 'prometheus', '--output-file', file])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stdout).toBe('')
    expect(fs.readdirSync(dir)).toEqual(['gwfleet.prom'])
    const {samples} = parseExposition(fs.readFileSync(file, 'utf8'))
    const j = byName(await gw(['audit', '-i', inv, '--json']))
    for (const name of ['r1', 'r2', 'r3', 'r4']) {
      const a = j[name]
      expect(sampleValue(samples, 'gwfleet_gateway_info', {gateway: name}), name).toBe(1)
      expect(samples.find((s) => s.name === 'gwfleet_gateway_info' && s.labels.gateway === name)?.labels, name).toEqual({
        gateway: name,
        host: a.host,
        version: a.version ?? '',
        desired: a.desiredVersion,
      })
      expect(sampleValue(samples, 'gwfleet_gateway_in_sync', {gateway: name}), name).toBe(a.status === 'in-sync' ? 1 : 0)
      expect(sampleValue(samples, 'gwfleet_gateway_reachable', {gateway: name}), name).toBe(a.status === 'unreachable' ? 0 : 1)
      expect(sampleValue(samples, 'gwfleet_gateway_values_in_sync', {gateway: name}), name).toBe(a.valuesInSync === null ? undefined : a.valuesInSync ? 1 : 0)
    }
    expect(sampleValue(samples, 'gwfleet_gateway_in_sync', {gateway: 'r3'})).toBe(1)
    expect(sampleValue(samples, 'gwfleet_gateway_reachable', {gateway: 'r4'})).toBe(0)
    expect(sampleValue(samples, 'gwfleet_gateways', {status: 'in-sync'})).toBe(1)
    expect(sampleValue(samples, 'gwfleet_gateways', {status: 'not-installed'})).toBe(2)
    expect(sampleValue(samples, 'gwfleet_gateways', {status: 'unreachable'})).toBe(1)
    expect(sampleValue(samples, 'gwfleet_gateways', {status: 'drift'})).toBe(0)
    expect(sampleValue(samples, 'gwfleet_audit_timestamp_seconds')).toBeGreaterThanOrEqual(t0)

    // A folder that does not exist is bad input before any host is read; the old file stays.
    const bad = await gw(['audit', '-i', inv, '-o', 'prometheus', '--output-file', path.join(ws.dir, 'nope', 'x.prom')])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--output-file: .*no folder/)
  })

  it('a changing run prunes old run folders first, prints its failure budget, and leaves a summary that runs and runs show read', async () => {
    fs.mkdirSync(runsDir(), {recursive: true})
    const old = [oldId(45, 'deploy', 11), oldId(31, 'upgrade', 12)]
    for (const id of old) {
      fs.mkdirSync(path.join(runsDir(), id))
      fs.writeFileSync(path.join(runsDir(), id, 'r1.log'), 'old\n')
    }
    const recent = oldId(2, 'deploy', 13)
    fs.mkdirSync(path.join(runsDir(), recent))
    fs.writeFileSync(path.join(runsDir(), 'notes.txt'), 'mine')

    // Bad keep settings are bad input: nothing pruned, no folder made.
    const before = runFolders()
    const bad = await gw(['deploy', '-i', inv, '-l', 'r1'], {GWFLEET_KEEP_DAYS: 'a month'})
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('GWFLEET_KEEP_DAYS')
    expect(runFolders()).toEqual(before)

    const r = await gw(['deploy', '-i', inv, '-l', 'r1,r2,r4', '--batch-size', '1', '--max-fail', '1'])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toContain('Failure budget: 1 (--max-fail 1): the rollout stops when a 2nd gateway fails; the batch already running finishes, no further batch starts.')
    expect(r.stderr).toContain('Unreachable gateways count as failed (also when found before the first batch); failures add up across batches.')
    // The budget is said before the run starts: before the first progress line.
    expect(r.stderr.indexOf('Failure budget')).toBeLessThan(r.stderr.indexOf('r1'))
    expect(await agentVersion(h(1))).toBe(VERSION)
    expect(await agentVersion(h(2))).toBe(VERSION)

    const folders = runFolders()
    for (const id of old) expect(folders, id).not.toContain(id)
    expect(folders).toContain(recent)
    expect(fs.readFileSync(path.join(runsDir(), 'notes.txt'), 'utf8')).toBe('mine')
    const id = folders.at(-1)!
    expect(id).toMatch(/-deploy-\d+$/)
    expect(r.stderr).toContain(`Run folder: ${path.join(runsDir(), id)}`)

    const list = await gw(['runs', '--json'])
    expect(list.code).toBe(0)
    const newest = list.json.runs[0]
    expect(newest.id).toBe(id)
    expect(newest.summary).toMatchObject({command: 'deploy', dryRun: false, inventory: inv, ok: false, counts: {ok: 2, unreachable: 1}})
    expect(newest.summary.operator).toMatch(/@/)
    expect(Object.fromEntries(newest.summary.hosts.map((x: any) => [x.name, x.status]))).toEqual({r1: 'ok', r2: 'ok', r4: 'unreachable'})
    expect(list.json.runs.map((x: any) => x.id)).toEqual(runFolders().reverse())

    const table = await gw(['runs'])
    const row = table.stdout.split('\n').find((l) => l.startsWith(id))
    expect(row).toMatch(/deploy/)
    expect(row).toMatch(/unreachable: 1\s+ok: 2/)
    expect(table.stdout.split('\n').find((l) => l.startsWith(recent))).toMatch(/no summary/)

    const show = await gw(['runs', 'show', id.slice(0, 20)])
    expect(show.code, show.stderr).toBe(0)
    const lines = show.stdout.split('\n')
    expect(lines[0]).toContain(`deploy by `)
    expect(lines[0]).toContain(`inventory ${inv}`)
    expect(lines.find((l) => l.startsWith('r4'))).toMatch(/^r4\s+\S+\s+unreachable\s+/)
    expect(lines.find((l) => l.startsWith('r1'))).toMatch(/^r1\s+\S+\s+ok\s+install\s+-\s+1\.5\.0/)
    expect(show.stdout).toContain(`Run folder: ${path.join(runsDir(), id)}`)
    const missing = await gw(['runs', 'show', '19990101'])
    expect(missing.code).toBe(2)

    // GWFLEET_KEEP_RUNS: a dry run (a changing command: it keeps its folder) leaves the newest 2.
    const dry = await gw(['deploy', '-i', inv, '-l', 'r1', '--batch-size', '1', '--dry-run'], {GWFLEET_KEEP_RUNS: '2'})
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.stderr).toContain('Failure budget: none (--max-fail 0): the rollout stops at the first failed gateway')
    expect(runFolders()).toEqual([id, runFolders().at(-1)!])
    expect(runFolders().at(-1)).toMatch(/-deploy-\d+$/)
  })
})
