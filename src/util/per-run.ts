// What gwfleet reads once per run and keeps for the rest of it: known_hosts files, key files (and
// their passphrases), the agent's keys, release zips, the handshake pacing. A gwfleet process runs
// one command, so "per run" is "per process"; a process that runs commands one after another (the
// test suite runs many inside its own process) calls forgetRunState() between them, so each run
// reads its files afresh, as a new process would.

const forgetters: Array<() => void> = []

/** Have `forget` called by forgetRunState(): it drops what it kept for the run. */
export function forgetWithRun(forget: () => void): void {
  forgetters.push(forget)
}

/** A map that lives for one run: emptied by forgetRunState(). */
export function perRunMap<K, V>(): Map<K, V> {
  const map = new Map<K, V>()
  forgetWithRun(() => map.clear())
  return map
}

/** Forget everything kept for the run so far. */
export function forgetRunState(): void {
  for (const forget of forgetters) forget()
}
