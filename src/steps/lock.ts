// Step: take the host's lock and read its facts in one round trip; refresh it while held; release it.

import {HostStepError, LockHeldError, NotRootError} from '../errors.js'
import {layout, lockAndProbeScript, LOCKED_SECTION, parseKv, parseProbe, probeScript, readThenLockIfNotInstalledScript, type LockOptions} from '../remote/scripts.js'
import {lockRefreshScript, unlockScript} from '../remote/lock-scripts.js'
import {preflightBody, type PreflightScriptOptions} from '../remote/ops-scripts.js'
import type {Session} from '../host/session.js'
import type {HostEnv, HostFacts, LockOwner} from '../types.js'

const PREFLIGHT_PREFIX = 'gw.pf.'
// A read that hangs (a cluster that never answers kubectl, a dead mount) fails the host, not the run.
const READ_LIMIT = {timeoutMs: 120_000}

/** A lock older than this without a heartbeat is considered abandoned. */
export const LOCK_TTL_SECONDS = 120
const HEARTBEAT_MS = Math.min(20_000, Math.max(500, Math.trunc(Number(process.env.GWFLEET_LOCK_HEARTBEAT_MS)) || 20_000)) // 20 s; GWFLEET_LOCK_HEARTBEAT_MS shortens it for tests (0.5 s floor, never longer: LOCK_TTL_SECONDS)

/** Facts read from a host, plus what happened to its lock. */
export interface ProbeResult {
  facts: HostFacts
  lockNote?: string
  /** The prerequisite probe's output (gw.* lines) when it rode along: hosts without a gateway. */
  preflightOutput?: string
}

function checkUid(s: Session, facts: HostFacts): void {
  if (facts.uid === null) throw new HostStepError('the host did not answer the probe (no shell?)')
  if (facts.unsafe) throw unsafeRemoteDir(s, facts.unsafe)
  if (facts.uid !== 0) throw new NotRootError(s.loginUser)
}

function unsafeRemoteDir(s: Session, why: string): HostStepError {
  return new HostStepError(`remoteDir ${s.gw.remoteDir} is not safe for root to use, nothing was written: ${why}`)
}

/**
 * Read-only probe: version, record, values hash, lock (audit, dry-run, the first look of a change).
 * `after` runs in the same round trip once the probe is done; its output comes back in `stdout`.
 */
export async function probe(s: Session, after = ''): Promise<ProbeResult & {stdout: string}> {
  const res = await s.root(`${probeScript({remoteDir: s.gw.remoteDir, gateway: s.gw.name, releaseVersions: []})}${after}`, READ_LIMIT)
  const facts = parseProbe(res.stdout, layout(s.gw.remoteDir, s.gw.name))
  checkUid(s, facts)
  return {facts, stdout: res.stdout}
}

/** Take the lock (or fail naming its holder) and probe, in one round trip. */
export async function lockAndProbe(ctx: HostEnv, s: Session, releaseVersions: string[], preflight?: PreflightScriptOptions): Promise<ProbeResult> {
  const opts = lockOptions(ctx, s, releaseVersions, preflight)
  return lockedRead(ctx, s, (await s.root(lockAndProbeScript(opts), READ_LIMIT)).stdout, opts)
}

/** A probe that also holds the lock when it took it. */
export interface MaybeLocked extends ProbeResult {
  locked: boolean
}

/**
 * deploy's first look: read the host and, where no gateway is installed (an install follows), take
 * the lock and read again under it, in the same round trip. Elsewhere the host is only read.
 */
export async function readThenLockIfNotInstalled(ctx: HostEnv, s: Session, releaseVersions: string[], preflight?: PreflightScriptOptions): Promise<MaybeLocked> {
  const opts = lockOptions(ctx, s, releaseVersions, preflight)
  const out = (await s.root(readThenLockIfNotInstalledScript(opts), READ_LIMIT)).stdout
  const at = out.indexOf(`${LOCKED_SECTION}\n`)
  if (at < 0) {
    const facts = parseProbe(out, layout(s.gw.remoteDir, s.gw.name))
    checkUid(s, facts)
    return {facts, locked: false}
  }
  return {...(await lockedRead(ctx, s, out.slice(at + LOCKED_SECTION.length + 1), opts)), locked: true}
}

function lockOptions(ctx: HostEnv, s: Session, releaseVersions: string[], preflight?: PreflightScriptOptions): LockOptions {
  return {
    remoteDir: s.gw.remoteDir,
    gateway: s.gw.name,
    releaseVersions,
    owner: ctx.lockOwner,
    ttlSeconds: LOCK_TTL_SECONDS,
    loginUser: s.loginUser,
    ifNotInstalled: preflight ? preflightBody(preflight, PREFLIGHT_PREFIX) : undefined,
  }
}

/** Facts from the output of a lock-and-read script; a dead run's lock of ours is taken over. */
async function lockedRead(ctx: HostEnv, s: Session, stdout: string, opts: LockOptions): Promise<ProbeResult> {
  let kv = parseKv(stdout)
  let result = kv.get('lock_result')?.[0]
  let holder = kv.get('lock_holder')?.[0]
  // A lock left by a run of this same operator on this workstation whose process is gone
  // (killed, or cut off from the host) need not wait for expiry.
  if (result === 'held' && holder !== undefined && isDeadLocalHolder(holder, ctx.lockOwner)) {
    stdout = (await s.root(lockAndProbeScript({...opts, staleHolder: holder}), READ_LIMIT)).stdout
    kv = parseKv(stdout)
    result = kv.get('lock_result')?.[0]
    holder = kv.get('lock_holder')?.[0]
  }
  const unsafe = kv.get('unsafe')?.[0]
  if (unsafe) throw unsafeRemoteDir(s, unsafe)
  if (result === 'held') {
    const job = kv.has('lock_job') ? '; its installer still runs on the host, and the lock lasts until it ends' : ''
    throw new LockHeldError(`locked by another run: ${describeHolder(holder)}${futureNote(Number(kv.get('lock_age')?.[0]))}${job}`, describeHolder(holder))
  }
  const stageProblem = kv.get('stage')?.[0]
  if (stageProblem) throw new HostStepError(`${stageProblem} (the lock was given back)`)
  if (result !== 'acquired' && result !== 'takeover') {
    const why = kv.get('lock')?.[0] ?? `no answer from the lock step`
    throw new HostStepError(`cannot take the lock in ${s.gw.remoteDir}: ${why}`)
  }
  const facts = parseProbe(stdout, layout(s.gw.remoteDir, s.gw.name))
  checkUid(s, facts)
  let lockNote: string | undefined
  if (result === 'takeover') lockNote = `took over the lock of a run that is gone (${describeHolder(kv.get('lock_prev')?.[0])})`
  const pf = stdout
    .split('\n')
    .filter((l) => l.startsWith(PREFLIGHT_PREFIX))
    .map((l) => `gw.${l.slice(PREFLIGHT_PREFIX.length)}`)
  return {facts, lockNote, preflightOutput: pf.length ? `${pf.join('\n')}\ngw.end=1\n` : undefined}
}

/**
 * True when a lock's holder is this operator on this same workstation (same machine identity) and
 * its process no longer runs. A holder without a machine identity (older locks, or a workstation
 * that has none) is never judged dead: a pid means nothing on another machine.
 */
export function isDeadLocalHolder(raw: string, me: Pick<LockOwner, 'owner' | 'machine'>): boolean {
  return holderProcessGone(raw, me) && lockOwnerOf(raw) === me.owner
}

/**
 * True when a lock was taken on this same workstation (same machine identity), by any user, and
 * its process no longer runs here. Never for a lock of another machine, or of one with no identity.
 */
export function holderProcessGone(raw: string, me: Pick<LockOwner, 'machine'>): boolean {
  try {
    const o = JSON.parse(raw) as {pid?: number; machine?: string}
    if (typeof o.pid !== 'number' || !Number.isInteger(o.pid) || o.pid <= 0 || o.pid === process.pid) return false
    if (!me.machine || o.machine !== me.machine) return false
    try {
      process.kill(o.pid, 0)
      return false
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ESRCH'
    }
  } catch {
    return false
  }
}

function lockOwnerOf(raw: string): string | undefined {
  try {
    return (JSON.parse(raw) as {owner?: string}).owner
  } catch {
    return undefined
  }
}

/** "user@host pid N (command) since T" from a lock file's JSON. */
export function describeHolder(raw: string | undefined): string {
  if (raw === '') return 'an empty lock file (left by a run that could not write it)'
  if (!raw) return 'unknown holder'
  try {
    const o = JSON.parse(raw) as {owner?: string; pid?: number; command?: string; started?: string}
    return `${o.owner ?? '?'} pid ${o.pid ?? '?'} (${o.command ?? '?'}) since ${o.started ?? '?'}`
  } catch {
    return raw.slice(0, 120)
  }
}

/** "; stamped Ns in the future ..." for a lock whose age is negative (the host's clock went back). */
export function futureNote(ageSeconds: number): string {
  if (!(ageSeconds < 0)) return ''
  return `; stamped ${-ageSeconds}s in the future (the host's clock went back): it now expires ${LOCK_TTL_SECONDS}s after its last refresh`
}

/** What a heartbeat refresh said about the lock: null while it is ours, else why it is not. */
export function lockLostReason(stdout: string): string | null {
  const kv = parseKv(stdout)
  const state = kv.get('lock_state')?.[0]
  if (state === 'held') return `now held by ${describeHolder(kv.get('lock_holder')?.[0] ?? '')}`
  if (state === 'removed') return 'removed (the lock file is gone: cleared by an operator or removed by hand)'
  return null
}

/**
 * Keep the lock fresh while work goes on; returns a stop function. Each refresh also checks the
 * lock is still this run's: when it is not (cleared, removed, taken over), `onLost` is called once
 * and the refreshes stop. A refresh that fails to run (a slow or cut connection) says nothing.
 */
export function heartbeat(ctx: HostEnv, session: Session | (() => Session), onLost: (why: string) => void = () => undefined, everyMs = HEARTBEAT_MS): () => void {
  // A getter: after a reconnect the refreshes go over the new connection.
  const current = typeof session === 'function' ? session : () => session
  let busy = false
  let stopped = false
  const t = setInterval(() => {
    if (busy || stopped) return
    busy = true
    const s = current()
    s.root(lockRefreshScript(s.gw.remoteDir, s.gw.name, ctx.lockOwner.token), {timeoutMs: everyMs * 3})
      .then((res) => {
        const why = stopped ? null : lockLostReason(res.stdout)
        if (why === null) return
        stop()
        ctx.log(`lock lost: ${why}`)
        onLost(why)
      })
      .catch(() => undefined)
      .finally(() => {
        busy = false
      })
  }, everyMs)
  t.unref()
  const stop = () => {
    stopped = true
    clearInterval(t)
  }
  return stop
}

/** Release the lock if it is still ours; `before` runs in the same round trip (records, history). Returns the output. */
export async function unlock(ctx: HostEnv, s: Session, before = '', cleanStage = true): Promise<string> {
  const script = `${before}\n${unlockScript(s.gw.remoteDir, s.gw.name, ctx.lockOwner.token, cleanStage)}`
  return (await s.root(script, {timeoutMs: 30_000})).stdout
}
