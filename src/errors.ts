// Named errors. Only the edge (src/cli.ts) turns them into exit codes and words.

/** Where in an input file a problem is: file, 1-based line (0 when unknown) and dotted key. */
export interface InputLocation {
  file: string
  line?: number
  key?: string
}

/** Bad input (flags, inventory, values, release folder): exit 2, nothing on any host touched. */
export class InputError extends Error {
  readonly location?: InputLocation
  /** The problem without its location. */
  readonly reason: string
  constructor(message: string, location?: InputLocation) {
    super(location ? `${formatLocation(location)}: ${message}` : message)
    this.name = 'InputError'
    this.location = location
    this.reason = message
  }
}

/** "file:line: key" as operators read it in compiler output. */
export function formatLocation(loc: InputLocation): string {
  let s = loc.file
  if (loc.line) s += `:${loc.line}`
  if (loc.key) s += ` (${loc.key})`
  return s
}

/** Why a host could not be reached; each kind is its own remedy for the operator. */
export type UnreachableKind =
  | 'refused'
  | 'timeout'
  | 'auth'
  | 'host-key-unknown'
  | 'host-key-changed'
  | 'dns'
  | 'network'
  | 'jump'

/** The host could not be reached or logged into. */
export class UnreachableError extends Error {
  readonly kind: UnreachableKind
  constructor(kind: UnreachableKind, message: string) {
    super(message)
    this.name = 'UnreachableError'
    this.kind = kind
  }
}

/** A step on a reachable host failed (installer exit code, verification, lock held, timeout ...). */
export class HostStepError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'HostStepError'
  }
}

/**
 * The words for a login user who is not root on a host whose gateway does not say `become: true`:
 * one message, whichever command meets it (the probe, preflight, status, logs, locks, history).
 */
export function notRootMessage(user: string): string {
  return `${user} is not root on this host; set become: true to use sudo`
}

/** The login user is not root on the host and its gateway has no `become: true`. */
export class NotRootError extends HostStepError {
  constructor(readonly user: string) {
    super(notRootMessage(user))
    this.name = 'NotRootError'
  }
}

/** A remote command ran past its time limit (it was stopped). */
export class TimeoutError extends HostStepError {
  constructor(message: string) {
    super(message)
    this.name = 'TimeoutError'
  }
}

/** The host's lock is no longer this run's (cleared, removed or taken over): nothing more starts there. */
export class LockLostError extends HostStepError {
  constructor(readonly why: string) {
    super(`lock lost: ${why}`)
    this.name = 'LockLostError'
  }
}

/** Another run holds the host's lock. */
export class LockHeldError extends HostStepError {
  constructor(
    message: string,
    /** Who holds it, as the operator reads it. */
    readonly holder: string,
  ) {
    super(message)
    this.name = 'LockHeldError'
  }
}

/** Which of the ways an identity file cannot be used; each has its own remedy. */
export type KeyProblem = 'missing' | 'unreadable' | 'wrong-format' | 'passphrase'

/**
 * A problem on the operator's side (an identity file, a sudo password nobody gave): the host is
 * `failed` with this cause, never `unreachable`, which is kept for the network and sshd.
 */
export class LocalError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'LocalError'
  }
}

/** An identity file that cannot be used, and why. */
export class KeyFileError extends LocalError {
  readonly problem: KeyProblem
  readonly file: string
  constructor(problem: KeyProblem, file: string, message: string) {
    super(message)
    this.name = 'KeyFileError'
    this.problem = problem
    this.file = file
  }
}
