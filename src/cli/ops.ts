// The operator's everyday commands between parsing flags and setting the exit code: preflight,
// logs, status, locks and history. All of them read hosts; only `locks clear` changes one thing
// (the lock file), and only with --yes. Exit codes as actions.ts: 0 fine, 1 a host problem, 2 bad input.
import pLimit from 'p-limit'

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
import {displayText, inertJsonLine} from '../render/sanitize.js'
import type {Session} from '../host/session.js'
import type {Gateway} from '../types.js'
import {prepareCredentials, RunContext} from '../runner/context.js'
import {gatewayOn, runHistory, runLocks, runPreflight, runStatus} from '../runner/ops.js'
import {EXIT, loadFleet, loadGateways, openRun, record, runOptions as options, tableView, within, write} from './common.js'
import type {FleetFlagValues} from './flags.js'

/** Errors to words and exit codes, as for every command (re-exported so commands import one module). */
export {reportError} from './common.js'

/** Flags of `logs`. */
export interface LogsFlagValues extends FleetFlagValues {
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
 * logs [GATEWAY]: the agent's logs through kubectl, as the vendor guide reads them, of one gateway
 * (the argument) or of those --limit selects (else the whole fleet), each line then prefixed with
 * its gateway. Pretty-printed unless --raw; --json passes the JSON lines through (jsonlines; with a
 * selection each wrapped as {"gateway", "log"}), made inert (inertJsonLine), and sends the rest to
 * stderr; --follow streams until Ctrl-C (then exit 0). Exit 1 when any gateway's logs could not be read.
 */
export async function logsCommand(gateway: string | undefined, flags: LogsFlagValues): Promise<number> {
  const opts = options('logs', flags)
  const tail = flags.tail === 'all' ? undefined : flags.tail
  const {inventory, gateways} = await loadGateways(flags, 'logs', gateway)
  const ctx = await RunContext.create(inventory, opts, new SilentReporter())
  await prepareCredentials(ctx, gateways).catch(async (e) => {
    await ctx.close()
    throw e
  })
  const abort = new AbortController()
  const onSignal = () => abort.abort()
  if (flags.follow) {
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  }
  // Named by the argument: its lines as they are. A selection: each line says whose it is.
  const width = gateway === undefined ? Math.max(0, ...gateways.map((g) => g.name.length)) : 0
  // A follow holds its host until Ctrl-C, so every selected one is followed at once.
  const limit = pLimit(flags.follow ? Math.max(1, gateways.length) : Math.max(1, flags.concurrency))
  try {
    const codes = await Promise.all(gateways.map((gw) => limit(() => gatewayLogs(ctx, gw, flags, {tail, signal: abort.signal, tag: width ? `${gw.name.padEnd(width)} | ` : undefined}))))
    return codes.every((c) => c === EXIT.ok) ? EXIT.ok : EXIT.problems
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await ctx.close()
  }
}

/** One gateway's logs, printed as they come; its exit code (a problem is said on stderr, prefixed with the gateway). */
async function gatewayLogs(ctx: RunContext, gw: Gateway, flags: LogsFlagValues, o: {tail?: number; signal: AbortSignal; tag?: string}): Promise<number> {
  const tag = o.tag ?? ''
  const problem = (why: string) => {
    process.stderr.write(`gwfleet: ${gw.name}: ${displayText(ctx.redactor.redact(why))}\n`)
    return EXIT.problems
  }
  if (o.signal.aborted) return EXIT.ok
  let session: Session | undefined
  try {
    session = await ctx.openSession(gw)
    // Installed or not is decided as audit and status decide it.
    const there = await gatewayOn(session)
    if (there.installed !== 'yes') {
      const why = there.installed === 'no' ? notInstalled(there.note) : `cannot tell whether a gateway is installed: ${there.note}`
      ctx.log.write(gw.name, `logs: ${why}`)
      return problem(why)
    }
    // The lines come from the host: no escape sequence of theirs reaches the terminal, or a reader of --json.
    const onLine = (line: string, stream: 'stdout' | 'stderr') => {
      if (stream === 'stderr') {
        process.stderr.write(`${tag}${displayText(line)}\n`)
        return
      }
      if (line === HEARTBEAT_LINE) return
      if (flags.json) {
        if (!isJsonLine(line)) process.stderr.write(`${tag}${displayText(line)}\n`)
        else if (o.tag === undefined) process.stdout.write(`${inertJsonLine(line)}\n`)
        else process.stdout.write(`{"gateway":${JSON.stringify(gw.name)},"log":${inertJsonLine(line)}}\n`)
      } else process.stdout.write(`${tag}${displayText(flags.raw ? line : prettyLogLine(line))}\n`)
    }
    let res
    try {
      res = await session.root(logsScript({follow: Boolean(flags.follow), tail: o.tail}), {
        collect: false,
        onLine,
        signal: o.signal,
        timeoutMs: flags.follow ? undefined : 300_000,
      })
    } catch (e) {
      if (o.signal.aborted) return EXIT.ok
      throw e
    }
    ctx.log.write(gw.name, `logs: kubectl exited with ${res.code}`)
    return res.code === 0 ? EXIT.ok : problem(`kubectl logs exited with ${res.code}`)
  } catch (e) {
    if (o.signal.aborted) return EXIT.ok
    const why = e instanceof Error ? e.message : String(e)
    ctx.log.write(gw.name, `logs: ${why}`)
    return problem(why)
  } finally {
    session?.close()
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
