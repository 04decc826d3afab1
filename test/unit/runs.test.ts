import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {countsText, runHostsTable} from '../../src/cli/runs.js'
import {InputError} from '../../src/errors.js'
import {Redactor} from '../../src/runner/redact.js'
import {findRun, keepPolicy, lastRunOf, listRuns, pruneRuns, RunLog, runStart, runsToPrune, summaryOf} from '../../src/runner/runlog.js'

const day = 86_400_000
const NOW = new Date('2026-11-30T12:00:00Z')
/** A run id that started `daysAgo` days before NOW (plus `n` seconds, to tell runs apart). */
const idAgo = (daysAgo: number, n = 0, cmd = 'deploy') =>
  `${new Date(NOW.getTime() - daysAgo * day + n * 1000).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${cmd}-${100 + n}`

describe('which run folders are pruned', () => {
  it('keeps the newest N and none older than D days; 0 turns a limit off', () => {
    const ids = Array.from({length: 6}, (_, i) => idAgo(i * 10, i)) // 0, 10, 20, 30, 40, 50 days old
    expect(runsToPrune(ids, {runs: 100, days: 30}, NOW).sort()).toEqual([ids[4], ids[5]].sort())
    expect(runsToPrune(ids, {runs: 2, days: 30}, NOW).sort()).toEqual(ids.slice(2).sort())
    expect(runsToPrune(ids, {runs: 2, days: 0}, NOW).sort()).toEqual(ids.slice(2).sort())
    expect(runsToPrune(ids, {runs: 0, days: 0}, NOW)).toEqual([])
    // A run exactly at the age limit stays; a second older goes.
    expect(runsToPrune([idAgo(30)], {runs: 0, days: 30}, NOW)).toEqual([])
    expect(runsToPrune([idAgo(30, -1)], {runs: 0, days: 30}, NOW)).toHaveLength(1)
  })

  it('never picks a name that is not a run id', () => {
    expect(runsToPrune(['notes.txt', '..', 'x-deploy-1', idAgo(99)], {runs: 0, days: 30}, NOW)).toEqual([idAgo(99)])
    expect(runStart('20261128T114702Z-locks-clear-77')?.toISOString()).toBe('2026-11-28T11:47:02.000Z')
    expect(runStart('20261399T114702Z-deploy-1')).toBeNull()
  })

  it('reads GWFLEET_KEEP_RUNS and GWFLEET_KEEP_DAYS; anything but a whole number is bad input naming the variable', () => {
    expect(keepPolicy({})).toEqual({runs: 100, days: 30})
    expect(keepPolicy({GWFLEET_KEEP_RUNS: '5', GWFLEET_KEEP_DAYS: '0'})).toEqual({runs: 5, days: 0})
    expect(() => keepPolicy({GWFLEET_KEEP_DAYS: '2w'})).toThrow(InputError)
    expect(() => keepPolicy({GWFLEET_KEEP_RUNS: '-1'})).toThrow(/GWFLEET_KEEP_RUNS/)
  })
})

describe('run folders on disk', () => {
  let home: string
  let saved: string | undefined
  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-runs-unit-'))
    saved = process.env.GWFLEET_HOME
    process.env.GWFLEET_HOME = home
  })
  afterEach(() => {
    if (saved === undefined) delete process.env.GWFLEET_HOME
    else process.env.GWFLEET_HOME = saved
    fs.rmSync(home, {recursive: true, force: true})
  })

  it('prunes real folders only: a symlink named like a run, and what it points to, stay', () => {
    const runs = path.join(home, 'runs')
    const old = path.join(runs, idAgo(40, 1))
    fs.mkdirSync(old, {recursive: true})
    fs.writeFileSync(path.join(old, 'a.log'), 'x')
    const target = path.join(home, 'precious')
    fs.mkdirSync(target)
    fs.writeFileSync(path.join(target, 'keep'), 'x')
    fs.symlinkSync(target, path.join(runs, idAgo(50, 2)))
    expect(pruneRuns(runs, {runs: 100, days: 30}, NOW)).toEqual([idAgo(40, 1)])
    expect(fs.existsSync(old)).toBe(false)
    expect(fs.existsSync(path.join(target, 'keep'))).toBe(true)
  })

  it('a run that keeps no folder writes nothing; one that keeps one prunes past GWFLEET_KEEP_RUNS and writes its summary', async () => {
    const none = new RunLog('audit', new Redactor(), false)
    none.write('gw-1', 'line')
    await none.writeJson('result.json', {})
    await none.writeSummary({command: 'audit', ok: true, hosts: []}, {operator: 'op@ws', inventory: '/x/fleet.yaml', interrupted: false})
    await none.close()
    expect(none.dir).toBeNull()
    expect(fs.existsSync(path.join(home, 'runs'))).toBe(false)

    for (let i = 0; i < 4; i++) fs.mkdirSync(path.join(home, 'runs', idAgo(1, i)), {recursive: true})
    process.env.GWFLEET_KEEP_RUNS = '3'
    let log: RunLog
    try {
      log = new RunLog('deploy', new Redactor(), true)
    } finally {
      delete process.env.GWFLEET_KEEP_RUNS
    }
    // The new folder and the two newest old ones.
    expect(fs.readdirSync(path.join(home, 'runs')).sort()).toEqual([idAgo(1, 2), idAgo(1, 3), log.id!].sort())
    const doc = {
      command: 'deploy',
      ok: false,
      dryRun: false,
      hosts: [
        {name: 'gw-1', host: '10.0.0.1', status: 'ok', action: 'install', fromVersion: null, toVersion: '1.5.0', error: null},
        {name: 'gw-2', host: '10.0.0.2', status: 'failed', action: 'upgrade', fromVersion: '1.4.0', toVersion: '1.5.0', error: 'installer exited 1'},
        {name: 'gw-3', host: '10.0.0.3', status: 'unreachable', action: 'none', fromVersion: null, toVersion: null, error: 'connection refused'},
      ],
    }
    await log.writeSummary(doc, {operator: 'op@ws', inventory: 'rel/fleet.yaml', interrupted: false})
    await log.close()
    const [entry] = listRuns()
    expect(entry.id).toBe(log.id)
    expect(entry.summary).toMatchObject({
      command: 'deploy',
      operator: 'op@ws',
      inventory: path.resolve('rel/fleet.yaml'),
      ok: false,
      counts: {ok: 1, failed: 1, unreachable: 1},
      hosts: [
        {name: 'gw-1', status: 'ok', to: '1.5.0'},
        {name: 'gw-2', status: 'failed', detail: 'installer exited 1'},
        {name: 'gw-3', status: 'unreachable'},
      ],
    })
    expect(lastRunOf('deploy', 'rel/fleet.yaml')?.id).toBe(log.id)
    expect(lastRunOf('deploy', 'other.yaml')).toBeUndefined()
    expect(lastRunOf('upgrade', 'rel/fleet.yaml')).toBeUndefined()
    expect(findRun(listRuns(), log.id!.slice(0, 22)).id).toBe(log.id)
    expect(() => findRun(listRuns(), '2026')).toThrow(/matches 3 runs/)
    expect(() => findRun(listRuns(), '../etc')).toThrow(/not a run id/)
  })
})

describe('runs output', () => {
  it('counts problems first and shows each gateway of a summary', () => {
    expect(countsText({ok: 3, unchanged: 1, failed: 2, unreachable: 1})).toBe('failed: 2   unreachable: 1   ok: 3   unchanged: 1')
    const s = summaryOf(
      {command: 'audit', ok: false, hosts: [{name: 'a', host: 'h1', status: 'in-sync', version: '1.5.0', desiredVersion: '1.5.0', error: null}, {name: 'b', host: 'h2', status: 'drift', version: '1.4.0', desiredVersion: '1.5.0', error: 'version 1.4.0'}]},
      {id: 'x', started: NOW, operator: 'op', inventory: '/f.yaml', interrupted: false},
    )
    const lines = runHostsTable(s).split('\n')
    expect(lines[0].split(/\s+/)).toEqual(['GATEWAY', 'HOST', 'STATUS', 'FROM', 'TO', 'DETAIL'])
    expect(lines[1].split(/\s+/).slice(0, 5)).toEqual(['b', 'h2', 'drift', '1.4.0', '1.5.0'])
    expect(lines[2].split(/\s+/)).toEqual(['a', 'h1', 'in-sync', '1.5.0', '1.5.0'])
  })
})
