// The audit as Prometheus metrics, in the text exposition format node_exporter's textfile collector
// reads: one file per source, every metric with its HELP and TYPE, gauges only.
import type {AuditResult} from '../runner/audit.js'
import {auditOk, AUDIT_STATUSES} from '../runner/result.js'

// Every audit status is counted, so each count is present (a zero too) and alerts never meet a missing series.
export {AUDIT_STATUSES}

/** A label value as the exposition format wants it: backslash, double quote and line feed escaped. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

function labels(l: Record<string, string>): string {
  return `{${Object.entries(l)
    .map(([k, v]) => `${k}="${escapeLabelValue(v)}"`)
    .join(',')}}`
}

function metric(name: string, help: string, samples: string[]): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...samples]
}

const bool = (b: boolean) => (b ? '1' : '0')

/**
 * The audit results as metrics. Per gateway: info (host, installed and desired version as labels),
 * in sync, reachable (0 only for `unreachable`), and values in sync when it is known (no sample for
 * a gateway gwfleet could not read, or one without a gateway or values file); then the count of
 * gateways per status and when the audit ran. `now`: the audit's time.
 */
export function auditPrometheus(results: AuditResult[], now: Date): string {
  const sorted = [...results].sort((a, b) => a.name.localeCompare(b.name))
  const gw = (r: AuditResult) => labels({gateway: r.name})
  const counts = new Map<string, number>(AUDIT_STATUSES.map((s) => [s, 0]))
  for (const r of results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1)
  const lines = [
    ...metric(
      'gwfleet_gateway_info',
      'A gateway of the inventory: its host, installed version (empty when none or unknown) and desired version.',
      sorted.map((r) => `gwfleet_gateway_info${labels({gateway: r.name, host: r.host, version: r.version ?? '', desired: r.desiredVersion ?? ''})} 1`),
    ),
    ...metric(
      'gwfleet_gateway_in_sync',
      '1 when the gateway runs its desired version with the values the inventory renders now.',
      sorted.map((r) => `gwfleet_gateway_in_sync${gw(r)} ${bool(auditOk(r))}`),
    ),
    ...metric(
      'gwfleet_gateway_reachable',
      '0 when the host could not be reached over SSH (network or sshd), else 1.',
      sorted.map((r) => `gwfleet_gateway_reachable${gw(r)} ${bool(r.status !== 'unreachable')}`),
    ),
    ...metric(
      'gwfleet_gateway_values_in_sync',
      '1 when the values on the host match what the inventory renders now; no sample when that is unknown.',
      sorted.filter((r) => r.valuesInSync !== null).map((r) => `gwfleet_gateway_values_in_sync${gw(r)} ${bool(r.valuesInSync === true)}`),
    ),
    ...metric(
      'gwfleet_gateways',
      'Gateways per audit status.',
      [...counts.entries()].map(([status, n]) => `gwfleet_gateways${labels({status})} ${n}`),
    ),
    ...metric('gwfleet_audit_timestamp_seconds', 'When the audit ran (Unix time).', [`gwfleet_audit_timestamp_seconds ${Math.floor(now.getTime() / 1000)}`]),
  ]
  return `${lines.join('\n')}\n`
}
