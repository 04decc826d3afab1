// What the SSH layer's parts share: where and how to log in to a host, and the knobs of a run's connections.
import type {HandshakeGate} from './pacing.js'

/** Where and how to log in: everything already resolved from inventory and ~/.ssh/config. */
export interface ConnectTarget {
  host: string          // the name or address to connect to (HostName already applied)
  port: number
  user: string
  identityFiles: string[]
  knownHostsFiles: string[]
  /** Where a newly accepted key of this host is recorded: a file this host's checks read. */
  recordKnownHostsFile: string
  jump: ConnectTarget[] // hops in order, empty for a direct connection
}

/** Knobs shared by every connection of a run. */
export interface ConnectOptions {
  acceptNewHostKeys: boolean
  connectTimeoutMs: number
  keepaliveIntervalMs: number
  /** Attempts when sshd drops the connection before the handshake (MaxStartups). */
  retries: number
  /** Bounds the handshakes in flight for the whole run (one gate per run; a default one otherwise). */
  handshakes?: HandshakeGate
  agentSocket?: string
  /**
   * Asks the operator for a key file's passphrase until `unlocks` accepts it; undefined when
   * nobody can be asked (no terminal).
   */
  askPassphrase?: (file: string, unlocks: (passphrase: string) => boolean) => Promise<string | undefined>
  /** Told of each host key --accept-new-host-keys wrote to a known_hosts file (for the operator and the run log). */
  onHostKeyRecorded?: (recorded: RecordedHostKey) => void
}

/** A host key written to known_hosts: the name it was recorded under, its type and fingerprint, and the file. */
export interface RecordedHostKey {
  host: string
  keyType: string
  fingerprint: string
  file: string
}
