// Data shapes shared across the pipeline: inventory -> facts -> plan -> run -> results.

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
  valuesFile: string          // absolute path on the workstation
  labels: Record<string, string>
  /** Where the gateway is declared, for error messages. */
  source: { file: string; line: number }
}

/** The loaded inventory. */
export interface Inventory {
  file: string                // absolute path
  releaseDir: string          // absolute path
  releaseVersion: string
  gateways: Gateway[]         // in file order
  /** Lines of keys later checks may name: `release.dir`, `release.version`, `gateways.<name>.version`, `defaults.version`. */
  lines?: Record<string, number>
}

/** A values file rendered for upload: secrets resolved, never to be printed. */
export interface RenderedValues {
  file: string
  /** The YAML text that goes to the host. Holds secrets. */
  text: string
  sha256: string
  /** Every resolved ${env:}/${file:} value, for redaction. */
  secrets: string[]
  /** cilium.enabled !== false */
  ciliumEnabled: boolean
  datasetsFolder?: string     // dal.sources.files.folder
  dalStoragePath?: string     // dal.persistence.local.hostPath
}

/** A release zip found in release.dir. */
export interface ReleaseRef {
  version: string
  path: string                // absolute path of apheris-gateway-<VERSION>.zip
}

/** One file of a release, read on the workstation. */
export interface ReleaseFile {
  path: string                // relative path inside the release root, '/'-separated
  data: Buffer
  mode: number                // 0o755 for deploy_gateway and other executables, else 0o644
  sha256: string
}

/** A release read from its zip. */
export interface ReleaseContent {
  version: string
  files: ReleaseFile[]        // includes 'deploy_gateway'
}
