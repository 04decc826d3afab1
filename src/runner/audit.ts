// The fleet audit: every selected gateway read on the same host loop as the other read-only
// commands (eachHost), then compared with the inventory. Changes nothing on any host.
import {valuesMatch} from '../plan/plan.js'
import {notInstalled} from '../remote/cluster.js'
import {describeJob} from '../remote/job-scripts.js'
import {probe} from '../steps/lock.js'
import type {Gateway, HostFacts, Job} from '../types.js'
import {attemptName, attemptWords, lastAttempt, valuesNotApplied, type LastAttempt} from './attempt.js'
import type {RunContext} from './context.js'
import {auditOk, type AuditStatus} from './result.js'

export {auditOk, AUDIT_STATUSES, type AuditStatus} from './result.js'
import {eachHost, type HostOutcome} from './ops.js'

/** A selected gateway whose own input cannot be rendered: audited as invalid, its host still read. */
export interface InvalidInput {
  gw: Gateway
  error: Error
}

/** The status of one gateway in the fleet audit. */
export interface AuditResult {
  name: string
  host: string
  /**
   * unreachable: the network or sshd; failed: a key, sudo or host problem, or a cluster that cannot
   * tell; invalid: the gateway's own input (its values) cannot be rendered; absent: marked
   * `state: absent` and nothing runs there.
   */
  status: AuditStatus
  version: string | null
  /** null for a gateway marked state: absent. */
  desiredVersion: string | null
  valuesInSync: boolean | null
  error: string | null
  /** Why the gateway is not in sync (version drift, values drift, ...). */
  reasons: string[]
  lastChange: {time: string; operator: string; version: string} | null
  /** The gateway's last change when it did not succeed (failed, or stopped by the operator): what was tried, by which run. */
  lastAttempt?: LastAttempt | null
  durationMs: number
}


/** Read every selected gateway in parallel and compare it with the inventory. Changes nothing. */
export async function runAudit(ctx: RunContext, jobs: Job[], invalid: InvalidInput[] = []): Promise<AuditResult[]> {
  const byName = new Map<string, Job | InvalidInput>([...jobs, ...invalid].map((j) => [j.gw.name, j]))
  const resultOf = (o: HostOutcome<HostFacts>): AuditResult => {
    const j = byName.get(o.name)!
    return 'values' in j ? auditOne(o, j) : invalidOne(o, j)
  }
  // Inventory order, whichever gateways could be rendered.
  const order = new Map(ctx.inventory.gateways.map((g, i) => [g.name, i]))
  const gateways = [...byName.values()].map((j) => j.gw).sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0))
  const outcomes = await eachHost(
    ctx,
    gateways,
    'audit',
    async (s) => (await probe(s)).facts,
    undefined,
    (o) => {
      const r = resultOf(o)
      return {label: `${r.status}${r.reasons.length ? ` - ${r.reasons.join('; ')}` : ''}`, ok: auditOk(r)}
    },
  )
  return outcomes.map(resultOf)
}

/** A gateway whose values cannot be rendered: invalid, with what the host says beside it; its values verdict unknown. */
function invalidOne(o: HostOutcome<HostFacts>, bad: InvalidInput): AuditResult {
  const facts = o.value
  const lastChange = facts?.record ? {time: facts.record.deployedAt, operator: facts.record.operator, version: facts.record.version} : null
  const host = facts ? [] : [`host not read: ${o.error ?? 'no answer'}`]
  return {
    name: o.name,
    host: o.host,
    status: 'invalid',
    version: facts?.version ?? null,
    desiredVersion: bad.gw.state === 'absent' ? null : bad.gw.version,
    valuesInSync: null,
    error: bad.error.message,
    reasons: [bad.error.message, ...host],
    lastChange,
    durationMs: o.durationMs,
  }
}

/** A host's outcome as an audit result: its facts judged, or why it could not be read. */
function auditOne(o: HostOutcome<HostFacts>, job: Job): AuditResult {
  const absent = job.gw.state === 'absent'
  const base = {name: o.name, host: o.host, desiredVersion: absent ? null : job.gw.version}
  if (o.value && absent) return absentVerdict({...base, desiredVersion: null}, o.value, o.durationMs)
  if (o.value) return auditVerdict({...base, desiredVersion: job.gw.version}, o.value, job.values.sha256, o.durationMs, job.values.legacySha256)
  const error = o.error ?? 'no answer'
  // unreachable is for the network and sshd; a key or sudo problem is failed with its cause.
  return {...base, status: o.unreachable ? 'unreachable' : 'failed', version: null, valuesInSync: null, error, reasons: [error], lastChange: null, durationMs: o.durationMs}
}

/** Pure: a gateway marked state: absent is in the asked state when no gateway runs there. */
export function absentVerdict(base: {name: string; host: string; desiredVersion: null}, facts: HostFacts, durationMs: number): AuditResult {
  const lastChange = facts.record ? {time: facts.record.deployedAt, operator: facts.record.operator, version: facts.record.version} : null
  const common = {...base, version: facts.version, valuesInSync: null, lastChange, durationMs}
  if (facts.job?.state === 'running') return {...common, status: 'installing', error: null, reasons: [`${describeJob(facts.job.meta)}: running for ${facts.job.ageSeconds}s`]}
  if (facts.installed === 'no') return {...common, status: 'absent', error: null, reasons: ['marked state: absent; no gateway runs here']}
  if (facts.installed === 'unknown') {
    const error = facts.versionNote ?? 'cannot tell whether a gateway is installed'
    return {...common, status: 'failed', error, reasons: [error]}
  }
  const why = `marked state: absent, but gateway ${facts.version ?? '(unknown version)'} runs here; \`gwfleet deploy\` removes it`
  return {...common, status: 'drift', error: null, reasons: [why]}
}

/** Pure: an audit status from a host's facts. Installed or not is the probe's `installed`, the verdict status and logs share. */
export function auditVerdict(
  base: {name: string; host: string; desiredVersion: string},
  facts: HostFacts,
  renderedSha: string,
  durationMs: number,
  legacySha?: string,
): AuditResult {
  const lastChange = facts.record ? {time: facts.record.deployedAt, operator: facts.record.operator, version: facts.record.version} : null
  const job = facts.job
  if (job?.state === 'running') {
    // A live install (or uninstall): what the cluster says now is on its way to change.
    const what = `${describeJob(job.meta)}: running for ${job.ageSeconds}s, pid ${job.pid ?? '?'}, ${job.logBytes} bytes of output so far`
    return {...base, status: 'installing', version: facts.version, valuesInSync: null, error: null, reasons: [what], lastChange, durationMs}
  }
  // Ended while nobody watched: not recorded yet, whatever the cluster says.
  const unjudged = job ? [`${describeJob(job.meta)} ended while nobody watched (${job.state === 'lost' ? 'without an exit status' : `exit code ${job.rc}`}); \`gwfleet deploy\` judges and records it`] : []
  if (facts.installed !== 'yes' || facts.version === null) {
    const error = facts.installed === 'unknown' ? (facts.versionNote ?? 'cannot tell whether a gateway is installed') : notInstalled(facts.versionNote)
    return {...base, status: facts.installed === 'unknown' ? 'failed' : 'not-installed', version: null, valuesInSync: null, error, reasons: [error, ...unjudged], lastChange, durationMs}
  }
  const reasons: string[] = [...unjudged]
  if (facts.version !== base.desiredVersion) reasons.push(`version ${facts.version}, inventory wants ${base.desiredVersion}`)
  const attempt = lastAttempt(facts)
  let valuesInSync: boolean | null
  let note: string | undefined
  if (facts.valuesSha256 === null) {
    valuesInSync = null
    reasons.push('no values file from gwfleet on the host')
  } else if (attempt && valuesNotApplied(facts)) {
    // The file holds what the failed change put there; the gateway runs the values of its record.
    valuesInSync = facts.record ? valuesMatch({...facts, valuesSha256: facts.record.valuesSha256}, {sha256: renderedSha, legacySha256: legacySha}) !== 'differ' : false
    reasons.push(`values on the host are those of ${attemptName(attempt)}, never applied${valuesInSync ? '; the applied ones match the inventory' : ''}`)
  } else {
    // Same values recorded by an earlier gwfleet under their old byte hash: in sync, with a note.
    const match = valuesMatch(facts, {sha256: renderedSha, legacySha256: legacySha})
    valuesInSync = match !== 'differ'
    if (!valuesInSync) reasons.push('values on the host differ from the inventory')
    if (match === 'legacy') note = 'values recorded with the old byte hash; the next deploy rewrites them in canonical form (no reinstall)'
  }
  // Not where the inventory wants it, and its last change did not succeed: that change is the news (drift, said first).
  if (reasons.length && attempt) {
    const error = attemptWords(attempt, facts)
    return {...base, status: 'drift', version: facts.version, valuesInSync, error, reasons: [error, ...reasons], lastChange, lastAttempt: attempt, durationMs}
  }
  const status = reasons.length ? 'drift' : 'in-sync'
  return {...base, status, version: facts.version, valuesInSync, error: null, reasons: status === 'in-sync' && note ? [note] : reasons, lastChange, durationMs}
}
