// The operator's read-only fleet commands (preflight, status, locks, history): each selected host on
// its own connection, up to the run's concurrency, one round trip each; a host that fails does not
// hold the others back. Parsing of what the hosts print is pure and exported for tests.
import pLimit from 'p-limit'

import {UnreachableError} from '../errors.js'
import {failingChecks, preflightHost, worstLevel, type CheckResult} from '../preflight/checks.js'
import {gatewayScript, statusScript} from '../remote/ops-scripts.js'
import {lockClearScript, lockShowScript} from '../remote/lock-scripts.js'
import {notInstalled, parseGateway, parsePods, type Computation, type GatewayPresence, type PodRow} from '../remote/cluster.js'
import {historyScript, parseJob, parseKv, parseLastChange, remoteDirGuard, unsafeRefusal} from '../remote/scripts.js'
import {describeHolder, holderProcessGone, isDeadLocalHolder, LOCK_TTL_SECONDS} from '../steps/lock.js'
import type {Gateway, HistoryEntry, Installed, Job, JobFacts, LockOwner} from '../types.js'
import {attemptWords, lastAttempt, valuesNotApplied} from './attempt.js'
import type {RunContext} from './context.js'
import type {Session} from '../host/session.js'

/** One host's outcome of a read-only operation. */
export interface HostOutcome<T> {
  name: string
  host: string
  /** The connection failed (then value is undefined). */
  unreachable: boolean
  value?: T
  /** Why the host could not be read (connection, sudo, a failed remote command). */
  error: string | null
  durationMs: number
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

/** A host's line in the progress view and the run log, for commands with words of their own (audit's in-sync, drift ...). */
export interface Verdict {
  label: string
  ok: boolean
}

/**
 * Run `work` on every gateway's host; `problem` says what counts as a failure for the progress
 * view, or `verdict` gives each host's words there (then `problem` is not asked).
 */
export async function eachHost<T>(
  ctx: RunContext,
  gateways: Gateway[],
  title: string,
  work: (s: Session, gw: Gateway) => Promise<T>,
  problem: (v: T) => string | null = () => null,
  verdict?: (o: HostOutcome<T>) => Verdict,
): Promise<HostOutcome<T>[]> {
  const limit = pLimit(Math.max(1, ctx.options.concurrency))
  ctx.reporter.begin(gateways.map((g) => ({name: g.name, host: g.host})), title)
  const one = async (gw: Gateway): Promise<HostOutcome<T>> => {
    const t0 = Date.now()
    let s: Session | undefined
    let out: HostOutcome<T>
    try {
      ctx.step(gw.name, 'connecting')
      s = await ctx.openSession(gw)
      ctx.step(gw.name, 'reading the host')
      const value = await work(s, gw)
      out = {name: gw.name, host: gw.host, unreachable: false, value, error: null, durationMs: Date.now() - t0}
    } catch (e) {
      const error = ctx.redactor.redact(message(e))
      out = {name: gw.name, host: gw.host, unreachable: e instanceof UnreachableError, error, durationMs: Date.now() - t0}
    } finally {
      s?.close()
    }
    if (verdict) {
      const v = verdict(out)
      ctx.log.write(gw.name, `${title}: ${v.label}`)
      ctx.reporter.verdict(gw.name, v.label, v.ok)
      return out
    }
    const why = out.error ?? (out.value !== undefined ? problem(out.value) : null)
    ctx.log.write(gw.name, `${title}: ${out.unreachable ? 'unreachable' : why ? 'problem' : 'ok'}${why ? ` - ${why}` : ''}`)
    ctx.reporter.done({
      name: gw.name,
      host: gw.host,
      status: out.unreachable ? 'unreachable' : why ? 'failed' : 'ok',
      action: 'none',
      fromVersion: null,
      toVersion: null,
      hops: [],
      error: why,
      durationMs: out.durationMs,
    })
    return out
  }
  try {
    return await Promise.all(gateways.map((gw) => limit(() => one(gw))))
  } finally {
    await ctx.reporter.end()
  }
}

// ------------------------------------------------------------------------------------ preflight

/** A host's prerequisite checks. */
export interface PreflightResult {
  name: string
  host: string
  status: 'pass' | 'warn' | 'fail' | 'unreachable'
  checks: CheckResult[]
  error: string | null
  durationMs: number
}

/** Check the vendor's prerequisites on every selected host. Changes nothing. */
export async function runPreflight(ctx: RunContext, jobs: Job[]): Promise<PreflightResult[]> {
  const byName = new Map(jobs.map((j) => [j.gw.name, j]))
  const outcomes = await eachHost(
    ctx,
    jobs.map((j) => j.gw),
    'preflight',
    (s, gw) => preflightHost(ctx.hostEnv(gw.name), s, byName.get(gw.name)!),
    (checks) => failingChecks(checks).map((c) => `${c.id}: ${c.message}`).join('; ') || null,
  )
  return outcomes.map((o) => {
    if (o.unreachable) return {name: o.name, host: o.host, status: 'unreachable', checks: [], error: o.error, durationMs: o.durationMs}
    const checks = o.value ?? [{id: 'probe', level: 'fail' as const, message: o.error ?? 'no answer'}]
    const failing = failingChecks(checks)
    return {
      name: o.name,
      host: o.host,
      status: worstLevel(checks),
      checks,
      error: failing.length ? failing.map((c) => `${c.id}: ${c.message}`).join('; ') : null,
      durationMs: o.durationMs,
    }
  })
}

// ------------------------------------------------------------------------------------ status

/** What runs on one gateway. */
export interface GatewayStatus {
  /** Whether a gateway is installed: the same verdict as audit's and logs' (remote/cluster.ts). */
  installed: Installed
  /** Installed agent version, or null. */
  version: string | null
  /** Why not installed, or why that is unknown. */
  versionNote: string | null
  /** Every pod of the cluster, read from kubectl's JSON (empty when there is no cluster to ask). */
  pods: PodRow[]
  /** Why the pods could not be read (kubectl failed, or its answer was not a pod list). */
  podsError: string | null
  computations: Computation[]
  /** A job on the host that no run has recorded yet (a live install, or one that ended unwatched). */
  job: JobFacts | null
  /** The gateway's last change when it did not succeed, in words (`last change failed (run ID): values not applied`), else null. */
  lastChange?: string | null
}

/** kubectl's last words are its summary ("The connection to the server ... was refused"); klog noise comes first. */
function lastLine(lines: string[]): string {
  return [...lines].reverse().find((l) => l.trim() !== '')?.trim().slice(0, 300) ?? ''
}

/** Pure: the status script's output. */
export function parseStatus(stdout: string, desired?: string | null): GatewayStatus {
  const kv = parseKv(stdout)
  const gateway = parseGateway(kv)
  const base = {installed: gateway.installed, version: gateway.version, versionNote: gateway.note, pods: [], podsError: null, computations: [], job: parseJob(kv), lastChange: lastChangeWords(kv, gateway.version, desired)}
  const rc = kv.get('pods_rc')?.[0]
  // No cluster to ask (no kubectl, no kubeconfig): nothing more was asked.
  if (rc === undefined) return base
  const lines = kv.get('pods') ?? []
  if (rc !== '0') return {...base, podsError: lastLine(lines) || `kubectl exited with ${rc}`}
  try {
    return {...base, ...parsePods(lines.join('\n'))}
  } catch (e) {
    return {...base, podsError: `kubectl's JSON could not be read: ${message(e)}`}
  }
}

/**
 * The gateway's last change in words when it did not succeed and the gateway is not where the
 * inventory wants it (its values not applied, or another version): once it is, the failure is old news.
 */
function lastChangeWords(kv: Map<string, string[]>, version: string | null, desired: string | null | undefined): string | null {
  const last = {...parseLastChange(kv), version}
  const attempt = lastAttempt(last)
  if (!attempt || (!valuesNotApplied(last) && (desired === undefined || version === desired))) return null
  return attemptWords(attempt, last)
}

/** A gateway's status, or why it could not be read. */
export interface StatusResult {
  name: string
  host: string
  status: 'ok' | 'not-installed' | 'failed' | 'unreachable'
  error: string | null
  gateway: GatewayStatus | null
  durationMs: number
}

/** Pure: a status verdict from what the host said; installed or not is parseGateway's word, as in audit and logs. */
export function statusVerdict(g: GatewayStatus): {status: StatusResult['status']; error: string | null} {
  if (g.installed === 'no') return {status: 'not-installed', error: notInstalled(g.versionNote)}
  if (g.installed === 'unknown') return {status: 'failed', error: g.versionNote}
  if (g.podsError) return {status: 'failed', error: `kubectl get pod: ${g.podsError}`}
  return {status: 'ok', error: null}
}

/** Read what runs on every selected gateway. Changes nothing. */
export async function runStatus(ctx: RunContext, gateways: Gateway[]): Promise<StatusResult[]> {
  const outcomes = await eachHost(ctx, gateways, 'status', async (s) => parseStatus((await s.root(statusScript(s.gw.remoteDir, s.gw.name), {timeoutMs: 120_000})).stdout, s.gw.state === 'absent' ? null : s.gw.version), (g) => statusVerdict(g).error)
  return outcomes.map((o) => {
    if (!o.value) return {name: o.name, host: o.host, status: o.unreachable ? 'unreachable' : 'failed', error: o.error, gateway: null, durationMs: o.durationMs}
    const v = statusVerdict(o.value)
    return {name: o.name, host: o.host, status: v.status, error: v.error, gateway: o.value, durationMs: o.durationMs}
  })
}

// ------------------------------------------------------------------------------------ logs

/** Whether a gateway is installed on a session's host, by the same query and reading as audit and status (what `logs` asks first). */
export async function gatewayOn(s: Session): Promise<GatewayPresence> {
  const res = await s.root(gatewayScript(), {timeoutMs: 60_000})
  if (!/gw\.end=1/.test(res.stdout)) throw new Error(`cannot read the host: ${res.stderr.trim().split('\n').pop() || `exit code ${res.code}`}`)
  return parseGateway(parseKv(res.stdout))
}

// ------------------------------------------------------------------------------------ locks

/** Who holds a host's lock (parsed from the lock file's JSON). */
export interface LockInfo {
  holder: string
  owner: string | null
  pid: number | null
  command: string | null
  started: string | null
  /** Negative when the lock is stamped in the future (the host's clock went back). */
  ageSeconds: number
  /** Older than the heartbeat TTL: the next changing run takes it over. */
  expired: boolean
  /** Taken on this workstation (same machine identity) by a process that no longer runs here. */
  processGone: boolean
  /** processGone, and the holder is this operator: their next changing run takes it over. */
  takenOverByMe: boolean
}

/** A host's lock after `locks list` or `locks clear`. */
export interface LockResult {
  name: string
  host: string
  status: 'ok' | 'unreachable' | 'failed'
  lock: LockInfo | null
  /** clear: the lock was removed. */
  cleared: boolean
  error: string | null
  durationMs: number
}

/**
 * The lock (if any) from lockShowScript's (and lockClearScript's) output; `me` (this workstation
 * and operator) tells whether the holder's process is gone.
 */
export function parseLock(stdout: string, me: Pick<LockOwner, 'owner' | 'machine'> = {owner: ''}): {lock: LockInfo | null; cleared: boolean} {
  const kv = parseKv(stdout)
  const raw = kv.get('lock')?.[0]
  const cleared = kv.get('cleared')?.[0] === '1'
  // An empty lock file is still a lock (a run that could not write it): shown, not hidden.
  if (raw === undefined) return {lock: null, cleared}
  const age = Number(kv.get('lock_age')?.[0] ?? '0') || 0
  let o: {owner?: string; pid?: number; command?: string; started?: string} = {}
  try {
    o = JSON.parse(raw)
  } catch {
    o = {}
  }
  return {
    lock: {
      holder: describeHolder(raw),
      owner: o.owner ?? null,
      pid: typeof o.pid === 'number' ? o.pid : null,
      command: o.command ?? null,
      started: o.started ?? null,
      ageSeconds: age,
      expired: age > LOCK_TTL_SECONDS,
      processGone: holderProcessGone(raw, me),
      takenOverByMe: isDeadLocalHolder(raw, me),
    },
    cleared,
  }
}

/** List (or, with clear, remove) the lock on every selected host. */
export async function runLocks(ctx: RunContext, gateways: Gateway[], clear: boolean): Promise<LockResult[]> {
  const outcomes = await eachHost(ctx, gateways, clear ? 'locks clear' : 'locks list', async (s, gw) => {
    const script = clear ? `${lockShowScript(gw.remoteDir, gw.name)}\n${lockClearScript(gw.remoteDir, gw.name)}` : lockShowScript(gw.remoteDir, gw.name)
    // The lock is read (and removed) only under a remoteDir the probe's safety check accepts.
    const res = await s.root(remoteDirGuard(gw.remoteDir, script), {timeoutMs: 60_000})
    const unsafe = unsafeRefusal(res.stdout, gw.remoteDir)
    if (unsafe) throw new Error(unsafe)
    if (!/gw\.end=1/.test(res.stdout)) throw new Error(`cannot read the lock: ${res.stderr.trim().split('\n').pop() || `exit code ${res.code}`}`)
    return parseLock(res.stdout, ctx.lockOwner)
  })
  return outcomes.map((o) => {
    if (!o.value) return {name: o.name, host: o.host, status: o.unreachable ? 'unreachable' : 'failed', lock: null, cleared: false, error: o.error, durationMs: o.durationMs}
    if (o.value.cleared) ctx.log.write(o.name, `lock cleared (was ${o.value.lock?.holder ?? 'unknown holder'})`)
    return {name: o.name, host: o.host, status: 'ok', lock: o.value.lock, cleared: o.value.cleared, error: null, durationMs: o.durationMs}
  })
}

// ------------------------------------------------------------------------------------ history

/** A history line with the host it was read from. */
export type HistoryRow = HistoryEntry & {host: string}

/** Per host: how many entries were read, or why none. */
export interface HistoryHost {
  name: string
  host: string
  status: 'ok' | 'unreachable' | 'failed'
  entries: number
  error: string | null
}

/** Pure: the history lines of one gateway from a host's history.jsonl (other gateways' lines and broken lines are skipped). */
export function parseHistory(text: string, gateway: string): HistoryEntry[] {
  const out: HistoryEntry[] = []
  for (const line of text.split('\n')) {
    if (!line.trim().startsWith('{')) continue
    try {
      const e = JSON.parse(line) as HistoryEntry
      if (e && typeof e === 'object' && e.gateway === gateway && typeof e.time === 'string') out.push(e)
    } catch {
      // a line cut short by a crash: skip it
    }
  }
  return out
}

/** Read the history of every selected gateway, oldest first. */
export async function runHistory(ctx: RunContext, gateways: Gateway[]): Promise<{entries: HistoryRow[]; hosts: HistoryHost[]}> {
  const outcomes = await eachHost(ctx, gateways, 'history', async (s, gw) => {
    const res = await s.root(remoteDirGuard(gw.remoteDir, historyScript(gw.remoteDir)), {timeoutMs: 60_000})
    const unsafe = unsafeRefusal(res.stdout, gw.remoteDir)
    if (unsafe) throw new Error(unsafe)
    if (res.code !== 0) throw new Error(`cannot read the history: ${res.stderr.trim().split('\n').pop() || `exit code ${res.code}`}`)
    return parseHistory(res.stdout, gw.name)
  })
  const entries: HistoryRow[] = []
  const hosts: HistoryHost[] = outcomes.map((o) => {
    for (const e of o.value ?? []) entries.push({...e, host: o.host})
    return {name: o.name, host: o.host, status: o.value ? 'ok' : o.unreachable ? 'unreachable' : 'failed', entries: o.value?.length ?? 0, error: o.error}
  })
  entries.sort((a, b) => a.time.localeCompare(b.time) || a.gateway.localeCompare(b.gateway))
  return {entries, hosts}
}
