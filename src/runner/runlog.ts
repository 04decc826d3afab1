// The run folder: one log per host (secrets redacted), the results and a summary of the run, under
// ~/.gwfleet/runs. Changing commands keep one; read-only commands only when asked (--save). Old
// folders are pruned when a new one is made, and `gwfleet runs` reads the summaries back.
import {constants, createWriteStream, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync, closeSync} from 'node:fs'
import path from 'node:path'
import type {Writable} from 'node:stream'

import {InputError} from '../errors.js'
import {displayLine} from '../render/sanitize.js'
import {formatBytes} from '../ssh/output.js'
import {gwfleetHome} from '../util/local.js'
import type {Redactor} from './redact.js'

function stamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
}

/** A run folder's name, which is the run's id: `20261128T114702Z-deploy-14075` (UTC start, command, pid). */
export const RUN_ID_RE = /^(\d{8}T\d{6}Z)-([a-z][a-z-]*)-(\d+)$/

/** The folder holding every run folder. */
export function runsHome(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(gwfleetHome(env), 'runs')
}

/** When a run started, from its id (null for a name that is not a run id). */
export function runStart(id: string): Date | null {
  const m = RUN_ID_RE.exec(id)
  if (!m) return null
  const t = m[1]
  const d = new Date(`${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:${t.slice(13, 15)}Z`)
  return Number.isNaN(d.getTime()) ? null : d
}

/** How many run folders are kept: at most `runs` of them, none older than `days` (0 turns a limit off). */
export interface KeepPolicy {
  runs: number
  days: number
}

/** 100 runs and 30 days, unless GWFLEET_KEEP_RUNS / GWFLEET_KEEP_DAYS say otherwise. */
export const DEFAULT_KEEP: KeepPolicy = {runs: 100, days: 30}

/** The keep policy from the environment; a value that is not a whole number is bad input naming its variable. */
export function keepPolicy(env: NodeJS.ProcessEnv = process.env): KeepPolicy {
  const read = (name: string, fallback: number): number => {
    const v = env[name]
    if (v === undefined || v.trim() === '') return fallback
    if (!/^\d+$/.test(v.trim())) throw new InputError(`"${v}" must be a whole number (0: no limit)`, {file: name})
    return Number(v.trim())
  }
  return {runs: read('GWFLEET_KEEP_RUNS', DEFAULT_KEEP.runs), days: read('GWFLEET_KEEP_DAYS', DEFAULT_KEEP.days)}
}

/**
 * The run ids to delete: every one past the newest `policy.runs`, and every one that started
 * more than `policy.days` days before `now`. Names that are not run ids are never chosen.
 */
export function runsToPrune(ids: string[], policy: KeepPolicy, now: Date = new Date()): string[] {
  const runs = ids.filter((id) => runStart(id)).sort().reverse()
  const cutoff = now.getTime() - policy.days * 86_400_000
  return runs.filter((id, i) => (policy.runs > 0 && i >= policy.runs) || (policy.days > 0 && runStart(id)!.getTime() < cutoff))
}

/** Delete the run folders the policy no longer keeps (real directories only: a symlink is left alone). */
export function pruneRuns(dir: string, policy: KeepPolicy, now: Date = new Date()): string[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  const removed: string[] = []
  for (const id of runsToPrune(names, policy, now)) {
    const p = path.join(dir, id)
    try {
      if (!lstatSync(p).isDirectory()) continue
      rmSync(p, {recursive: true, force: true})
      removed.push(id)
    } catch {
      // Another run pruning at the same time, or a folder we may not delete: leave it.
    }
  }
  return removed
}

/**
 * Make `dir` if it is missing (0700), then insist that it is a real directory (no symbolic link) the
 * running user owns and that nobody else may write: in a folder another user controls, that user
 * could swap run folders or plant links so gwfleet's logs (and what a later `runs` or `@failed`
 * reads back) go where they choose. Bad input otherwise, naming the folder and what is wrong.
 */
function ensurePrivateDir(dir: string, what: string): void {
  try {
    mkdirSync(dir, {recursive: true, mode: 0o700})
  } catch (e: any) {
    if (e?.code !== 'EEXIST') throw new InputError(`cannot create ${dir}: ${e?.code ?? e?.message}`, {file: what})
  }
  const st = lstatSync(dir)
  const uid = process.getuid?.()
  const problem = st.isSymbolicLink()
    ? 'is a symbolic link'
    : !st.isDirectory()
      ? 'is not a directory'
      : uid !== undefined && st.uid !== uid
        ? `is owned by uid ${st.uid}, not by you (uid ${uid})`
        : (st.mode & 0o022) !== 0
          ? `has mode ${(st.mode & 0o777).toString(8)}: others may write it`
          : null
  if (problem) throw new InputError(`${dir} ${problem}; gwfleet keeps its run logs only in a folder that is yours alone (chmod go-w, or set GWFLEET_HOME to one)`, {file: what})
}

/** Open a new file in a run folder for writing: never through a link, never one already there (or, for `replace`, truncating only a real file). */
function openNew(file: string, replace = false): number {
  const {O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_APPEND, O_TRUNC} = constants
  return openSync(file, O_WRONLY | O_CREAT | O_NOFOLLOW | (replace ? O_TRUNC : O_EXCL | O_APPEND), 0o600)
}

/** One gateway's line in a run's summary. */
export interface RunHost {
  name: string
  host: string
  status: string
  action?: string
  from?: string | null
  to?: string | null
  detail?: string | null
}

/** What `run.json` holds: enough for `gwfleet runs` and for selecting the gateways a run left failed. */
export interface RunSummary {
  id: string
  command: string
  started: string
  finished: string
  operator: string
  /** Absolute path of the inventory the run used. */
  inventory: string
  dryRun: boolean
  ok: boolean
  interrupted: boolean
  /** Gateways per status. */
  counts: Record<string, number>
  hosts: RunHost[]
}

/** A command's JSON document as far as the summary needs it (every command's document has this shape). */
export interface ResultDoc {
  command: string
  ok: boolean
  dryRun?: boolean
  hosts: {
    name: string
    host?: string
    status: string
    action?: string | null
    fromVersion?: string | null
    toVersion?: string | null
    version?: string | null
    desiredVersion?: string | null
    error?: string | null
  }[]
}

/** The summary of a finished run from its JSON document. */
export function summaryOf(
  doc: ResultDoc,
  run: {id: string; started: Date; finished?: Date; operator: string; inventory: string; interrupted: boolean},
): RunSummary {
  const counts: Record<string, number> = {}
  for (const h of doc.hosts) counts[h.status] = (counts[h.status] ?? 0) + 1
  return {
    id: run.id,
    command: doc.command,
    started: run.started.toISOString(),
    finished: (run.finished ?? new Date()).toISOString(),
    operator: run.operator,
    inventory: path.resolve(run.inventory),
    dryRun: Boolean(doc.dryRun),
    ok: doc.ok,
    interrupted: run.interrupted,
    counts,
    hosts: doc.hosts.map((h) => ({
      name: h.name,
      host: h.host ?? '',
      status: h.status,
      ...(h.action !== undefined && h.action !== null ? {action: h.action} : {}),
      from: h.fromVersion ?? h.version ?? null,
      to: h.toVersion ?? h.desiredVersion ?? null,
      detail: h.error ?? null,
    })),
  }
}

/** The file of a run folder that holds its summary. */
export const SUMMARY_FILE = 'run.json'

/** A run folder as `gwfleet runs` lists it: its summary when the run got to write one. */
export interface RunEntry {
  id: string
  dir: string
  started: Date
  /** The command as the folder names it (`locks-clear`); the summary has it as typed (`locks clear`). */
  command: string
  summary: RunSummary | null
}

/** The run folders under `dir`, newest first. */
export function listRuns(dir: string = runsHome()): RunEntry[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  return names
    .filter((n) => RUN_ID_RE.test(n))
    .sort()
    .reverse()
    .map((id) => ({id, dir: path.join(dir, id), started: runStart(id)!, command: RUN_ID_RE.exec(id)![2], summary: readSummary(path.join(dir, id))}))
}

/** A run folder's summary, or null (a run that ended before writing it, or an unreadable file). */
export function readSummary(runDir: string): RunSummary | null {
  try {
    const s = JSON.parse(readFileSync(path.join(runDir, SUMMARY_FILE), 'utf8'))
    return s && typeof s === 'object' && Array.isArray(s.hosts) ? (s as RunSummary) : null
  } catch {
    return null
  }
}

/** The newest run of `command` (as the summary names it) against `inventory`, with a summary; dry runs count only when `dryRun` is true. */
export function lastRunOf(command: string, inventory: string, opts: {dir?: string; dryRun?: boolean} = {}): RunEntry | undefined {
  const inv = path.resolve(inventory)
  return listRuns(opts.dir).find((r) => r.summary && r.summary.command === command && r.summary.inventory === inv && (opts.dryRun || !r.summary.dryRun))
}

/** The run an id names: the whole id, or a prefix only one run has. */
export function findRun(runs: RunEntry[], id: string): RunEntry {
  if (!/^[0-9A-Za-z-]+$/.test(id)) throw new InputError(`"${id}" is not a run id (such as 20261128T114702Z-deploy-14075)`, {file: 'ID'})
  const exact = runs.find((r) => r.id === id)
  if (exact) return exact
  const matches = runs.filter((r) => r.id.startsWith(id))
  if (matches.length === 1) return matches[0]
  if (matches.length > 1) throw new InputError(`"${id}" matches ${matches.length} runs (${matches.slice(0, 3).map((r) => r.id).join(', ')}${matches.length > 3 ? ', ...' : ''}); give more of the id`, {file: 'ID'})
  throw new InputError(`no run "${id}" in ${runsHome()} (gwfleet runs lists them)`, {file: 'ID'})
}

/** How much of each host's log is kept: its first and its last bytes; the middle is cut. */
export interface LogCap {
  headBytes: number
  tailBytes: number
}

/** 4 MiB from the start of each host's log and 2 MiB from its end. */
export const DEFAULT_LOG_CAP: LogCap = {headBytes: 4 * 1024 * 1024, tailBytes: 2 * 1024 * 1024}

/** The tail is kept in blocks of about this size, so dropping its oldest part is cheap. */
const TAIL_BLOCK = 64 * 1024

interface Block {
  /** The lines of the block: text while it fills, then bytes (compact, pinning no other string). */
  data: string | Buffer
  bytes: number
  lines: number
}

/**
 * One host's log: lines go to the file until the head is full; after that the newest lines are
 * kept in memory (at most the tail size) and the older ones dropped and counted. On close the
 * tail is appended after one line that says how much was cut.
 */
export class HostLog {
  private head = 0
  private inTail = false
  private readonly blocks: Block[] = []
  private tailBytes = 0
  private cutBytes = 0
  private cutLines = 0

  constructor(
    private readonly stream: Writable,
    private readonly cap: LogCap = DEFAULT_LOG_CAP,
  ) {}

  /** Append one line (without its newline). */
  write(line: string): void {
    const text = `${line}\n`
    const bytes = Buffer.byteLength(text)
    if (!this.inTail && this.head + bytes <= this.cap.headBytes) {
      this.head += bytes
      this.stream.write(text)
      return
    }
    this.inTail = true
    const last = this.blocks.at(-1)
    if (last && last.bytes < TAIL_BLOCK) {
      last.data += text
      last.bytes += bytes
      last.lines++
    } else {
      if (last) last.data = Buffer.from(last.data)
      this.blocks.push({data: text, bytes, lines: 1})
    }
    this.tailBytes += bytes
    // Drop whole blocks from the front until the tail fits (it keeps a block less than its size at worst).
    while (this.blocks.length > 1 && this.tailBytes > this.cap.tailBytes) {
      const old = this.blocks.shift()!
      this.tailBytes -= old.bytes
      this.cutBytes += old.bytes
      this.cutLines += old.lines
    }
  }

  /** Bytes and lines cut so far. */
  get cut(): {bytes: number; lines: number} {
    return {bytes: this.cutBytes, lines: this.cutLines}
  }

  /** Write the kept tail (after the note on what was cut) and close the file. */
  async close(): Promise<void> {
    if (this.cutBytes > 0)
      this.stream.write(
        `${new Date().toISOString()} [gwfleet: ${this.cutLines} line(s), ${formatBytes(this.cutBytes)}, of this log cut here; it keeps its first ${formatBytes(this.cap.headBytes)} and its last ${formatBytes(this.cap.tailBytes)}]\n`,
      )
    for (const b of this.blocks.splice(0)) this.stream.write(b.data)
    this.tailBytes = 0
    await new Promise<void>((resolve) => this.stream.end(() => resolve()))
  }
}

/**
 * One run's folder and its per-host logs (each capped, see HostLog). A run that keeps no folder
 * (`keep` false: a read-only command without --save) has `dir` null and writes nothing. Making a
 * folder first prunes the old ones (GWFLEET_KEEP_RUNS, GWFLEET_KEEP_DAYS).
 */
export class RunLog {
  /** The run folder; null when the run keeps none. */
  readonly dir: string | null
  readonly started = new Date()
  private readonly logs = new Map<string, HostLog>()

  constructor(
    command: string,
    private readonly redactor: Redactor,
    keep = true,
  ) {
    if (!keep) {
      this.dir = null
      return
    }
    const policy = keepPolicy()
    const home = runsHome()
    ensurePrivateDir(path.dirname(home), 'GWFLEET_HOME')
    ensurePrivateDir(home, 'GWFLEET_HOME')
    this.dir = path.join(home, `${stamp(this.started)}-${command}-${process.pid}`)
    // A new folder of this run's own (not recursive: one already there, or a link, is an error).
    mkdirSync(this.dir, {mode: 0o700})
    pruneRuns(home, policy, this.started)
  }

  /** The run's id (its folder's name), or null when it keeps no folder. */
  get id(): string | null {
    return this.dir === null ? null : path.basename(this.dir)
  }

  /** Append a timestamped, redacted line to a host's log. */
  write(host: string, line: string): void {
    if (this.dir === null) return
    let log = this.logs.get(host)
    if (!log) {
      log = new HostLog(createWriteStream('', {fd: openNew(path.join(this.dir, `${host}.log`))}))
      this.logs.set(host, log)
    }
    // Host text is stored inert: no escape sequence (OSC 52 writes the clipboard of whoever views
    // the log), no CR that hides what came before. Masked before and after, so an escape sequence
    // inside a secret neither hides it from the mask nor joins it back together unmasked.
    log.write(`${new Date().toISOString()} ${this.redactor.redact(displayLine(this.redactor.redact(line)))}`)
  }

  /** Write a redacted JSON document into the run folder. */
  async writeJson(name: string, data: unknown): Promise<void> {
    if (this.dir === null) return
    const fd = openNew(path.join(this.dir, name), true)
    try {
      writeSync(fd, this.redactor.redact(JSON.stringify(data, null, 2)) + '\n')
    } finally {
      closeSync(fd)
    }
  }

  /** Write the run's summary (run.json) from its JSON document, redacted like every file of the folder. */
  async writeSummary(doc: ResultDoc, run: {operator: string; inventory: string; interrupted: boolean}): Promise<void> {
    if (this.dir === null) return
    await this.writeJson(SUMMARY_FILE, summaryOf(doc, {id: this.id!, started: this.started, ...run}))
  }

  /** Flush and close every host log. */
  async close(): Promise<void> {
    await Promise.all([...this.logs.values()].map((l) => l.close()))
    this.logs.clear()
  }
}
