// Step: run one release's installer on the host and check what it says against SPEC section 1.
import {randomBytes} from 'node:crypto'

import {HostStepError} from '../errors.js'
import {awaitTailLine, installerScript, RECORDED, parseKv, parseProbe, stopInstallerScript, tailDoneLine, tailInput, type StagedFile} from '../remote/scripts.js'
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

/** How far the tail got, as the host reported it line by line (also known when the connection drops). */
export interface TailProgress {
  /** The tail was sent. */
  sent: boolean
  /** The host ran it to its end. */
  done: boolean
  /** It released the lock. */
  unlocked: boolean
  /** It wrote the deployed record. */
  recorded?: boolean
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
 * With `tail`, the script for the verdict (record, unlock) runs at the end of the same round trip;
 * `progress` says how far it got, also when the round trip ends in an error. Not with a sudo
 * password: sudo reads it from the same stdin, which must then be closed right away.
 */
export async function runInstaller(ctx: RunContext, s: HostSession, version: string, commit: StagedFile[], tail?: TailFor, progress?: TailProgress): Promise<void> {
  const t = ctx.options.timeoutSeconds
  const lines: string[] = []
  const all: string[] = []
  const nonce = randomBytes(12).toString('hex')
  const withTail = tail !== undefined && s.rootMode.kind !== 'sudo-password'
  const p: TailProgress = progress ?? {sent: false, done: false, unlocked: false}
  let verdict: InstallerVerdict | undefined
  let installerEnded = false
  const onAbort = () => {
    s.root(stopInstallerScript(s.gw.remoteDir, s.gw.name), {timeoutMs: 20_000}).catch(() => undefined)
  }
  ctx.interrupt.hard.signal.addEventListener('abort', onAbort, {once: true})
  let res
  try {
    res = await s.root(installerScript({remoteDir: s.gw.remoteDir, gateway: s.gw.name, version, timeoutSeconds: t, commit, nonce}), {
      // The host enforces the timeout; the workstation's limit only guards against a silent host.
      timeoutMs: (t + 60) * 1000,
      collect: true,
      onLine: (line, stream) => {
        if (stream === 'stdout') {
          all.push(line)
          if (p.sent) {
            if (line === tailDoneLine(nonce)) p.done = true
            else if (line === 'gw.unlocked=1') p.unlocked = true
            else if (line === RECORDED) p.recorded = true
          }
        }
        if (line.startsWith('gw.installer_rc=')) installerEnded = true
        // After the installer only gw. lines come, and the blank line that sets the tail marker apart.
        if (line.startsWith('gw.') || (installerEnded && line === '')) return
        ctx.log.write(s.gw.name, `${stream === 'stderr' ? '! ' : '| '}${line}`)
        if (stream === 'stdout') {
          lines.push(line)
          if (lines.length > 2000) lines.splice(0, 1000)
        }
        ctx.reporter.line(s.gw.name, ctx.redactor.redact(line))
      },
      answer: withTail
        ? (line) => {
            if (!line.endsWith(awaitTailLine(nonce))) return undefined
            // The verdict is taken once, here: what the host records is what the run reports.
            verdict = redacted(ctx, judge(all.join('\n'), lines, version, t, ctx.interrupt.hard.signal.aborted))
            const input = tailInput(nonce, tail(verdict))
            p.sent = true
            return input
          }
        : undefined,
    })
  } finally {
    ctx.interrupt.hard.signal.removeEventListener('abort', onAbort)
  }
  verdict ??= redacted(ctx, judge(res.stdout, lines, version, t, ctx.interrupt.hard.signal.aborted))
  if (!verdict.ok) throw new HostStepError(verdict.error)
}

function redacted(ctx: RunContext, v: InstallerVerdict): InstallerVerdict {
  return v.ok ? v : {ok: false, error: ctx.redactor.redact(v.error)}
}
