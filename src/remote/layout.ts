// Where gwfleet keeps its files on a gateway host, and path helpers for them.

/** Paths gwfleet uses under a gateway's remoteDir. */
export interface RemoteLayout {
  root: string
  releases: string
  valuesDir: string
  values: string
  stateDir: string
  record: string
  /** The last change recorded for the gateway (its history line, run id included), whatever its result. */
  attempt: string
  /** Root-only copy of the values as last applied (written with the record): what diff compares after a failed change. */
  applied: string
  history: string
  lock: string
  /** Root-owned 0711: holds the two folders below, made anew each time a run takes the lock. */
  stage: string
  /** Owned by the login user (0700): where SFTP puts uploads. Root only ever copies out of it. */
  upload: string
  /** Root-owned 0700: root's copies of the uploads, checked by sha256 before they are moved into place. */
  verified: string
  /** Root-owned 0700: the detached job (installer or uninstall) now on the host; see job-scripts.ts. */
  job: string
  /** The last job a run judged and recorded, kept for a look afterwards. */
  jobLast: string
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
    attempt: `${root}/state/${gateway}.attempt`,
    applied: `${root}/state/${gateway}.applied`,
    history: `${root}/state/history.jsonl`,
    lock: `${root}/state/lock`,
    stage: `${root}/.stage`,
    upload: `${root}/.stage/upload`,
    verified: `${root}/.stage/verified`,
    job: `${root}/state/job`,
    jobLast: `${root}/state/job.last`,
  }
}

/** The directory part of a path ("/" for a top-level file). */
export function dirOf(p: string): string {
  return p.replace(/\/[^/]*$/, '') || '/'
}


/** Every directory from "/" down to `dir`, in order: the ones whose owner and mode decide who controls `dir`. */
export function ancestors(dir: string): string[] {
  const parts = dir.split('/').filter(Boolean)
  return ['/', ...parts.map((_, i) => `/${parts.slice(0, i + 1).join('/')}`)]
}
