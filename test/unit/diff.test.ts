// gwfleet diff's pure parts: the plan with legacy hashes, the key-by-key values diff with secrets
// masked on both sides, the host values read-back script and its parse, and the rendering.
import {describe, expect, it} from 'vitest'

import {canonicalValues} from '../../src/inventory/values.js'
import {planDeploy, valuesMatch} from '../../src/plan/plan.js'
import {hostValuesBody, parseHostValues} from '../../src/remote/values-read.js'
import {changeLine, diffText, versionPath} from '../../src/render/diff.js'
import {compareValues, diffResult, diffValues} from '../../src/runner/diff.js'
import {auditVerdict} from '../../src/runner/audit.js'
import type {Gateway, HostFacts, Job} from '../../src/types.js'

const gw: Gateway = {name: 'g1', host: '203.0.113.1', become: false, remoteDir: '/opt/gwfleet', version: '1.5.0', valuesFile: '/v.yaml', labels: {}, source: {file: '/f.yaml', line: 1}}
const facts = (over: Partial<HostFacts> = {}): HostFacts => ({uid: 0, installed: 'yes', version: '1.5.0', versionNote: null, record: null, valuesSha256: null, releaseFiles: new Map(), lock: null, k3sUninstall: null, job: null, unsafe: null, ...over})
const rec = (sha: string, secretKeys?: string[]) => ({gateway: 'g1', version: '1.5.0', valuesSha256: sha, deployedAt: 't', operator: 'o', command: 'deploy', ...(secretKeys ? {secretKeys} : {})})

const SECRET_NOW = 'new-S3cret-value'
const SECRET_OLD = 'old-S3cret-value'
const nowText = `auth:\n  domain: "b.example"\n  clientSecret: "${SECRET_NOW}"\nhelmRepoPassword: "same-Pw"\ngpu:\n  enabled: true\n`
const job = (): Job => {
  const c = canonicalValues(nowText)
  return {gw, values: {file: '/v.yaml', text: c.text, data: c.data, sha256: c.sha256, legacySha256: 'legacy', secretKeys: ['auth.clientSecret', 'helmRepoPassword'], secrets: [SECRET_NOW, 'same-Pw'], ciliumEnabled: true}}
}

describe('plan and audit with canonical and legacy hashes', () => {
  it('plans no reinstall but a values migration where file and record carry the legacy hash', () => {
    const f = facts({valuesSha256: 'old', record: rec('old')})
    const p = planDeploy(gw, f, {sha256: 'new', legacySha256: 'old'}, ['1.5.0'])
    expect(p).toMatchObject({action: 'none', hops: [], migrateValues: true})
    expect(p.reason).toMatch(/old byte hash/)
    expect(valuesMatch(f, {sha256: 'new', legacySha256: 'old'})).toBe('legacy')
  })

  it('reconfigures where only one of file and record carries the legacy hash, or neither hash matches', () => {
    for (const f of [facts({valuesSha256: 'old', record: rec('new')}), facts({valuesSha256: 'new', record: rec('old')}), facts({valuesSha256: 'x', record: rec('x')})]) {
      expect(planDeploy(gw, f, {sha256: 'new', legacySha256: 'old'}, ['1.5.0']).action).toBe('reconfigure')
    }
    expect(planDeploy(gw, facts({valuesSha256: 'old', record: rec('old')}), 'new', ['1.5.0']).action).toBe('reconfigure')
  })

  it('is in sync on the canonical hash, without migration', () => {
    const p = planDeploy(gw, facts({valuesSha256: 'new', record: rec('new')}), {sha256: 'new', legacySha256: 'old'}, ['1.5.0'])
    expect(p).toEqual({action: 'none', fromVersion: '1.5.0', toVersion: '1.5.0', hops: [], reason: 'in sync'})
  })

  it('audits a legacy-hash host as in sync with a note, and a different one as drift', () => {
    const base = {name: 'g1', host: 'h', desiredVersion: '1.5.0'}
    const legacy = auditVerdict(base, facts({valuesSha256: 'old', record: rec('old')}), 'new', 1, 'old')
    expect(legacy.status).toBe('in-sync')
    expect(legacy.valuesInSync).toBe(true)
    expect(legacy.reasons.join()).toMatch(/next deploy rewrites/)
    expect(auditVerdict(base, facts({valuesSha256: 'old', record: rec('old')}), 'new', 1, 'other').status).toBe('drift')
    expect(auditVerdict(base, facts({valuesSha256: 'new', record: rec('new')}), 'new', 1, 'old')).toMatchObject({status: 'in-sync', reasons: []})
  })
})

describe('values diff', () => {
  it('shows plain values, and secrets only as changed or unchanged, on either side', () => {
    const host = {auth: {domain: 'a.example', clientSecret: SECRET_OLD}, helmRepoPassword: 'same-Pw', gone: 1}
    const now = canonicalValues(nowText).data
    const changes = diffValues(host, now, new Set(['auth.clientSecret', 'helmRepoPassword']))
    expect(changes).toEqual([
      {key: 'auth.clientSecret', kind: 'changed', secret: true},
      {key: 'auth.domain', kind: 'changed', secret: false, from: '"a.example"', to: '"b.example"'},
      {key: 'gone', kind: 'removed', secret: false, fromHidden: true},
      {key: 'gpu.enabled', kind: 'added', secret: false, to: 'true'},
      {key: 'helmRepoPassword', kind: 'unchanged', secret: true},
    ])
    const text = JSON.stringify(changes)
    expect(text).not.toContain(SECRET_OLD)
    expect(text).not.toContain(SECRET_NOW)
    expect(text).not.toContain('same-Pw')
    expect(changes.map(changeLine)).toEqual([
      '~ auth.clientSecret: <secret changed>',
      '~ auth.domain: "a.example" -> "b.example"',
      '- gone: <not shown>',
      '+ gpu.enabled: true',
      '= helmRepoPassword: <secret unchanged>',
    ])
  })

  it('masks keys the record says held secrets, and secrets inside plain values', () => {
    const j = job()
    j.values.secretKeys = []
    const host = parseHostValues(`gw.hv=ok\n${Buffer.from(`auth:\n  clientSecret: "${SECRET_OLD}"\n  domain: "x-${SECRET_NOW}"\n`).toString('base64').replace(/^/gm, 'gw.hv_b64=')}\ngw.hv_end=1\n`)
    expect(host.kind).toBe('ok')
    const d = compareValues(j, facts({valuesSha256: 'x', record: rec('x', ['auth.clientSecret'])}), host, (s) => s.split(SECRET_NOW).join('***'))
    const text = JSON.stringify(d)
    expect(text).not.toContain(SECRET_OLD)
    expect(text).not.toContain(SECRET_NOW)
    expect(d.changes.find((c) => c.key === 'auth.clientSecret')).toEqual({key: 'auth.clientSecret', kind: 'changed', secret: true})
    expect(d.changes.find((c) => c.key === 'auth.domain')?.from).toBe('"x-***"')
  })

  it('shows no host value it cannot prove is not a secret: no matching record, an old record, keys only the host has', () => {
    // After a failed install: the host's file holds renamed secret keys no record names (issue 20).
    const hostText = `auth:\n  domain: "a.example"\n  clientSecret: "${SECRET_OLD}"\nhelmRepoPasswordOld: "Old-Helm-Secret-42"\n`
    const host = {kind: 'ok' as const, text: hostText}
    const j = job()
    j.values.secretKeys = []
    const cases = [
      facts({valuesSha256: 'file', record: rec('older', ['auth.clientSecret'])}),
      facts({valuesSha256: 'file', record: null}),
      facts({valuesSha256: 'file', record: rec('file')}),
    ]
    for (const f of cases) {
      const d = compareValues(j, f, host, (s) => s)
      const text = JSON.stringify(d) + diffText([{name: 'g1', host: 'h', status: 'changes', plan: planDeploy(gw, f, j.values, ['1.5.0']), values: d, error: null, durationMs: 0}])
      expect(text).not.toContain('Old-Helm-Secret-42')
      expect(text).not.toContain(SECRET_OLD)
      expect(text).not.toContain('a.example')
      expect(d.changes.find((c) => c.key === 'helmRepoPasswordOld')).toEqual({key: 'helmRepoPasswordOld', kind: 'removed', secret: false, fromHidden: true})
      expect(d.changes.find((c) => c.key === 'auth.domain')).toEqual({key: 'auth.domain', kind: 'changed', secret: false, fromHidden: true, to: '"b.example"'})
      expect(d.note).toMatch(/no record on the host matches its values file/)
    }
    // Under a matching record that names its secret keys, a plain value the inventory also has is shown; one only the host has is not.
    const proven = compareValues(j, facts({valuesSha256: 'file', record: rec('file', ['auth.clientSecret'])}), host, (s) => s)
    expect(proven.changes.find((c) => c.key === 'auth.domain')?.from).toBe('"a.example"')
    expect(proven.changes.find((c) => c.key === 'helmRepoPasswordOld')?.fromHidden).toBe(true)
    expect(changeLine(proven.changes.find((c) => c.key === 'helmRepoPasswordOld')!)).toBe('- helmRepoPasswordOld: <not shown>')
  })

  it('says the host copy is not YAML without quoting it', () => {
    const d = compareValues(job(), facts(), {kind: 'ok', text: `a: "${SECRET_OLD}\nb: [`}, (s) => s)
    expect(d).toEqual({state: 'unknown', note: 'the values file on the host is not valid YAML', changes: []})
  })

  it('is the same data when only the text differs, and lists every key for a first deploy', () => {
    const same = compareValues(job(), facts(), {kind: 'ok', text: `# comment\ngpu: {enabled: true}\nhelmRepoPassword: same-Pw\nauth:\n  clientSecret: ${SECRET_NOW}\n  domain: b.example\n`}, (s) => s)
    expect(same.state).toBe('same')
    expect(same.changes.every((c) => c.kind === 'unchanged' && c.secret)).toBe(true)
    const fresh = compareValues(job(), facts({version: null}), {kind: 'absent'}, (s) => s)
    expect(fresh.state).toBe('new')
    expect(fresh.changes.map((c) => c.kind)).toEqual(['added', 'added', 'added', 'added'])
  })

  it('gives the version path of the plan and the status', () => {
    const j = job()
    const r = diffResult({...j, gw: {...gw, version: '1.6.0'}}, facts({valuesSha256: j.values.sha256, record: rec(j.values.sha256)}), {kind: 'absent'}, ['1.5.0', '1.5.1', '1.6.0'], (s) => s, 0)
    expect(r.status).toBe('changes')
    expect(versionPath(r)).toBe('1.5.0 -> 1.6.0 (upgrade)')
    const none = diffResult(j, facts({valuesSha256: j.values.sha256, record: rec(j.values.sha256)}), {kind: 'ok', text: j.values.text}, ['1.5.0'], (s) => s, 0)
    expect(none.status).toBe('no-changes')
    expect(diffText([none])).toContain('values: same data')
    expect(diffText([none])).toContain('= auth.clientSecret: <secret unchanged>')
  })
})

describe('host values read-back', () => {
  it('reads only a regular root-owned file under a safe remoteDir, bounded, on stdout', () => {
    const s = hostValuesBody('/opt/gw fleet', 'g1', 1000)
    expect(s).toContain("'/opt/gw fleet/values/g1.yaml'")
    expect(s).toContain('gw_safe')
    expect(s).toContain('head -c 1001')
    expect(s).toContain('! -user 0 -o -perm /022')
  })

  it('parses the states and refuses more than the limit', () => {
    expect(parseHostValues('gw.hv=absent\ngw.hv_end=1\n')).toEqual({kind: 'absent'})
    expect(parseHostValues('gw.hv=too-large 99\ngw.hv_end=1\n')).toEqual({kind: 'too-large', size: 99})
    expect(parseHostValues('gw.hv=ok\n')).toEqual({kind: 'unreadable'})
    const big = Buffer.alloc(11, 'a').toString('base64')
    expect(parseHostValues(`gw.hv=ok\ngw.hv_b64=${big}\ngw.hv_end=1\n`, 10)).toEqual({kind: 'too-large', size: 11})
  })
})
