// `gwfleet runs` and `gwfleet runs show ID`: the run folders on this workstation, read from their
// summaries (run.json). Nothing here opens a connection.
import {closeSync, constants, openSync, readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {InputError} from '../errors.js'
import {table, type View} from '../render/output.js'
import {displayLine, displayText, jsonForTerminal} from '../render/sanitize.js'
import {findRun, listRuns, runsHome, type RunEntry, type RunSummary} from '../runner/runlog.js'
import {EXIT, tableView, write} from './common.js'

/** Statuses in the order a reader wants them: problems first. */
const ORDER = ['failed', 'interrupted', 'unreachable', 'invalid', 'refused', 'skipped', 'drift', 'not-installed', 'fail', 'warn', 'ok', 'unchanged', 'in-sync', 'pass']
const rank = (status: string) => (ORDER.includes(status) ? ORDER.indexOf(status) : ORDER.length)

/** `failed: 1   ok: 2`: gateways per status, problems first. */
export function countsText(counts: Record<string, number>): string {
  return Object.entries(counts)
    .sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0]))
    .map(([k, v]) => `${k}: ${v}`)
    .join('   ')
}

/** `2026-11-28 11:47:02Z` from a Date or an ISO time. */
function when(t: Date | string): string {
  const d = typeof t === 'string' ? new Date(t) : t
  return Number.isNaN(d.getTime()) ? String(t) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z')
}

/** The command as typed, with `--dry-run` when it was one. */
function commandText(r: RunEntry): string {
  if (!r.summary) return r.command.replace(/^locks-/, 'locks ')
  return `${r.summary.command}${r.summary.dryRun ? ' --dry-run' : ''}`
}

/** The `runs` table: newest first. */
export function runsTable(runs: RunEntry[], view: View = {}): string {
  return table(
    ['ID', 'STARTED', 'COMMAND', 'OPERATOR', 'INVENTORY', 'RESULT'],
    runs.map((r) => [
      r.id,
      when(r.started),
      commandText(r),
      r.summary?.operator ?? '-',
      r.summary?.inventory ?? '-',
      r.summary ? `${countsText(r.summary.counts) || 'no gateways'}${r.summary.interrupted ? ' (interrupted)' : ''}` : 'no summary: the run ended before writing one',
    ]),
    {...view, drop: ['INVENTORY', 'OPERATOR']},
  )
}

/** The table of one run's gateways, problems first. */
export function runHostsTable(s: RunSummary, view: View = {}): string {
  const hosts = [...s.hosts].sort((a, b) => rank(a.status) - rank(b.status) || a.name.localeCompare(b.name))
  const withAction = hosts.some((h) => h.action !== undefined)
  return table(
    ['GATEWAY', 'HOST', 'STATUS', ...(withAction ? ['ACTION'] : []), 'FROM', 'TO', 'DETAIL'],
    hosts.map((h) => [h.name, h.host, h.status, ...(withAction ? [h.action ?? '-'] : []), h.from ?? '-', h.to ?? '-', h.detail ?? '']),
    {...view, drop: ['HOST', 'FROM']},
  )
}

/** runs: the newest run folders, newest first. */
export async function runsCommand(flags: {json: boolean; last: number}): Promise<number> {
  const runs = listRuns().slice(0, flags.last)
  if (flags.json) {
    write(
      jsonForTerminal(
        JSON.stringify(
          {
            command: 'runs',
            ok: true,
            dir: runsHome(),
            runs: runs.map((r) => ({id: r.id, dir: r.dir, started: r.started.toISOString(), command: r.summary?.command ?? r.command, summary: r.summary})),
          },
          null,
          2,
        ),
      ),
    )
    return EXIT.ok
  }
  write(runs.length ? runsTable(runs, tableView((s) => s)) : `No runs in ${runsHome()}.`)
  return EXIT.ok
}

/** runs show ID: one run's gateways and where its folder is; with --log GATEWAY, that host's log. */
export async function runsShowCommand(id: string, flags: {json: boolean; log?: string}): Promise<number> {
  const run = findRun(listRuns(), id)
  const files = readdirSync(run.dir).sort()
  if (flags.log !== undefined) return showLog(run, files, flags.log, flags.json)
  if (flags.json) {
    write(jsonForTerminal(JSON.stringify({command: 'runs show', ok: true, id: run.id, dir: run.dir, files, summary: run.summary}, null, 2)))
    return EXIT.ok
  }
  const s = run.summary
  if (!s) {
    write(`Run ${run.id} (${commandText(run)}, started ${when(run.started)}) has no summary: it ended before writing one.`)
    write(`Files: ${files.join(', ') || 'none'}`)
  } else {
    write(displayLine(`${s.command}${s.dryRun ? ' --dry-run' : ''} by ${s.operator}, ${when(s.started)} to ${when(s.finished)}, inventory ${s.inventory}${s.interrupted ? ', interrupted by the operator' : ''}`))
    write('')
    write(s.hosts.length ? runHostsTable(s, tableView((x) => x)) : 'No gateways were selected.')
    write(`\n${countsText(s.counts)}`)
  }
  write(`Run folder: ${run.dir}`)
  return EXIT.ok
}

/** The suffix of a host's log in a run folder (`berlin-1.log`; the run's own events are `_run.log`). */
const LOG_SUFFIX = '.log'

/**
 * Print one host's log from a run folder. The name must be one of the folder's logs (so no path is
 * ever made from what was typed), and the file is read without following a link. The log was made
 * inert and masked when it was written; it is shown through displayText all the same.
 */
function showLog(run: RunEntry, files: string[], name: string, json: boolean): number {
  const logs = files.filter((f) => f.endsWith(LOG_SUFFIX)).map((f) => f.slice(0, -LOG_SUFFIX.length))
  if (!logs.includes(name)) {
    const have = logs.length ? `its logs: ${logs.join(', ')}` : 'it has no logs'
    throw new InputError(`run ${run.id} has no log of "${name}"; ${have}`, {file: '--log'})
  }
  const file = path.join(run.dir, `${name}${LOG_SUFFIX}`)
  let text: string
  try {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW)
    try {
      text = readFileSync(fd, 'utf8')
    } finally {
      closeSync(fd)
    }
  } catch (e: any) {
    throw new InputError(`cannot read ${file}: ${e?.code ?? e?.message}`, {file: '--log'})
  }
  if (json) {
    const lines = text.split('\n')
    if (lines.at(-1) === '') lines.pop()
    write(jsonForTerminal(JSON.stringify({command: 'runs show', ok: true, id: run.id, gateway: name, file, lines: lines.map(displayText)}, null, 2)))
  } else if (text !== '') write(displayText(text))
  return EXIT.ok
}
