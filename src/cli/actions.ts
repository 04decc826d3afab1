// What the commands do between parsing flags and setting the exit code: load and check all input
// (nothing touches a host before this passes), run, render. The exit-code table lives here.
import {InputError} from '../errors.js'
import {firstNames} from '../inventory/index.js'
import {checkReleases} from '../release/needs.js'
import {compareVersions} from '../release/version.js'
import {DEFAULT_KEEP_RELEASES} from '../steps/prune.js'
import {auditCsv, auditJson, auditSummaryLine, auditTable, changeJson, changeSummary, changeTable, planView} from '../render/output.js'
import {failureBudgetText} from '../render/budget.js'
import {auditPrometheus} from '../render/prometheus.js'
import {auditOk, runAudit} from '../runner/audit.js'
import {runChange, type ChangeRequest} from '../runner/change.js'
import {stopNotice} from '../runner/context.js'
import type {ChangeCommand, Confirmation} from '../runner/kinds/host.js'
import {isSuccess, type HostResult} from '../runner/result.js'
import {toleratedFailures, type BatchSpec} from '../runner/rollout.js'
import type {Gateway, Inventory, Job} from '../types.js'
import {checkWritableFile, writeFileAtomic} from '../util/atomic.js'
import {EXIT, loadFleet, openRun, OperatorInterrupt, record, runOptions, tableView, valuesKeyWarningsOf, within, write} from './common.js'
import type {AuditFormat, ChangeFlagValues, FleetFlagValues} from './flags.js'

export {reportError} from './common.js'

/**
 * What `upgrade --to` leaves behind: selected gateways whose inventory version (release.version,
 * not a pin: pins other than --to are refused) is lower stay wanted at that version, so audit
 * shows them as drift and deploy would refuse the downgrade. One line per inventory version.
 */
export function upgradeWarnings(inventory: Inventory, gateways: Gateway[], to: string): string[] {
  const behind = gateways.filter((g) => !g.pinned && compareVersions(g.version, to) < 0)
  const byVersion = new Map<string, string[]>()
  for (const g of behind) byVersion.set(g.version, [...(byVersion.get(g.version) ?? []), g.name])
  const line = inventory.lines?.['release.version']
  const where = `${inventory.file}${line ? `:${line}` : ''}`
  return [...byVersion].map(([version, names]) => {
    const shown = names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ')
    return (
      `the inventory still wants ${version} (release.version) for ${names.length} of the selected gateways (${shown}): ` +
      `after this upgrade audit shows them as drift and deploy would refuse the downgrade; ` +
      `set release.version to ${to} in ${where}`
    )
  })
}

/** The parsed flags of deploy, upgrade and uninstall (`to` is upgrade's, `yes` uninstall's). */
export interface ChangeCommandFlags extends ChangeFlagValues {
  'batch-size'?: BatchSpec[]
  'skip-preflight'?: boolean
  diff?: boolean
  to?: string
  yes?: boolean
  first?: string
  reinstall?: boolean
  'keep-releases'?: number
}

/** A changing command (deploy, upgrade, uninstall: src/runner/kinds/): the whole command after flag parsing; returns the exit code. */
export async function changeCommand(command: ChangeCommand, flags: ChangeCommandFlags): Promise<number> {
  const kind = command.name
  if (flags.diff) {
    if (!flags['dry-run']) throw new InputError('--diff shows what a deploy would change: give it with --dry-run', {file: '--diff'})
    const {diffCommand} = await import('./diff.js')
    return diffCommand(flags, kind)
  }
  const options = runOptions(kind, flags)
  const {inventory, jobs} = await loadFleet(flags, kind)
  if (command.usesReleases) options.keepReleases = flags['keep-releases'] ?? inventory.keepReleases ?? DEFAULT_KEEP_RELEASES
  const to = flags.to
  const releases = command.usesReleases ? await checkReleases(inventory, jobs.map((j) => j.gw), to) : []
  const warnings = to === undefined ? [] : upgradeWarnings(inventory, jobs.map((j) => j.gw), to)
  // A typo in a values key goes to the hosts as it is: said, never refused (validate --strict refuses it).
  if (command.usesReleases) warnings.push(...valuesKeyWarningsOf(jobs))
  const first = firstOf(inventory, jobs, flags.first)
  warnings.push(...first.warnings)
  for (const w of warnings) process.stderr.write(`gwfleet: warning: ${w}\n`)
  const req: ChangeRequest = {
    command,
    to,
    // An empty list is `--batch-size all`: every gateway at once.
    batches: flags['batch-size']?.length ? flags['batch-size'] : null,
    maxFail: toleratedFailures(flags['max-fail'], jobs.length),
    ...(first.names.length ? {first: first.names} : {}),
    ...(flags.reinstall ? {reinstall: true} : {}),
  }
  const asks = command.confirmations(jobs, req)
  if (asks.length && !options.dryRun && !flags.yes) await confirm(kind, asks)
  const budget = failureBudgetText({maxFail: flags['max-fail'], tolerated: req.maxFail, selected: jobs.length, batched: req.batches !== null})
  if (budget) process.stderr.write(`${budget}\n`)

  const ctx = await openRun(inventory, options, flags.json, jobs)
  // From here to the last line printed, signals are the run's: results, run folder and unlocks are
  // written whatever the operator presses (see Interrupt).
  ctx.interrupt.install(stopNotice(ctx))
  try {
    const results = await within(ctx, () => runChange(ctx, jobs, req, releases))
    const batches = planBatches(results, req)
    const doc = changeJson(kind, results, {dryRun: options.dryRun, runDir: ctx.log.dir, batches, warnings})
    await record(ctx, doc, flags.json)
    if (!flags.json) {
      const view = tableView((s) => ctx.redactor.redact(s))
      write(options.dryRun ? planView(results, batches, view) : changeTable(results, view))
      write(`\n${changeSummary(results, options.dryRun)}`)
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

/**
 * The selected gateways that go first: those --first picks, else those the inventory's
 * rollout.first picks. A --first that picks none of the selected gateways is said, not an error.
 */
function firstOf(inventory: Inventory, jobs: Job[], flag: string | undefined): {names: string[]; warnings: string[]} {
  const selector = flag ?? inventory.rolloutFirst
  if (selector === undefined) return {names: [], warnings: []}
  const names = firstNames(inventory.gateways, jobs.map((j) => j.gw), selector, {file: flag !== undefined ? '--first' : inventory.file})
  // The inventory's default picking none of a --limit selection is the usual case, not news.
  const warnings = names.length || flag === undefined ? [] : [`--first "${selector}" selects none of the selected gateways: they go in inventory order`]
  return {names, warnings}
}

/** The batches a rollout used (or, for a dry run, would use), from the batch each host was given. */
function planBatches(results: HostResult[], req: ChangeRequest): string[][] | undefined {
  if (req.batches === null) return undefined
  const by = new Map<number, string[]>()
  for (const r of results) if (r.batch !== undefined) by.set(r.batch, [...(by.get(r.batch) ?? []), r.name])
  return [...by.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v)
}

/** True for the answers that confirm: y or yes, in any case. */
export function confirms(answer: string): boolean {
  return /^(y|yes)$/i.test(answer.trim())
}

/** Ask on a terminal; refuse without one (scripts pass --yes). Ctrl-C at the question: nothing changed, exit 130. */
async function confirm(command: string, asks: Confirmation[]): Promise<void> {
  const shown = (names: string[]) => (names.length > 10 ? `${names.slice(0, 10).join(', ')} and ${names.length - 10} more` : names.join(', '))
  const text = asks.map((a) => `${a.what} ${a.names.length} host(s): ${shown(a.names)}`).join('; ')
  if (!process.stdin.isTTY || !process.stderr.isTTY)
    throw new InputError(`${command} needs confirmation (it would ${text}): no terminal to ask on, pass --yes to confirm`, {file: '--yes'})
  const {createInterface} = await import('node:readline/promises')
  const rl = createInterface({input: process.stdin, output: process.stderr})
  const asked = new AbortController()
  rl.on('SIGINT', () => asked.abort())
  try {
    let answer: string
    try {
      answer = await rl.question(`${text.charAt(0).toUpperCase()}${text.slice(1)}? [y/N] `, {signal: asked.signal})
    } catch (e) {
      if (asked.signal.aborted) {
        process.stderr.write('\n')
        throw new OperatorInterrupt(`${command} not confirmed; nothing was changed`)
      }
      throw e
    }
    if (!confirms(answer)) throw new InputError(`${command} not confirmed; nothing was changed`, {file: 'confirmation'})
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
  // A gateway whose values cannot be rendered is reported as invalid; the rest of the fleet is still audited.
  const {inventory, jobs, invalid} = await loadFleet(flags, 'audit', {tolerant: true})
  const ctx = await openRun(inventory, options, format !== 'table', jobs, [...jobs.map((j) => j.gw), ...invalid.map((x) => x.gw)])
  const results = await within(ctx, () => runAudit(ctx, jobs, invalid))
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
  return results.every(auditOk) ? EXIT.ok : EXIT.problems
}
