// Formatters of the operator commands: the same results give the table and the JSON document.
import type {PodRow} from '../remote/cluster.js'
import {describeJob} from '../remote/job-scripts.js'
import type {JobFacts} from '../types.js'
import type {HistoryHost, HistoryRow, LockResult, PreflightResult, StatusResult} from '../runner/ops.js'
import {table, type View} from './output.js'
import {displayText} from './sanitize.js'
import {duration} from '../util/duration.js'

/** "2024-01-01 10:00:00Z" from an ISO time (left as is when it is not one). */
function when(iso: string | null | undefined): string {
  if (!iso) return '-'
  return /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(iso) ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z` : iso
}

// ------------------------------------------------------------------------------------ preflight

const PREFLIGHT_ORDER: Record<string, number> = {fail: 0, unreachable: 1, warn: 2, pass: 3}

/** Hosts with problems first, then by name. */
function sortPreflight(results: PreflightResult[]): PreflightResult[] {
  return [...results].sort((a, b) => (PREFLIGHT_ORDER[a.status] ?? 9) - (PREFLIGHT_ORDER[b.status] ?? 9) || a.name.localeCompare(b.name))
}

/** Count of hosts per status. */
export function preflightCounts(results: PreflightResult[]): Record<string, number> {
  const c: Record<string, number> = {}
  for (const r of results) c[r.status] = (c[r.status] ?? 0) + 1
  return c
}

/** How many checks passed, warned and failed: of one host, or of several. */
export interface CheckCounts {
  total: number
  pass: number
  warn: number
  fail: number
}

/** The checks of the given hosts, counted by level (an unreachable host ran none). */
export function checkCounts(results: PreflightResult[]): CheckCounts {
  const c: CheckCounts = {total: 0, pass: 0, warn: 0, fail: 0}
  for (const r of results) {
    for (const ch of r.checks) {
      c.total++
      c[ch.level]++
    }
  }
  return c
}

/** The preflight JSON document: every check of every host, and the checks counted. */
export function preflightJson(results: PreflightResult[], runDir: string | null) {
  return {
    command: 'preflight',
    ok: results.every((r) => r.status === 'pass' || r.status === 'warn'),
    runDir,
    summary: preflightCounts(results),
    checkCounts: checkCounts(results),
    hosts: results.map((r) => ({
      name: r.name,
      host: r.host,
      status: r.status,
      error: r.error,
      checks: r.checks,
      checkCounts: checkCounts([r]),
      durationMs: r.durationMs,
    })),
  }
}

/**
 * The preflight table, hosts with problems first. By default the problems only: each check that
 * warns or fails, each unreachable host, and one line for a host whose checks all pass; `all`
 * shows every check.
 */
export function preflightTable(results: PreflightResult[], view: View & {all?: boolean} = {}): string {
  const rows: string[][] = []
  for (const r of sortPreflight(results)) {
    if (r.status === 'unreachable') {
      rows.push([r.name, r.host, 'connect', 'FAIL', r.error ?? 'unreachable'])
      continue
    }
    const shown = view.all ? r.checks : r.checks.filter((c) => c.level !== 'pass')
    for (const c of shown) rows.push([r.name, r.host, c.id, c.level.toUpperCase(), c.message])
    if (shown.length === 0) rows.push([r.name, r.host, 'all', 'PASS', r.checks.length === 1 ? 'the 1 check passes' : `all ${r.checks.length} checks pass`])
  }
  return table(['GATEWAY', 'HOST', 'CHECK', 'RESULT', 'DETAIL'], rows, {...view, drop: ['HOST']})
}

/**
 * Below the table: hosts by status (`fail: 1   warn: 3   pass: 2`), then the checks counted, and
 * whether passing checks were left out of the table.
 */
export function preflightSummary(results: PreflightResult[], all = false): string {
  const c = preflightCounts(results)
  const hosts = Object.keys(c)
    .sort((a, b) => (PREFLIGHT_ORDER[a] ?? 9) - (PREFLIGHT_ORDER[b] ?? 9))
    .map((k) => `${k}: ${c[k]}`)
    .join('   ')
  const counts = checkCounts(results)
  const reached = results.filter((r) => r.status !== 'unreachable').length
  const hidden = !all && counts.pass > 0 ? `; the ${counts.pass} passing are not listed (--all lists every check)` : ''
  const checks = `${counts.total} check${counts.total === 1 ? '' : 's'} on ${reached} host${reached === 1 ? '' : 's'}: ${counts.pass} pass, ${counts.warn} warn, ${counts.fail} fail`
  return `${hosts}\n${checks}${hidden}`
}

// ------------------------------------------------------------------------------------ logs

const TIME_KEYS = ['time', 'ts', 'timestamp', '@timestamp', 't']
const LEVEL_KEYS = ['level', 'lvl', 'severity', 'levelname']
const MESSAGE_KEYS = ['msg', 'message']

function pick(o: Record<string, unknown>, keys: string[]): [string, unknown] | undefined {
  for (const k of keys) if (o[k] !== undefined && o[k] !== null && typeof o[k] !== 'object') return [k, o[k]]
  return undefined
}

function timeText(v: unknown): string {
  if (typeof v === 'number' && Number.isFinite(v)) {
    const ms = v > 1e12 ? v : v * 1000 // zap's default: seconds as a float
    return new Date(ms).toISOString()
  }
  return String(v)
}

function fieldValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)
  return JSON.stringify(v)
}

/** An agent log line for people: time, level, message, then the other fields as key=value; non-JSON lines as they are. */
export function prettyLogLine(line: string): string {
  const t = line.trim()
  if (!t.startsWith('{')) return line
  let o: unknown
  try {
    o = JSON.parse(t)
  } catch {
    return line
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return line
  const rec = o as Record<string, unknown>
  const time = pick(rec, TIME_KEYS)
  const level = pick(rec, LEVEL_KEYS)
  const msg = pick(rec, MESSAGE_KEYS)
  const used = new Set([time?.[0], level?.[0], msg?.[0]])
  const rest = Object.entries(rec)
    .filter(([k]) => !used.has(k))
    .map(([k, v]) => `${k}=${fieldValue(v)}`)
  const head = [time ? timeText(time[1]) : '-', String(level?.[1] ?? '-').toUpperCase().padEnd(5), msg ? String(msg[1]) : '']
  return [...head, ...rest].join('  ').trimEnd()
}

/** True when a line is one JSON object (jsonlines). */
export function isJsonLine(line: string): boolean {
  const t = line.trim()
  if (!t.startsWith('{')) return false
  try {
    const o = JSON.parse(t)
    return !!o && typeof o === 'object' && !Array.isArray(o)
  } catch {
    return false
  }
}

// ------------------------------------------------------------------------------------ status

/** The status JSON document. */
export function statusJson(results: StatusResult[], runDir: string | null) {
  return {
    command: 'status',
    ok: results.every((r) => r.status === 'ok'),
    runDir,
    hosts: results.map((r) => ({
      name: r.name,
      host: r.host,
      status: r.status,
      installed: r.gateway?.installed ?? null,
      version: r.gateway?.version ?? null,
      error: r.error,
      pods: r.gateway?.pods ?? [],
      computations: r.gateway?.computations ?? [],
      job: r.gateway?.job ?? null,
      lastChange: r.gateway?.lastChange ?? null,
      durationMs: r.durationMs,
    })),
  }
}

// A pod's age as kubectl shows it, from its creation time.
function age(created: string | null, now: number): string {
  return created && !Number.isNaN(Date.parse(created)) ? duration((now - Date.parse(created)) / 1000) : '-'
}

/** Per gateway: a heading, the pods of its cluster as `kubectl get pod --all-namespaces` lists them, and the computations per job id. */
export function statusText(results: StatusResult[], now = Date.now()): string {
  const blocks: string[] = []
  for (const r of results) {
    const g = r.gateway
    const head = `== ${r.name} (${r.host})`
    const job = [...(g?.job ? [jobLine(g.job)] : []), ...(g?.lastChange ? [g.lastChange] : [])]
    if (!g || r.status !== 'ok') {
      const lines = [`${head}: ${r.status}: ${r.error ?? ''}`.trimEnd(), ...job]
      // A cluster without an agent still shows what runs on it.
      if (g?.pods.length) lines.push(podTable(g.pods, now))
      blocks.push(lines.join('\n'))
      continue
    }
    const lines = [`${head}: agent ${g.version}`, ...job, podTable(g.pods, now), '']
    if (g.computations.length === 0) lines.push('Computations (apheris_job_id): none running')
    else {
      lines.push(`Computations (apheris_job_id): ${g.computations.length} job(s)`)
      const rows: string[][] = []
      for (const c of g.computations) {
        for (const p of c.pods) rows.push([c.jobId || '-', p.name, p.ready, p.phase, String(p.restarts), age(p.created, now), p.requests.join(' ') || '-'])
      }
      lines.push(table(['JOB ID', 'POD', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'REQUESTS (cpu/memory)'], rows))
    }
    blocks.push(lines.join('\n'))
  }
  // Names, statuses and error messages come from the host.
  return displayText(blocks.join('\n\n'))
}

// A job on the host no run has recorded: live (which run, since when, pid, output so far), or ended unwatched.
function jobLine(j: JobFacts): string {
  if (j.state === 'running') return `${describeJob(j.meta)}: running for ${duration(j.ageSeconds)}, pid ${j.pid ?? '?'}, ${j.logBytes} bytes of output so far`
  return `${describeJob(j.meta)}: ended while nobody watched (${j.state === 'lost' ? 'without an exit status' : `exit code ${j.rc}`}); \`gwfleet deploy\` judges and records it`
}

// The columns kubectl prints for `get pod --all-namespaces`.
function podTable(pods: PodRow[], now: number): string {
  return table(
    ['NAMESPACE', 'NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'],
    pods.map((p) => [p.namespace, p.name, p.ready, p.status, String(p.restarts), age(p.created, now)]),
  )
}

// ------------------------------------------------------------------------------------ locks

/** The JSON document of `locks list` / `locks clear`. */
export function locksJson(command: 'locks list' | 'locks clear', results: LockResult[], runDir: string | null) {
  return {
    command,
    ok: results.every((r) => r.status === 'ok'),
    runDir,
    hosts: results.map((r) => ({
      name: r.name,
      host: r.host,
      status: r.status,
      locked: command === 'locks clear' ? false : r.lock !== null,
      ...(command === 'locks clear' ? {cleared: r.cleared} : {}),
      lock: r.lock,
      error: r.error,
      durationMs: r.durationMs,
    })),
  }
}

// A negative age is a stamp in the future (the host's clock went back): said as such.
function lockAge(seconds: number): string {
  return seconds < 0 ? `stamped ${-seconds}s in the future` : duration(seconds)
}

/** What the locks table says of a holder: who, and when its process is gone from this workstation. */
function holderText(lock: NonNullable<LockResult['lock']>): string {
  if (!lock.processGone) return lock.holder
  const pid = lock.pid === null ? '' : ` (pid ${lock.pid})`
  return lock.takenOverByMe
    ? `${lock.holder}; its process${pid} is gone from this workstation: your next run takes the lock over`
    : `${lock.holder}; its process${pid} is gone from this workstation: a run of ${lock.owner ?? 'that user'} takes it over, or locks clear --yes removes it`
}

/** The locks table: held (live or expired) first; a holder whose process is gone from this workstation says so. */
export function locksTable(results: LockResult[], clear: boolean, view: View = {}): string {
  const state = (r: LockResult) => {
    if (r.status !== 'ok') return r.status
    if (clear) return r.cleared ? (r.lock && !r.lock.expired && !r.lock.processGone ? 'cleared (was live)' : 'cleared') : 'no lock'
    if (!r.lock) return 'free'
    return r.lock.expired ? 'expired' : r.lock.processGone ? 'held, process gone' : 'held'
  }
  const order = (r: LockResult) => (r.status !== 'ok' ? 0 : r.lock ? 1 : 2)
  const sorted = [...results].sort((a, b) => order(a) - order(b) || a.name.localeCompare(b.name))
  return table(
    ['GATEWAY', 'HOST', clear ? 'RESULT' : 'LOCK', 'AGE', 'HOLDER'],
    sorted.map((r) => [r.name, r.host, state(r), r.lock ? lockAge(r.lock.ageSeconds) : '-', r.status !== 'ok' ? (r.error ?? '') : r.lock ? holderText(r.lock) : '']),
    {...view, drop: ['HOST']},
  )
}

/** The line below `locks list`: how many hosts are locked, how many of those locks expired or lost their process. */
export function locksListSummary(results: LockResult[]): string {
  const held = results.filter((r) => r.lock)
  const expired = held.filter((r) => r.lock!.expired).length
  const gone = held.filter((r) => !r.lock!.expired && r.lock!.processGone).length
  const notes = [
    ...(expired ? [`${expired} expired: the next run takes them over`] : []),
    ...(gone ? [`${gone} held by a process that is gone from this workstation`] : []),
  ]
  return `${held.length} of ${results.length} host(s) locked${notes.length ? ` (${notes.join('; ')})` : ''}`
}

// ------------------------------------------------------------------------------------ history

/** The history JSON document. */
export function historyJson(entries: HistoryRow[], hosts: HistoryHost[], runDir: string | null) {
  return {
    command: 'history',
    ok: hosts.every((h) => h.status === 'ok'),
    runDir,
    entries,
    hosts,
  }
}

/** One row per change, oldest first. */
export function historyTable(entries: HistoryRow[], view: View = {}): string {
  return table(
    ['TIME', 'GATEWAY', 'OPERATOR', 'COMMAND', 'ACTION', 'FROM', 'TO', 'RESULT', 'DETAIL'],
    entries.map((e) => [when(e.time), e.gateway, e.operator ?? '-', e.command ?? '-', e.action ?? '-', e.fromVersion ?? '-', e.toVersion ?? '-', e.result ?? '-', e.error ?? '']),
    {...view, drop: ['COMMAND', 'OPERATOR']},
  )
}
