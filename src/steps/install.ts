// Step: run one release's installer on the host and check what it says against SPEC section 1.
import {HostStepError} from '../errors.js'
import {installerScript, parseKv, parseProbe, stopInstallerScript, type StagedFile} from '../remote/scripts.js'
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

/** Move staged files into place and run the installer of `version`; throws when the hop failed. */
export async function runInstaller(ctx: RunContext, s: HostSession, version: string, commit: StagedFile[]): Promise<void> {
  const t = ctx.options.timeoutSeconds
  const lines: string[] = []
  const onAbort = () => {
    s.root(stopInstallerScript(s.gw.remoteDir, s.gw.name), {timeoutMs: 20_000}).catch(() => undefined)
  }
  ctx.interrupt.hard.signal.addEventListener('abort', onAbort, {once: true})
  let res
  try {
    res = await s.root(installerScript({remoteDir: s.gw.remoteDir, gateway: s.gw.name, version, timeoutSeconds: t, commit}), {
      // The host enforces the timeout; the workstation's limit only guards against a silent host.
      timeoutMs: (t + 60) * 1000,
      collect: true,
      onLine: (line, stream) => {
        if (line.startsWith('gw.')) return
        ctx.log.write(s.gw.name, `${stream === 'stderr' ? '! ' : '| '}${line}`)
        if (stream === 'stdout') {
          lines.push(line)
          if (lines.length > 2000) lines.splice(0, 1000)
        }
        ctx.reporter.line(s.gw.name, ctx.redactor.redact(line))
      },
    })
  } finally {
    ctx.interrupt.hard.signal.removeEventListener('abort', onAbort)
  }
  const kv = parseKv(res.stdout)
  const commitState = kv.get('commit')?.[0]
  if (commitState && commitState !== 'ok') throw new HostStepError(`uploaded files could not be put in place (${commitState}); nothing was installed`)
  const problem = kv.get('installer')?.[0]
  if (problem) throw new HostStepError(problem)
  const rcS = kv.get('installer_rc')?.[0]
  if (ctx.interrupt.hard.signal.aborted) throw new HostStepError(`installer ${version} stopped by the operator`)
  const verdict = verifyInstallerOutput(lines, rcS === undefined ? null : Number(rcS), version, t)
  if (!verdict.ok) throw new HostStepError(ctx.redactor.redact(verdict.error))
  const after = parseProbe(res.stdout)
  if (after.version !== null && after.version !== version)
    throw new HostStepError(`installer reported ${version} but the cluster runs agent ${after.version}`)
}
