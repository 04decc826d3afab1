// Data shapes shared across the pipeline: inventory -> facts -> plan -> run -> results.
// Only types live here, so every layer may import it without pulling in behaviour.

import type {ZipEntry} from './release/zip.js'

/** One gateway as the inventory resolves it (defaults merged, paths absolute). */
export interface Gateway {
  name: string
  host: string
  port?: number               // undefined: from ~/.ssh/config, else 22
  user?: string               // undefined: from ~/.ssh/config, else current user
  identityFile?: string       // absolute, ~ expanded
  knownHosts?: string         // absolute path to an extra known_hosts file
  become: boolean
  jump?: string               // ProxyJump syntax: [user@]host[:port][,...]
  remoteDir: string           // absolute path on the host
  version: string             // desired version (pin, else release.version)
  pinned?: boolean            // true when the gateway (or defaults) sets its own version
  valuesFile: string          // absolute path on the workstation ('' for a state: absent gateway without values)
  labels: Record<string, string>
  /** Where the gateway is declared, for error messages. */
  source: { file: string; line: number }
  /** `state: absent`: deploy removes the gateway and audit expects nothing there. */
  state?: 'absent'
  /** Why this gateway's own input cannot be used (its values file is missing, say): only its own runs stop on it. */
  inputProblem?: { file: string; line: number; key: string; message: string }
}

/** The loaded inventory. */
export interface Inventory {
  file: string                // absolute path
  releaseDir: string          // absolute path
  releaseVersion: string
  gateways: Gateway[]         // in file order
  /** Lines of keys later checks may name: `release.dir`, `release.version`, `gateways.<name>.version`, `defaults.version`. */
  lines?: Record<string, number>
  /** Local commands run at points of a changing run (the inventory's `hooks:`). */
  hooks?: Partial<Record<HookName, Hook>>
  /** `rollout.first`: the selector whose gateways fill the first batches unless --first is given. */
  rolloutFirst?: string
  /** `rollout.keepReleases`: releases kept on a host after a successful hop, unless --keep-releases is given. */
  keepReleases?: number
}

/** Where in a changing run a hook runs. */
export type HookName = 'before-run' | 'before-host' | 'after-host' | 'after-batch' | 'after-run'

/** A local command run on the workstation at a point of a run. */
export interface Hook {
  command: string
  timeoutSeconds: number
  /** Where it is declared, for messages. */
  line: number
}

/** A values file rendered for upload: secrets resolved, never to be printed. */
export interface RenderedValues {
  file: string
  /** The YAML text that goes to the host: the canonical rendering of the values' data. Holds secrets. */
  text: string
  /** The values' data, references resolved: what `text` renders. Holds secrets. */
  data: unknown
  /** sha256 of `text`: what the plan, the host's record and audit compare. */
  sha256: string
  /** sha256 of the values as earlier versions uploaded them (the file's own text, references resolved). */
  legacySha256: string
  /** Key paths (as keyPath prints them) whose values come from ${env:}/${file:}: never shown. */
  secretKeys: string[]
  /** Every resolved ${env:}/${file:} value, for redaction. */
  secrets: string[]
  /** cilium.enabled !== false */
  ciliumEnabled: boolean
  /** What to warn of keys the vendor's guide does not know (file, line, key, the key probably meant). */
  keyWarnings?: string[]
  datasetsFolder?: string     // dal.sources.files.folder
  dalStoragePath?: string     // dal.persistence.local.hostPath
}

/** A release zip found in release.dir. */
export interface ReleaseRef {
  version: string
  path: string                // absolute path of apheris-gateway-<VERSION>.zip
}

/**
 * One file of a release: an entry of its zip, checked and hashed when the release was read. Its
 * bytes stay in the zip on disk; an upload streams them from there (openReleaseFile).
 */
export interface ReleaseFile {
  path: string                // relative path inside the release root, '/'-separated
  mode: number                // 0o755 for deploy_gateway and other executables, else 0o644
  sha256: string
  size: number                // bytes
  entry: ZipEntry             // where it is in the zip, how it is compressed, its CRC-32
}

/** The release zip on disk as it was when read: a zip changed since (size, time or inode) is not uploaded. */
export interface ReleaseZip {
  path: string                // absolute
  size: number
  mtimeMs: number
  ino: number
  dev: number
}

/** A release read from its zip. */
export interface ReleaseContent {
  version: string
  zip: ReleaseZip
  files: ReleaseFile[]        // includes 'deploy_gateway'
}

/** A gateway with its rendered values, ready to work on. */
export interface Job {
  gw: Gateway
  values: RenderedValues
}

/** Lock owner data written into the lock file. */
export interface LockOwner {
  owner: string
  pid: number
  command: string
  started: string
  token: string
  /** The workstation's identity (a hash of its machine id or boot id); absent in older locks. */
  machine?: string
}

/** Whether a gateway is installed on a host (see remote/cluster.ts parseGateway): unknown when its cluster cannot tell. */
export type Installed = 'yes' | 'no' | 'unknown'

/** Host facts read by the probe. */
export interface HostFacts {
  uid: number | null
  /** The one verdict audit, status and logs share. */
  installed: Installed
  /** Installed agent version, or null when none is installed. */
  version: string | null
  /** Why no version: kubectl missing, cluster not answering, no agent deployment, unreadable image. */
  versionNote: string | null
  record: DeployRecord | null
  valuesSha256: string | null
  /** version -> relative path -> sha256 of files already in the release directory. */
  releaseFiles: Map<string, Map<string, string>>
  lock: {holder: string; ageSeconds: number} | null
  /** Path of k3s-uninstall.sh when k3s is on the host. */
  k3sUninstall: string | null
  /** A detached job (installer or uninstall) on the host that no run has recorded yet. */
  job: JobFacts | null
  /** Why remoteDir is not safe for root to use (then nothing under it was read), else null. */
  unsafe: string | null
  /** The last change gwfleet recorded for this gateway (its history line), whatever its result; null when none is kept. */
  attempt?: HistoryEntry | null
}

/** What a detached job on the host is: written into its folder before it starts (never a secret). */
export interface JobMeta {
  /** The execution id: the run and the hop. A job with an id starts at most once. */
  id: string
  /** The lock token of the run that started it. */
  token: string
  /** The run that started it (its run folder's id, when it kept one). */
  run: string
  kind: 'install' | 'uninstall'
  gateway: string
  /** The release it installs (install), or null. */
  version: string | null
  /** The version the gateway stood at before it. */
  fromVersion: string | null
  /** The plan's action it is part of (install, upgrade, reconfigure, uninstall). */
  action: string
  /** The values it was given (their sha256 and secret key paths, for the record). */
  valuesSha256: string
  secretKeys?: string[]
  operator: string
  command: string
  started: string
}

/** A job the probe found on the host. */
export interface JobFacts {
  meta: JobMeta
  /** running; ended (with rc); lost: gone without an exit status (the host rebooted, or it was killed). */
  state: 'running' | 'ended' | 'lost'
  rc: number | null
  /** timeout(1)'s pid while it runs. */
  pid: number | null
  /** Bytes of output so far. */
  logBytes: number
  /** Seconds since it started. */
  ageSeconds: number
}

/** What gwfleet records on the host after a change. */
export interface DeployRecord {
  gateway: string
  version: string
  valuesSha256: string
  deployedAt: string
  operator: string
  command: string
  /** Key paths of the values that held secrets (never the values), so a diff masks them later too. */
  secretKeys?: string[]
}

/** One line of the host's history. */
export interface HistoryEntry {
  time: string
  gateway: string
  operator: string
  command: string
  action: string
  fromVersion: string | null
  toVersion: string | null
  valuesSha256: string | null
  /** ok; failed; interrupted: the operator stopped it (its installer was stopped on the host). */
  result: 'ok' | 'failed' | 'interrupted'
  error?: string
  /** The run that made the change (its run folder's id), when known. */
  run?: string
}

/**
 * What a step on one host may use of the run: that host's log, its progress line, masking, the
 * operator's stop, the step time limit and the lock owner; nothing else of the run.
 */
export interface HostEnv {
  /** Write a line to this host's log (the log masks secrets). */
  log(line: string): void
  /** Show what the host is doing now in the progress view (and log it). */
  step(text: string): void
  /** Show a line of remote output in the progress view (masked here). */
  output(line: string): void
  /** Mask every secret of the run in a text. */
  redact(text: string): string
  /** Aborted on the operator's second Ctrl-C: running installers are stopped. */
  readonly stop: AbortSignal
  /** The longest one remote step may run (--timeout). */
  readonly timeoutSeconds: number
  readonly lockOwner: LockOwner
}
