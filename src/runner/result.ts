// Results per host, the shape SPEC section 4's JSON is built from.
import type {Action, HostPlan} from '../plan/plan.js'

/** Final status of a host in a changing command (interrupted: the operator stopped it part-way; toVersion is where it stands). */
export type HostStatus = 'ok' | 'unchanged' | 'failed' | 'unreachable' | 'refused' | 'skipped' | 'interrupted'

/** What happened on one gateway. */
export interface HostResult {
  name: string
  host: string
  status: HostStatus
  action: Action
  fromVersion: string | null
  toVersion: string | null
  hops: string[]
  error: string | null
  durationMs: number
  /** Versions actually reached, in order (an upgrade that failed mid-way stops at the last good one). */
  reached?: string[]
  /** The plan, for --dry-run output. */
  plan?: HostPlan
  /** Batch number (1-based) in a rollout. */
  batch?: number
  /** Notes for the operator (lock taken over, uploads skipped ...). */
  notes?: string[]
}

/** A gateway's status that means its command did what was asked, in any command's results. */
const ENDED_WELL: ReadonlySet<string> = new Set(['ok', 'unchanged', 'in-sync', 'absent', 'pass', 'warn', 'no-changes', 'changes'])

/** True when a status, from any command's results, means the gateway ended as asked (`@failed` selects the others). */
export function endedWell(status: string): boolean {
  return ENDED_WELL.has(status)
}

/** True when the status counts as "ended as asked" for the exit code. */
export function isSuccess(status: HostStatus): boolean {
  return endedWell(status)
}

/** Every audit status, in the order problems come first. */
export const AUDIT_STATUSES = ['failed', 'unreachable', 'invalid', 'drift', 'installing', 'not-installed', 'in-sync', 'absent'] as const

/** A gateway's audit status. */
export type AuditStatus = (typeof AUDIT_STATUSES)[number]

/** In the state the inventory asks for: in sync, or absent where it should be. */
export function auditOk(r: {status: string}): boolean {
  return r.status === 'in-sync' || r.status === 'absent'
}

