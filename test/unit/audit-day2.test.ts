// Audit statuses that tell the truth: a gateway marked state: absent, and the summary that counts
// statuses as well as versions.
import {describe, expect, it} from 'vitest'

import {auditJson, auditSummaryLine} from '../../src/render/output.js'
import {absentVerdict, auditOk, type AuditResult} from '../../src/runner/audit.js'
import type {HostFacts} from '../../src/types.js'

const facts: HostFacts = {uid: 0, installed: 'no', version: null, versionNote: 'no agent deployment', record: null, valuesSha256: null, releaseFiles: new Map(), lock: null, k3sUninstall: null, job: null, unsafe: null}
const base = {name: 'gw', host: 'h', desiredVersion: null}

describe('a gateway marked state: absent', () => {
  it('is absent, and as asked, when nothing runs there', () => {
    const a = absentVerdict(base, facts, 0)
    expect(a).toMatchObject({status: 'absent', desiredVersion: null, valuesInSync: null, error: null})
    expect(auditOk(a)).toBe(true)
  })

  it('is drift while a gateway still runs there, saying deploy removes it', () => {
    const a = absentVerdict(base, {...facts, installed: 'yes', version: '1.5.0'}, 0)
    expect(a.status).toBe('drift')
    expect(a.reasons).toEqual(['marked state: absent, but gateway 1.5.0 runs here; `gwfleet deploy` removes it'])
    expect(auditOk(a)).toBe(false)
  })

  it('is failed when the cluster cannot say', () => {
    expect(absentVerdict(base, {...facts, installed: 'unknown', versionNote: 'kubectl: connection refused'}, 0)).toMatchObject({status: 'failed', error: 'kubectl: connection refused'})
  })
})

describe('the audit summary counts statuses and versions', () => {
  const r = (name: string, status: AuditResult['status'], version: string | null): AuditResult => ({name, host: name, status, version, desiredVersion: '1.5.0', valuesInSync: null, error: null, reasons: [], lastChange: null, durationMs: 0})
  const results = [r('a', 'in-sync', '1.5.0'), r('b', 'in-sync', '1.5.0'), r('c', 'drift', '1.4.0'), r('d', 'invalid', '1.5.0'), r('e', 'unreachable', null), r('f', 'absent', null)]

  it('in the line: statuses that occur, then versions newest first', () => {
    expect(auditSummaryLine(results)).toBe('in-sync: 2   absent: 1   drift: 1   invalid: 1   unreachable: 1   |   versions 1.5.0: 3   1.4.0: 1')
  })

  it('in the JSON: every status (zero too) and every version', () => {
    const doc = auditJson(results, null)
    expect(doc.summary).toEqual({
      statuses: {'in-sync': 2, absent: 1, drift: 1, installing: 0, 'not-installed': 0, invalid: 1, failed: 0, unreachable: 1},
      versions: {'1.5.0': 3, '1.4.0': 1},
    })
    expect(doc.ok).toBe(false)
    expect(auditJson([results[0], results[5]], null).ok).toBe(true)
  })
})
