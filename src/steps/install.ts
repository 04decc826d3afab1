// Step: run one release's installer on the host and check what it says against SPEC section 1.
import {HostStepError} from '../errors.js'
import {parseGateway, type GatewayPresence} from '../remote/cluster.js'
import {installerScript, stopInstallerScript, type StagedFile} from '../remote/scripts.js'
import type {Session} from '../host/session.js'
import type {HostEnv} from '../types.js'

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

  /** One line of stdout (lines starting with `gw.` are the script's, the rest the installer's). */
  feed(line: string): void {
    if (line.startsWith('gw.')) {
      const m = /^gw\.([A-Za-z0-9_.-]+?)=(.*)$/.exec(line)
      if (!m) return
      const list = this.kv.get(m[1])
      if (list) {
        if (list.length < MAX_KV_VALUES) list.push(m[2].slice(0, MAX_KV_VALUE))
      } else if (this.kv.size < MAX_KV_KEYS) this.kv.set(m[1], [m[2].slice(0, MAX_KV_VALUE)])
      return
    }
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

/** The verdict on an installer round trip from its stdout so far (commit, installer, cluster). */
function judge(out: InstallerOutput, version: string, timeoutSeconds: number, stopped: boolean): InstallerVerdict {
  const commitState = out.value('commit')
  if (commitState && commitState !== 'ok') return {ok: false, error: `uploaded files could not be put in place (${commitState}); nothing was installed`}
  const problem = out.value('installer')
  if (problem) return {ok: false, error: problem}
  if (stopped) return {ok: false, error: `installer ${version} stopped by the operator`}
  const rcS = out.value('installer_rc')
  const verdict = out.verdict(rcS === undefined ? null : Number(rcS), version, timeoutSeconds)
  if (!verdict.ok) return verdict
  const after = out.gateway()
  if (after.version !== null && after.version !== version) return {ok: false, error: `installer reported ${version} but the cluster runs agent ${after.version}`}
  return verdict
}

/** Take the staged files into place and run the installer of `version`; throws when the hop failed. */
export async function runInstaller(ctx: HostEnv, s: Session, version: string, commit: StagedFile[]): Promise<void> {
  const t = ctx.timeoutSeconds
  // Output is streamed to the log and the reporter; only what the verdict needs is kept.
  const out = new InstallerOutput()
  let installerEnded = false
  const onAbort = () => {
    s.root(stopInstallerScript(s.gw.remoteDir, s.gw.name), {timeoutMs: 20_000}).catch(() => undefined)
  }
  ctx.stop.addEventListener('abort', onAbort, {once: true})
  try {
    await s.root(installerScript({remoteDir: s.gw.remoteDir, gateway: s.gw.name, version, timeoutSeconds: t, commit}), {
      // The host enforces the timeout; the workstation's limit only guards against a silent host.
      timeoutMs: (t + 60) * 1000,
      collect: false,
      onLine: (line, stream) => {
        if (stream === 'stdout') out.feed(line)
        if (line.startsWith('gw.installer_rc=')) installerEnded = true
        // After the installer only gw. lines come (and kubectl's answer, read as one of them).
        if (line.startsWith('gw.') || (installerEnded && line === '')) return
        ctx.log(`${stream === 'stderr' ? '! ' : '| '}${line}`)
        ctx.output(line)
      },
    })
  } finally {
    ctx.stop.removeEventListener('abort', onAbort)
  }
  const verdict = redacted(ctx, judge(out, version, t, ctx.stop.aborted))
  if (!verdict.ok) throw new HostStepError(verdict.error)
}

function redacted(ctx: HostEnv, v: InstallerVerdict): InstallerVerdict {
  return v.ok ? v : {ok: false, error: ctx.redact(v.error)}
}
