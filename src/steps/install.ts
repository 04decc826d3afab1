// Step: run one release's installer (or the uninstall) on the host as a detached job, follow its
// log across cut connections, and check what it says against SPEC section 1.
import {HostStepError, LockLostError, UnreachableError} from '../errors.js'
import {parseGateway, type GatewayPresence} from '../remote/cluster.js'
import {describeJob, stopJobScript} from '../remote/job-scripts.js'
import {followScript, installerScript, remoteDirGuard, uninstallScript, type StagedFile} from '../remote/scripts.js'

import {LineSplitter} from '../ssh/output.js'
import type {Session} from '../host/session.js'
import type {HostEnv, JobMeta} from '../types.js'
import {lockLostReason} from './lock.js'

/** The verdict on an installer run. */
export type InstallerVerdict = {ok: true; version: string} | {ok: false; error: string}

/** Most distinct `gw.` keys, values per key and characters per value an installer round trip keeps. */
const MAX_KV_KEYS = 64
const MAX_KV_VALUES = 4
const MAX_KV_VALUE = 4096

/**
 * What the verdict needs from an installer round trip's stdout, fed line by line: the markers of
 * SPEC section 1 ("Deployed versions:" then "agent: X.Y.Z", "All services are ready."), the last
 * non-empty line (for the error) and the `gw.key=value` lines of gwfleet's script. Its size does
 * not grow with the output: an installer may print gigabytes.
 */
export class InstallerOutput {
  private inBlock = false
  private agent: string | undefined
  private ready = false
  private last = ''
  private readonly kv = new Map<string, string[]>()

  /** One line of either kind: `gw.` lines are the script's, the rest the installer's. */
  feed(line: string): void {
    if (line.startsWith('gw.')) this.script(line)
    else this.installer(line)
  }

  /** A line of gwfleet's script (stdout of the round trip): only its `gw.key=value` lines count. */
  script(line: string): void {
    const m = /^gw\.([A-Za-z0-9_.-]+?)=(.*)$/.exec(line)
    if (!m) return
    const list = this.kv.get(m[1])
    if (list) {
      if (list.length < MAX_KV_VALUES) list.push(m[2].slice(0, MAX_KV_VALUE))
    } else if (this.kv.size < MAX_KV_KEYS) this.kv.set(m[1], [m[2].slice(0, MAX_KV_VALUE)])
  }

  /** A line of the installer's log: whatever it says, it is never taken for one of gwfleet's keys. */
  installer(line: string): void {
    const l = line.trim()
    if (l === '') return
    this.last = l.slice(0, 200)
    if (l === 'Deployed versions:') this.inBlock = true
    else if (this.inBlock) {
      const m = /^agent:\s*(\S+)$/.exec(l)
      if (m) this.agent = m[1]
    }
    if (l === 'All services are ready.') this.ready = true
  }

  /** The first value the script printed for `gw.<key>=`. */
  value(key: string): string | undefined {
    return this.kv.get(key)?.[0]
  }

  /** What the cluster said after the installer (the kept `gw.` lines of its query). */
  gateway(): GatewayPresence {
    return parseGateway(this.kv)
  }

  /** The `gw.` lines kept, as text for the parsers of scripts.ts. */
  kvText(): string {
    return [...this.kv].flatMap(([k, vs]) => vs.map((v) => `gw.${k}=${v}`)).join('\n')
  }

  /** Check the installer's part: exit code, "Deployed versions" with the agent version, "All services are ready.". */
  verdict(rc: number | null, expected: string, timeoutSeconds: number): InstallerVerdict {
    const last = this.last
    if (rc === 124 || rc === 137) return {ok: false, error: `installer ${expected} did not finish within ${timeoutSeconds}s and was stopped on the host`}
    if (rc === null) return {ok: false, error: `installer ${expected} ended without an exit code`}
    if (rc !== 0) return {ok: false, error: `installer ${expected} exited with code ${rc}${last ? `: ${last}` : ''}`}
    if (this.agent === undefined) return {ok: false, error: `installer ${expected} exited 0 but never reported the deployed versions`}
    if (this.agent !== expected) return {ok: false, error: `installer reported agent ${this.agent}, expected ${expected}`}
    if (!this.ready) return {ok: false, error: `installer ${expected} never reported "All services are ready."`}
    return {ok: true, version: this.agent}
  }
}

/** Check an installer's output lines: exit code, "Deployed versions" with the agent version, "All services are ready.". */
export function verifyInstallerOutput(lines: string[], rc: number | null, expected: string, timeoutSeconds: number): InstallerVerdict {
  const out = new InstallerOutput()
  for (const l of lines) out.feed(l)
  return out.verdict(rc, expected, timeoutSeconds)
}

/**
 * A job's log as it comes off stderr: whole lines are handed on, and `offset` is the byte just past
 * the last whole line, where a follow after a cut resumes. The part of a line that a cut split is
 * dropped and read again whole, so no line is lost and none is shown twice.
 */
export class JobLog {
  private whole: number
  private partial = 0
  private lines: LineSplitter

  constructor(
    private readonly onLine: (line: string) => void,
    start = 0,
  ) {
    this.whole = start
    this.lines = new LineSplitter(onLine)
  }

  get offset(): number {
    return this.whole
  }

  push(chunk: Buffer): void {
    const nl = chunk.lastIndexOf(10)
    if (nl < 0) this.partial += chunk.length
    else {
      this.whole += this.partial + nl + 1
      this.partial = chunk.length - nl - 1
    }
    this.lines.push(chunk)
  }

  /** The job ended and its log was read to the end: a last line without a newline counts too. */
  end(): void {
    this.lines.flush()
    this.whole += this.partial
    this.partial = 0
  }

  /** The connection was cut: forget the part of a line, it comes again with the next follow. */
  cut(): void {
    this.lines = new LineSplitter(this.onLine)
    this.partial = 0
  }
}

/** How a step keeps reaching its host: the session now, and a way back after a cut. */
export interface HostLink {
  session(): Session
  /**
   * Reach the host again after `cause` cut the connection (`started`: the job was seen running);
   * throws an UnreachableError once the reconnect window is over.
   */
  reconnect(cause: UnreachableError, started: boolean): Promise<Session>
}

/** A job to follow: where it lives, its execution id, and the longest it may run. */
export interface FollowTarget {
  remoteDir: string
  id: string
  timeoutSeconds: number
}

/**
 * Run `script` (which starts the job, or follows one already there) and follow the job's log to its
 * end. A cut connection is not the end: the host is reached again and the log read on from its
 * offset, until the job ends; the job itself runs on whatever happens to the connection. Returns
 * what the round trips printed (the job's end, the cluster's answer) and the installer's markers.
 */
export async function followJob(ctx: HostEnv, link: HostLink, script: string, job: FollowTarget): Promise<InstallerOutput> {
  const out = new InstallerOutput()
  const log = new JobLog((line) => {
    out.installer(line)
    ctx.log(`| ${line}`)
    ctx.output(line)
  })
  // What the script itself says on stderr before the log starts (a failed copy, a missing tool).
  const own = new LineSplitter((line) => ctx.log(`! ${line}`))
  // The host enforces the job's timeout; the workstation's limit only guards against a silent host.
  const deadline = Date.now() + (job.timeoutSeconds + 60) * 1000
  let started = false
  for (;;) {
    let following = false
    try {
      await link.session().root(script, {
        collect: false,
        timeoutMs: Math.max(30_000, deadline - Date.now()),
        onLine: (line, stream) => {
          if (stream !== 'stdout') return
          if (line.startsWith('gw.follow=')) following = true
          if (line.startsWith('gw.job_started=') || line.startsWith('gw.job=')) started = true
          out.script(line)
        },
        onStderr: (chunk) => (following ? log.push(chunk) : own.push(chunk)),
      })
      log.end()
      return out
    } catch (e) {
      if (!(e instanceof UnreachableError)) throw e
      log.cut()
      // Also a cut before the job was seen started: the follow says whether it did.
      await link.reconnect(e, started)
      // The row said "reconnecting ..."; now it follows again.
      ctx.step(`reconnected: following the job from byte ${log.offset} of its log`)
      script = followScript({remoteDir: job.remoteDir, id: job.id, offset: log.offset})
    }
  }
}

/** The verdict on a job's round trips, the parts every job shares; undefined when it ran to an exit code. */
function jobProblem(out: InstallerOutput, what: string): string | undefined {
  const lost = lockLostReason(out.kvText())
  if (lost) throw new LockLostError(lost)
  const commitState = out.value('commit')
  if (commitState && commitState !== 'ok') return `uploaded files could not be put in place (${commitState}); nothing was installed`
  const problem = out.value('installer')
  if (problem) return problem
  const other = out.value('job_other')
  if (other) return `another job is on the host (${describeJob(other)}); ${what} was not started`
  const state = out.value('job_state')
  if (state === 'none') return `the connection was cut before ${what} started, and it never did; nothing was changed by it`
  if (state === 'lost') return `${what} ended without an exit status (the host rebooted, or the job was killed)${clusterSays(out)}`
  return undefined
}

function clusterSays(out: InstallerOutput): string {
  const g = out.gateway()
  return g.version ? `; the cluster runs agent ${g.version}` : g.note ? `; ${g.note}` : ''
}

/** The verdict on an installer job from what its round trips printed. */
export function judgeInstall(out: InstallerOutput, version: string, timeoutSeconds: number, stopped: boolean): InstallerVerdict {
  const problem = jobProblem(out, `installer ${version}`)
  if (problem) return {ok: false, error: problem}
  if (stopped) return {ok: false, error: `installer ${version} stopped by the operator`}
  const rcS = out.value('installer_rc')
  const verdict = out.verdict(rcS === undefined ? null : Number(rcS), version, timeoutSeconds)
  if (!verdict.ok) return verdict
  const after = out.gateway()
  if (after.version !== null && after.version !== version) return {ok: false, error: `installer reported ${version} but the cluster runs agent ${after.version}`}
  return verdict
}

/** The verdict on an uninstall job: null when it succeeded, else why not. */
export function judgeUninstall(out: InstallerOutput, timeoutSeconds: number): string | null {
  const problem = jobProblem(out, 'the uninstall')
  if (problem) return problem
  const rc = out.value('installer_rc')
  if (rc === '0') return null
  if (rc === '124' || rc === '137') return `k3s-uninstall.sh did not finish within ${timeoutSeconds}s and was stopped on the host`
  return `k3s-uninstall.sh exited with code ${rc ?? 'unknown'}`
}

/** While a job runs: the operator's second Ctrl-C stops it on the host. */
async function stoppable<T>(ctx: HostEnv, link: HostLink, remoteDir: string, run: () => Promise<T>): Promise<T> {
  const onAbort = () => {
    link
      .session()
      .root(remoteDirGuard(remoteDir, stopJobScript(remoteDir)), {timeoutMs: 20_000})
      .catch(() => undefined)
  }
  ctx.stop.addEventListener('abort', onAbort, {once: true})
  try {
    return await run()
  } finally {
    ctx.stop.removeEventListener('abort', onAbort)
  }
}

/** Take the staged files into place and run the installer of `version` as a detached job; throws when the hop failed. */
export async function runInstaller(ctx: HostEnv, link: HostLink, o: {version: string; commit: StagedFile[]; meta: JobMeta}): Promise<void> {
  const gw = link.session().gw
  const t = ctx.timeoutSeconds
  const script = installerScript({remoteDir: gw.remoteDir, gateway: gw.name, version: o.version, timeoutSeconds: t, commit: o.commit, token: ctx.lockOwner.token, meta: o.meta})
  const out = await stoppable(ctx, link, gw.remoteDir, () => followJob(ctx, link, script, {remoteDir: gw.remoteDir, id: o.meta.id, timeoutSeconds: t}))
  const verdict = judgeInstall(out, o.version, t, ctx.stop.aborted)
  if (!verdict.ok) throw new HostStepError(ctx.redact(verdict.error))
}

/** Run the uninstall (k3s-uninstall.sh, then Cilium's clean-up) as a detached job; throws when it failed. */
export async function runUninstall(ctx: HostEnv, link: HostLink, o: {cilium: boolean; meta: JobMeta}): Promise<void> {
  const gw = link.session().gw
  const t = ctx.timeoutSeconds
  const script = uninstallScript({remoteDir: gw.remoteDir, cilium: o.cilium, timeoutSeconds: t, token: ctx.lockOwner.token, meta: o.meta})
  const out = await stoppable(ctx, link, gw.remoteDir, () => followJob(ctx, link, script, {remoteDir: gw.remoteDir, id: o.meta.id, timeoutSeconds: t}))
  const error = judgeUninstall(out, t)
  if (error) throw new HostStepError(ctx.redact(error))
}
