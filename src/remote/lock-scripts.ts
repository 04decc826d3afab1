// Lock scripts: one lock file per remoteDir, taken by exclusive create, refreshed by a heartbeat,
// released only by its owner (or cleared on the operator's explicit request).
//
// How the lock stays whole and single (every script below follows these rules):
// - Every change to the lock file (take, take over, refresh, release, clear) happens while holding
//   flock(1) on the state directory. The kernel drops that guard when its process ends (a killed
//   run, a cut connection), so it can never be left behind, unlike a marker file. Under it, "read
//   the lock, judge it, replace it" is one step for every gwfleet run: two runs that both see an
//   expired lock take turns, and the second sees the first one's fresh lock and reports it held.
//   (A rename-away-and-check protocol without the guard leaves a moment where the lock path is
//   empty and a third run can create its own lock, making two winners.)
// - The new content is written whole into a temp file first and only then linked (`ln`, which
//   fails when the lock exists: the exclusive create) or renamed (`mv`, atomic: the takeover) into
//   place. A write that fails (disk full) leaves no lock file at all and reports the error; a
//   reader never sees an empty or half-written lock.
// - The winner reads the lock back and requires its own content: the final word on who holds it.
// - While a detached job (the installer, the uninstall) runs on the host, the lock does not expire:
//   its run may be cut off for longer than the lock's life and still come back to follow it. Only
//   a run known to be dead (staleHolder) is taken over then, and the taker follows that job.
// - Age is the lock file's mtime on the host's clock; the heartbeat touches it. A lock stamped in
//   the future (the host's clock went back) would never age, so a contender restamps it to now:
//   it then expires like any lock its run stops refreshing, and its live run's next heartbeat
//   keeps it as before.
import {shq} from '../ssh/quote.js'
import {jobLiveBody} from './job-scripts.js'
import {layout} from './layout.js'
import type {LockOwner} from '../types.js'

/** Seconds a run waits for another run's lock step on the same host before giving up. */
const GUARD_WAIT_SECONDS = 10

// The guard: flock on the state directory, held for the braced group `body` only. A redirection
// that fails on a group does not end the shell (it would on `exec`); stderr is kept quiet.
function guarded(stateDir: string, body: string): string {
  return `{ ${body}; } 2>/dev/null 9<${shq(stateDir)}`
}

// A case pattern that matches the lock line of the run with this token (the token's own JSON field).
function tokenPattern(token: string): string {
  return `*${shq(`"token":"${token}"`)}*`
}

/**
 * Take the lock: exclusive create; an expired one (or exactly `staleHolder`'s) is taken over.
 * Prints gw.lock_result=acquired|takeover|held (with gw.lock_holder and gw.lock_age when held), or
 * gw.lock=error <why> when the lock cannot be written, and sets GW_MINE when the lock is ours.
 */
export function lockBody(o: {remoteDir: string; owner: LockOwner; ttlSeconds: number; staleHolder?: string}): string {
  const L = layout(o.remoteDir, '_')
  const owner = JSON.stringify(o.owner)
  const stale = o.staleHolder !== undefined ? ` || [ "$gw_prev" = ${shq(o.staleHolder)} ]` : ''
  return [
    jobLiveBody(o.remoteDir),
    `gw_lk=${shq(L.lock)}; gw_new=${shq(`${L.lock}.new`)}; gw_own=${shq(owner)}; GW_MINE=''; gw_res=nodir; gw_prev=''; gw_age=0; gw_err=''`,
    'if ! command -v flock >/dev/null 2>&1; then echo "gw.lock=error flock(1) is not installed on the host (package util-linux)"; exit 0; fi',
    // gw_res stays "nodir" when the state directory cannot be opened (the group does not run).
    `{ gw_res=''`,
    `  if ! flock -w ${GUARD_WAIT_SECONDS} 9; then gw_res=busy`,
    // The whole content first, in a temp file only a guard holder writes (a leftover from a killed
    // run is simply replaced). printf from coreutils (via env) names the errno of a failed write
    // ("No space left on device"); the shell's own printf only says "I/O error". A short write is
    // caught by reading it back.
    '  elif ! gw_err=$(rm -f "$gw_new" && env printf "%s\\n" "$gw_own" 2>&1 > "$gw_new") || ! { IFS= read -r gw_chk < "$gw_new"; } 2>/dev/null || [ "$gw_chk" != "$gw_own" ]; then gw_res=nowrite',
    // Exclusive create: link(2) fails when the lock exists, whatever its content.
    '  elif ln "$gw_new" "$gw_lk" 2>/dev/null; then gw_res=acquired',
    // Held: judge it by its age. stat fails only when it was removed meanwhile by a release that
    // could not take the guard; then it is free again.
    '  elif ! gw_m=$(stat -c %Y "$gw_lk" 2>/dev/null); then ln "$gw_new" "$gw_lk" 2>/dev/null && gw_res=acquired',
    '  else',
    '    { IFS= read -r gw_prev < "$gw_lk"; } 2>/dev/null',
    '    gw_age=$(( $(date +%s) - gw_m ))',
    // Stamped in the future: restart its clock now (see the top of this file).
    '    if [ "$gw_age" -lt 0 ]; then touch -c "$gw_lk"',
    // Expired, or exactly the lock of a run known to be dead: replace it in one rename, so the lock
    // path is never empty and nobody else can slip in between.
    `    elif { [ "$gw_age" -gt ${o.ttlSeconds} ] && [ -z "$gw_jlive" ]; }${stale}; then mv -f "$gw_new" "$gw_lk" && gw_res=takeover`,
    '    fi',
    '  fi',
    '  rm -f "$gw_new"',
    `} 2>/dev/null 9<${shq(L.stateDir)}`,
    'case "$gw_res" in',
    `  nodir) printf "gw.lock=error cannot open the state directory %s\\n" ${shq(L.stateDir)}; exit 0;;`,
    `  busy) echo "gw.lock=error another run kept the lock step busy for ${GUARD_WAIT_SECONDS}s; try again"; exit 0;;`,
    // Keep the error on one line, without dash's "sh: 1: " prefix.
    '  nowrite) gw_err=$(printf "%s" "${gw_err:-the lock did not read back whole (disk full?)}" | tr "\\n" " "); rm -f "$gw_new"; printf "gw.lock=error cannot write the lock file %s: %s\\n" "$gw_lk" "${gw_err#*sh: [0-9]*: }"; exit 0;;',
    '  acquired|takeover)',
    // The final word: the lock must hold exactly what this run wrote.
    '    gw_back=\'\'; { IFS= read -r gw_back < "$gw_lk"; } 2>/dev/null',
    '    if [ "$gw_back" = "$gw_own" ]; then GW_MINE=1; echo "gw.lock_result=$gw_res"; if [ "$gw_res" = takeover ]; then printf "gw.lock_prev=%s\\n" "$gw_prev"; fi',
    '    else gw_prev=$gw_back; gw_age=0; gw_res=\'\'; fi;;',
    'esac',
    'if [ -z "$GW_MINE" ]; then printf "gw.lock_result=held\\ngw.lock_holder=%s\\ngw.lock_age=%s\\n" "$gw_prev" "$gw_age"; if [ -n "$gw_jlive" ]; then echo gw.lock_job=running; fi; echo gw.end=1; exit 0; fi',
  ].join('\n')
}

/**
 * Refresh the lock's time if it is still ours, and say whose it is: gw.lock_state=mine, held (with
 * gw.lock_holder), or removed.
 */
export function lockRefreshScript(remoteDir: string, gateway: string, token: string): string {
  return [refreshBody(remoteDir, token), 'printf "gw.lock_state=%s\\n" "$gw_s"; if [ "$gw_s" = held ]; then printf "gw.lock_holder=%s\\n" "$gw_l"; fi; echo gw.end=1'].join('\n')
}

/**
 * The start of a hop's installer first confirms the lock is still this run's (and refreshes it):
 * when it is not, it prints what lockRefreshScript prints and the script ends before anything.
 */
export function lockConfirmBody(remoteDir: string, token: string): string {
  return [refreshBody(remoteDir, token), 'if [ "$gw_s" != mine ]; then printf "gw.lock_state=%s\\n" "$gw_s"; if [ "$gw_s" = held ]; then printf "gw.lock_holder=%s\\n" "$gw_l"; fi; echo gw.end=1; exit 0; fi'].join('\n')
}

// Refresh the lock if it is this token's; gw_s says mine, held (gw_l the holder) or removed.
function refreshBody(remoteDir: string, token: string): string {
  const L = layout(remoteDir, '_')
  const lock = shq(L.lock)
  // The guard is used when it can be had; a refresh never waits on a missing flock.
  const body = `command -v flock >/dev/null && flock -w ${GUARD_WAIT_SECONDS} 9; if [ -f ${lock} ]; then IFS= read -r gw_l < ${lock}; case "$gw_l" in ${tokenPattern(token)}) touch -c ${lock}; gw_s=mine;; *) gw_s=held;; esac; fi`
  return ["gw_l=''; gw_s=removed", guarded(L.stateDir, body)].join('\n')
}

/** Remove the lock if it is still ours; clean the upload stage when something was staged. */
export function unlockScript(remoteDir: string, gateway: string, token: string, cleanStage = true): string {
  const L = layout(remoteDir, gateway)
  const lock = shq(L.lock)
  const stage = `${shq(L.stage)}/*`
  // One rm for the stage and the lock, only while the lock is ours (the stage may hold another
  // run's uploads otherwise). Releasing never waits on a missing flock: better released than kept.
  const body = `command -v flock >/dev/null && flock -w ${GUARD_WAIT_SECONDS} 9; if [ -f ${lock} ]; then IFS= read -r gw_l < ${lock}; case "$gw_l" in ${tokenPattern(token)}) mine=1; rm -rf -- ${cleanStage ? `${stage} ` : ''}${lock};; esac; fi`
  return [
    `mine=''; gw_l=''`,
    guarded(L.stateDir, body),
    `if [ -n "$mine" ] && [ ! -f ${lock} ]; then echo gw.unlocked=1; fi`,
    'true',
  ].join('\n')
}

/** Read a lock without touching it (its age is negative when it is stamped in the future). */
export function lockShowScript(remoteDir: string, gateway: string): string {
  const L = layout(remoteDir, gateway)
  return `if [ -f ${shq(L.lock)} ]; then printf "gw.lock=%s\\n" "$(tr -d "\\n" < ${shq(L.lock)})"; printf "gw.lock_age=%s\\n" "$(( $(date +%s) - $(stat -c %Y ${shq(L.lock)}) ))"; fi; echo gw.end=1`
}

/** Remove a lock whoever holds it (operator's explicit request). */
export function lockClearScript(remoteDir: string, gateway: string): string {
  const L = layout(remoteDir, gateway)
  const body = `command -v flock >/dev/null && flock -w ${GUARD_WAIT_SECONDS} 9; if [ -f ${shq(L.lock)} ]; then rm -f ${shq(L.lock)} && echo gw.cleared=1; fi`
  return `${guarded(L.stateDir, body)}; echo gw.end=1`
}
