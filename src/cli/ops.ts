// The operator's everyday commands between parsing flags and setting the exit code: preflight,
// logs, status, locks and history. All of them read hosts; only `locks clear` changes one thing
// (the lock file), and only with --yes. Exit codes as actions.ts: 0 fine, 1 a host problem, 2 bad input.
import {InputError} from '../errors.js'
import {notInstalled} from '../remote/cluster.js'
import {HEARTBEAT_LINE, logsScript} from '../remote/ops-scripts.js'
import {
  historyJson,
  historyTable,
  isJsonLine,
  locksJson,
  locksListSummary,
  locksTable,
  preflightJson,
  preflightSummary,
  preflightTable,
  prettyLogLine,
  statusJson,
  statusText,
} from '../render/ops-output.js'
import {SilentReporter} from '../render/progress.js'
import {displayText, jsonForTerminal} from '../render/sanitize.js'
import type {Session} from '../host/session.js'
import {prepareCredentials, RunContext} from '../runner/context.js'
import {gatewayOn, runHistory, runLocks, runPreflight, runStatus} from '../runner/ops.js'
import {EXIT, loadFleet, loadGateways, openRun, record, runOptions as options, tableView, within, write} from './common.js'
import type {FleetFlagValues} from './flags.js'

/** Errors to words and exit codes, as for every command (re-exported so commands import one module). */
export {reportError} from './common.js'

/** Flags of `logs`: the connection flags, no selector or concurrency (the gateway is the argument). */
export interface LogsFlagValues extends Omit<FleetFlagValues, 'limit' | 'concurrency'> {
  follow: boolean
  raw: boolean
  tail?: number | 'all'
}

/** Flags of `history`. */
export interface HistoryFlagValues extends FleetFlagValues {
  last?: number
}

/** preflight: the vendor's prerequisites per host; exit 1 when any check fails or a host is unreachable. */
export async function preflightCommand(flags: FleetFlagValues & {all?: boolean}): Promise<number> {
  const opts = options('preflight', flags)
  const {inventory, jobs} = await loadFleet(flags, 'preflight')
  const ctx = await openRun(inventory, opts, flags.json, jobs)
  const results = await within(ctx, () => runPreflight(ctx, jobs))
  const doc = preflightJson(results, ctx.log.dir)
  await record(ctx, doc, flags.json)
  if (!flags.json) {
    write(preflightTable(results, {...tableView((s) => ctx.redactor.redact(s)), all: flags.all}))
    write(`\n${preflightSummary(results, flags.all)}`)
  }
  return doc.ok ? EXIT.ok : EXIT.problems
}

/**
 * logs GATEWAY: the agent's logs through kubectl, as the vendor guide reads them. Pretty-printed
 * unless --raw; --json passes the JSON lines through untouched (jsonlines) and sends the rest to
 * stderr; --follow streams until Ctrl-C (then exit 0).
 */
export async function logsCommand(gateway: string, flags: LogsFlagValues): Promise<number> {
  const opts = options('logs', {...flags, concurrency: 1})
  const tail = flags.tail === 'all' ? undefined : flags.tail
  const {inventory, gateways} = await loadGateways(flags, 'logs', gateway)
  const gw = gateways[0]
  const ctx = await RunContext.create(inventory, opts, new SilentReporter())
  await prepareCredentials(ctx, [gw]).catch(async (e) => {
    await ctx.close()
    throw e
  })
  const abort = new AbortController()
  const onSignal = () => abort.abort()
  let session: Session | undefined
  try {
    session = await ctx.openSession(gw)
    // Installed or not is decided as audit and status decide it.
    const there = await gatewayOn(session)
    if (there.installed !== 'yes') {
      const why = there.installed === 'no' ? notInstalled(there.note) : `cannot tell whether a gateway is installed: ${there.note}`
      ctx.log.write(gw.name, `logs: ${why}`)
      process.stderr.write(`gwfleet: ${gw.name}: ${displayText(ctx.redactor.redact(why))}\n`)
      return EXIT.problems
    }
    if (flags.follow) {
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
    }
    // The lines come from the host: no escape sequence of theirs reaches the terminal.
    const onLine = (line: string, stream: 'stdout' | 'stderr') => {
      if (stream === 'stderr') {
        process.stderr.write(`${displayText(line)}\n`)
        return
      }
      if (line === HEARTBEAT_LINE) return
      if (flags.json) {
        if (isJsonLine(line)) process.stdout.write(`${jsonForTerminal(line.trim())}\n`)
        else process.stderr.write(`${displayText(line)}\n`)
      } else process.stdout.write(`${displayText(flags.raw ? line : prettyLogLine(line))}\n`)
    }
    let res
    try {
      res = await session.root(logsScript({follow: Boolean(flags.follow), tail}), {
        collect: false,
        onLine,
        signal: abort.signal,
        timeoutMs: flags.follow ? undefined : 300_000,
      })
    } catch (e) {
      if (abort.signal.aborted) return EXIT.ok
      throw e
    }
    ctx.log.write(gw.name, `logs: kubectl exited with ${res.code}`)
    if (res.code === 0) return EXIT.ok
    return EXIT.problems
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    session?.close()
    await ctx.close()
  }
}

/** status [GATEWAY]: what runs on the gateway(s) and the computation pods per apheris_job_id. */
export async function statusCommand(gateway: string | undefined, flags: FleetFlagValues): Promise<number> {
  const opts = options('status', flags)
  const {inventory, gateways} = await loadGateways(flags, 'status', gateway)
  const ctx = await openRun(inventory, opts, flags.json, [], gateways)
  const results = await within(ctx, () => runStatus(ctx, gateways))
  const doc = statusJson(results, ctx.log.dir)
  await record(ctx, doc, flags.json)
  if (!flags.json) write(statusText(results))
  return doc.ok ? EXIT.ok : EXIT.problems
}

/** locks list | clear: who holds each selected host's lock, and (clear, with --yes) remove it. */
export async function locksCommand(action: 'list' | 'clear', flags: FleetFlagValues & {yes?: boolean}): Promise<number> {
  const opts = options(`locks-${action}`, flags)
  if (action === 'clear' && !flags.yes)
    throw new InputError('locks clear removes the lock of any run, even one still working: pass --yes to confirm', {file: '--yes'})
  const {inventory, gateways} = await loadGateways(flags, `locks ${action}`)
  const ctx = await openRun(inventory, opts, flags.json, [], gateways)
  const results = await within(ctx, () => runLocks(ctx, gateways, action === 'clear'))
  const doc = locksJson(`locks ${action}`, results, ctx.log.dir)
  await record(ctx, doc, flags.json)
  if (!flags.json) {
    write(locksTable(results, action === 'clear', tableView((s) => ctx.redactor.redact(s))))
    if (action === 'list') write(`\n${locksListSummary(results)}`)
    else {
      const live = results.filter((r) => r.cleared && r.lock && !r.lock.expired && !r.lock.processGone)
      write(`\n${results.filter((r) => r.cleared).length} lock(s) cleared`)
      if (live.length) process.stderr.write(`warning: ${live.map((r) => r.name).join(', ')}: the lock was live; if that run is still working, it now runs unprotected\n`)
    }
  }
  return doc.ok ? EXIT.ok : EXIT.problems
}

/** history [GATEWAY]: the changes recorded on each host (who, when, what, from, to, result), oldest first. */
export async function historyCommand(gateway: string | undefined, flags: HistoryFlagValues): Promise<number> {
  const opts = options('history', flags)
  const {inventory, gateways} = await loadGateways(flags, 'history', gateway)
  const ctx = await openRun(inventory, opts, flags.json, [], gateways)
  const read = await within(ctx, () => runHistory(ctx, gateways))
  const entries = flags.last === undefined ? read.entries : read.entries.slice(-flags.last)
  const doc = historyJson(entries, read.hosts, ctx.log.dir)
  await record(ctx, doc, flags.json)
  if (!flags.json) {
    write(entries.length ? historyTable(entries, tableView((s) => ctx.redactor.redact(s))) : 'No changes recorded on the selected hosts.')
    for (const h of read.hosts) if (h.status !== 'ok') process.stderr.write(`${h.name}: ${h.status}: ${displayText(h.error ?? '')}\n`)
  }
  return doc.ok ? EXIT.ok : EXIT.problems
}
