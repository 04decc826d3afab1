// `-l @failed` against run folders on disk: each command's own statuses decide what did not end as
// asked, and every command with --limit finds its own last run (locks by the name its summary uses).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadGateways} from '../../src/cli/common.js'
import {SUMMARY_FILE, summaryOf} from '../../src/runner/runlog.js'

let tmp: string
let saved: string | undefined
let inv: string

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-failed-'))
  saved = process.env.GWFLEET_HOME
  process.env.GWFLEET_HOME = path.join(tmp, 'home')
  fs.mkdirSync(path.join(tmp, 'values'))
  fs.writeFileSync(path.join(tmp, 'values', 'v.yaml'), 'tenant: t\n')
  inv = path.join(tmp, 'fleet.yaml')
  const gws = ['a', 'b', 'c'].flatMap((n) => [`  ${n}:`, `    host: ${n}.example`, '    values: values/v.yaml'])
  fs.writeFileSync(inv, ['release:', '  dir: releases', '  version: 1.5.0', 'gateways:', ...gws, ''].join('\n'))
})

afterAll(() => {
  if (saved === undefined) delete process.env.GWFLEET_HOME
  else process.env.GWFLEET_HOME = saved
  fs.rmSync(tmp, {recursive: true, force: true})
})

let n = 0
/** A finished run of `command` (as its JSON names it) whose gateways ended with these statuses. */
function saveRun(command: string, statuses: Record<string, string>): string {
  const id = `20261130T1200${String(10 + n).padStart(2, '0')}Z-${command.replace(' ', '-')}-${100 + n++}`
  const dir = path.join(process.env.GWFLEET_HOME!, 'runs', id)
  fs.mkdirSync(dir, {recursive: true})
  const doc = {command, ok: false, hosts: Object.entries(statuses).map(([name, status]) => ({name, host: `${name}.example`, status}))}
  fs.writeFileSync(path.join(dir, SUMMARY_FILE), JSON.stringify(summaryOf(doc, {id, started: new Date(), operator: 'op', inventory: inv, interrupted: false})))
  return id
}

const selected = async (command: string) => (await loadGateways({inventory: inv, limit: '@failed'}, command)).gateways.map((g) => g.name)

describe('-l @failed', () => {
  it('after an audit: the gateways not in sync, never the in-sync ones', async () => {
    saveRun('audit', {a: 'in-sync', b: 'drift', c: 'unreachable'})
    expect(await selected('audit')).toEqual(['b', 'c'])
  })

  it('every command with --limit reads its own last run: preflight, status, history, locks, diff', async () => {
    saveRun('preflight', {a: 'pass', b: 'warn', c: 'fail'})
    saveRun('status', {a: 'not-installed', b: 'ok', c: 'ok'})
    saveRun('history', {a: 'ok', b: 'failed', c: 'ok'})
    saveRun('locks list', {a: 'ok', b: 'ok', c: 'unreachable'})
    saveRun('diff', {a: 'changes', b: 'no-changes', c: 'refused'})
    expect(await selected('preflight')).toEqual(['c'])
    expect(await selected('status')).toEqual(['a'])
    expect(await selected('history')).toEqual(['b'])
    expect(await selected('locks list')).toEqual(['c'])
    expect(await selected('diff')).toEqual(['c'])
  })

  it('nothing left: exit-2 input error naming what the run ended with; no run of the command: says so', async () => {
    const id = saveRun('audit', {a: 'in-sync', b: 'in-sync', c: 'in-sync'})
    await expect(selected('audit')).rejects.toThrow(`@failed: every gateway of run ${id} ended in-sync; nothing to retry`)
    await expect(selected('uninstall')).rejects.toThrow(/@failed: no earlier uninstall run against .*fleet\.yaml/)
  })
})

describe('-l @failed:RUN-ID (issue 20)', () => {
  const by = async (command: string, id: string, inventory = inv) => (await loadGateways({inventory, limit: `@failed:${id}`}, command)).gateways.map((g) => g.name)

  it('refuses a run of another inventory, and a run of another command, naming what it was', async () => {
    const id = saveRun('upgrade', {a: 'failed', b: 'ok', c: 'ok'})
    expect(await by('upgrade', id)).toEqual(['a'])
    await expect(by('uninstall', id)).rejects.toThrow(`@failed:${id}: run ${id} ran "upgrade", not "uninstall"; use it with gwfleet upgrade`)
    // A read-only command may look at another command's failures (the logs of a failed upgrade).
    expect(await by('logs', id)).toEqual(['a'])
    expect(await by('status', id)).toEqual(['a'])
    // The same gateway names in another inventory: another fleet.
    const other = path.join(tmp, 'other.yaml')
    fs.copyFileSync(inv, other)
    await expect(by('upgrade', id, other)).rejects.toThrow(`@failed:${id}: run ${id} ran "upgrade" against ${inv}, not against ${other}`)
  })
})
