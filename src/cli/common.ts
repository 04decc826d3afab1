// Plumbing every command shares between parsing flags and rendering: exit codes, flag values,
// loading the inventory (and values), opening a run, printing. Nothing here touches a host.
import {existsSync} from 'node:fs'
import path from 'node:path'

import {InputError} from '../errors.js'
import {GATEWAY_NAME_RE, inputProblemOf, loadInventory, renderValues, selectGateways} from '../inventory/index.js'

export {inputProblemOf}
import {makeReporter} from '../render/progress.js'
import {displayText, jsonForTerminal} from '../render/sanitize.js'
import {prepareCredentials, RunContext, type RunOptions} from '../runner/context.js'
import {endedWell} from '../runner/result.js'
import {findRun, lastRunOf, listRuns, runsHome, type ResultDoc, type RunEntry} from '../runner/runlog.js'
import {createHash} from 'node:crypto'

import type {Gateway, Inventory, Job, RenderedValues} from '../types.js'
import {STEP_TIMEOUT} from './flags.js'

/** SPEC section 4's exit codes, in one place. */
export const EXIT = {ok: 0, problems: 1, badInput: 2, interrupted: 130} as const

/** The operator stopped the command before it touched a host (Ctrl-C at a question): exit 130. */
export class OperatorInterrupt extends Error {}

/** The parsed flags that shape a run, whatever the command (durations in seconds). */
export interface RunFlagValues {
  concurrency: number
  'accept-new-host-keys': boolean
  'connect-timeout': number
  timeout?: number
  'dry-run'?: boolean
  'skip-preflight'?: boolean
  'ask-become-pass'?: boolean
  'lock-wait'?: number
  'reconnect-window'?: number
  save?: boolean
}

/** Run options from the parsed flags. */
export function runOptions(command: string, flags: RunFlagValues): RunOptions {
  return {
    command,
    concurrency: flags.concurrency,
    acceptNewHostKeys: flags['accept-new-host-keys'],
    timeoutSeconds: flags.timeout ?? STEP_TIMEOUT.default,
    lockWaitSeconds: flags['lock-wait'] ?? 0,
    reconnectWindowSeconds: flags['reconnect-window'],
    connectTimeoutSeconds: flags['connect-timeout'],
    dryRun: Boolean(flags['dry-run']),
    preflight: !flags['skip-preflight'],
    askBecomePass: Boolean(flags['ask-become-pass']),
    // The read-only commands offer --save (false unless given); the changing ones always keep a folder.
    keepRunFolder: flags.save ?? true,
  }
}

/** The inventory a command reads when neither -i nor GWFLEET_INVENTORY names one: in the current folder. */
export const DEFAULT_INVENTORY = 'gwfleet.yaml'

/**
 * Which inventory: -i, else GWFLEET_INVENTORY (oclif fills the flag from it), else ./gwfleet.yaml
 * when there is one; bad input naming all three ways otherwise.
 */
export function inventoryFile(flags: {inventory?: string}, cwd: string = process.cwd()): string {
  if (flags.inventory) return flags.inventory
  if (existsSync(path.join(cwd, DEFAULT_INVENTORY))) return DEFAULT_INVENTORY
  throw new InputError(`no inventory: pass -i FILE, set GWFLEET_INVENTORY, or put a ${DEFAULT_INVENTORY} in this folder (${cwd})`, {file: '--inventory'})
}

/**
 * The inventory and the selected gateways (one GATEWAY argument or --limit), without rendering
 * values: commands that send no values must work without the values' secrets in the environment.
 */
export async function loadGateways(flags: {inventory?: string; limit?: string}, command: string, gateway?: string): Promise<{inventory: Inventory; gateways: Gateway[]}> {
  const file = inventoryFile(flags)
  if (gateway !== undefined && flags.limit !== undefined) throw new InputError('give a GATEWAY or --limit, not both', {file: '--limit'})
  const inventory = await loadInventory(file)
  if (gateway === undefined) return {inventory, gateways: selectGateways(inventory.gateways, flags.limit, (term) => fromHistory(term, command, inventory.file))}
  const gw = GATEWAY_NAME_RE.test(gateway) ? inventory.gateways.find((g) => g.name === gateway) : undefined
  if (!gw) throw new InputError(`no gateway named "${gateway}" in ${inventory.file}`, {file: 'GATEWAY'})
  return {inventory, gateways: [gw]}
}

/**
 * `@failed`: the gateways that did not end as asked (endedWell) in the last run of this command
 * (as its summary names it) against this inventory; `@failed:RUN-ID`: in that run (a unique prefix
 * of its id will do).
 */
function fromHistory(term: string, command: string, inventory: string): Set<string> {
  const where = {file: '--limit'}
  const m = /^@failed(?::(.+))?$/.exec(term)
  if (!m) throw new InputError(`unknown selector "${term}": @failed and @failed:RUN-ID are known`, where)
  let run: RunEntry | undefined
  if (m[1] !== undefined) {
    try {
      run = findRun(listRuns(), m[1])
    } catch (e) {
      throw e instanceof InputError ? new InputError(`${term}: ${e.reason}`, where) : e
    }
  } else {
    run = lastRunOf(command, inventory)
    if (!run) throw new InputError(`${term}: no earlier ${command} run against ${inventory} in ${runsHome()} (see gwfleet runs)`, where)
  }
  if (!run.summary) throw new InputError(`${term}: run ${run.id} has no summary (it ended before writing one)`, where)
  // A run of another inventory names other gateways (same names may be other hosts), and another
  // command's failures are not a changing command's work (an upgrade's failures are no list to
  // uninstall); a read-only command may look at any run's failures (logs of a deploy's).
  const s = run.summary
  if (s.inventory !== path.resolve(inventory)) throw new InputError(`${term}: run ${run.id} ran "${s.command}" against ${s.inventory}, not against ${path.resolve(inventory)}`, where)
  if (CHANGING.has(command) && s.command !== command) throw new InputError(`${term}: run ${run.id} ran "${s.command}", not "${command}"; use it with gwfleet ${s.command}`, where)
  const names = new Set(run.summary.hosts.filter((h) => !endedWell(h.status)).map((h) => h.name))
  if (names.size === 0) {
    const ended = [...new Set(run.summary.hosts.map((h) => h.status))]
    const words = ended.every((st) => st === 'ok' || st === 'unchanged') ? 'ok or unchanged' : ended.join(' or ')
    throw new InputError(`${term}: every gateway of run ${run.id} ended ${words}; nothing to retry`, where)
  }
  return names
}

/** The commands that change hosts: @failed:RUN-ID of theirs must be a run of the same command. */
const CHANGING = new Set(['deploy', 'upgrade', 'uninstall'])

/** A selected gateway whose own input cannot be used: audit reports it as `invalid`. */
export interface InvalidGateway {
  gw: Gateway
  error: InputError
}

/** The values of a `state: absent` gateway that names none: nothing to send, Cilium cleaned as by default. */
function noValues(): RenderedValues {
  return {file: '', text: '', data: {}, sha256: createHash('sha256').update('').digest('hex'), legacySha256: '', secretKeys: [], secrets: [], ciliumEnabled: true}
}

/**
 * The selected gateways with their values rendered; every input error of a selected gateway
 * surfaces here. One gateway's bad input never stops the others: those not selected are only
 * warned about, and with `tolerant` (audit) a selected one comes back in `invalid` instead of
 * stopping the command.
 */
export async function loadFleet(
  flags: {inventory?: string; limit?: string},
  command: string,
  opts: {tolerant?: boolean; warn?: (line: string) => void} = {},
): Promise<{inventory: Inventory; jobs: Job[]; invalid: InvalidGateway[]}> {
  const {inventory, gateways} = await loadGateways(flags, command)
  const selected = new Set(gateways.map((g) => g.name))
  const warn = opts.warn ?? ((line: string) => process.stderr.write(`gwfleet: warning: ${line}\n`))
  for (const g of inventory.gateways) {
    const e = inputProblemOf(g)
    if (e && !selected.has(g.name)) warn(`${g.name} (not selected): ${e.message}`)
  }
  const settled = await Promise.all(
    gateways.map(async (gw): Promise<Job | InvalidGateway> => {
      try {
        const problem = inputProblemOf(gw)
        if (problem) throw problem
        if (gw.valuesFile === '') return {gw, values: noValues()}
        return {gw, values: await renderValues(gw.valuesFile, {inventory: inventory.file})}
      } catch (e) {
        if (!(e instanceof InputError)) throw e
        return {gw, error: e}
      }
    }),
  )
  const invalid = settled.filter((x): x is InvalidGateway => 'error' in x)
  if (invalid.length && !opts.tolerant) throw invalid[0].error
  return {inventory, jobs: settled.filter((x): x is Job => 'values' in x), invalid}
}

/** The values keys of these jobs that the vendor guide does not document, as warnings ("file:line (key): ..."), each file once. */
export function valuesKeyWarningsOf(jobs: Job[]): string[] {
  // Gateways sharing a values file share its warnings: each said once.
  const byFile = new Map(jobs.map((j) => [j.values.file, j.values.keyWarnings ?? []]))
  return [...byFile.values()].flat()
}

/**
 * Open a run: progress view (quiet for machine output), run folder, the secrets to mask, and the
 * passwords and passphrases the selected gateways need, asked before the progress view starts.
 */
export async function openRun(inventory: Inventory, options: RunOptions, quiet: boolean, jobs: Job[] = [], gateways: Gateway[] = jobs.map((j) => j.gw)): Promise<RunContext> {
  let mask = (s: string) => s
  const reporter = makeReporter({json: quiet, mask: (s) => mask(s)})
  const ctx = await RunContext.create(inventory, options, reporter)
  for (const j of jobs) ctx.redactor.add(j.values.secrets)
  mask = (s) => ctx.redactor.redact(s)
  try {
    await prepareCredentials(ctx, gateways)
  } catch (e) {
    await ctx.close()
    throw e
  }
  return ctx
}

/** Run the hosts' work, then always close the run (bastions, logs); the results come back. */
export async function within<T>(ctx: RunContext, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } finally {
    await ctx.close()
  }
}

/** Keep the run's JSON document and its summary in its folder and, with --json, print it (secrets masked). */
export async function record(ctx: RunContext, doc: ResultDoc, json: boolean): Promise<void> {
  await ctx.log.writeJson('result.json', doc)
  await ctx.log.writeSummary(doc, {operator: ctx.operator, inventory: ctx.inventory.file, interrupted: ctx.interrupt.interrupted})
  if (json) write(jsonForTerminal(ctx.redactor.redact(JSON.stringify(doc, null, 2))))
}

/** Print a block on stdout with exactly one trailing newline. */
export function write(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : `${s}\n`)
}

/** Where tables go: stdout's width when it is a terminal (tables are fitted to it), and the secrets mask. */
export function tableView(mask: (s: string) => string): {width?: number; mask: (s: string) => string} {
  return {width: process.stdout.isTTY ? process.stdout.columns || 80 : undefined, mask}
}

/** Print an error the way SPEC asks (JSON document with --json) and return its exit code. */
export function reportError(err: unknown, json: boolean): number {
  const code = err instanceof InputError ? EXIT.badInput : err instanceof OperatorInterrupt ? EXIT.interrupted : EXIT.problems
  const msg = err instanceof Error ? err.message : String(err)
  const kind = err instanceof InputError ? 'error' : err instanceof OperatorInterrupt ? 'interrupted' : 'failed'
  if (json) process.stdout.write(jsonForTerminal(JSON.stringify({ok: false, error: msg})) + '\n')
  else process.stderr.write(`gwfleet: ${kind}: ${displayText(msg)}\n`)
  return code
}
