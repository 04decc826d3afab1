// How a host's result reads, shared by the tables and the progress views (which must not import
// the tables: they sit below the runner's context).
import type {HostResult} from '../runner/result.js'

/**
 * How a result reads: its status, except that in a dry run a gateway that would change reads as
 * the plan (`would install`, `would upgrade` ...) rather than `ok`.
 */
export function statusWord(r: HostResult, dryRun = false): string {
  if (!dryRun || r.status !== 'ok') return r.status
  // Same values in the old byte form: rewritten, no installer run.
  if (r.action === 'none') return r.plan?.migrateValues ? 'would migrate values' : r.status
  return `would ${r.action}`
}
