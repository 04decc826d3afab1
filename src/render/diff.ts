// How `gwfleet diff` (and `deploy --dry-run --diff`) prints: per gateway its version path and the
// values' key-by-key changes, then a summary; and the same as one JSON document. Values arrive
// already masked (secrets are never in a DiffResult); this adds the terminal's own safety.
import type {DiffResult, ValueChange} from '../runner/diff.js'
import {displayLine} from './sanitize.js'
import type {ResultDoc} from '../runner/runlog.js'

const SECRET_WORDS: Record<ValueChange['kind'], string> = {
  added: '<secret added>',
  removed: '<secret removed>',
  changed: '<secret changed>',
  unchanged: '<secret unchanged>',
}

const MARK: Record<ValueChange['kind'], string> = {added: '+', removed: '-', changed: '~', unchanged: '='}

/** One change as a line: `~ key: "old" -> "new"`, `+ key: value`, `~ key: <secret changed>`, `- key: <not shown>` (a host value withheld). */
export function changeLine(c: ValueChange): string {
  const from = c.fromHidden ? '<not shown>' : c.from
  const what = c.secret
    ? SECRET_WORDS[c.kind]
    : c.kind === 'added'
      ? c.to
      : c.kind === 'removed'
        ? from
        : `${from} -> ${c.to}`
  return displayLine(`${MARK[c.kind]} ${c.key}: ${what}`)
}

/** The version path of a plan: `1.2.0 -> 1.3.0 -> 1.4.0 (upgrade)`, `1.4.0 (in sync)`. */
export function versionPath(r: DiffResult): string {
  const p = r.plan
  if (!p) return '?'
  if (p.refused) return `${p.fromVersion ?? 'none'} -> ${p.toVersion ?? '?'}: refused: ${p.refused}`
  if (p.action === 'none') return `${p.fromVersion ?? 'none'} (${p.reason})`
  if (p.action === 'reconfigure') return `${p.fromVersion} (reconfigure: ${p.reason})`
  return `${[p.fromVersion ?? 'none', ...p.hops].join(' -> ')} (${p.action})`
}

/** The diff for a terminal or a file; `mask` hides the run's secrets once more. */
export function diffText(results: DiffResult[], mask: (s: string) => string = (s) => s): string {
  const out: string[] = []
  for (const r of results) {
    out.push(displayLine(mask(`${r.name} (${r.host}): ${r.status}`)))
    if (!r.plan || !r.values) {
      out.push(`  ${displayLine(mask(r.error ?? 'not read'))}`, '')
      continue
    }
    out.push(`  version: ${displayLine(mask(versionPath(r)))}`)
    const v = r.values
    const differ = v.changes.filter((c) => c.kind !== 'unchanged').length
    const state = v.state === 'same' ? 'same data' : v.state === 'changed' ? `${differ} key(s) differ` : v.state === 'new' ? `${differ} key(s), nothing deployed yet` : 'not compared'
    out.push(`  values: ${state}${v.note ? ` (${displayLine(mask(v.note))})` : ''}`)
    for (const c of v.changes) out.push(`    ${mask(changeLine(c))}`)
    out.push('')
  }
  return out.join('\n')
}

/** Counts for the summary line and the exit code. */
export function diffCounts(results: DiffResult[]): {changes: number; same: number; refused: number; unread: number} {
  return {
    changes: results.filter((r) => r.status === 'changes').length,
    same: results.filter((r) => r.status === 'no-changes').length,
    refused: results.filter((r) => r.status === 'refused').length,
    unread: results.filter((r) => r.status === 'unreachable' || r.status === 'failed').length,
  }
}

/** "2 would change, 5 unchanged, 1 refused, 0 not read". */
export function diffSummary(results: DiffResult[]): string {
  const c = diffCounts(results)
  return `${c.changes} would change, ${c.same} unchanged, ${c.refused} refused, ${c.unread} not read`
}

/** The JSON document of a diff. */
export function diffJson(results: DiffResult[], runDir: string | null): ResultDoc {
  const c = diffCounts(results)
  const doc = {
    ok: c.unread === 0 && c.refused === 0,
    command: 'diff',
    changes: c.changes > 0,
    summary: c,
    runDir,
    hosts: results.map((r) => ({
      name: r.name,
      host: r.host,
      status: r.status,
      action: r.plan?.action ?? null,
      fromVersion: r.plan?.fromVersion ?? null,
      toVersion: r.plan?.toVersion ?? null,
      hops: r.plan?.hops ?? [],
      reason: r.plan?.reason ?? null,
      refused: r.plan?.refused ?? null,
      migrateValues: r.plan?.migrateValues ?? false,
      values: r.values,
      error: r.error,
      durationMs: r.durationMs,
    })),
  }
  return doc
}
