// Where gwfleet keeps its files on a gateway host, and path helpers for them.

/** Paths gwfleet uses under a gateway's remoteDir. */
export interface RemoteLayout {
  root: string
  releases: string
  valuesDir: string
  values: string
  stateDir: string
  record: string
  history: string
  lock: string
  stage: string
  pidFile: string
}

/** The on-host layout for one gateway. */
export function layout(remoteDir: string, gateway: string): RemoteLayout {
  const root = remoteDir.replace(/\/+$/, '') || '/'
  return {
    root,
    releases: `${root}/releases`,
    valuesDir: `${root}/values`,
    values: `${root}/values/${gateway}.yaml`,
    stateDir: `${root}/state`,
    record: `${root}/state/${gateway}.json`,
    history: `${root}/state/history.jsonl`,
    lock: `${root}/state/lock`,
    stage: `${root}/.stage`,
    pidFile: `${root}/state/installer.pid`,
  }
}

/** The directory part of a path ("/" for a top-level file). */
export function dirOf(p: string): string {
  return p.replace(/\/[^/]*$/, '') || '/'
}

/** The last part of a path. */
export function baseOf(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1)
}

