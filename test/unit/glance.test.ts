// Output a person reads at a glance (issue 21, item 5): preflight shows its problems and counts its
// checks; the live and plain progress show each host's elapsed time and how old its last output
// line is; a failed hook says what it printed last; failures come first in the results table and
// read whole at 80 columns; locks list says when a holder's process is gone.
import {describe, expect, it} from 'vitest'

import {checkCounts, preflightJson, preflightSummary, preflightTable} from '../../src/render/ops-output.js'
import type {PreflightResult} from '../../src/runner/ops.js'

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
