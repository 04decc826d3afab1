// What the commands do between parsing flags and setting the exit code: load and check all input
// (nothing touches a host before this passes), run, render. The exit-code table lives here.
import {InputError, type InputLocation} from '../errors.js'
import {findRelease, listReleases, readRelease} from '../release/releases.js'
import {auditCsv, auditJson, auditSummaryLine, auditTable, changeJson, changeSummary, changeTable, planView} from '../render/output.js'
import {failureBudgetText} from '../render/budget.js'
import {auditPrometheus} from '../render/prometheus.js'
import {runAudit, runChange, type ChangeRequest} from '../runner/fleet.js'
import {isSuccess, type HostResult} from '../runner/result.js'
import {batchSizes, toleratedFailures, type BatchSpec} from '../runner/rollout.js'
import type {Inventory, Job, ReleaseRef} from '../types.js'
import {checkWritableFile, writeFileAtomic} from '../util/atomic.js'
import {EXIT, loadFleet, openRun, OperatorInterrupt, record, runOptions, tableView, within, write} from './common.js'
import type {AuditFormat, ChangeFlagValues, FleetFlagValues} from './flags.js'

export {reportError} from './common.js'

/** Releases in the folder; the ones the command will surely use must be there and readable. */
async function checkReleases(inventory: Inventory, jobs: Job[], to: string | undefined): Promise<ReleaseRef[]> {
  const at = (key: string) => ({file: inventory.file, line: inventory.lines?.[key], key})
  let releases: ReleaseRef[]
  try {
    releases = await listReleases(inventory.releaseDir)
  } catch (e) {
    if (!(e instanceof InputError)) throw e
    throw new InputError(`release folder ${inventory.releaseDir}: ${e.message.replace(/^[^:]*: /, '')}`, at('release.dir'))
  }
  const wanted = new Map<string, InputLocation>()
  if (to !== undefined) wanted.set(to, {file: '--to'})
  else {
    for (const {gw} of jobs) {
      if (wanted.has(gw.version)) continue
      const own = `gateways.${gw.name}.version`
      const key = !gw.pinned ? 'release.version' : inventory.lines?.[own] ? own : 'defaults.version'
      wanted.set(gw.version, at(key))
    }
  }
  for (const [version, where] of wanted) {
    const ref = findRelease(releases, version)
    if (!ref) throw new InputError(`release ${version} not found: no apheris-gateway-${version}.zip in ${inventory.releaseDir}`, where)
    await readRelease(ref)
  }
  return releases
}

/** The parsed flags of deploy, upgrade and uninstall (`to` is upgrade's, `yes` uninstall's). */
export interface ChangeCommandFlags extends ChangeFlagValues {
  'batch-size'?: BatchSpec[]
  'skip-preflight'?: boolean
  to?: string
  yes?: boolean
}

/** deploy / upgrade / uninstall: the whole command after flag parsing; returns the exit code. */
export async function changeCommand(kind: ChangeRequest['kind'], flags: ChangeCommandFlags): Promise<number> {
  const options = runOptions(kind, flags)
  const {inventory, jobs} = await loadFleet(flags)
  const to = kind === 'upgrade' ? flags.to : undefined
  const releases = kind === 'uninstall' ? [] : await checkReleases(inventory, jobs, to)
  const req: ChangeRequest = {
    kind,
    to,
    batches: flags['batch-size'] ?? null,
    maxFail: toleratedFailures(flags['max-fail'], jobs.length),
  }
  if (kind === 'uninstall' && !options.dryRun && !flags.yes) await confirmUninstall(jobs)
  const budget = failureBudgetText({maxFail: flags['max-fail'], tolerated: req.maxFail, selected: jobs.length, batched: req.batches !== null})
  if (budget) process.stderr.write(`${budget}\n`)

  const ctx = await openRun(inventory, options, flags.json, jobs)
  // From here to the last line printed, signals are the run's: results, run folder and unlocks are
  // written whatever the operator presses (see Interrupt).
  ctx.interrupt.install((m) => ctx.reporter.notice(m))
  try {
    const results = await within(ctx, () => runChange(ctx, jobs, req, releases))
    const batches = planBatches(results, req)
    const doc = changeJson(kind, results, {dryRun: options.dryRun, runDir: ctx.log.dir, batches})
    await record(ctx, doc, flags.json)
    if (!flags.json) {
      const view = tableView((s) => ctx.redactor.redact(s))
      write(options.dryRun ? planView(results, batches, view) : changeTable(results, view))
      write(`\n${changeSummary(results)}`)
      if (ctx.interrupt.interrupted) process.stderr.write('Interrupted by the operator: the hosts above show where each one stopped; rerun to finish.\n')
      if (ctx.log.dir) process.stderr.write(`Run folder: ${ctx.log.dir}\n`)
    }
    if (ctx.interrupt.interrupted) return EXIT.interrupted
    if (options.dryRun) return results.every((r) => r.status !== 'failed' && r.status !== 'unreachable' && r.status !== 'refused') ? EXIT.ok : EXIT.problems
    return results.every((r) => isSuccess(r.status)) ? EXIT.ok : EXIT.problems
  } finally {
    ctx.interrupt.uninstall()
  }
}

/** The batches a rollout used (or, for a dry run, would use) over the hosts that need a change. */
function planBatches(results: HostResult[], req: ChangeRequest): string[][] | undefined {
  if (req.batches === null) return undefined
  const changing = results.filter((r) => r.action !== 'none' && !r.plan?.refused && r.status !== 'unreachable')
  const real = changing.filter((r) => r.batch !== undefined)
  if (real.length) {
    const by = new Map<number, string[]>()
    for (const r of real) by.set(r.batch!, [...(by.get(r.batch!) ?? []), r.name])
    return [...by.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v)
  }
  // dry run: compute the split the run would make
  return splitNames(changing.map((r) => r.name), req.batches)
}

function splitNames(names: string[], specs: BatchSpec[]): string[][] {
  const out: string[][] = []
  let i = 0
  for (const n of batchSizes(names.length, specs)) {
    out.push(names.slice(i, i + n))
    i += n
  }
  return out
}

/** True for the answers that confirm: y or yes, in any case. */
export function confirms(answer: string): boolean {
  return /^(y|yes)$/i.test(answer.trim())
}

/** Ask on a terminal; refuse without one (scripts pass --yes). Ctrl-C at the question: nothing changed, exit 130. */
async function confirmUninstall(jobs: Job[]): Promise<void> {
  if (!process.stdin.isTTY || !process.stderr.isTTY)
    throw new InputError('uninstall needs confirmation: no terminal to ask on, pass --yes to confirm', {file: '--yes'})
  const names = jobs.map((j) => j.gw.name)
  const {createInterface} = await import('node:readline/promises')
  const rl = createInterface({input: process.stdin, output: process.stderr})
  const asked = new AbortController()
  rl.on('SIGINT', () => asked.abort())
  try {
    const shown = names.length > 10 ? `${names.slice(0, 10).join(', ')} and ${names.length - 10} more` : names.join(', ')
    let answer: string
    try {
      answer = await rl.question(`Remove the gateway from ${names.length} host(s): ${shown}? [y/N] `, {signal: asked.signal})
    } catch (e) {
      if (asked.signal.aborted) {
        process.stderr.write('\n')
        throw new OperatorInterrupt('uninstall not confirmed; nothing was changed')
      }
      throw e
    }
    if (!confirms(answer)) throw new InputError('uninstall not confirmed; nothing was changed', {file: 'confirmation'})
  } finally {
    rl.close()
  }
}

/** The flags of audit. */
export interface AuditFlagValues extends FleetFlagValues {
  output: AuditFormat
  'output-file'?: string
  save?: boolean
}

/** audit: read every selected gateway; the output on stdout or, with --output-file, written atomically; returns the exit code. */
export async function auditCommand(flags: AuditFlagValues): Promise<number> {
  const options = runOptions('audit', flags)
  const format = flags.json ? 'json' : flags.output
  const outFile = flags['output-file']
  if (outFile !== undefined) await checkWritableFile(outFile, '--output-file')
  const {inventory, jobs} = await loadFleet(flags)
  const ctx = await openRun(inventory, options, format !== 'table', jobs)
  const results = await within(ctx, () => runAudit(ctx, jobs))
  const doc = auditJson(results, ctx.log.dir)
  await record(ctx, doc, format === 'json' && outFile === undefined)
  const mask = (s: string) => ctx.redactor.redact(s)
  let text: string | undefined
  if (format === 'prometheus') text = mask(auditPrometheus(results, new Date()))
  else if (format === 'csv') text = mask(auditCsv(results))
  else if (format === 'table') text = `${auditTable(results, outFile === undefined ? tableView(mask) : {mask})}\n\n${auditSummaryLine(results)}\n`
  else if (outFile !== undefined) text = `${mask(JSON.stringify(doc, null, 2))}\n`
  if (text !== undefined) {
    if (outFile !== undefined) await writeFileAtomic(outFile, text)
    else process.stdout.write(text)
  }
  return results.every((r) => r.status === 'in-sync') ? EXIT.ok : EXIT.problems
}
