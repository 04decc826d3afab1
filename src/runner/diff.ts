// gwfleet diff: per gateway, what a deploy would do (the version path) and how the values the host
// was deployed with differ, key by key, from what the inventory renders now. Read-only. The host's
// values file holds secrets: it is parsed here and only the masked diff leaves this module; secret
// keys show `<secret changed>` / `<secret unchanged>`, never a value, on either side.
import {createHash} from 'node:crypto'

import {canonicalValues, keyPath} from '../inventory/values.js'
import {planDeploy, type HostPlan} from '../plan/plan.js'
import {hostValuesBody, parseHostValues, type HostValues} from '../remote/values-read.js'
import {probe} from '../steps/lock.js'
import type {HostFacts, Job, ReleaseRef} from '../types.js'
import {attemptName, lastAttempt, valuesNotApplied} from './attempt.js'
import type {RunContext} from './context.js'
import {eachHost} from './ops.js'

/** One key of the values that differs (or, for a secret, that was compared). */
export interface ValueChange {
  key: string
  kind: 'added' | 'removed' | 'changed' | 'unchanged'
  /** A secret: no value is given, only whether it changed. */
  secret: boolean
  /** The value on the host, as YAML-like text (absent for secrets, added keys and withheld ones). */
  from?: string
  /**
   * The host's value is withheld though the key is not known as a secret: gwfleet cannot prove it is
   * not one (a key only the host has, or a host file no matching record describes).
   */
  fromHidden?: true
  /** The value the inventory renders now (absent for secrets and removed keys). */
  to?: string
}

/** The values of one gateway compared. */
export interface ValuesDiff {
  /** same: equal data; changed: see changes; new: nothing deployed yet; unknown: the host's copy could not be compared (see note). */
  state: 'same' | 'changed' | 'new' | 'unknown'
  note: string | null
  changes: ValueChange[]
}

/** What a deploy would do to one gateway. */
export interface DiffResult {
  name: string
  host: string
  /** changes: a deploy would change the gateway; refused: it would refuse; unreachable/failed: not read. */
  status: 'no-changes' | 'changes' | 'refused' | 'unreachable' | 'failed'
  plan: HostPlan | null
  values: ValuesDiff | null
  error: string | null
  durationMs: number
}

/** The longest value shown; longer ones are cut (the diff is for reading, not for copying back). */
const SHOWN = 200

/** A leaf of the values as text: strings JSON-quoted, numbers and booleans as YAML writes them. */
function leafText(v: unknown): string {
  if (typeof v === 'bigint') return String(v)
  if (Buffer.isBuffer(v)) return `!!binary ${v.toString('base64')}`
  if (v === undefined) return 'null'
  return JSON.stringify(v)
}

/** Every leaf of the data by key path: scalars, and empty mappings and lists as they are. */
export function flatten(data: unknown, at: (string | number)[] = [], out = new Map<string, unknown>()): Map<string, unknown> {
  if (Array.isArray(data) && data.length) data.forEach((v, i) => flatten(v, [...at, i], out))
  else if (data !== null && typeof data === 'object' && !Buffer.isBuffer(data) && !Array.isArray(data) && Object.keys(data).length)
    for (const [k, v] of Object.entries(data)) flatten(v, [...at, k], out)
  // An empty document has no keys (its root is not a key to show).
  else if (at.length) out.set(keyPath(at), data)
  return out
}

/** True when a key path is a secret key or lies under one. */
function isSecretKey(key: string, secretKeys: ReadonlySet<string>): boolean {
  if (secretKeys.has(key)) return true
  for (const k of secretKeys) if (key.startsWith(`${k}.`) || key.startsWith(`${k}[`)) return true
  return false
}

/**
 * Pure: the key-by-key diff of the host's values data against the rendered data. Secret keys give
 * no value on either side and are listed even when unchanged; `mask` hides any secret a plain value
 * happens to contain. A host value is shown only where gwfleet can prove it is not a secret: the key
 * is in the rendered values too (so the inventory says what it is), and `hostProven` (a record
 * matching the host's file names that file's secret keys). Sorted by key.
 */
export function diffValues(host: unknown, now: unknown, secretKeys: ReadonlySet<string>, mask: (s: string) => string = (s) => s, hostProven = true): ValueChange[] {
  const a = flatten(host)
  const b = flatten(now)
  const show = (v: unknown) => {
    const t = mask(leafText(v))
    return [...t].length > SHOWN ? `${[...t].slice(0, SHOWN - 1).join('')}…` : t
  }
  const out: ValueChange[] = []
  for (const key of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const secret = isSecretKey(key, secretKeys)
    const inA = a.has(key)
    const inB = b.has(key)
    const kind = !inA ? 'added' : !inB ? 'removed' : leafText(a.get(key)) === leafText(b.get(key)) ? 'unchanged' : 'changed'
    if (kind === 'unchanged' && !secret) continue
    const c: ValueChange = {key, kind, secret}
    if (!secret) {
      // A key only the host has may be a secret renamed since (its record is not proof: it may not
      // describe this file); the host side of any key is shown only under a matching record.
      if (inA && inB && hostProven) c.from = show(a.get(key))
      else if (inA) c.fromHidden = true
      if (inB) c.to = show(b.get(key))
    }
    out.push(c)
  }
  return out
}

/** Pure: compare what the host said of its values file with the rendered values. */
export function compareValues(job: Job, facts: HostFacts, host: HostValues, mask: (s: string) => string): ValuesDiff {
  // Keys that held secrets when the host was deployed stay masked even if they hold plain values now.
  const secretKeys = new Set([...job.values.secretKeys, ...(facts.record?.secretKeys ?? [])])
  // The record names the secret keys of the values it was written with. It speaks for the file on
  // the host only when their hashes match: after a failed install the file is newer than the record
  // (it is put in place before the installer runs; the record after success), and its secret keys
  // may be others. A record without secret keys (an older gwfleet's) proves nothing either.
  const rec = facts.record
  const now = canonicalValues(job.values.text)
  const unknown = (note: string): ValuesDiff => ({state: 'unknown', note, changes: []})
  // After a change that failed, the values file holds what it put there, never applied: the
  // difference that matters is against the values last applied (kept beside the record).
  const attempt = lastAttempt(facts)
  const failed = attempt && valuesNotApplied(facts) ? attemptName(attempt) : null
  const fromApplied = host.kind === 'ok' && host.from === 'applied'
  // The probe hashed the values file in the same round trip; the applied copy is hashed here.
  const hostSha = fromApplied ? createHash('sha256').update(host.text).digest('hex') : facts.valuesSha256
  const hostProven = Boolean(rec && hostSha !== null && rec.valuesSha256 === hostSha && Array.isArray(rec.secretKeys))
  if (failed && !fromApplied) {
    // Nothing was ever applied: the whole of the inventory's values is new.
    if (!rec) return {state: 'new', note: `nothing applied yet: the values file on the host is that of ${failed}`, changes: diffValues({}, now.data, secretKeys, mask)}
    return unknown(`the values file on the host is that of ${failed}; the values last applied are not kept on this host (recorded by an earlier gwfleet)`)
  }
  switch (host.kind) {
    case 'absent': {
      const changes = diffValues({}, now.data, secretKeys, mask)
      return {state: 'new', note: 'no values file from gwfleet on the host', changes}
    }
    case 'too-large':
      return unknown(`the values file on the host is ${host.size} bytes, more than gwfleet reads back; compared by hash only`)
    case 'unsafe':
      return unknown('remoteDir is not safe for root to use: the values file was not read')
    case 'not-a-file':
      return unknown('the values path on the host is not a regular file')
    case 'not-root-owned':
      return unknown('the values file on the host is not root-owned or is writable by others: not trusted, not read')
    case 'unreadable':
      return unknown('the values file on the host could not be read')
    case 'ok': {
      let parsed
      try {
        parsed = canonicalValues(host.text)
      } catch {
        // The parser's message could quote the text: only say that it failed.
        return unknown('the values file on the host is not valid YAML')
      }
      const changes = diffValues(parsed.data, now.data, secretKeys, mask, hostProven)
      const changed = changes.some((c) => c.kind !== 'unchanged')
      const withheld = changes.some((c) => c.fromHidden)
      const notes = [
        ...(failed ? [`compared with the values last applied (${rec?.version ?? '?'}); the values file on the host is that of ${failed}`] : []),
        ...(!withheld ? [] : hostProven ? ['values of keys only the host has are not shown'] : ["no record on the host matches its values file: the host's values are not shown"]),
      ]
      return {state: changed ? 'changed' : 'same', note: notes.length ? notes.join('; ') : null, changes}
    }
  }
}

/** Pure: one gateway's result from its facts and values. */
export function diffResult(job: Job, facts: HostFacts, host: HostValues, available: string[], mask: (s: string) => string, durationMs: number): DiffResult {
  const plan = planDeploy(job.gw, facts, job.values, available)
  const values = compareValues(job, facts, host, mask)
  const status = plan.refused ? 'refused' : plan.action !== 'none' ? 'changes' : 'no-changes'
  return {name: job.gw.name, host: job.gw.host, status, plan, values, error: plan.refused ? mask(plan.refused) : null, durationMs}
}

/** Read every selected gateway (probe and values file in one round trip) and diff it. Changes nothing. */
export async function runDiff(ctx: RunContext, jobs: Job[], releases: ReleaseRef[]): Promise<DiffResult[]> {
  const available = releases.map((r) => r.version)
  const byName = new Map(jobs.map((j) => [j.gw.name, j]))
  const mask = (s: string) => ctx.redactor.redact(s)
  const outcomes = await eachHost(
    ctx,
    jobs.map((j) => j.gw),
    'diff',
    async (s, gw) => {
      const {facts, stdout} = await probe(s, hostValuesBody(gw.remoteDir, gw.name))
      return diffResult(byName.get(gw.name)!, facts, parseHostValues(stdout), available, mask, 0)
    },
    (r) => r.error,
  )
  return outcomes.map((o) => {
    if (!o.value) return {name: o.name, host: o.host, status: o.unreachable ? 'unreachable' : 'failed', plan: null, values: null, error: o.error, durationMs: o.durationMs}
    const r = o.value
    const counts = r.values ? `; values ${r.values.state}, ${r.values.changes.filter((c) => c.kind !== 'unchanged').length} key(s) differ` : ''
    ctx.log.write(o.name, `diff: ${r.status}${r.plan ? ` (${r.plan.action})` : ''}${counts}`)
    return {...r, durationMs: o.durationMs}
  })
}
