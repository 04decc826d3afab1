// The fleet audit: every selected gateway read in parallel and compared with the inventory.
import pLimit from 'p-limit'

import {UnreachableError} from '../errors.js'
import type {Session} from '../host/session.js'
import {probe} from '../steps/lock.js'
import type {HostFacts, Job} from '../types.js'
import type {RunContext} from './context.js'
import {valuesMatch} from '../plan/plan.js'

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

/** The status of one gateway in the fleet audit. */
export interface AuditResult {
  name: string
  host: string
  status: 'in-sync' | 'drift' | 'not-installed' | 'unreachable' | 'failed'
  version: string | null
  desiredVersion: string
  valuesInSync: boolean | null
  error: string | null
  /** Why the gateway is not in sync (version drift, values drift, ...). */
  reasons: string[]
  lastChange: {time: string; operator: string; version: string} | null
  durationMs: number
}

/** Read every selected gateway in parallel and compare it with the inventory. Changes nothing. */
export async function runAudit(ctx: RunContext, jobs: Job[]): Promise<AuditResult[]> {
  const limit = pLimit(Math.max(1, ctx.options.concurrency))
  ctx.reporter.begin(jobs.map((j) => ({name: j.gw.name, host: j.gw.host})), 'audit')
  try {
    return await Promise.all(jobs.map((job) => limit(() => auditOne(ctx, job))))
  } finally {
    await ctx.reporter.end()
  }
}

async function auditOne(ctx: RunContext, job: Job): Promise<AuditResult> {
  const t0 = Date.now()
  const gw = job.gw
  const base = {name: gw.name, host: gw.host, desiredVersion: gw.version}
  let s: Session | undefined
  let out: AuditResult
  try {
    ctx.step(gw.name, 'connecting')
    s = await ctx.openSession(gw)
    ctx.step(gw.name, 'reading the host')
    const {facts} = await probe(s)
    out = auditVerdict(base, facts, job.values.sha256, Date.now() - t0, job.values.legacySha256)
  } catch (e) {
    const error = ctx.redactor.redact(message(e))
    // unreachable is for the network and sshd; a key or sudo problem is failed with its cause.
    out = {...base, status: e instanceof UnreachableError ? 'unreachable' : 'failed', version: null, valuesInSync: null, error, reasons: [error], lastChange: null, durationMs: Date.now() - t0}
  } finally {
    s?.close()
  }
  ctx.log.write(gw.name, `audit: ${out.status}${out.reasons.length ? ` (${out.reasons.join('; ')})` : ''}`)
  ctx.reporter.verdict(gw.name, `${out.status}${out.reasons.length ? ` - ${out.reasons.join('; ')}` : ''}`, out.status === 'in-sync')
  return out
}

/** Pure: an audit status from a host's facts. */
export function auditVerdict(
  base: {name: string; host: string; desiredVersion: string},
  facts: HostFacts,
  renderedSha: string,
  durationMs: number,
  legacySha?: string,
): AuditResult {
  const lastChange = facts.record ? {time: facts.record.deployedAt, operator: facts.record.operator, version: facts.record.version} : null
  if (facts.version === null) {
    return {...base, status: 'not-installed', version: null, valuesInSync: null, error: facts.versionNote, reasons: [facts.versionNote ?? 'no gateway installed'], lastChange, durationMs}
  }
  const reasons: string[] = []
  if (facts.version !== base.desiredVersion) reasons.push(`version ${facts.version}, inventory wants ${base.desiredVersion}`)
  let valuesInSync: boolean | null
  let note: string | undefined
  if (facts.valuesSha256 === null) {
    valuesInSync = null
    reasons.push('no values file from gwfleet on the host')
  } else {
    // Same values recorded by an earlier gwfleet under their old byte hash: in sync, with a note.
    const match = valuesMatch(facts, {sha256: renderedSha, legacySha256: legacySha})
    valuesInSync = match !== 'differ'
    if (!valuesInSync) reasons.push('values on the host differ from the inventory')
    if (match === 'legacy') note = 'values recorded with the old byte hash; the next deploy rewrites them in canonical form (no reinstall)'
  }
  const status = reasons.length ? 'drift' : 'in-sync'
  return {...base, status, version: facts.version, valuesInSync, error: null, reasons: status === 'in-sync' && note ? [note] : reasons, lastChange, durationMs}
}
