// Step: take the host's lock and read its facts in one round trip; refresh it while held; release it.
import {HostStepError} from '../errors.js'
import {layout, lockAndProbeScript, lockRefreshScript, parseKv, parseProbe, probeScript, unlockScript, type HostFacts} from '../remote/scripts.js'
import {preflightBody, type PreflightScriptOptions} from '../remote/ops-scripts.js'
import type {RunContext} from '../runner/context.js'
import type {HostSession} from '../runner/session.js'

const PREFLIGHT_PREFIX = 'gw.pf.'

/** A lock older than this without a heartbeat is considered abandoned. */
export const LOCK_TTL_SECONDS = 120
const HEARTBEAT_MS = 20_000

/** Facts read from a host, plus what happened to its lock. */
export interface ProbeResult {
  facts: HostFacts
  lockNote?: string
  /** The prerequisite probe's output (gw.* lines) when it rode along: hosts without a gateway. */
  preflightOutput?: string
}

function checkUid(s: HostSession, facts: HostFacts): void {
  if (facts.uid === null) throw new HostStepError('the host did not answer the probe (no shell?)')
  if (facts.uid !== 0)
    throw new HostStepError(`${s.conn.target.user} is not root on this host; set become: true to use sudo`)
}

/** Read-only probe (audit, dry-run). */
export async function probe(s: HostSession, releaseVersions: string[]): Promise<ProbeResult> {
  const res = await s.root(probeScript({remoteDir: s.gw.remoteDir, gateway: s.gw.name, releaseVersions}))
  const facts = parseProbe(res.stdout, layout(s.gw.remoteDir, s.gw.name))
  checkUid(s, facts)
  return {facts}
}

/** Take the lock (or fail naming its holder) and probe, in one round trip. */
export async function lockAndProbe(ctx: RunContext, s: HostSession, releaseVersions: string[], preflight?: PreflightScriptOptions): Promise<ProbeResult> {
  const attempt = (staleHolder?: string) =>
    s.root(
      lockAndProbeScript({
        remoteDir: s.gw.remoteDir,
        gateway: s.gw.name,
        releaseVersions,
        owner: ctx.lockOwner,
        ttlSeconds: LOCK_TTL_SECONDS,
        loginUser: s.conn.target.user,
        ifNotInstalled: preflight ? preflightBody(preflight, PREFLIGHT_PREFIX) : undefined,
        staleHolder,
      }),
    )
  let res = await attempt()
  let kv = parseKv(res.stdout)
  let result = kv.get('lock_result')?.[0]
  let holder = kv.get('lock_holder')?.[0]
  // A lock left by a run of this same operator on this workstation whose process is gone
  // (killed, or cut off from the host) need not wait for expiry.
  if (result === 'held' && holder !== undefined && isDeadLocalHolder(holder, ctx.lockOwner.owner)) {
    res = await attempt(holder)
    kv = parseKv(res.stdout)
    result = kv.get('lock_result')?.[0]
    holder = kv.get('lock_holder')?.[0]
  }
  if (result === 'held') throw new HostStepError(`locked by another run: ${describeHolder(holder)}`)
  if (result !== 'acquired' && result !== 'takeover') {
    const why = kv.get('lock')?.[0] ?? (res.stderr.trim().split('\n').pop() || `exit code ${res.code}`)
    throw new HostStepError(`cannot take the lock in ${s.gw.remoteDir}: ${why}`)
  }
  const facts = parseProbe(res.stdout, layout(s.gw.remoteDir, s.gw.name))
  checkUid(s, facts)
  let lockNote: string | undefined
  if (result === 'takeover') lockNote = `took over the lock of a run that is gone (${describeHolder(kv.get('lock_prev')?.[0])})`
  const pf = res.stdout
    .split('\n')
    .filter((l) => l.startsWith(PREFLIGHT_PREFIX))
    .map((l) => `gw.${l.slice(PREFLIGHT_PREFIX.length)}`)
  return {facts, lockNote, preflightOutput: pf.length ? `${pf.join('\n')}\ngw.end=1\n` : undefined}
}

/** True when a lock's holder is this operator on this workstation and its process no longer runs. */
export function isDeadLocalHolder(raw: string, owner: string): boolean {
  try {
    const o = JSON.parse(raw) as {owner?: string; pid?: number}
    if (o.owner !== owner || typeof o.pid !== 'number' || o.pid === process.pid) return false
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

/** "user@host pid N (command) since T" from a lock file's JSON. */
export function describeHolder(raw: string | undefined): string {
  if (!raw) return 'unknown holder'
  try {
    const o = JSON.parse(raw) as {owner?: string; pid?: number; command?: string; started?: string}
    return `${o.owner ?? '?'} pid ${o.pid ?? '?'} (${o.command ?? '?'}) since ${o.started ?? '?'}`
  } catch {
    return raw.slice(0, 120)
  }
}

/** Keep the lock fresh while work goes on; returns a stop function. */
export function heartbeat(ctx: RunContext, s: HostSession): () => void {
  const t = setInterval(() => {
    s.root(lockRefreshScript(s.gw.remoteDir, s.gw.name, ctx.lockOwner.token)).catch(() => undefined)
  }, HEARTBEAT_MS)
  t.unref()
  return () => clearInterval(t)
}

/** Release the lock if it is still ours; `before` runs in the same round trip (records, history). */
export async function unlock(ctx: RunContext, s: HostSession, before = '', cleanStage = true): Promise<void> {
  const script = `${before}\n${unlockScript(s.gw.remoteDir, s.gw.name, ctx.lockOwner.token, cleanStage)}`
  await s.root(script, {timeoutMs: 30_000})
}
