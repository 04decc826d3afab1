// The runner: takes gateways through connect -> lock+probe -> plan -> act -> record -> unlock, each
// host on its own, in batches when asked. Steps never run their own Promise.all over hosts.
import pLimit from 'p-limit'

import {HostStepError, UnreachableError} from '../errors.js'
import {planDeploy, planUninstall, planUpgrade, type HostPlan} from '../plan/plan.js'
import {findRelease, readRelease} from '../release/releases.js'
import {compareVersions} from '../release/version.js'
import {forgetScript, RECORDED, recordScript, stopInstallerScript, uninstallScript} from '../remote/scripts.js'
import {failingChecks, preflightFromOutput, preflightHost} from '../preflight/checks.js'
import {describeHolder, heartbeat, isDeadLocalHolder, LOCK_TTL_SECONDS, lockAndProbe, probe, readThenLockIfNotInstalled, unlock, type ProbeResult} from '../steps/lock.js'
import {runInstaller} from '../steps/install.js'
import {stageRelease, stageValues} from '../steps/upload.js'
import type {DeployRecord, HistoryEntry, HostFacts, Job, ReleaseRef} from '../types.js'
import type {RunContext} from './context.js'
import {ownWords} from './redact.js'
import type {HostResult} from './result.js'
import {batchSizes, runBatches, type BatchSpec} from './rollout.js'
import {HostSession} from './session.js'

/** What a changing command asks of the fleet. */
export interface ChangeRequest {
  kind: 'deploy' | 'upgrade' | 'uninstall'
  /** upgrade --to */
  to?: string
  /** null: one batch of every host, each going on its own without waiting for the others. */
  batches: BatchSpec[] | null
  maxFail: number
}

/** A host after lock+probe+plan, waiting for its batch. */
interface Prepared {
  job: Job
  session: HostSession
  facts: HostFacts
  plan: HostPlan
  t0: number
  stopHeartbeat: () => void
  notes: string[]
  /** True when this run holds the host's lock. */
  locked: boolean
  /** Set by the heartbeat when the lock is no longer this run's: why. */
  lockLost?: string
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

function baseResult(job: Job, t0: number): Omit<HostResult, 'status'> {
  return {
    name: job.gw.name,
    host: job.gw.host,
    action: 'none',
    fromVersion: null,
    toVersion: null,
    hops: [],
    error: null,
    durationMs: Date.now() - t0,
  }
}

/** The result for a host whose connection or first step failed. */
function earlyFailure(ctx: RunContext, job: Job, t0: number, e: unknown): HostResult {
  const status = e instanceof UnreachableError ? 'unreachable' : 'failed'
  const error = ctx.redactor.redact(message(e))
  ctx.log.write(job.gw.name, `${status}: ${error}`)
  return {...baseResult(job, t0), status, error}
}

/** Release versions whose files the probe should hash: every one the plan could use. */
function candidateVersions(releases: ReleaseRef[], desired: string): string[] {
  return releases.filter((r) => compareVersions(r.version, desired) <= 0).map((r) => r.version)
}

/** The failing prerequisite checks of a host about to be installed, as one line; null when none fail. Warnings go to `notes`. */
async function unmetPrerequisites(ctx: RunContext, session: HostSession, job: Job, probed: string | undefined, notes: string[]): Promise<string | null> {
  ctx.step(job.gw.name, 'checking prerequisites')
  const checks = probed ? preflightFromOutput(ctx, session, job, probed) : await preflightHost(ctx, session, job)
  for (const c of checks) if (c.level === 'warn') notes.push(ctx.redactor.redact(`preflight warning: ${c.id}: ${c.message}`))
  const failing = failingChecks(checks)
  if (!failing.length) return null
  return ctx.redactor.redact(`preflight failed: ${failing.map((c) => `${c.id}: ${c.message}`).join('; ')} (--skip-preflight to install anyway)`)
}

/** Run deploy, upgrade or uninstall over the selected gateways. */
export async function runChange(ctx: RunContext, jobs: Job[], req: ChangeRequest, releases: ReleaseRef[]): Promise<HostResult[]> {
  const available = releases.map((r) => r.version)
  const limit = pLimit(Math.max(1, ctx.options.concurrency))
  ctx.reporter.begin(jobs.map((j) => ({name: j.gw.name, host: j.gw.host})), titleFor(ctx, req))
  ctx.interrupt.install((m) => ctx.reporter.notice(m))

  const finish = (r: HostResult) => {
    ctx.reporter.done(r)
    ctx.log.write(r.name, `result: ${r.status}${r.error ? ` - ${r.error}` : ''}`)
    return r
  }

  // Phase 1 for one host: connect, read, plan; where a change is needed, lock and read again.
  const prepare = async (job: Job): Promise<Prepared | HostResult> => {
    const t0 = Date.now()
    const name = job.gw.name
    if (ctx.interrupt.stopping) return {...baseResult(job, t0), status: 'skipped', error: 'interrupted by the operator before this host started'}
    let session: HostSession | undefined
    let locked = false
    try {
      ctx.step(name, 'connecting')
      session = await HostSession.open(ctx, job.gw)
      const desired = req.kind === 'upgrade' ? req.to! : job.gw.version
      const versions = req.kind === 'uninstall' ? [] : candidateVersions(releases, desired)
      const planFor = (facts: HostFacts): HostPlan =>
        req.kind === 'deploy'
          ? planDeploy(job.gw, facts, job.values.sha256, available)
          : req.kind === 'upgrade'
            ? planUpgrade(job.gw, facts, req.to!, available)
            : planUninstall(facts)
      // Deploy's prerequisite probe rides along with the lock on hosts without a gateway.
      const pfOpts = req.kind === 'deploy' && ctx.options.preflight ? {remoteDir: job.gw.remoteDir, datasetsFolder: job.values.datasetsFolder} : undefined
      // A read first: a host with nothing to do (or refused) is never locked, so a no-op run costs
      // what an audit costs. Hosts that need a change are locked and read again; for deploy, a host
      // without a gateway (an install) is locked in that same first round trip.
      ctx.step(name, 'reading the host')
      let pr: ProbeResult
      if (req.kind === 'deploy' && !ctx.options.dryRun) {
        const first = await readThenLockIfNotInstalled(ctx, session, versions, pfOpts)
        locked = first.locked
        pr = first
      } else pr = await probe(session)
      let plan = planFor(pr.facts)
      if (!ctx.options.dryRun && !locked) {
        const needsChange = !plan.refused && plan.action !== 'none'
        const lk = pr.facts.lock
        if (!needsChange && lk && lk.ageSeconds <= LOCK_TTL_SECONDS && !isDeadLocalHolder(lk.holder, ctx.lockOwner))
          throw new HostStepError(`locked by another run: ${describeHolder(lk.holder)}`)
        if (needsChange) {
          ctx.step(name, 'locking the host')
          // Installs and upgrades upload next: open the SFTP session while the lock is taken.
          if (req.kind !== 'uninstall') session.conn.sftp().catch(() => undefined)
          pr = await lockAndProbe(ctx, session, versions, pfOpts)
          locked = true
          plan = planFor(pr.facts)
        }
      }
      const notes = pr.lockNote ? [pr.lockNote] : []
      if (pr.lockNote) ctx.reporter.notice(`${name}: ${pr.lockNote}`)
      ctx.log.write(name, `plan: ${plan.action} ${plan.fromVersion ?? '-'} -> ${plan.toVersion ?? '-'} hops [${plan.hops.join(', ')}]: ${plan.refused ?? plan.reason}`)
      if (pr.facts.installerRunning !== null && !plan.refused && plan.action !== 'none' && !ctx.options.dryRun)
        throw new HostStepError(`an installer started by an earlier run is still running on the host (pid ${pr.facts.installerRunning}); wait for it to end, then rerun`)
      // Prerequisites first on hosts about to be installed, so a doomed install fails in seconds, before any upload.
      const unmet = plan.action === 'install' && !plan.refused && ctx.options.preflight ? await unmetPrerequisites(ctx, session, job, pr.preflightOutput, notes) : null
      if (unmet) {
        if (locked) await unlock(ctx, session).catch(() => undefined)
        session.close()
        ctx.log.write(name, `failed: ${unmet}`)
        return {...baseResult(job, t0), status: 'failed', action: plan.action, fromVersion: plan.fromVersion, toVersion: plan.toVersion, hops: plan.hops, error: unmet, plan, notes}
      }
      const p: Prepared = {job, session, facts: pr.facts, plan, t0, stopHeartbeat: () => undefined, notes, locked}
      if (locked)
        p.stopHeartbeat = heartbeat(ctx, session, (why) => {
          p.lockLost = why
          ctx.reporter.notice(`${name}: lock lost: ${why}; no further hop starts`)
        })
      return p
    } catch (e) {
      // Only a lock this run took is given back (a failure before or while taking it left none).
      if (session && locked && !(e instanceof UnreachableError)) {
        await unlock(ctx, session).catch(() => undefined)
      }
      session?.close()
      return earlyFailure(ctx, job, t0, e)
    }
  }

  // Results for hosts that need no action (or are refused, or a dry run); releases their lock.
  const settle = async (p: Prepared): Promise<HostResult> => {
    const {plan} = p
    const r: HostResult = {
      ...baseResult(p.job, p.t0),
      status: plan.refused ? 'refused' : ctx.options.dryRun && plan.action !== 'none' ? 'ok' : 'unchanged',
      action: plan.action,
      fromVersion: plan.fromVersion,
      toVersion: plan.toVersion,
      hops: plan.hops,
      error: plan.refused ? ctx.redactor.redact(plan.refused) : null,
      plan,
      notes: p.notes,
    }
    await release(p, '', false)
    r.durationMs = Date.now() - p.t0
    return r
  }

  // Gives the lock back (running `before` first, in the same round trip); the host's answer, or
  // null when there was no lock or no answer.
  const release = async (p: Prepared, before = '', cleanStage = true): Promise<string | null> => {
    p.stopHeartbeat()
    let out: string | null = null
    if (p.locked) {
      try {
        out = await unlock(ctx, p.session, before, cleanStage)
      } catch (e) {
        ctx.log.write(p.job.gw.name, `could not release the lock: ${message(e)}`)
      }
    }
    p.session.close()
    return out
  }

  const needsAction = (p: Prepared) => !p.plan.refused && p.plan.action !== 'none' && !ctx.options.dryRun
  const act = (p: Prepared, batch?: number) => (req.kind === 'uninstall' ? actUninstall(ctx, p, batch, release) : actInstall(ctx, releases, p, batch, release))

  let results: HostResult[]
  try {
    if (req.batches === null) {
      // Each host goes straight on once its own probe is done.
      results = await Promise.all(
        jobs.map((job) =>
          limit(async () => {
            const p = await prepare(job)
            if (!('session' in p)) return finish(p)
            if (!needsAction(p)) return finish(await settle(p))
            return finish(await act(p))
          }),
        ),
      )
    } else {
      const prepared = await Promise.all(jobs.map((job) => limit(() => prepare(job))))
      const early: HostResult[] = []
      const todo: Prepared[] = []
      for (const p of prepared) {
        if (!('session' in p)) early.push(finish(p))
        else if (!needsAction(p)) early.push(finish(await settle(p)))
        else todo.push(p)
      }
      const sizes = batchSizes(todo.length, req.batches)
      const failedEarly = early.filter((r) => r.status === 'failed' || r.status === 'unreachable').length
      const batched = await runBatches(
        todo,
        {
          sizes,
          maxFail: req.maxFail,
          concurrency: ctx.options.concurrency,
          stopping: () => ctx.interrupt.stopping,
          onBatch: (n, of, size) => ctx.reporter.notice(`batch ${n}/${of}: ${size} gateway(s)`),
          onStop: (why) => ctx.reporter.notice(why),
        },
        async (p, batch) => finish(await act(p, batch)),
        (p, why, batch) => {
          void release(p)
          return finish({...baseResult(p.job, p.t0), status: 'skipped', action: p.plan.action, fromVersion: p.plan.fromVersion, toVersion: p.plan.toVersion, hops: p.plan.hops, error: why, batch, plan: p.plan})
        },
        failedEarly,
      )
      const byName = new Map([...early, ...batched].map((r) => [r.name, r]))
      results = jobs.map((j) => byName.get(j.gw.name)!)
    }
  } finally {
    ctx.interrupt.uninstall()
    await ctx.reporter.end()
  }
  return results
}

function titleFor(ctx: RunContext, req: ChangeRequest): string {
  const what = req.kind === 'upgrade' ? `upgrade to ${req.to}` : req.kind
  return `${ctx.options.dryRun ? 'plan for ' : ''}${what}`
}

/** Install, reconfigure or upgrade: one installer run per hop, each verified before the next. */
async function actInstall(
  ctx: RunContext,
  releases: ReleaseRef[],
  p: Prepared,
  batch: number | undefined,
  release: (p: Prepared, before?: string) => Promise<string | null>,
): Promise<HostResult> {
  const {job, session: s, plan} = p
  const name = job.gw.name
  const reached: string[] = []
  let current = plan.fromVersion
  let facts = p.facts
  // History lines and the record not yet on the host: written between hops, and with the unlock.
  const history: HistoryEntry[] = []
  let record: DeployRecord | null = null
  let error: string | null = null
  const write = (): string => recordScript({remoteDir: job.gw.remoteDir, gateway: name, record, history})
  try {
    for (const hop of plan.hops) {
      if (ctx.interrupt.stopping) {
        error = `interrupted by the operator before the hop to ${hop}${current ? ` (gateway stays at ${current})` : ''}`
        break
      }
      if (p.lockLost) throw new HostStepError(`lock lost: ${p.lockLost}`)
      if (record || history.length) {
        // The truth goes on the host before the next hop, so an interruption between hops leaves it right.
        const out = await s.root(write())
        if (record && !out.stdout.includes(RECORDED)) throw new HostStepError(recordFailed(job))
        record = null
        history.splice(0)
      }
      const ref = findRelease(releases, hop)
      if (!ref) throw new HostStepError(`release ${hop} is not in the release folder`)
      const content = await readRelease(ref)
      ctx.step(name, `uploading ${hop}`)
      const [rel, vals] = await Promise.all([stageRelease(s, content, facts), stageValues(s, job.values, facts)])
      ctx.log.write(name, `upload ${hop}: ${rel.staged.length} file(s), ${rel.bytes} bytes sent, ${rel.skipped} already on the host; values ${vals.length ? 'sent' : 'unchanged'}`)
      ctx.step(name, `running installer ${hop}`)
      const startedAt = new Date().toISOString()
      try {
        await runInstaller(ctx, s, hop, [...rel.staged, ...vals])
      } catch (e) {
        history.push(historyLine(ctx, job, plan.action, current, hop, 'failed', message(e), startedAt))
        throw e
      }
      history.push(historyLine(ctx, job, plan.action, current, hop, 'ok', undefined, startedAt))
      record = {gateway: name, version: hop, valuesSha256: job.values.sha256, deployedAt: new Date().toISOString(), operator: ctx.operator, command: ctx.options.command}
      // The values now on the host are the rendered ones; later hops need not send them again.
      facts = {...facts, valuesSha256: job.values.sha256}
      reached.push(hop)
      current = hop
    }
  } catch (e) {
    error = ctx.redactor.redact(message(e))
    if (e instanceof UnreachableError) {
      p.stopHeartbeat()
      s.close()
      ctx.log.write(name, `unreachable: ${error}`)
      const recovered = await recoverAfterCut(ctx, job, write())
      const status = recovered ? 'failed' : 'unreachable'
      const after = recovered
        ? 'reconnected, stopped the installer and released the lock; rerun to finish'
        : 'the lock stays on the host until your next run takes it over (or it expires)'
      return {...resultOf(p, reached), status, error: `${withStop(error, current, plan.fromVersion)}; ${after}`, batch}
    }
  }
  if (!error && p.lockLost) error = `lock lost: ${p.lockLost}`
  if (p.locked) ctx.step(name, 'recording and unlocking')
  // The last hop's record rides with the unlock, in one round trip.
  const out = await release(p, write())
  if (record && out !== null && !out.includes(RECORDED)) error ??= recordFailed(job)
  if (error) {
    const interrupted = /interrupted by the operator/.test(error) && reached.length === 0
    return {...resultOf(p, reached), status: interrupted ? 'skipped' : 'failed', error: withStop(error, current, plan.fromVersion), batch}
  }
  return {...resultOf(p, reached), status: 'ok', batch}
}

function recordFailed(job: Job): string {
  return `the gateway was changed, but its record could not be written in ${job.gw.remoteDir}/state (disk full or read-only?); audit will show drift until a rerun records it`
}

function withStop(error: string, current: string | null, from: string | null): string {
  if (current && current !== from) return `${error}; gateway stays at ${current} (last good hop)`
  return error
}

function resultOf(p: Prepared, reached: string[]): Omit<HostResult, 'status'> {
  return {
    ...baseResult(p.job, p.t0),
    action: p.plan.action,
    fromVersion: p.plan.fromVersion,
    toVersion: p.plan.toVersion,
    hops: p.plan.hops,
    reached,
    plan: p.plan,
    notes: p.notes,
  }
}

function historyLine(
  ctx: RunContext,
  job: Job,
  action: string,
  from: string | null,
  to: string | null,
  result: 'ok' | 'failed',
  error: string | undefined,
  time: string,
): HistoryEntry {
  return {
    time,
    gateway: job.gw.name,
    operator: ctx.operator,
    command: ctx.options.command,
    action,
    fromVersion: from,
    toVersion: to,
    valuesSha256: job.values.sha256,
    result,
    // The host keeps gwfleet's own words only: never installer output, which may hold a secret.
    ...(error ? {error: ctx.redactor.redact(ownWords(error))} : {}),
  }
}

/**
 * After the connection dropped mid-change: reconnect once, stop an installer still running from this
 * run, write what is known, release the lock. False when the host cannot be reached again.
 */
async function recoverAfterCut(ctx: RunContext, job: Job, record: string): Promise<boolean> {
  let s: HostSession | undefined
  try {
    s = await HostSession.open(ctx, job.gw)
    await s.root(stopInstallerScript(job.gw.remoteDir, job.gw.name), {timeoutMs: 30_000})
    await unlock(ctx, s, record)
    ctx.log.write(job.gw.name, 'reconnected after the connection was lost: installer stopped, lock released')
    return true
  } catch (e) {
    ctx.log.write(job.gw.name, `could not reconnect to release the lock: ${ctx.redactor.redact(message(e))}`)
    return false
  } finally {
    s?.close()
  }
}

/** Uninstall: run k3s-uninstall.sh and clean Cilium; never the datasets folder or DAL storage. */
async function actUninstall(
  ctx: RunContext,
  p: Prepared,
  batch: number | undefined,
  release: (p: Prepared, before?: string) => Promise<string | null>,
): Promise<HostResult> {
  const {job, session: s, plan} = p
  const name = job.gw.name
  let error: string | null = null
  const startedAt = new Date().toISOString()
  try {
    ctx.step(name, 'uninstalling')
    let rc: string | undefined
    await s.root(uninstallScript({cilium: job.values.ciliumEnabled, timeoutSeconds: ctx.options.timeoutSeconds}), {
      timeoutMs: (ctx.options.timeoutSeconds + 60) * 1000,
      // Streamed, not kept: k3s-uninstall.sh may print without bound.
      collect: false,
      onLine: (line, stream) => {
        if (stream === 'stdout') rc ??= /gw\.uninstall_rc=(\S+)/.exec(line)?.[1]
        if (line.startsWith('gw.')) return
        ctx.log.write(name, `| ${line}`)
        ctx.reporter.line(name, ctx.redactor.redact(line))
      },
    })
    if (rc !== '0' && rc !== 'absent') error = rc === '124' || rc === '137' ? `k3s-uninstall.sh did not finish within ${ctx.options.timeoutSeconds}s` : `k3s-uninstall.sh exited with code ${rc ?? 'unknown'}`
  } catch (e) {
    error = ctx.redactor.redact(message(e))
    if (e instanceof UnreachableError) {
      p.stopHeartbeat()
      s.close()
      return {...resultOf(p, []), status: 'unreachable', error}
    }
  }
  const h = historyLine(ctx, job, 'uninstall', plan.fromVersion, null, error ? 'failed' : 'ok', error ?? undefined, startedAt)
  const before = `${error ? '' : forgetScript(job.gw.remoteDir, name)}\n${recordScript({remoteDir: job.gw.remoteDir, gateway: name, record: null, history: [h]})}`
  await release(p, before)
  return {...resultOf(p, []), status: error ? 'failed' : 'ok', error, batch}
}
