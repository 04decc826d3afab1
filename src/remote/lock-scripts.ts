// Lock scripts: one lock file per remoteDir, taken by exclusive create, refreshed by a heartbeat,
// released only by its owner (or cleared on the operator's explicit request).
import {shq} from '../ssh/quote.js'
import {layout} from './layout.js'

/** Lock owner data written into the lock file. */
export interface LockOwner {
  owner: string
  pid: number
  command: string
  started: string
  token: string
}

/** Take the lock: exclusive create; an expired one (or exactly `staleHolder`'s) is taken over. */
export function lockBody(o: {remoteDir: string; owner: LockOwner; ttlSeconds: number; staleHolder?: string}): string {
  const L = layout(o.remoteDir, '_')
  const owner = JSON.stringify(o.owner)
  return [
    // Exclusive create: with noclobber the redirection fails when the lock exists.
    'set -C',
    `if { printf "%s\\n" ${shq(owner)} > ${shq(L.lock)}; } 2>/dev/null; then set +C; GW_MINE=1; echo "gw.lock_result=acquired"`,
    'else',
    '  set +C',
    `  age=$(( $(date +%s) - $(stat -c %Y ${shq(L.lock)} 2>/dev/null || date +%s) ))`,
    `  IFS= read -r prev < ${shq(L.lock)}`,
    // Taken over when expired, or when it is exactly the lock of a run known to be dead.
    `  if [ "$age" -gt ${o.ttlSeconds} ]${o.staleHolder !== undefined ? ` || [ "$prev" = ${shq(o.staleHolder)} ]` : ''}; then`,
    '    printf "gw.lock_prev=%s\\n" "$prev"',
    `    printf "%s\\n" ${shq(owner)} > ${shq(L.lock)}.$$ && mv -f ${shq(L.lock)}.$$ ${shq(L.lock)} && GW_MINE=1 && echo "gw.lock_result=takeover"`,
    '  else',
    '    printf "gw.lock_result=held\\ngw.lock_holder=%s\\n" "$prev"',
    '    echo gw.end=1; exit 0',
    '  fi',
    'fi',
  ].join('\n')
}

/** Refresh the lock's time if it is still ours. */
export function lockRefreshScript(remoteDir: string, gateway: string, token: string): string {
  const L = layout(remoteDir, gateway)
  return `if [ -f ${shq(L.lock)} ]; then IFS= read -r l < ${shq(L.lock)}; case "$l" in *${shq(token)}*) touch -c ${shq(L.lock)};; esac; fi; true`
}

/** Remove the lock if it is still ours; clean the upload stage when something was staged. */
export function unlockScript(remoteDir: string, gateway: string, token: string, cleanStage = true): string {
  const L = layout(remoteDir, gateway)
  const lock = shq(L.lock)
  const stage = `${shq(L.stage)}/*`
  return [
    `mine=''; if [ -f ${lock} ]; then IFS= read -r l < ${lock}; case "$l" in *${shq(token)}*) mine=1;; esac; fi`,
    // One rm for the stage and the lock, only while the lock is ours (the stage may hold another run's uploads otherwise).
    `if [ -n "$mine" ]; then rm -rf -- ${cleanStage ? `${stage} ` : ''}${lock} 2>/dev/null; fi`,
    `if [ -n "$mine" ] && [ ! -f ${lock} ]; then echo gw.unlocked=1; fi`,
    'true',
  ].join('\n')
}

/** Read a lock without touching it. */
export function lockShowScript(remoteDir: string, gateway: string): string {
  const L = layout(remoteDir, gateway)
  return `if [ -f ${shq(L.lock)} ]; then printf "gw.lock=%s\\n" "$(tr -d "\\n" < ${shq(L.lock)})"; printf "gw.lock_age=%s\\n" "$(( $(date +%s) - $(stat -c %Y ${shq(L.lock)}) ))"; fi; echo gw.end=1`
}

/** Remove a lock whoever holds it (operator's explicit request). */
export function lockClearScript(remoteDir: string, gateway: string): string {
  const L = layout(remoteDir, gateway)
  return `if [ -f ${shq(L.lock)} ]; then rm -f ${shq(L.lock)} && echo gw.cleared=1; fi; echo gw.end=1`
}

