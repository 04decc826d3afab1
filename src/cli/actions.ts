// What the commands do between parsing flags and setting the exit code: load and check all input
// (nothing touches a host before this passes), run, render. The exit-code table lives here.
import {InputError} from '../errors.js'
import {loadInventory, renderValues, selectGateways} from '../inventory/index.js'
import {findRelease, listReleases, readRelease} from '../release/releases.js'
import {parseVersion} from '../release/version.js'
import {auditCsv, auditJson, auditSummaryLine, auditTable, changeJson, changeSummary, changeTable, planView} from '../render/output.js'
import {makeReporter} from '../render/progress.js'
import {RunContext, type RunOptions} from '../runner/context.js'
import {runAudit, runChange, type ChangeRequest, type Job} from '../runner/fleet.js'
import {isSuccess, type HostResult} from '../runner/result.js'
import {batchSizes, parseBatchSizes, parseMaxFail, type BatchSpec} from '../runner/rollout.js'
import type {Inventory, ReleaseRef} from '../types.js'
import type {FleetFlagValues} from './flags.js'

/** SPEC section 4's exit codes, in one place. */
export const EXIT = {ok: 0, problems: 1, badInput: 2} as const

/** Parse `90s`, `30m`, `2h`, `1h30m` or plain seconds. */
export function parseDuration(s: string, flag: string): number {
  const t = s.trim()
  if (/^\d+$/.test(t) && Number(t) > 0) return Number(t)
  const re = /(\d+)(h|m|s)/gy
  let total = 0
  let m: RegExpExecArray | null
  let consumed = 0
  while ((m = re.exec(t))) {
    total += Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1)
    consumed = re.lastIndex
  }
  if (consumed !== t.length || t.length === 0 || total <= 0) throw new InputError(`"${s}" is not a duration (e.g. 90s, 30m, 1h)`, {file: flag})
  return total
}

/** Parse a positive integer flag. */
export function parsePositive(s: string, flag: string, max = 100000): number {
  if (!/^\d+$/.test(s.trim()) || Number(s) < 1 || Number(s) > max) throw new InputError(`"${s}" must be a whole number from 1 to ${max}`, {file: flag})
  return Number(s)
}

/** The selected gateways with their values rendered; every input error surfaces here. */
export async function loadFleet(flags: FleetFlagValues): Promise<{inventory: Inventory; jobs: Job[]}> {
  if (!flags.inventory) throw new InputError('no inventory given: pass -i FILE or set GWFLEET_INVENTORY', {file: '--inventory'})
  const inventory = await loadInventory(flags.inventory)
  const selected = selectGateways(inventory.gateways, flags.limit)
  const jobs = await Promise.all(selected.map(async (gw) => ({gw, values: await renderValues(gw.valuesFile)})))
  return {inventory, jobs}
}

/** Releases in the folder; the ones the command will surely use must be there and readable. */
async function checkReleases(inventory: Inventory, jobs: Job[], to: string | undefined): Promise<ReleaseRef[]> {
  const releases = await listReleases(inventory.releaseDir)
  const wanted = new Map<string, {file: string; line: number; key: string}>()
  if (to !== undefined) wanted.set(to, {file: '--to', line: 0, key: ''})
  else {
    for (const {gw} of jobs) {
      if (!wanted.has(gw.version))
        wanted.set(gw.version, gw.pinned ? {file: gw.source.file, line: gw.source.line, key: `gateways.${gw.name}.version`} : {file: inventory.file, line: 0, key: 'release.version'})
    }
  }
  for (const [version, where] of wanted) {
    const ref = findRelease(releases, version)
    if (!ref)
      throw new InputError(`release ${version} not found: no apheris-gateway-${version}.zip in ${inventory.releaseDir}`, {
        file: where.file,
        line: where.line || undefined,
        key: where.key || undefined,
      })
    await readRelease(ref)
  }
  return releases
}

function runOptions(command: string, flags: FleetFlagValues): RunOptions {
  return {
    command,
    concurrency: parsePositive(flags.concurrency, '--concurrency', 10000),
    acceptNewHostKeys: flags['accept-new-host-keys'],
    timeoutSeconds: flags.timeout ? parseDuration(flags.timeout, '--timeout') : 1800,
    connectTimeoutSeconds: parseDuration(flags['connect-timeout'], '--connect-timeout'),
    dryRun: Boolean(flags['dry-run']),
    preflight: !flags['skip-preflight'],
  }
}

function write(s: string) {
  process.stdout.write(s.endsWith('\n') ? s : `${s}\n`)
}

/** deploy / upgrade / uninstall: the whole command after flag parsing; returns the exit code. */
export async function changeCommand(kind: ChangeRequest['kind'], flags: FleetFlagValues): Promise<number> {
  const options = runOptions(kind, flags)
  const {inventory, jobs} = await loadFleet(flags)
  let to: string | undefined
  if (kind === 'upgrade') {
    if (!flags.to || !parseVersion(flags.to)) throw new InputError(`"${flags.to ?? ''}" is not a version X.Y.Z`, {file: '--to'})
    to = flags.to
  }
  const releases = kind === 'uninstall' ? [] : await checkReleases(inventory, jobs, to)
  const defaultBatches = kind === 'upgrade' ? '1,100%' : undefined
  const batchSpec = flags['batch-size'] ?? defaultBatches
  const req: ChangeRequest = {
    kind,
    to,
    batches: batchSpec ? parseBatchSizes(batchSpec) : null,
    maxFail: parseMaxFail(flags['max-fail'] ?? '0', jobs.length),
  }
  if (kind === 'uninstall' && !options.dryRun && !flags.yes) await confirmUninstall(jobs)

  const reporterMask = {fn: (s: string) => s}
  const reporter = await makeReporter({json: flags.json, mask: (s) => reporterMask.fn(s)})
  const ctx = await RunContext.create(inventory, options, reporter)
  reporterMask.fn = (s) => ctx.redactor.redact(s)
  for (const j of jobs) ctx.redactor.add(j.values.secrets)

  let results: HostResult[]
  try {
    results = await runChange(ctx, jobs, req, releases)
  } finally {
    await ctx.close()
  }
  const batches = planBatches(results, req)
  const doc = changeJson(kind, results, {dryRun: options.dryRun, runDir: ctx.log.dir, batches})
  await ctx.log.writeJson('result.json', doc)
  if (flags.json) write(ctx.redactor.redact(JSON.stringify(doc, null, 2)))
  else {
    write(ctx.redactor.redact(options.dryRun ? planView(results, batches) : changeTable(results)))
    write(`\n${changeSummary(results)}`)
    process.stderr.write(`Run folder: ${ctx.log.dir}\n`)
  }
  if (options.dryRun) return results.every((r) => r.status !== 'failed' && r.status !== 'unreachable' && r.status !== 'refused') ? EXIT.ok : EXIT.problems
  return results.every((r) => isSuccess(r.status)) ? EXIT.ok : EXIT.problems
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

/** Ask on a terminal; refuse without one (scripts pass --yes). */
async function confirmUninstall(jobs: Job[]): Promise<void> {
  if (!process.stdin.isTTY || !process.stderr.isTTY)
    throw new InputError('uninstall needs confirmation: no terminal to ask on, pass --yes to confirm', {file: '--yes'})
  const names = jobs.map((j) => j.gw.name)
  const {createInterface} = await import('node:readline/promises')
  const rl = createInterface({input: process.stdin, output: process.stderr})
  try {
    const shown = names.length > 10 ? `${names.slice(0, 10).join(', ')} and ${names.length - 10} more` : names.join(', ')
    const answer = await rl.question(`Remove the gateway from ${names.length} host(s): ${shown}? Type "yes" to go on: `)
    if (answer.trim().toLowerCase() !== 'yes') throw new InputError('uninstall not confirmed; nothing was changed', {file: 'confirmation'})
  } finally {
    rl.close()
  }
}

/** audit: read every selected gateway; returns the exit code. */
export async function auditCommand(flags: FleetFlagValues): Promise<number> {
  const options = runOptions('audit', flags)
  const {inventory, jobs} = await loadFleet(flags)
  const format = flags.json ? 'json' : (flags.output ?? 'table')
  if (!['table', 'json', 'csv'].includes(format)) throw new InputError(`"${format}" is not one of table, json, csv`, {file: '--output'})
  const reporter = await makeReporter({json: format !== 'table', mask: (s) => s})
  const ctx = await RunContext.create(inventory, options, reporter)
  for (const j of jobs) ctx.redactor.add(j.values.secrets)
  let results
  try {
    results = await runAudit(ctx, jobs)
  } finally {
    await ctx.close()
  }
  const doc = auditJson(results, ctx.log.dir)
  await ctx.log.writeJson('result.json', doc)
  if (format === 'json') write(ctx.redactor.redact(JSON.stringify(doc, null, 2)))
  else if (format === 'csv') process.stdout.write(ctx.redactor.redact(auditCsv(results)))
  else {
    write(ctx.redactor.redact(auditTable(results)))
    write(`\n${auditSummaryLine(results)}`)
  }
  return results.every((r) => r.status === 'in-sync') ? EXIT.ok : EXIT.problems
}

/** Print an error the way SPEC asks (JSON document with --json) and return its exit code. */
export function reportError(err: unknown, json: boolean): number {
  const code = err instanceof InputError ? EXIT.badInput : EXIT.problems
  const msg = err instanceof Error ? err.message : String(err)
  if (json) process.stdout.write(JSON.stringify({ok: false, error: msg}) + '\n')
  else process.stderr.write(`gwfleet: ${err instanceof InputError ? 'error' : 'failed'}: ${msg}\n`)
  return code
}
