// Output a person reads at a glance (issue 21, item 5): preflight shows its problems and counts its
// checks; the live and plain progress show each host's elapsed time and how old its last output
// line is; a failed hook says what it printed last; failures come first in the results table and
// read whole at 80 columns; locks list says when a holder's process is gone.
import {readFileSync} from 'node:fs'
import {PassThrough} from 'node:stream'
import {describe, expect, it} from 'vitest'

import {ProgressBoard} from '../../src/render/live.js'
import {PlainReporter} from '../../src/render/progress.js'

import {checkCounts, locksJson, locksListSummary, locksTable, preflightJson, preflightSummary, preflightTable} from '../../src/render/ops-output.js'
import {parseLock, type LockResult, type PreflightResult} from '../../src/runner/ops.js'

const pass = (id: string, message = 'ok') => ({id, level: 'pass' as const, message})

function host(name: string, status: PreflightResult['status'], checks: PreflightResult['checks'], error: string | null = null): PreflightResult {
  return {name, host: `${name}.example`, status, checks, error, durationMs: 100}
}

const ids = ['root', 'os', 'bash', 'curl', 'tools', 'cpu', 'memory', 'disk', 'datasets', 'port-6443', 'firewall', 'proxy']
const allPass = (name: string) => host(name, 'pass', ids.map((id) => pass(id)))
const fleet: PreflightResult[] = [
  allPass('a-good'),
  host('b-warn', 'warn', [...ids.slice(0, 10).map((id) => pass(id)), {id: 'cpu', level: 'warn', message: '2 CPUs (8 recommended)'}, {id: 'memory', level: 'warn', message: '4 GB memory (32 GB recommended)'}]),
  host('c-fail', 'fail', [...ids.slice(1).map((id) => pass(id)), {id: 'root', level: 'fail', message: 'sudo is not installed on this host'}]),
  host('d-gone', 'unreachable', [], 'connection refused by d-gone.example:22 (is sshd running?)'),
]

describe('preflight at a glance', () => {
  it('by default lists only the checks that warn or fail, one line for a host that passes all, problems first', () => {
    expect(preflightTable(fleet).split('\n')).toEqual([
      'GATEWAY  HOST            CHECK    RESULT  DETAIL',
      'c-fail   c-fail.example  root     FAIL    sudo is not installed on this host',
      'd-gone   d-gone.example  connect  FAIL    connection refused by d-gone.example:22 (is sshd running?)',
      'b-warn   b-warn.example  cpu      WARN    2 CPUs (8 recommended)',
      'b-warn   b-warn.example  memory   WARN    4 GB memory (32 GB recommended)',
      'a-good   a-good.example  all      PASS    all 12 checks pass',
    ])
  })

  it('--all lists every check', () => {
    const rows = preflightTable(fleet, {all: true}).split('\n').slice(1)
    expect(rows).toHaveLength(12 + 12 + 12 + 1)
    expect(rows.filter((r) => r.startsWith('a-good ')).map((r) => r.split(/\s+/)[2])).toEqual(ids)
    expect(rows.some((r) => / all +PASS/.test(r))).toBe(false)
  })

  it('the summary counts hosts by status and the checks by level, and says the passing ones are not listed', () => {
    expect(preflightSummary(fleet)).toBe('fail: 1   unreachable: 1   warn: 1   pass: 1\n36 checks on 3 hosts: 33 pass, 2 warn, 1 fail; the 33 passing are not listed (--all lists every check)')
    expect(preflightSummary(fleet, true)).toBe('fail: 1   unreachable: 1   warn: 1   pass: 1\n36 checks on 3 hosts: 33 pass, 2 warn, 1 fail')
  })

  it('the JSON keeps every check and counts them, per host and in all', () => {
    const doc = preflightJson(fleet, null)
    expect(doc.hosts.map((h) => h.checks.length)).toEqual([12, 12, 12, 0])
    expect(doc.checkCounts).toEqual({total: 36, pass: 33, warn: 2, fail: 1})
    expect(doc.hosts[1].checkCounts).toEqual({total: 12, pass: 10, warn: 2, fail: 0})
    expect(checkCounts([fleet[3]])).toEqual({total: 0, pass: 0, warn: 0, fail: 0})
  })
})

describe('a working host shows how long it has been at it and how long ago its last output came', () => {
  it('live rows: elapsed since the host started, the last output line\'s age, kept within the width; final rows as before', () => {
    let now = 1_000_000
    const b = new ProgressBoard([{name: 'berlin-1'}, {name: 'lyon-1'}], () => now)
    b.step('berlin-1', 'connecting')
    now += 4_000
    b.step('berlin-1', 'running installer 1.5.0')
    // No output yet in this step: the elapsed time only.
    expect(b.lines(100, 10)[0]).toBe('⠋ berlin-1: running installer 1.5.0 · 4s')
    now += 60_000
    b.line('berlin-1', 'Installing k3s...')
    now += 128_000
    // 3m12s at it, its last line 2m08s old: a hung installer reads as hung.
    expect(b.lines(100, 10)[0]).toBe('⠋ berlin-1: running installer 1.5.0 · 3m12s · last output 2m08s ago  Installing k3s...')
    // On a narrow terminal the output line is cut first, the times stay.
    const narrow = b.lines(80, 10)[0]
    expect([...narrow].length).toBeLessThanOrEqual(80)
    expect(narrow).toBe('⠋ berlin-1: running installer 1.5.0 · 3m12s · last output 2m08s ago  Installin…')
    // A new step starts its own output; the host's elapsed time goes on.
    b.step('berlin-1', 'recording 1.5.0')
    expect(b.lines(100, 10)[0]).toBe('⠋ berlin-1: recording 1.5.0 · 3m12s')
    b.result('berlin-1', 'ok', 'ok (install)')
    expect(b.lines(100, 10)).toEqual(['✔ berlin-1: ok (install)', '· lyon-1: waiting'])
  })

  it('plain lines: a result says how long the host took; a host quiet for a minute gets a line saying so, once a minute', () => {
    let now = Date.parse('2025-01-01T10:00:00Z')
    const out = new PassThrough()
    let text = ''
    out.on('data', (d) => (text += d))
    const p = new PlainReporter((s) => s, out, {now: () => now, quietMs: 60_000})
    p.step('berlin-1', 'running installer 1.5.0')
    p.step('lyon-1', 'running installer 1.5.0')
    now += 30_000
    p.line('lyon-1', 'Installing k3s...')
    now += 40_000
    p.tellQuiet()
    now += 10_000
    p.tellQuiet()
    now += 60_000
    p.line('lyon-1', 'Waiting for pods...')
    p.tellQuiet()
    p.done({name: 'lyon-1', host: 'l', status: 'ok', action: 'install', fromVersion: null, toVersion: '1.5.0', hops: ['1.5.0'], error: null, durationMs: 1})
    p.done({name: 'berlin-1', host: 'b', status: 'failed', action: 'install', fromVersion: null, toVersion: '1.5.0', hops: ['1.5.0'], error: 'installer exited with code 1', durationMs: 1})
    p.tellQuiet()
    expect(text.split('\n').filter(Boolean)).toEqual([
      '10:00:00 berlin-1: running installer 1.5.0',
      '10:00:00 lyon-1: running installer 1.5.0',
      '10:01:10 berlin-1: still running installer 1.5.0 · 1m10s · no output for 1m10s',
      '10:02:20 berlin-1: still running installer 1.5.0 · 2m20s · no output for 2m20s',
      '10:02:20 lyon-1: ok (2m20s)',
      '10:02:20 berlin-1: failed (2m20s) - installer exited with code 1',
    ])
  })
})

describe('locks list says when the holder\'s process is gone', () => {
  // A pid that runs nowhere: past the kernel's pid limit.
  const gone = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1
  const me = {owner: 'ana@ws-7', machine: 'm-here'}
  const out = (o: object, age = 30) => `gw.lock=${JSON.stringify({command: 'deploy', started: '2026-12-01T10:00:00Z', token: 'x', ...o})}\ngw.lock_age=${age}\ngw.end=1\n`
  const row = (name: string, stdout: string): LockResult => ({name, host: `${name}.example`, status: 'ok', lock: parseLock(stdout, me).lock, cleared: false, error: null, durationMs: 1})

  it('same machine identity and pid gone: said in the table, the JSON and the summary; who takes it over', () => {
    const results = [
      row('a-mine', out({owner: me.owner, pid: gone, machine: 'm-here'})),
      row('b-other-user', out({owner: 'bo@ws-7', pid: gone, machine: 'm-here'})),
      // Still running (the test runner's parent), another machine, no machine identity, expired: not "gone".
      row('c-live', out({owner: me.owner, pid: process.ppid, machine: 'm-here'})),
      row('d-elsewhere', out({owner: 'cy@ws-9', pid: gone, machine: 'm-there'})),
      row('e-old', out({owner: me.owner, pid: gone})),
      {name: 'f-free', host: 'f-free.example', status: 'ok', lock: null, cleared: false, error: null, durationMs: 1} as LockResult,
    ]
    expect(results.map((r) => [r.name, r.lock?.processGone, r.lock?.takenOverByMe])).toEqual([
      ['a-mine', true, true],
      ['b-other-user', true, false],
      ['c-live', false, false],
      ['d-elsewhere', false, false],
      ['e-old', false, false],
      ['f-free', undefined, undefined],
    ])
    const lines = locksTable(results, false).split('\n')
    expect(lines[1]).toBe(`a-mine        a-mine.example        held, process gone  30s  ana@ws-7 pid ${gone} (deploy) since 2026-12-01T10:00:00Z; its process (pid ${gone}) is gone from this workstation: your next run takes the lock over`)
    expect(lines[2]).toMatch(new RegExp(`^b-other-user .* held, process gone  30s  bo@ws-7 pid ${gone} .*: a run of bo@ws-7 takes it over, or locks clear --yes removes it$`))
    expect(lines[3]).toMatch(/^c-live\s+\S+\s+held\s+30s\s+ana@ws-7 pid \d+ \(deploy\) since 2026-12-01T10:00:00Z$/)
    expect(lines.slice(4, 6).every((l) => /\sheld\s/.test(l) && !l.includes('gone'))).toBe(true)
    expect(locksListSummary(results)).toBe('5 of 6 host(s) locked (2 held by a process that is gone from this workstation)')
    expect(locksJson('locks list', results, null).hosts[0].lock).toMatchObject({processGone: true, takenOverByMe: true, pid: gone})
  })
})
