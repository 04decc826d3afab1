// Step: run one release's installer on the host and check what it says against SPEC section 1.
import {HostStepError} from '../errors.js'
import {AWAIT_TAIL, installerScript, parseKv, parseProbe, stopInstallerScript, type StagedFile} from '../remote/scripts.js'
import type {RunContext} from '../runner/context.js'
import type {HostSession} from '../runner/session.js'

/** The verdict on an installer run. */
export type InstallerVerdict = {ok: true; version: string} | {ok: false; error: string}

/** Check an installer's output: exit code, "Deployed versions" with the agent version, "All services are ready.". */
export function verifyInstallerOutput(lines: string[], rc: number | null, expected: string, timeoutSeconds: number): InstallerVerdict {
  const last = [...lines].reverse().find((l) => l.trim() !== '')?.trim() ?? ''
  if (rc === 124 || rc === 137) return {ok: false, error: `installer ${expected} did not finish within ${timeoutSeconds}s and was stopped on the host`}
  if (rc === null) return {ok: false, error: `installer ${expected} ended without an exit code`}
  if (rc !== 0) return {ok: false, error: `installer ${expected} exited with code ${rc}${last ? `: ${last.slice(0, 200)}` : ''}`}
  let inBlock = false
  let agent: string | undefined
  let ready = false
  for (const raw of lines) {
    const l = raw.trim()
    if (l === 'Deployed versions:') inBlock = true
    else if (inBlock) {
      const m = /^agent:\s*(\S+)$/.exec(l)
      if (m) agent = m[1]
    }
    if (l === 'All services are ready.') ready = true
  }
  if (agent === undefined) return {ok: false, error: `installer ${expected} exited 0 but never reported the deployed versions`}
  if (agent !== expected) return {ok: false, error: `installer reported agent ${agent}, expected ${expected}`}
  if (!ready) return {ok: false, error: `installer ${expected} never reported "All services are ready."`}
  return {ok: true, version: agent}
}

/** What the installer round trip asks for at its end: the script to run on the host for this verdict. */
export type TailFor = (verdict: InstallerVerdict) => string

/** What the host confirmed of the tail script it ran. */
export interface TailDone {
  ran: boolean
  recorded: boolean
  unlocked: boolean
}

/** The verdict on an installer round trip from its stdout so far (commit, installer, cluster). */
function judge(stdout: string, lines: string[], version: string, timeoutSeconds: number, stopped: boolean): InstallerVerdict {
  const kv = parseKv(stdout)
  const commitState = kv.get('commit')?.[0]
  if (commitState && commitState !== 'ok') return {ok: false, error: `uploaded files could not be put in place (${commitState}); nothing was installed`}
  const problem = kv.get('installer')?.[0]
  if (problem) return {ok: false, error: problem}
  if (stopped) return {ok: false, error: `installer ${version} stopped by the operator`}
  const rcS = kv.get('installer_rc')?.[0]
  const verdict = verifyInstallerOutput(lines, rcS === undefined ? null : Number(rcS), version, timeoutSeconds)
  if (!verdict.ok) return verdict
  const after = parseProbe(stdout)
  if (after.version !== null && after.version !== version) return {ok: false, error: `installer reported ${version} but the cluster runs agent ${after.version}`}
  return verdict
}

/**
 * Move staged files into place and run the installer of `version`; throws when the hop failed.
 * With `tail`, the script for the verdict (record, unlock) runs at the end of the same round trip.
 */
export async function runInstaller(ctx: RunContext, s: HostSession, version: string, commit: StagedFile[], tail?: TailFor): Promise<TailDone> {
  const t = ctx.options.timeoutSeconds
  const lines: string[] = []
  const all: string[] = []
  const onAbort = () => {
    s.root(stopInstallerScript(s.gw.remoteDir, s.gw.name), {timeoutMs: 20_000}).catch(() => undefined)
  }
  ctx.interrupt.hard.signal.addEventListener('abort', onAbort, {once: true})
  let res
  let asked = false
  try {
    res = await s.root(installerScript({remoteDir: s.gw.remoteDir, gateway: s.gw.name, version, timeoutSeconds: t, commit}), {
      // The host enforces the timeout; the workstation's limit only guards against a silent host.
      timeoutMs: (t + 60) * 1000,
      collect: true,
      onLine: (line, stream) => {
        if (stream === 'stdout') all.push(line)
        if (line.startsWith('gw.')) return
        ctx.log.write(s.gw.name, `${stream === 'stderr' ? '! ' : '| '}${line}`)
        if (stream === 'stdout') {
          lines.push(line)
          if (lines.length > 2000) lines.splice(0, 1000)
        }
        ctx.reporter.line(s.gw.name, ctx.redactor.redact(line))
      },
      answer: (line) => {
        if (line !== AWAIT_TAIL) return undefined
        asked = true
        const verdict = judge(all.join('\n'), lines, version, t, ctx.interrupt.hard.signal.aborted)
        return tail ? `${tail(redacted(ctx, verdict))}\n` : ''
      },
    })
  } finally {
    ctx.interrupt.hard.signal.removeEventListener('abort', onAbort)
  }
  const verdict = judge(res.stdout, lines, version, t, ctx.interrupt.hard.signal.aborted)
  const kv = parseKv(res.stdout)
  const done: TailDone = {ran: asked && tail !== undefined, recorded: kv.has('recorded'), unlocked: kv.has('unlocked')}
  if (!verdict.ok) throw new InstallerFailed(ctx.redactor.redact(verdict.error), done)
  return done
}

function redacted(ctx: RunContext, v: InstallerVerdict): InstallerVerdict {
  return v.ok ? v : {ok: false, error: ctx.redactor.redact(v.error)}
}

/** A failed hop, with what the host already did of the tail script. */
export class InstallerFailed extends HostStepError {
  constructor(
    message: string,
    readonly tail: TailDone,
  ) {
    super(message)
  }
}
