// A gateway's last change as its history line on the host says: when it did not succeed, audit,
// status and diff say so (which run, how it ended, whether its values were applied) instead of
// calling what it left on the host drift.
import {displayLine} from '../render/sanitize.js'
import type {HostFacts} from '../types.js'

/** A change that did not succeed, as its history line on the host says. */
export interface LastAttempt {
  result: 'failed' | 'interrupted'
  run: string | null
  time: string
  operator: string
  action: string
  toVersion: string | null
  error: string | null
}

/** The gateway's last change when it did not succeed, else null. */
export function lastAttempt(facts: Pick<HostFacts, 'attempt'>): LastAttempt | null {
  const a = facts.attempt
  if (!a || a.result === 'ok') return null
  // Host text: made inert before it is shown or handed on.
  const t = (v: unknown) => (typeof v === 'string' ? displayLine(v) : null)
  return {result: a.result, run: t(a.run), time: t(a.time) ?? '', operator: t(a.operator) ?? '', action: t(a.action) ?? 'change', toVersion: t(a.toVersion), error: t(a.error)}
}

/** The host's values file is not the one its record says was applied (a change put it there, then failed). */
export function valuesNotApplied(facts: Pick<HostFacts, 'valuesSha256' | 'record'>): boolean {
  return facts.valuesSha256 !== null && facts.valuesSha256 !== (facts.record?.valuesSha256 ?? null)
}

/** "the failed upgrade to 1.6.0 of run 20261207-101500-ab12" */
export function attemptName(a: LastAttempt): string {
  const what = a.toVersion ? `${a.action} to ${a.toVersion}` : a.action
  return `the ${a.result} ${what} of ${a.run ? `run ${a.run}` : `${a.time}`}`
}

/** Pure: `last change failed (run ID): values not applied`, and where the gateway stands. */
export function attemptWords(a: LastAttempt, facts: Pick<HostFacts, 'valuesSha256' | 'record' | 'version'>): string {
  const parts: string[] = []
  if (valuesNotApplied(facts)) parts.push('values not applied')
  if (a.toVersion && facts.version !== a.toVersion) parts.push(`${a.action} to ${a.toVersion} not done, the gateway runs ${facts.version ?? 'no version'}`)
  if (!parts.length) parts.push(`${a.action}${a.toVersion ? ` to ${a.toVersion}` : ''} did not finish`)
  const who = a.run ? `run ${a.run}` : a.time
  return `last change ${a.result} (${who}): ${parts.join('; ')}${a.error ? ` (${a.error})` : ''}`
}
