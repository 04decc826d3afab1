// deploy, upgrade and uninstall as phases. Each host goes connect -> read -> plan -> lock ->
// preflight, then (in its batch) upload and install per hop, or uninstall. The connection and the
// lock are held through the phase manager, which gives them back once, however the host ends.
import pLimit from 'p-limit'

import {setTimeout as sleep} from 'node:timers/promises'

import {HostStepError, LockHeldError, LockLostError, UnreachableError} from '../errors.js'
import type {Session} from '../host/session.js'
import type {HostPlan} from '../plan/plan.js'
import {failingChecks, preflightFromOutput, preflightHost, preflightScriptOptions} from '../preflight/checks.js'
import {findRelease, readRelease} from '../release/releases.js'
import {compareVersions} from '../release/version.js'
import {commitFilesScript, followScript, forgetScript, layout, parseProbe, probeScript, RECORDED, recordScript, type StagedFile} from '../remote/scripts.js'
import {describeJob} from '../remote/job-scripts.js'
import {followJob, judgeInstall, judgeUninstall, runInstaller, runUninstall, type HostLink} from '../steps/install.js'
import {describeHolder, heartbeat, isDeadLocalHolder, LOCK_TTL_SECONDS, lockAndProbe, probe, readThenLockIfNotInstalled, unlock, type ProbeResult} from '../steps/lock.js'
import {stageHop, stageValues} from '../steps/upload.js'
import {pruneReleases} from '../steps/prune.js'
import type {DeployRecord, HistoryEntry, HostEnv, HostFacts, Job, JobMeta, ReleaseRef} from '../types.js'
import {RUN_LOG, stopNotice, type RunContext} from './context.js'
import {Hooks} from './hooks.js'
import type {ChangeCommand, ChangeKind, CommandRequest} from './kinds/host.js'
import {HostRun, type Ending, type Phase, type PhaseControl} from './phases.js'
import {ownWords} from './redact.js'
import {isSuccess, type HostResult} from './result.js'
import {batchSizes, isFailure, runBatches, type BatchSpec} from './rollout.js'

/** What a changing command asks of the fleet. */
export interface ChangeRequest extends CommandRequest {
  /** deploy, upgrade, uninstall (src/runner/kinds/). */
  command: ChangeCommand
  /** null: one batch of every host, each going on its own without waiting for the others. */
  batches: BatchSpec[] | null
  maxFail: number
  /** Gateways that fill the first batches (--first, rollout.first); the rest follow in inventory order. */
  first?: string[]
}

/** What the change phases need of the run (a RunContext; tests give their own). */
export type ChangeContext = Pick<RunContext, 'options' | 'reporter' | 'interrupt' | 'log' | 'redactor' | 'operator' | 'hostEnv' | 'openSession' | 'inventory'>

/** One host's state through its phases. */
interface HostState {
  job: Job
  /** What this host is asked (install/upgrade/reconfigure, reinstall, removal). */
  kind: ChangeKind
  env: HostEnv
  t0: number
  session?: Session
  facts?: HostFacts
  plan?: HostPlan
  /** The prerequisite probe's output when it rode along with the lock. */
  preflightOutput?: string
  /** This run holds the host's lock. */
  locked: boolean
  /** Why the lock is no longer this run's (set by the heartbeat). */
  lockLost?: string
  stopHeartbeat: () => void
  notes: string[]
  /** The hops reached, in order. */
  reached: string[]
  /** Files staged by the upload of the next hop. */
  staged: StagedFile[]
  /** An upload or uninstall started: the stage is cleaned when the lock is given back. */
  changed: boolean
  /** History and record not yet on the host (a hop failed or the connection was cut): written with the unlock, and the judged job moved aside. */
  pending: {history: HistoryEntry[]; record: DeployRecord | null; archiveJob?: string}
  /** After a cut: the host was reached again and the lock released. */
  recovered?: boolean
  /** A job of this run still on the host, not judged (the reconnect window ran out): it goes on, and the lock stays with it. */
  jobLeft?: string
  /** A job another run left on the host, which this run followed, judged and recorded. */
  pickedUp?: {meta: JobMeta; ok: boolean}
  /** The host's connection across reconnects. */
  link: HostLink
  /** Its changes began (the before-host hook, then uploads or the uninstall): after-host runs for it. */
  applying: boolean
  batch?: number
}

/** A host connected: its session is there from now on (a reconnect replaces it). */
type Connected = HostState & {session: Session}
/** Connected and read. */
type Read = Connected & {facts: HostFacts}
/** Connected, read and planned: what the lock, pick-up, preflight and change phases work with. */
type Prepared = Read & {plan: HostPlan}

/** The phases run in order; a phase that comes too early is a bug in the phase lists, said as such. */
function connected(s: HostState): Connected {
  if (!s.session) throw new Error(`${s.job.gw.name}: a phase ran before the host was connected`)
  return s as Connected
}
function read(s: HostState): Read {
  if (!s.facts) throw new Error(`${s.job.gw.name}: a phase ran before the host was read`)
  return connected(s) as Read
}
function prepared(s: HostState): Prepared {
  if (!s.plan) throw new Error(`${s.job.gw.name}: a phase ran before the host's plan was made`)
  return read(s) as Prepared
}

/** How often a lock held by another run is tried again under --lock-wait. */
const LOCK_RETRY_MS = 3000

/** Waits between reconnect attempts after a cut during a job (the last one repeats). */
const RECONNECT_BACKOFF_MS = [1000, 2000, 4000, 8000, 15_000]

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

/** Run deploy, upgrade or uninstall over the selected gateways. */
export async function runChange(ctx: ChangeContext, jobs: Job[], req: ChangeRequest, releases: ReleaseRef[]): Promise<HostResult[]> {
  const hooks = new Hooks(
    ctx.inventory,
    {GWFLEET_COMMAND: ctx.options.command, GWFLEET_RUN_DIR: ctx.log.dir ?? '', GWFLEET_INVENTORY: ctx.inventory.file, GWFLEET_OPERATOR: ctx.operator},
    (scope, line) => ctx.log.write(scope, line),
    (text) => ctx.redactor.redact(text),
  )
  return new Rollout(ctx, jobs, req, new ChangePhases(ctx, req, releases, hooks), hooks).run()
}

/** The hosts of one changing run: all at once, or batch by batch; the run's hooks around them. */
class Rollout {
  private readonly runs: HostRun<HostState>[]
  private readonly limit: ReturnType<typeof pLimit>

  constructor(
    private readonly ctx: ChangeContext,
    private readonly jobs: Job[],
    private readonly req: ChangeRequest,
    private readonly phases: ChangePhases,
    private readonly hooks: Hooks,
  ) {
    this.runs = jobs.map((job) => phases.start(job))
    this.limit = pLimit(Math.max(1, ctx.options.concurrency))
  }

  async run(): Promise<HostResult[]> {
    const {ctx} = this
    ctx.reporter.begin(this.jobs.map((j) => ({name: j.gw.name, host: j.gw.host})), titleFor(ctx, this.req))
    ctx.interrupt.install(stopNotice(ctx))
    try {
      if (!ctx.options.dryRun) {
        const why = await this.hooks.run('before-run', {}, RUN_LOG)
        if (why) {
          ctx.reporter.notice(why)
          return await Promise.all(this.runs.map((run) => this.finish(run, {kind: 'stopped', status: 'skipped', reason: `${why}; no host was touched`})))
        }
      }
      const results = this.req.batches === null ? await this.allAtOnce() : await this.inBatches(this.req.batches)
      if (!ctx.options.dryRun) await this.hook('after-run', {GWFLEET_STATUS: results.every((r) => isSuccess(r.status)) ? 'ok' : 'failed', ...counts(results)})
      return results
    } finally {
      // Whatever happened above, no host keeps its lock or connection.
      await Promise.all(this.runs.map((run) => run.finish({kind: 'stopped', status: 'skipped', reason: 'the run ended before this host'})))
      ctx.interrupt.uninstall()
      await ctx.reporter.end()
    }
  }

  /** Each host goes straight on once its own plan is made: a slow host holds nobody back. */
  private async allAtOnce(): Promise<HostResult[]> {
    const results = await Promise.all(
      this.runs.map((run) =>
        this.limit(async () => {
          if (await run.through(this.phases.prepare)) await run.through(this.phases.apply(run.state))
          return this.finish(run)
        }),
      ),
    )
    if (this.runs.some((r) => r.state.applying)) await this.afterBatch(1, 1, results)
    return results
  }

  /** Every host is read, planned and locked first; those with work then go batch by batch. */
  private async inBatches(specs: BatchSpec[]): Promise<HostResult[]> {
    const {ctx} = this
    await Promise.all(this.runs.map((run) => this.limit(() => run.through(this.phases.prepare))))
    // A dry run's plan shows the batches the rollout would use.
    const planned = this.firstFirst(this.runs.filter((r) => r.ended?.kind === 'stopped' && r.ended.status === 'planned'))
    let at = 0
    for (const [i, n] of batchSizes(planned.length, specs).entries()) for (const r of planned.slice(at, (at += n))) r.state.batch = i + 1
    const todo = this.firstFirst(this.runs.filter((run) => !run.ended))
    for (const run of todo) ctx.reporter.step(run.state.job.gw.name, 'waiting for its batch')
    const early = await Promise.all(this.runs.filter((run) => run.ended).map((run) => this.finish(run)))
    const batched = await runBatches(
      todo,
      {
        sizes: batchSizes(todo.length, specs),
        maxFail: this.req.maxFail,
        concurrency: ctx.options.concurrency,
        stopping: () => ctx.interrupt.stopping,
        onBatch: (n, of, size) => ctx.reporter.notice(`batch ${n}/${of}: ${size} gateway(s)`),
        onStop: (why) => ctx.reporter.notice(why),
        afterBatch: (n, of, results) => this.afterBatch(n, of, results),
      },
      async (run, batch) => {
        run.state.batch = batch
        await run.through(this.phases.apply(run.state))
        return this.finish(run)
      },
      (run, why, batch) => {
        run.state.batch = batch
        return this.finish(run, {kind: 'stopped', status: 'skipped', reason: why})
      },
      early.filter(isFailure).length,
    )
    const byName = new Map([...early, ...batched].map((r) => [r.name, r]))
    // Every host ends once, early or in its batch: each has its result.
    return this.jobs.map((j) => byName.get(j.gw.name) ?? missingResult(j))
  }

  /** The hosts --first picked, then the others; each part in inventory order. */
  private firstFirst(runs: HostRun<HostState>[]): HostRun<HostState>[] {
    const first = new Set(this.req.first ?? [])
    const picked = (r: HostRun<HostState>) => first.has(r.state.job.gw.name)
    return [...runs.filter(picked), ...runs.filter((r) => !picked(r))]
  }

  /** End a host, run its after-host hook, report its result. */
  private async finish(run: HostRun<HostState>, end?: Ending): Promise<HostResult> {
    const r = this.phases.result(run.state, await run.finish(end))
    if (run.state.applying) {
      // After the host's lock is given back; its result stands whatever the hook says.
      const why = await this.hooks.run('after-host', {...hostVars(r), GWFLEET_STATUS: r.status, GWFLEET_ERROR: r.error}, r.name)
      if (why) r.notes = [...(r.notes ?? []), why]
    }
    this.ctx.reporter.done(r, this.ctx.options.dryRun)
    this.ctx.log.write(r.name, `result: ${r.status}${r.error ? ` - ${r.error}` : ''}`)
    return r
  }

  private afterBatch(n: number, of: number, results: HostResult[]): Promise<void> {
    return this.hook('after-batch', {GWFLEET_BATCH: n, GWFLEET_BATCHES: of, ...counts(results)})
  }

  /** A run-wide after-hook: a failure is reported and the run goes on. */
  private async hook(name: 'after-batch' | 'after-run', vars: Record<string, string | number>): Promise<void> {
    const why = await this.hooks.run(name, vars, RUN_LOG)
    if (why) this.ctx.reporter.notice(why)
  }
}

/** What a hook learns of a host. */
function hostVars(r: Pick<HostResult, 'name' | 'host' | 'action' | 'fromVersion' | 'toVersion' | 'batch'>): Record<string, string | number | null | undefined> {
  return {GWFLEET_GATEWAY: r.name, GWFLEET_HOST: r.host, GWFLEET_ACTION: r.action, GWFLEET_FROM_VERSION: r.fromVersion, GWFLEET_TO_VERSION: r.toVersion, GWFLEET_BATCH: r.batch}
}

/** GWFLEET_OK=3 GWFLEET_FAILED=1 ...: how many hosts ended how. */
function counts(results: HostResult[]): Record<string, number> {
  const out: Record<string, number> = {GWFLEET_HOSTS: results.length}
  for (const st of ['ok', 'unchanged', 'failed', 'unreachable', 'refused', 'skipped', 'interrupted'] as const) out[`GWFLEET_${st.toUpperCase()}`] = results.filter((r) => r.status === st).length
  return out
}

function titleFor(ctx: ChangeContext, req: ChangeRequest): string {
  return `${ctx.options.dryRun ? 'plan for ' : ''}${req.command.title(req)}`
}

/** The phases of a changing command, and the result of a host from its state and ending. */
class ChangePhases {
  private readonly available: string[]

  constructor(
    private readonly ctx: ChangeContext,
    private readonly req: ChangeRequest,
    private readonly releases: ReleaseRef[],
    private readonly hooks: Hooks,
  ) {
    this.available = releases.map((r) => r.version)
  }

  /** A host's run, before its first phase. */
  start(job: Job): HostRun<HostState> {
    const state: HostState = {
      job,
      kind: this.req.command.kindFor(job, this.req),
      env: this.ctx.hostEnv(job.gw.name),
      t0: Date.now(),
      locked: false,
      stopHeartbeat: () => undefined,
      notes: [],
      reached: [],
      staged: [],
      changed: false,
      applying: false,
      pending: {history: [], record: null},
      link: {session: () => connected(state).session, reconnect: (cause, started) => this.reconnect(state, cause, started)},
    }
    return new HostRun(state, {
      before: (s) => this.before(s),
      releaseFailed: (s, what, e) => s.env.log(`could not give back the ${what}: ${message(e)}`),
    })
  }

  /** Checked before every phase: the operator's stop and a lost lock end the host there. */
  private before(s: HostState): Ending | null {
    if (s.lockLost) return {kind: 'error', error: new LockLostError(s.lockLost)}
    if (!this.ctx.interrupt.stopping) return null
    const hop = s.applying && !s.kind.removes ? s.plan?.hops[s.reached.length] : undefined
    const reason = !s.session
      ? 'interrupted by the operator before this host started'
      : hop
        ? `interrupted by the operator before the hop to ${hop}`
        : 'interrupted by the operator before anything changed'
    return {kind: 'stopped', status: 'interrupted', reason}
  }

  /** Until the plan is made and the host is locked where it will change. */
  readonly prepare: Phase<HostState>[] = [
    {name: 'connect', run: (s, ctl) => this.connect(s, ctl)},
    {name: 'read', run: (s, ctl) => this.read(connected(s), ctl)},
    {name: 'plan', run: async (s) => this.decide(read(s))},
    {name: 'lock', run: (s, ctl) => this.lock(prepared(s), ctl)},
    {name: 'pick up', run: (s) => this.pickUp(prepared(s))},
    {name: 'preflight', run: (s) => this.preflight(prepared(s))},
  ]

  /** The changes: per hop an upload and an installer run, or the uninstall. */
  apply(state: HostState): Phase<HostState>[] {
    const {plan} = prepared(state)
    // Only the values' form changes (same data): no installer runs, so no hooks either.
    if (!state.kind.removes && plan.migrateValues) return [{name: 'migrate values', run: (s) => this.migrateValues(prepared(s))}]
    const changes: Phase<HostState>[] =
      state.kind.removes
        ? [{name: 'uninstall', run: (s) => this.uninstall(prepared(s))}]
        : plan.hops.flatMap((hop) => [
            {name: `upload ${hop}`, run: (s: HostState) => this.upload(prepared(s), hop)},
            {name: `install ${hop}`, run: (s: HostState) => this.install(prepared(s), hop)},
          ])
    return [{name: 'before-host', run: (s) => this.beforeHost(prepared(s))}, ...changes]
  }

  /** The before-host hook (drain, announce): when it fails, nothing on the host changes. */
  private async beforeHost(s: Prepared): Promise<void> {
    s.applying = true
    if (!this.hooks.has('before-host')) return
    s.env.step('before-host hook')
    const {plan} = s
    const why = await this.hooks.run('before-host', hostVars({name: s.job.gw.name, host: s.job.gw.host, action: plan.action, fromVersion: plan.fromVersion, toVersion: plan.toVersion, batch: s.batch}), s.job.gw.name)
    if (why) throw new HostStepError(`${why}; nothing on the host was changed`)
  }

  private async connect(s: HostState, ctl: PhaseControl): Promise<void> {
    // The host's time counts from here, not from the wait for a slot under --concurrency.
    s.t0 = Date.now()
    s.env.step('connecting')
    s.session = await this.ctx.openSession(s.job.gw)
    ctl.hold('connection', async () => s.session?.close())
  }

  private async read(s: Connected, ctl: PhaseControl): Promise<void> {
    s.env.step('reading the host')
    const {session} = s
    // A host without a gateway (deploy will install it) is locked in this same round trip; any
    // other host is only read: one in sync is never locked.
    if (s.kind.locksFreshHost && !this.ctx.options.dryRun) {
      try {
        const first = await readThenLockIfNotInstalled(s.env, session, this.candidates(s), this.preflightProbe(s))
        if (first.locked) this.locked(s, ctl, first)
        else s.facts = first.facts
        return
      } catch (e) {
        // Held by another run: with --lock-wait, read the host now and wait for the lock in its phase.
        if (!(e instanceof LockHeldError && this.lockWaitSeconds > 0)) throw e
      }
    }
    s.facts = (await probe(session)).facts
  }

  private async lock(s: Prepared, ctl: PhaseControl): Promise<Ending | void> {
    if (s.locked) return
    s.env.step('locking the host')
    // Installs and upgrades upload next: open the file transfer channel while the lock is taken.
    if (!s.kind.removes && s.plan.action !== 'none') s.session.prepareUpload()
    this.locked(s, ctl, await this.takeLock(s))
    // Read again under the lock: another run may have changed the host since.
    return this.decide(s)
  }

  private get lockWaitSeconds(): number {
    return this.ctx.options.lockWaitSeconds ?? 0
  }

  /** Take the lock; with --lock-wait, a lock another run holds is tried again until the wait is over. */
  private async takeLock(s: Connected): Promise<ProbeResult> {
    const deadline = Date.now() + this.lockWaitSeconds * 1000
    let told = false
    for (;;) {
      try {
        return await lockAndProbe(s.env, s.session, this.candidates(s), this.preflightProbe(s))
      } catch (e) {
        if (!(e instanceof LockHeldError) || this.lockWaitSeconds === 0) throw e
        if (Date.now() >= deadline || this.ctx.interrupt.stopping) throw new LockHeldError(`${e.message} (waited ${this.lockWaitSeconds}s with --lock-wait)`, e.holder)
        if (!told) this.ctx.reporter.notice(`${s.job.gw.name}: waiting up to ${this.lockWaitSeconds}s for the lock held by ${e.holder}`)
        told = true
        s.env.step(`waiting for the lock of ${e.holder}`)
        await sleep(Math.min(LOCK_RETRY_MS, Math.max(0, deadline - Date.now())))
      }
    }
  }

  /** The lock is this run's: note it, keep it fresh, and give it back when the host ends. */
  private locked(s: Connected, ctl: PhaseControl, pr: ProbeResult): void {
    s.locked = true
    s.facts = pr.facts
    s.preflightOutput = pr.preflightOutput
    ctl.hold('lock', (end) => this.unlock(s, end))
    if (pr.lockNote) {
      s.notes.push(pr.lockNote)
      this.ctx.reporter.notice(`${s.job.gw.name}: ${pr.lockNote}`)
    }
    s.stopHeartbeat = heartbeat(s.env, () => s.session, (why) => {
      s.lockLost = why
      this.ctx.reporter.notice(`${s.job.gw.name}: lock lost: ${why}; no further hop starts`)
    })
  }

  /** The plan from the facts; an ending when the host needs nothing (or must not be changed now). */
  private decide(s: Read): Ending | void {
    const {job, facts} = s
    const plan = s.kind.plan(job, facts, this.available)
    s.plan = plan
    s.env.log(`plan: ${plan.action} ${plan.fromVersion ?? '-'} -> ${plan.toVersion ?? '-'} hops [${plan.hops.join(', ')}]: ${plan.refused ?? plan.reason}`)
    const left = facts.job
    if (left) {
      const what = `${describeJob(left.meta)} ${left.state === 'running' ? 'runs on the host' : 'ended while nobody watched'}`
      s.env.log(what)
      // Nothing is planned over a job no run has judged: the lock, then the pick-up phase, come first.
      if (!this.ctx.options.dryRun) return
      s.notes.push(`${what}: the run waits for it and records it first; this plan is from the host as it is now`)
    }
    if (plan.refused) return {kind: 'stopped', status: 'refused', reason: plan.refused}
    if (plan.action === 'none' && !plan.migrateValues) {
      const lk = facts.lock
      // In sync, but another run holds the host: it may be changing it right now.
      if (!this.ctx.options.dryRun && !s.locked && lk && lk.ageSeconds <= LOCK_TTL_SECONDS && !isDeadLocalHolder(lk.holder, s.env.lockOwner)) {
        // With --lock-wait the lock phase waits for it and reads the host again.
        if (this.lockWaitSeconds > 0) return
        throw new LockHeldError(`locked by another run: ${describeHolder(lk.holder)}`, describeHolder(lk.holder))
      }
      return {kind: 'stopped', status: 'unchanged'}
    }
    if (this.ctx.options.dryRun) return {kind: 'stopped', status: 'planned'}
  }

  /**
   * A job an earlier run left on the host (gwfleet killed, a laptop closed, a link that never came
   * back): wait for it, following its log, judge it as its own run would have, record it once, and
   * plan again from what the host is now. It is never started again.
   */
  private async pickUp(s: Prepared): Promise<Ending | void> {
    const job = s.facts.job
    if (!job) return
    const {env} = s
    const m = job.meta
    const gw = s.job.gw
    const running = job.state === 'running'
    this.ctx.reporter.notice(`${gw.name}: ${describeJob(m)} ${running ? 'still runs; following it to its end' : 'ended while nobody watched; judging it'}`)
    env.step(running ? `following ${m.kind === 'uninstall' ? 'the uninstall' : `the install of ${m.version}`} of run ${m.run}` : `judging the job of run ${m.run}`)
    const t = this.ctx.options.timeoutSeconds
    const out = await followJob(env, s.link, followScript({remoteDir: gw.remoteDir, id: m.id, offset: 0}), {remoteDir: gw.remoteDir, id: m.id, timeoutSeconds: t})
    const error = m.kind === 'uninstall' ? judgeUninstall(out, t) : ((v) => (v.ok ? null : v.error))(judgeInstall(out, m.version ?? '', t, false))
    const history: HistoryEntry = {
      time: new Date().toISOString(),
      gateway: gw.name,
      operator: m.operator,
      command: m.command,
      action: m.action,
      fromVersion: m.fromVersion,
      toVersion: m.kind === 'uninstall' ? null : m.version,
      valuesSha256: m.valuesSha256,
      result: error ? 'failed' : 'ok',
      ...(error ? {error: env.redact(ownWords(error))} : {}),
      run: m.run,
    }
    const record = !error && m.kind === 'install' && m.version ? recordOf(m) : null
    env.step('recording the job it picked up')
    const forget = !error && m.kind === 'uninstall' ? `${forgetScript(gw.remoteDir, gw.name)}\n` : ''
    // After a success the host is read again in the same round trip: the plan starts from what it is now.
    const readAgain = error ? '' : `\n${probeScript({remoteDir: gw.remoteDir, gateway: gw.name, releaseVersions: this.candidates(s)})}`
    const res = await s.session.root(`${forget}${recordScript({remoteDir: gw.remoteDir, gateway: gw.name, record, history: [history], archiveJob: m.id})}${readAgain}`)
    if (record && !res.stdout.includes(RECORDED)) throw new HostStepError(recordFailed(s.job))
    s.pickedUp = {meta: m, ok: !error}
    const said = `picked up ${describeJob(m)}: ${error ? env.redact(error) : 'it succeeded'}; recorded in the history`
    s.notes.push(said)
    env.log(said)
    if (error) throw new HostStepError(`${said}; it was not started again (run again to retry)`)
    s.facts = parseProbe(res.stdout, layout(gw.remoteDir, gw.name))
    return this.decide(s)
  }

  /**
   * Reach the host again after a cut while a job ran, with backoff, within --reconnect-window; the
   * job goes on on the host meanwhile. Past the window the host is unreachable and the job is left
   * to the next run, which picks it up.
   */
  private async reconnect(s: HostState, cause: UnreachableError, started: boolean): Promise<Session> {
    const windowS = this.ctx.options.reconnectWindowSeconds ?? 600
    const since = Date.now()
    s.session?.close()
    s.env.log(`${cause.message}: reconnecting for up to ${windowS}s (--reconnect-window); the job goes on on the host`)
    let last: Error = cause
    for (let attempt = 1; ; attempt++) {
      s.env.step(`reconnecting (attempt ${attempt}, ${Math.round((Date.now() - since) / 1000)}s)`)
      try {
        s.session = await this.ctx.openSession(s.job.gw)
        s.env.log(`reconnected after ${Math.round((Date.now() - since) / 1000)}s (attempt ${attempt})`)
        return s.session
      } catch (e) {
        if (!(e instanceof UnreachableError)) throw e
        last = e
      }
      const left = since + windowS * 1000 - Date.now()
      if (left <= 0 || this.stoppedByOperator) {
        const what = s.kind.removes ? 'uninstall' : 'install'
        const next = `\`gwfleet ${this.req.command.picksUp}\` (or \`status\`)`
        const after = started ? `the ${what} goes on on the host; ${next} picks it up` : `whether the ${what} started is not known; ${next} finds out`
        throw new UnreachableError(cause.kind, `${last.message}; not reached again within ${windowS}s (--reconnect-window): ${after}`)
      }
      await sleep(Math.min(RECONNECT_BACKOFF_MS[Math.min(attempt, RECONNECT_BACKOFF_MS.length) - 1], left))
    }
  }

  /** Prerequisites of a host about to be installed, so a doomed install fails in seconds, before any upload. */
  private async preflight(s: Prepared): Promise<void> {
    if (s.plan.action !== 'install' || s.plan.reinstall || !this.ctx.options.preflight) return
    s.env.step('checking prerequisites')
    const checks = s.preflightOutput ? preflightFromOutput(s.env, s.session, s.job, s.preflightOutput) : await preflightHost(s.env, s.session, s.job)
    for (const c of checks) if (c.level === 'warn') s.notes.push(s.env.redact(`preflight warning: ${c.id}: ${c.message}`))
    const failing = failingChecks(checks)
    if (failing.length) throw new HostStepError(`preflight failed: ${failing.map((c) => `${c.id}: ${c.message}`).join('; ')} (--skip-preflight to install anyway)`)
  }

  private async upload(s: Prepared, hop: string): Promise<void> {
    const ref = findRelease(this.releases, hop)
    if (!ref) throw new HostStepError(`release ${hop} is not in the release folder`)
    const content = await readRelease(ref)
    s.env.step(`uploading ${hop}`)
    s.changed = true
    const up = await stageHop(s.session, content, s.job.values, s.facts)
    s.staged = up.staged
    s.env.log(`upload ${hop}: ${up.files} file(s), ${up.bytes} bytes sent, ${up.skipped} already on the host; values ${up.valuesSent ? 'sent' : 'unchanged'}`)
  }

  /** One hop: the installer, then its record and history in their own round trip. */
  private async install(s: Prepared, hop: string): Promise<void> {
    const {job, env} = s
    env.step(`running installer ${hop}`)
    const startedAt = new Date().toISOString()
    const meta = this.jobMeta(s, 'install', hop, startedAt)
    // The judged job leaves the job folder with the record (or, on failure, with the unlock).
    s.pending.archiveJob = meta.id
    try {
      await runInstaller(env, s.link, {version: hop, commit: s.staged, meta})
    } catch (e) {
      this.lockRefused(s, e)
      if (e instanceof UnreachableError) s.jobLeft = meta.id
      else s.pending.history.push(this.historyLine(s, current(s), hop, this.stoppedByOperator ? 'interrupted' : 'failed', message(e), startedAt))
      throw e
    }
    s.pending.history.push(this.historyLine(s, current(s), hop, 'ok', undefined, startedAt))
    s.pending.record = recordOf(meta)
    s.reached.push(hop)
    // The values on the host are now the rendered ones: later hops need not send them again.
    s.facts = {...s.facts, valuesSha256: job.values.sha256}
    s.staged = []
    env.step(`recording ${hop}`)
    const out = await s.session.root(this.pendingScript(s))
    const recorded = out.stdout.includes(RECORDED)
    s.pending = {history: [], record: null}
    if (!recorded) throw new HostStepError(recordFailed(job))
    // The last hop is recorded: old releases go (steps/prune.ts; a version above the one installed
    // stays anyway, so once is enough); a problem there is a note, never a failed host.
    if (hop === s.plan.hops.at(-1)) await pruneReleases(env, s.session, {current: hop, keep: this.ctx.options.keepReleases}, (w) => s.notes.push(w))
  }

  /**
   * The job's start found the lock another run's (it started nothing): the lock is lost, and like a
   * loss the heartbeat finds, nothing more of this run is written into the other run's host state.
   */
  private lockRefused(s: HostState, e: unknown): void {
    if (!(e instanceof LockLostError)) return
    s.lockLost ??= e.why
    s.pending = {history: [], record: null}
    throw e
  }

  /** The meta of a job this run starts: its execution id is the run and the hop. */
  private jobMeta(s: Prepared, kind: JobMeta['kind'], version: string | null, started: string): JobMeta {
    const run = this.ctx.log.id ?? this.ctx.operator
    const token = s.env.lockOwner.token
    return {
      id: `${run}/${token}/${kind}${version ? `-${version}` : ''}`,
      token,
      run,
      kind,
      gateway: s.job.gw.name,
      version,
      fromVersion: current(s),
      action: s.plan.action,
      valuesSha256: s.job.values.sha256,
      secretKeys: s.job.values.secretKeys,
      operator: this.ctx.operator,
      command: this.ctx.options.command,
      started,
    }
  }

  /**
   * The host has these same values under the old byte hash: put their canonical form in place and
   * rewrite the record with its hash, in one round trip; the installer does not run.
   */
  private async migrateValues(s: Prepared): Promise<void> {
    const {job, env} = s
    // The plan migrates only values whose record carries the old hash: without one there is nothing to rewrite.
    const old = s.facts.record
    if (!old) throw new HostStepError('no record of the values on the host to rewrite')
    env.step('migrating values')
    s.changed = true
    const staged = await stageValues(s.session, job.values, s.facts)
    const record: DeployRecord = {...old, valuesSha256: job.values.sha256, secretKeys: job.values.secretKeys}
    const history = {...this.historyLine(s, current(s), current(s), 'ok', undefined, new Date().toISOString()), action: 'migrate values'}
    const commit = commitFilesScript({remoteDir: job.gw.remoteDir, gateway: job.gw.name, files: staged})
    const out = await s.session.root(`${commit}\n${recordScript({remoteDir: job.gw.remoteDir, gateway: job.gw.name, record, history: [history]})}`)
    if (staged.length && !out.stdout.includes('gw.commit=ok')) throw new HostStepError('could not put the canonical values in place; the host keeps its values and record')
    if (!out.stdout.includes(RECORDED)) throw new HostStepError(recordFailed(job))
    s.facts = {...s.facts, valuesSha256: job.values.sha256, record}
    s.notes.push('values rewritten in canonical form and their record updated; the installer did not run')
  }

  /** Uninstall: run k3s-uninstall.sh and clean Cilium; never the datasets folder or DAL storage. */
  private async uninstall(s: Prepared): Promise<void> {
    const {job, env} = s
    env.step('uninstalling')
    s.changed = true
    const startedAt = new Date().toISOString()
    const meta = this.jobMeta(s, 'uninstall', null, startedAt)
    s.pending.archiveJob = meta.id
    let error: string | null = null
    try {
      await runUninstall(env, s.link, {cilium: job.values.ciliumEnabled, meta})
    } catch (e) {
      this.lockRefused(s, e)
      if (e instanceof UnreachableError) {
        s.jobLeft = meta.id
        throw e
      }
      error = message(e)
    }
    s.pending.history.push(this.historyLine(s, current(s), null, error ? (this.stoppedByOperator ? 'interrupted' : 'failed') : 'ok', error ?? undefined, startedAt))
    if (error) throw new HostStepError(error)
    env.step('recording')
    await s.session.root(`${forgetScript(job.gw.remoteDir, job.gw.name)}\n${this.pendingScript(s)}`)
    s.pending = {history: [], record: null}
  }

  /**
   * The one place the lock is given back, with what is still to be written. After a cut connection:
   * reach the host once more, stop an installer still running from this run, write, release.
   */
  private async unlock(s: HostState, end: Ending): Promise<void> {
    s.stopHeartbeat()
    if (s.lockLost) {
      s.env.log(`the lock is no longer this run's (${s.lockLost}): not released, nothing more written`)
      return
    }
    if (s.jobLeft) {
      // The job goes on on the host and keeps the lock while it lives; the next run picks it up.
      s.env.log(`job ${s.jobLeft} goes on on the host: the lock stays with it, nothing more written`)
      return
    }
    const cut = end.kind === 'error' && end.error instanceof UnreachableError
    const write = s.pending.history.length || s.pending.record || s.pending.archiveJob ? this.pendingScript(s) : ''
    if (!cut) {
      s.env.step('unlocking')
      try {
        await unlock(s.env, connected(s).session, write, s.changed)
      } catch (e) {
        s.notes.push(s.env.redact(`could not release the lock (it expires ${LOCK_TTL_SECONDS}s after its last refresh; your next run takes it over at once): ${message(e)}`))
      }
      return
    }
    s.session?.close()
    try {
      s.session = await this.ctx.openSession(s.job.gw)
      await unlock(s.env, s.session, write, s.changed)
      s.recovered = true
      s.env.log('reconnected after the connection was lost: lock released')
    } catch (e) {
      s.recovered = false
      s.env.log(`could not reconnect to release the lock: ${s.env.redact(message(e))}`)
    }
  }

  /** Release versions whose files the probe should hash: every one the plan could use. */
  private candidates(s: HostState): string[] {
    const desired = s.kind.target(s.job)
    if (desired === null) return []
    return this.releases.filter((r) => compareVersions(r.version, desired) <= 0).map((r) => r.version)
  }

  /** deploy: the prerequisite probe rides along with the lock on hosts without a gateway (without the outbound test). */
  private preflightProbe(s: HostState) {
    if (!s.kind.locksFreshHost || !this.ctx.options.preflight) return undefined
    return preflightScriptOptions(s.job, {outbound: false})
  }

  private pendingScript(s: HostState): string {
    return recordScript({remoteDir: s.job.gw.remoteDir, gateway: s.job.gw.name, record: s.pending.record, history: s.pending.history, archiveJob: s.pending.archiveJob})
  }

  /** The operator's second Ctrl-C stopped the jobs on the hosts. */
  private get stoppedByOperator(): boolean {
    return this.ctx.interrupt.hard.signal.aborted
  }

  private historyLine(s: Prepared, from: string | null, to: string | null, result: HistoryEntry['result'], error: string | undefined, time: string): HistoryEntry {
    return {
      time,
      ...(this.ctx.log.id ? {run: this.ctx.log.id} : {}),
      gateway: s.job.gw.name,
      operator: this.ctx.operator,
      command: this.ctx.options.command,
      action: s.plan.action,
      fromVersion: from,
      toVersion: to,
      valuesSha256: s.job.values.sha256,
      result,
      // The host keeps gwfleet's own words only: never installer output, which may hold a secret.
      ...(error ? {error: s.env.redact(ownWords(error))} : {}),
    }
  }

  /** A host's result from its state and how its phases ended. */
  result(s: HostState, end: Ending): HostResult {
    const plan = s.plan
    const r: HostResult = {
      name: s.job.gw.name,
      host: s.job.gw.host,
      status: 'ok',
      action: plan?.action ?? 'none',
      fromVersion: plan?.fromVersion ?? null,
      toVersion: plan?.toVersion ?? null,
      hops: plan?.hops ?? [],
      error: null,
      durationMs: Date.now() - s.t0,
      ...(plan ? {plan, reached: s.reached, notes: s.notes} : {}),
      ...(s.batch !== undefined ? {batch: s.batch} : {}),
    }
    if (end.kind === 'done') {
      if (!s.lockLost) return r
      // Every hop ran and was recorded in the host's history as this run's: that is the result. The lost lock is a note.
      return {...r, notes: [...s.notes, `the lock was lost during the change (${s.lockLost}); the change had started, finished and is recorded in the history`]}
    }
    if (end.kind === 'error' && end.error instanceof LockLostError && s.reached.length) {
      // Stopped between hops by another operator: the hops before stand (and are recorded ok); TO is where it stands.
      return {...r, status: 'interrupted', toVersion: current(s), error: this.withStop(s, s.env.redact(end.error.message))}
    }
    if (end.kind === 'stopped') {
      switch (end.status) {
        case 'unchanged': {
          // A job another run left was picked up and brought the host where it should be: this run finished that change.
          const p = s.pickedUp
          if (p?.ok) return {...r, status: 'ok', action: p.meta.action as HostResult['action'], fromVersion: p.meta.fromVersion, toVersion: p.meta.version, hops: p.meta.version ? [p.meta.version] : []}
          return {...r, status: 'unchanged'}
        }
        case 'planned':
          return r
        case 'refused':
          return {...r, status: 'refused', error: s.env.redact(end.reason ?? 'refused')}
        case 'skipped':
          return {...r, status: 'skipped', error: end.reason ?? 'skipped'}
        case 'interrupted': {
          const error = this.withStop(s, end.reason ?? 'interrupted by the operator')
          // Nothing changed yet: skipped. Part of the way there: interrupted, and TO is where it stands.
          if (s.reached.length === 0) return {...r, status: 'skipped', error}
          return {...r, status: 'interrupted', toVersion: current(s), error}
        }
      }
    }
    const error = s.env.redact(message(end.error))
    // The operator's second Ctrl-C stopped a later hop: the hops before it stand.
    if (this.stoppedByOperator && s.reached.length) return {...r, status: 'interrupted', toVersion: current(s), error: this.withStop(s, error)}
    if (!(end.error instanceof UnreachableError)) return {...r, status: 'failed', error: this.withStop(s, error)}
    if (!s.locked || s.jobLeft) return {...r, status: 'unreachable', error: s.jobLeft ? this.withStop(s, error) : error}
    // Cut off while holding the lock: what the recovery could do decides the status.
    const after = s.recovered
      ? 'reconnected and released the lock; rerun to finish'
      : 'the lock stays on the host until your next run takes it over (or it expires)'
    return {...r, status: s.recovered ? 'failed' : 'unreachable', error: `${this.withStop(s, error)}; ${after}`}
  }

  private withStop(s: HostState, error: string): string {
    if (s.reached.length) return `${error}; gateway stays at ${current(s)} (last good hop)`
    return error
  }
}

/** The version on the host as this run last knew it: the last hop reached, else the plan's start. */
function current(s: HostState): string | null {
  return s.reached.at(-1) ?? s.plan?.fromVersion ?? null
}

/** The record of an install job that succeeded: what it put on the host, by whom. */
function recordOf(m: JobMeta): DeployRecord {
  return {gateway: m.gateway, version: m.version ?? '', valuesSha256: m.valuesSha256, secretKeys: m.secretKeys, deployedAt: new Date().toISOString(), operator: m.operator, command: m.command}
}

function missingResult(job: Job): never {
  throw new Error(`${job.gw.name}: the rollout ended without a result for this host`)
}

function recordFailed(job: Job): string {
  return `the gateway was changed, but its record could not be written in ${job.gw.remoteDir}/state (disk full or read-only?); audit will show drift until a rerun records it`
}
