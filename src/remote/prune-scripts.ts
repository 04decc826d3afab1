// Old releases on a host: which are there, and removing the ones a run no longer keeps. Built like
// scripts.ts (values through shq(), answers as gw.key=value lines), run as root, and only under a
// remoteDir that passes the same safety check every probe makes (remoteDirGuard): under a safe
// remoteDir nothing in releases/ is a symbolic link or anything but root's own.
import {shq} from '../ssh/quote.js'
import {parseVersion} from '../release/version.js'
import {JOB_FN} from './job-scripts.js'
import {layout} from './layout.js'
import {remoteDirGuard} from './scripts.js'

// The version a one-line JSON file (a deployed record, a job's meta) names: gw_v, empty when none.
const VERSION_OF_LINE = `gw_v=''; case "$gw_l" in *'"version":"'*) gw_v=\${gw_l#*'"version":"'}; gw_v=\${gw_v%%'"'*};; esac`

/**
 * What releases the host has, and which are in use: gw.release=NAME for each real directory in
 * releases/ (never a link), gw.in_use=VERSION for each version a deployed record of any gateway on
 * the host names and for the release of a job still in the job folder (running, or not yet judged).
 */
export function releasesListScript(remoteDir: string): string {
  const L = layout(remoteDir, '_')
  return remoteDirGuard(
    remoteDir,
    [
      `if [ -d ${shq(L.releases)} ]; then for gw_d in ${shq(L.releases)}/*; do if [ -d "$gw_d" ] && [ ! -L "$gw_d" ]; then printf 'gw.release=%s\\n' "\${gw_d##*/}"; fi; done; fi`,
      `for gw_f in ${shq(L.stateDir)}/*.json ${shq(`${L.job}/meta`)}; do`,
      '  [ -f "$gw_f" ] && [ ! -L "$gw_f" ] || continue',
      `  gw_l=''; IFS= read -r gw_l < "$gw_f"; ${VERSION_OF_LINE}`,
      `  if [ -n "$gw_v" ]; then printf 'gw.in_use=%s\\n' "$gw_v"; fi`,
      'done',
      'echo gw.end=1',
    ].join('\n'),
  )
}

/**
 * Remove these releases from releases/ (each a version X.Y.Z: the caller chose them with
 * releasesToPrune). Each is looked at again just before: only a real directory goes, never one a
 * running job uses, and `rm --one-file-system` stays out of anything mounted inside it. Prints
 * gw.pruned=V, gw.kept=V (in use) or gw.prune_failed=V for each.
 */
export function pruneReleasesScript(remoteDir: string, versions: string[]): string {
  for (const v of versions) if (!parseVersion(v)) throw new Error(`not a release version: ${v}`)
  const L = layout(remoteDir, '_')
  const J = shq(L.job)
  return remoteDirGuard(
    remoteDir,
    [
      JOB_FN,
      // A job that runs now (another run cannot start one while this run holds the lock; checked anyway).
      `gw_job ${J}; gw_l=''; if [ "$gw_js" = running ]; then IFS= read -r gw_l < ${J}/meta; fi; ${VERSION_OF_LINE}; gw_jv=$gw_v`,
      `cd ${shq(L.releases)} || { echo "gw.prune_failed=*"; echo gw.end=1; exit 0; }`,
      ...versions.map((v) => {
        const q = shq(v)
        return `if [ ${q} = "$gw_jv" ]; then echo gw.kept=${q}; elif [ -d ${q} ] && [ ! -L ${q} ]; then if rm -rf --one-file-system -- ${q}; then echo gw.pruned=${q}; else echo gw.prune_failed=${q}; fi; fi`
      }),
      'echo gw.end=1',
    ].join('\n'),
  )
}
