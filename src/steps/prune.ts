// Step: after a hop is recorded, remove the releases on the host a run no longer keeps. The hop has
// succeeded whatever happens here: a problem comes back as a warning for the host's notes, never as
// a failure.
import {compareVersions, parseVersion} from '../release/version.js'
import {layout} from '../remote/layout.js'
import {pruneReleasesScript, releasesListScript} from '../remote/prune-scripts.js'
import {parseKv, unsafeRefusal} from '../remote/scripts.js'
import type {Session} from '../host/session.js'
import type {HostEnv} from '../types.js'

/** Releases a host keeps after a successful hop unless told otherwise: the one it runs and the one before. */
export const DEFAULT_KEEP_RELEASES = 2

/**
 * Pure: the releases to remove. Of the versions on the host, `keep` are kept counting down from
 * `current` (the one just installed counts as one), and every version in use (a gateway's record,
 * a job's release) and every version above `current` (a later hop of this run, or one a rerun may
 * use) stays. Names that are not a version X.Y.Z are never chosen. `keep` 0 keeps everything.
 */
export function releasesToPrune(onHost: string[], o: {current: string; keep: number; inUse?: string[]}): string[] {
  if (o.keep <= 0) return []
  const older = [...new Set(onHost)].filter((v) => parseVersion(v) && compareVersions(v, o.current) < 0).sort((a, b) => compareVersions(b, a))
  const kept = new Set([...older.slice(0, Math.max(0, o.keep - 1)), ...(o.inUse ?? [])])
  return older.filter((v) => !kept.has(v)).sort(compareVersions)
}

/**
 * Remove the releases older than the one now installed that `keep` does not keep (see
 * releasesToPrune); `keep` 0 (or none given) removes nothing. When it cannot, `note` gets a warning
 * for the host's notes; it never throws.
 */
export async function pruneReleases(env: Pick<HostEnv, 'log' | 'redact'>, s: Session, o: {current: string; keep?: number}, note: (warning: string) => void): Promise<void> {
  const keep = o.keep ?? 0
  if (keep <= 0) return
  const w = await prune(env, s, o.current, keep)
  if (w) note(w)
}

async function prune(env: Pick<HostEnv, 'log' | 'redact'>, s: Session, current: string, keep: number): Promise<string | null> {
  const dir = layout(s.gw.remoteDir, s.gw.name).releases
  const warning = (why: string) => {
    const text = env.redact(`old releases not removed from ${dir}: ${why}`)
    env.log(text)
    return text
  }
  try {
    const listed = await s.root(releasesListScript(s.gw.remoteDir), {timeoutMs: 60_000})
    const refused = unsafeRefusal(listed.stdout, s.gw.remoteDir)
    if (refused) return warning(refused)
    const kv = parseKv(listed.stdout)
    if (!kv.has('end')) return warning(`the host did not list them (exit ${listed.code})`)
    const versions = releasesToPrune(kv.get('release') ?? [], {current, keep, inUse: kv.get('in_use') ?? []})
    if (versions.length === 0) return null
    const out = parseKv((await s.root(pruneReleasesScript(s.gw.remoteDir, versions), {timeoutMs: 300_000})).stdout)
    const pruned = out.get('pruned') ?? []
    if (pruned.length) env.log(`removed old releases ${pruned.join(', ')} from ${dir} (keeping ${keep}, ${current} included)`)
    const failed = out.get('prune_failed') ?? []
    if (failed.length) return warning(`could not remove ${failed.join(', ')}`)
    return out.has('end') ? null : warning('the host did not say which it removed')
  } catch (e) {
    return warning(e instanceof Error ? e.message : String(e))
  }
}
