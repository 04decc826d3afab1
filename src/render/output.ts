// Formatters own the final output: the same data gives the table, the JSON and the CSV.
import type {AuditResult} from '../runner/audit.js'
import {auditOk, type HostResult} from '../runner/result.js'
import {csvCell, displayLine} from './sanitize.js'
import {statusWord} from './words.js'

export {statusWord}

/** Where a table is shown: the terminal's width (none: a pipe or a file) and the secrets mask. */
export interface View {
  width?: number
  /** Applied to every cell before anything is cut, so a cut never hides a secret from it. */
  mask?: (s: string) => string
}

/** How a table fits its view: the columns to leave out, in order, when it is too wide. */
export interface Fit extends View {
  drop?: string[]
}

/** The narrowest the last column (DETAIL) keeps on its row; with less room every DETAIL goes below its row. */
const MIN_LAST = 20
/** Room for the last column that is worth leaving out an optional column for. */
const WANT_LAST = 30
/** How far a DETAIL written below its row is indented. */
const BELOW = '  '

/**
 * Plain text table with left-aligned columns; the last one is free text (DETAIL, WHY). On a
 * terminal narrower than the table, the `drop` columns go first; then a last cell too long for
 * the room left goes whole on the lines below its row, indented and wrapped at word boundaries to
 * the terminal's width, so a failure's reason reads whole at 80 columns. When even a short one
 * would get too little room, every last cell goes below its row. Without a width (a pipe, a file)
 * every row is one line.
 */
export function table(headers: string[], rows: string[][], fit: Fit = {}): string {
  let h = headers
  // Secrets masked first, then host text (errors, kubectl, history) made inert for the terminal.
  let r = rows.map((row) => row.map((c) => displayLine(fit.mask ? fit.mask(c ?? '') : (c ?? ''))))
  const len = (c: string | undefined) => [...(c ?? '')].length
  const widths = (of = r) => h.map((x, i) => Math.max(x.length, ...of.map((row) => len(row[i]))))
  const total = () => widths().reduce((a, b) => a + b, 0) + 2 * (h.length - 1)
  // The width with the last column cut to what is worth keeping of it.
  const needed = () => {
    const w = widths()
    return total() - w[w.length - 1] + Math.min(w[w.length - 1], WANT_LAST)
  }
  const fmt = (row: string[], w: number[]) =>
    row
      .map((c, i) => (i === row.length - 1 ? c : (c ?? '').padEnd(w[i] + (c ?? '').length - len(c))))
      .join('  ')
      .trimEnd()
  const width = fit.width
  if (!width || total() <= width) {
    const w = widths()
    return [fmt(h, w), ...r.map((row) => fmt(row, w))].join('\n')
  }
  for (const name of fit.drop ?? []) {
    if (needed() <= width) break
    const i = h.indexOf(name)
    if (i === -1 || i === h.length - 1) continue
    h = h.filter((_, j) => j !== i)
    r = r.map((row) => row.filter((_, j) => j !== i))
  }
  const last = h.length - 1
  const lw = widths().slice(0, -1)
  const room = width - lw.reduce((a, b) => a + b + 2, 0)
  const below = (cell: string) => wrap(cell, Math.max(1, width - BELOW.length)).map((l) => `${BELOW}${l}`)
  const out: string[] = []
  if (room < MIN_LAST) {
    out.push(fmt(h.slice(0, -1), lw))
    for (const row of r) {
      out.push(fmt(row.slice(0, -1), lw))
      if (row[last]) out.push(...below(row[last]))
    }
    return out.join('\n')
  }
  const w = [...lw, Math.max(h[last].length, ...r.filter((row) => len(row[last]) <= room).map((row) => len(row[last])))]
  out.push(fmt(h, w))
  for (const row of r) {
    if (len(row[last]) <= room) out.push(fmt(row, w))
    else out.push(fmt(row.slice(0, -1), lw), ...below(row[last]))
  }
  return out.join('\n')
}

/** Text in lines of at most `width` characters, broken at spaces (a longer word is split). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ').filter((x) => x !== '')) {
    let rest = [...word]
    if (line !== '' && [...line].length + 1 + rest.length <= width) {
      line += ` ${word}`
      continue
    }
    if (line !== '') lines.push(line)
    while (rest.length > width) {
      lines.push(rest.slice(0, width).join(''))
      rest = rest.slice(width)
    }
    line = rest.join('')
  }
  if (line !== '') lines.push(line)
  return lines
}


const STATUS_ORDER: Record<string, number> = {failed: 0, interrupted: 0.5, unreachable: 1, refused: 2, skipped: 3, ok: 4, unchanged: 5}

/**
 * The JSON document of a changing command (SPEC section 4). A dry run keeps SPEC's statuses
 * (`ok`: would change as asked) with `dryRun: true`; `warnings` are what the run told the operator first.
 */
export function changeJson(command: string, results: HostResult[], extra: {dryRun: boolean; runDir: string | null; batches?: string[][]; warnings?: string[]}) {
  return {
    command,
    ok: results.every((r) => r.status === 'ok' || r.status === 'unchanged'),
    dryRun: extra.dryRun,
    runDir: extra.runDir,
    ...(extra.batches ? {batches: extra.batches} : {}),
    ...(extra.warnings?.length ? {warnings: extra.warnings} : {}),
    hosts: results.map((r) => ({
      name: r.name,
      host: r.host,
      status: r.status,
      action: r.action,
      fromVersion: r.fromVersion,
      toVersion: r.toVersion,
      hops: r.hops,
      error: r.error,
      durationMs: r.durationMs,
      ...(r.reached ? {reached: r.reached} : {}),
      ...(r.batch ? {batch: r.batch} : {}),
      ...(r.notes && r.notes.length ? {notes: r.notes} : {}),
    })),
  }
}

/**
 * The notes of a host that ended well, for the table: preflight warnings are counted, not spelled
 * out (their words stay in --json and the run folder), so a fleet's worth does not fill DETAIL.
 */
export function detailOf(notes: string[]): string {
  const warnings = notes.filter((n) => n.startsWith('preflight warning:'))
  const rest = notes.filter((n) => !n.startsWith('preflight warning:'))
  const counted = warnings.length ? [`${warnings.length} preflight warning${warnings.length === 1 ? '' : 's'} (see --json or the run folder)`] : []
  return [...rest, ...counted].join('; ')
}

/** The results table of a changing command, problems first; `view`: the terminal it is shown on. */
export function changeTable(results: HostResult[], view: View = {}): string {
  const sorted = [...results].sort((a, b) => (STATUS_ORDER[a.status] ?? 9) - (STATUS_ORDER[b.status] ?? 9) || a.name.localeCompare(b.name))
  return table(
    ['GATEWAY', 'HOST', 'STATUS', 'ACTION', 'FROM', 'TO', 'HOPS', 'TIME', 'DETAIL'],
    sorted.map((r) => [
      r.name,
      r.host,
      r.status,
      r.action,
      r.fromVersion ?? '-',
      r.toVersion ?? '-',
      r.hops.length ? r.hops.join('>') : '-',
      `${(r.durationMs / 1000).toFixed(1)}s`,
      r.error ?? detailOf(r.notes ?? []),
    ]),
    {...view, drop: ['HOPS', 'TIME', 'HOST']},
  )
}

// Plan words sort with `ok`, in the order a rollout does them.
const PLAN_ORDER: Record<string, number> = {'would install': 4.1, 'would upgrade': 4.2, 'would reconfigure': 4.3, 'would uninstall': 4.4, 'would migrate values': 4.5}

/** A summary line: count per status (per planned action in a dry run). */
export function changeSummary(results: HostResult[], dryRun = false): string {
  const counts = new Map<string, number>()
  for (const r of results) {
    const k = statusWord(r, dryRun)
    counts.set(k, (counts.get(k) ?? 0) + 1)
  }
  const rank = (k: string) => PLAN_ORDER[k] ?? STATUS_ORDER[k] ?? 9
  return [...counts.entries()]
    .sort((a, b) => rank(a[0]) - rank(b[0]))
    .map(([k, v]) => `${k}: ${v}`)
    .join('   ')
}

/**
 * The plan view of --dry-run: per gateway the current version, what the run would do (`would
 * upgrade`, `unchanged`, `refused` ...), the hops and why; and the batches.
 */
export function planView(results: HostResult[], batches: string[][] | undefined, view: View = {}): string {
  const rows = results.map((r) => [
    r.name,
    r.fromVersion ?? (r.status === 'unreachable' || (r.status === 'failed' && !r.plan) ? '?' : 'none'),
    r.toVersion ?? '-',
    r.plan?.refused && r.status !== 'unreachable' && r.status !== 'failed' ? 'refused' : statusWord(r, true),
    r.hops.length ? r.hops.join(' > ') : '-',
    r.error ?? r.plan?.reason ?? '',
  ])
  let out = table(['GATEWAY', 'CURRENT', 'DESIRED', 'PLAN', 'HOPS', 'WHY'], rows, view)
  if (batches && batches.length) {
    out += '\n\nBatches:\n' + batches.map((b, i) => `  ${i + 1}. ${b.join(', ')}`).join('\n')
  }
  return out
}

const AUDIT_ORDER: Record<string, number> = {failed: 0, unreachable: 0, invalid: 0, drift: 1, installing: 1, 'not-installed': 2, 'in-sync': 3, absent: 3}

/** Audit rows sorted so the problems come first. */
export function sortAudit(results: AuditResult[]): AuditResult[] {
  return [...results].sort((a, b) => (AUDIT_ORDER[a.status] ?? 9) - (AUDIT_ORDER[b.status] ?? 9) || a.name.localeCompare(b.name))
}

/** The audit JSON (SPEC section 4). */
export function auditJson(results: AuditResult[], runDir: string | null) {
  return {
    command: 'audit',
    ok: results.every(auditOk),
    runDir,
    summary: auditSummaryCounts(results),
    hosts: results.map((r) => ({
      name: r.name,
      host: r.host,
      status: r.status,
      version: r.version,
      desiredVersion: r.desiredVersion,
      valuesInSync: r.valuesInSync,
      error: auditOk(r) ? null : (r.error ?? (r.reasons.join('; ') || null)),
      reasons: r.reasons,
      lastChange: r.lastChange,
      ...(r.lastAttempt ? {lastAttempt: r.lastAttempt} : {}),
      durationMs: r.durationMs,
    })),
  }
}

/** Counts per status (every status, zero too) and per installed version. */
export function auditSummaryCounts(results: AuditResult[]): {statuses: Record<string, number>; versions: Record<string, number>} {
  const statuses: Record<string, number> = Object.fromEntries(SUMMARY_ORDER.map((st) => [st, 0]))
  const versions: Record<string, number> = {}
  for (const r of results) {
    statuses[r.status] = (statuses[r.status] ?? 0) + 1
    if (r.version !== null) versions[r.version] = (versions[r.version] ?? 0) + 1
  }
  return {statuses, versions}
}

// The summary line reads from good to bad, as an operator scans it.
const SUMMARY_ORDER = ['in-sync', 'absent', 'drift', 'installing', 'not-installed', 'invalid', 'failed', 'unreachable'] as const

/** `in-sync: 41   drift: 3   unreachable: 1   |   versions 1.5.0: 41   1.4.2: 3`: statuses that occur, then versions newest first. */
export function auditSummaryLine(results: AuditResult[]): string {
  const {statuses, versions} = auditSummaryCounts(results)
  const st = SUMMARY_ORDER.filter((k) => statuses[k]).map((k) => `${k}: ${statuses[k]}`)
  const vs = Object.keys(versions)
    .sort((a, b) => b.localeCompare(a, undefined, {numeric: true}))
    .map((k) => `${k}: ${versions[k]}`)
  return vs.length ? `${st.join('   ')}   |   versions ${vs.join('   ')}` : st.join('   ')
}

/** The audit table; `view`: the terminal it is shown on. */
export function auditTable(results: AuditResult[], view: View = {}): string {
  return table(
    ['GATEWAY', 'HOST', 'STATUS', 'VERSION', 'DESIRED', 'VALUES', 'LAST CHANGE', 'DETAIL'],
    sortAudit(results).map((r) => [
      r.name,
      r.host,
      r.status,
      r.version ?? '-',
      r.desiredVersion ?? 'absent',
      r.valuesInSync === null ? '?' : r.valuesInSync ? 'in-sync' : 'drift',
      r.lastChange ? `${r.lastChange.time.slice(0, 16).replace('T', ' ')} ${r.lastChange.operator}` : '-',
      r.status === 'in-sync' ? '' : r.reasons.join('; '),
    ]),
    {...view, drop: ['LAST CHANGE', 'HOST', 'VALUES']},
  )
}

/** The audit as CSV for spreadsheets (RFC 4180 quoting). */
export function auditCsv(results: AuditResult[]): string {
  const head = ['name', 'host', 'status', 'version', 'desiredVersion', 'valuesInSync', 'lastChangeTime', 'lastChangeOperator', 'detail']
  const rows = sortAudit(results).map((r) => [
    r.name,
    r.host,
    r.status,
    r.version ?? '',
    r.desiredVersion ?? '',
    r.valuesInSync === null ? '' : String(r.valuesInSync),
    r.lastChange?.time ?? '',
    r.lastChange?.operator ?? '',
    r.status === 'in-sync' ? '' : r.reasons.join('; '),
  ])
  return [head, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n'
}
