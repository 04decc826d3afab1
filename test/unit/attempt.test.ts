// States that tell the truth after a change that did not succeed: the host keeps the gateway's last
// change (its history line, run id included) and a copy of the values as last applied, beside the
// record. The scripts run for real with sh in a temporary remoteDir; audit, status and diff then
// read them as the commands do.
import {createHash} from 'node:crypto'
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {canonicalValues} from '../../src/inventory/values.js'
import {planDeploy} from '../../src/plan/plan.js'
import {statusScript} from '../../src/remote/ops-scripts.js'
import {forgetScript, parseAttempt, parseProbe, probeScript, recordScript} from '../../src/remote/scripts.js'
import {hostValuesBody, parseHostValues} from '../../src/remote/values-read.js'
import {attemptWords, lastAttempt} from '../../src/runner/attempt.js'
import {auditVerdict} from '../../src/runner/audit.js'
import {compareValues} from '../../src/runner/diff.js'
import {parseStatus} from '../../src/runner/ops.js'
import {layout} from '../../src/remote/layout.js'
import type {DeployRecord, Gateway, HistoryEntry, HostFacts, Job} from '../../src/types.js'

let base: string
let remoteDir: string

beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-attempt-'))
  fs.chmodSync(base, 0o755)
  remoteDir = path.join(base, 'gw dir')
  fs.mkdirSync(path.join(remoteDir, 'state'), {recursive: true, mode: 0o700})
  fs.mkdirSync(path.join(remoteDir, 'values'), {recursive: true, mode: 0o700})
})
afterEach(() => fs.rmSync(base, {recursive: true, force: true}))

/** Run a script with sh, on a host whose cluster runs agent 1.5.0 (a kubectl stand-in, as a shell function). */
function sh(script: string): string {
  const kubeconfig = path.join(base, 'k3s.yaml')
  fs.writeFileSync(kubeconfig, 'apiVersion: v1\n')
  const kubectl = [
    'kubectl() {',
    '  case " $* " in',
    `    *" get deploy "*) printf 'quay.io/apheris/gateway-agent:1.5.0\\n'; return 0 ;;`,
    `    *" get pod "*) printf '{"items":[]}\\n'; return 0 ;;`,
    '  esac',
    '  return 1',
    '}',
  ].join('\n')
  const r = spawnSync('sh', ['-c', `${kubectl}\n${script}`], {encoding: 'utf8', timeout: 60_000, env: {...process.env, KUBECONFIG: kubeconfig}})
  return r.stdout
}

const L = () => layout(remoteDir, 'gw')
const sha = (text: string) => createHash('sha256').update(text).digest('hex')
const gw: Gateway = {name: 'gw', host: '203.0.113.1', become: false, remoteDir: '/opt/gwfleet', version: '1.5.0', valuesFile: '/v.yaml', labels: {}, source: {file: '/f.yaml', line: 1}}
const valuesOf = (text: string) => canonicalValues(text)
const job = (text: string): Job => {
  const c = valuesOf(text)
  return {gw, values: {file: '/v.yaml', text: c.text, data: c.data, sha256: c.sha256, legacySha256: 'legacy', secretKeys: ['auth.clientSecret'], secrets: ['Client-S3cret'], ciliumEnabled: true}}
}
const OLD = valuesOf('auth:\n  domain: "old.example"\n  clientSecret: "Client-S3cret"\ngpu:\n  enabled: false\n').text
const NEW = valuesOf('auth:\n  domain: "new.example"\n  clientSecret: "Client-S3cret"\ngpu:\n  enabled: true\n').text
const record = (text: string, version = '1.5.0'): DeployRecord => ({gateway: 'gw', version, valuesSha256: sha(text), secretKeys: ['auth.clientSecret'], deployedAt: '2026-12-07T09:00:00Z', operator: 'ana@ws', command: 'deploy'})
const line = (over: Partial<HistoryEntry>): HistoryEntry => ({time: '2026-12-07T10:00:00Z', gateway: 'gw', operator: 'ana@ws', command: 'deploy', action: 'reconfigure', fromVersion: '1.5.0', toVersion: '1.5.0', valuesSha256: null, result: 'ok', ...over})
const probe = (): HostFacts => parseProbe(sh(probeScript({remoteDir, gateway: 'gw', releaseVersions: []})), L())

/** A deploy that applied OLD, then a change that put NEW in place and failed. */
function appliedThenFailed(): void {
  fs.writeFileSync(L().values, OLD, {mode: 0o600})
  sh(recordScript({remoteDir, gateway: 'gw', record: record(OLD), history: [line({run: 'run-1', valuesSha256: sha(OLD)})]}))
  fs.writeFileSync(L().values, NEW, {mode: 0o600})
  sh(recordScript({remoteDir, gateway: 'gw', record: null, history: [line({run: 'run-2', valuesSha256: sha(NEW), result: 'failed', error: 'installer exited with code 1'})]}))
}

describe('the last change, kept on the host', () => {
  it('a recorded change keeps the values as applied (0600) and its history line as the last change', () => {
    fs.writeFileSync(L().values, OLD, {mode: 0o600})
    sh(recordScript({remoteDir, gateway: 'gw', record: record(OLD), history: [line({run: 'run-1'}), line({gateway: 'other', run: 'run-1'})]}))
    expect(fs.readFileSync(L().applied, 'utf8')).toBe(OLD)
    expect(fs.statSync(L().applied).mode & 0o777).toBe(0o600)
    // Only this gateway's own line is its last change.
    expect(probe().attempt).toMatchObject({gateway: 'gw', run: 'run-1', result: 'ok'})
    expect(lastAttempt(probe())).toBeNull()
    // An uninstall forgets the applied copy with the record.
    sh(forgetScript(remoteDir, 'gw'))
    expect(fs.existsSync(L().applied)).toBe(false)
  })

  it("after a failed change, audit's drift says first which run failed and that its values were never applied", () => {
    appliedThenFailed()
    const facts = probe()
    expect(facts.attempt).toMatchObject({run: 'run-2', result: 'failed'})
    expect(facts.valuesSha256).toBe(sha(NEW))
    // The inventory wants NEW: the gateway runs OLD's values, so it is not in sync.
    const a = auditVerdict({name: 'gw', host: 'h', desiredVersion: '1.5.0'}, facts, job(NEW).values.sha256, 0)
    expect(a.status).toBe('drift')
    expect(a.error).toBe('last change failed (run run-2): values not applied (installer exited with code 1)')
    expect(a.reasons[0]).toBe(a.error)
    expect(a.valuesInSync).toBe(false)
    expect(a.reasons.join('\n')).not.toMatch(/differ from the inventory/)
    expect(a.lastAttempt).toMatchObject({result: 'failed', run: 'run-2', action: 'reconfigure'})
    // A rerun plans the change again (the file alone matching is not in sync).
    expect(planDeploy(gw, facts, job(NEW).values, ['1.5.0']).action).toBe('reconfigure')
  })

  it('the inventory set back to what was applied: the applied values match it, the file still holds the failed change\'s', () => {
    appliedThenFailed()
    const a = auditVerdict({name: 'gw', host: 'h', desiredVersion: '1.5.0'}, probe(), job(OLD).values.sha256, 0)
    expect(a.status).toBe('drift')
    expect(a.valuesInSync).toBe(true)
    expect(a.reasons).toContain('values on the host are those of the failed reconfigure to 1.5.0 of run run-2, never applied; the applied ones match the inventory')
  })

  it('diff compares with the values last applied, not with the file the failed change left', () => {
    appliedThenFailed()
    const out = sh(`${probeScript({remoteDir, gateway: 'gw', releaseVersions: []})}\n${hostValuesBody(remoteDir, 'gw')}`)
    const host = parseHostValues(out)
    expect(host).toMatchObject({kind: 'ok', from: 'applied', text: OLD})
    const d = compareValues(job(NEW), parseProbe(out, L()), host, (s) => s.split('Client-S3cret').join('***'))
    expect(d.state).toBe('changed')
    expect(d.changes).toEqual([
      {key: 'auth.clientSecret', kind: 'unchanged', secret: true},
      {key: 'auth.domain', kind: 'changed', secret: false, from: '"old.example"', to: '"new.example"'},
      {key: 'gpu.enabled', kind: 'changed', secret: false, from: 'false', to: 'true'},
    ])
    expect(d.note).toBe('compared with the values last applied (1.5.0); the values file on the host is that of the failed reconfigure to 1.5.0 of run run-2')
    expect(JSON.stringify(d)).not.toContain('Client-S3cret')
  })

  it('diff without an applied copy: nothing applied yet is new; a record of an earlier gwfleet is not compared', () => {
    fs.writeFileSync(L().values, NEW, {mode: 0o600})
    sh(recordScript({remoteDir, gateway: 'gw', record: null, history: [line({run: 'run-9', action: 'install', fromVersion: null, result: 'failed'})]}))
    const out = () => sh(`${probeScript({remoteDir, gateway: 'gw', releaseVersions: []})}\n${hostValuesBody(remoteDir, 'gw')}`)
    const fresh = compareValues(job(NEW), parseProbe(out(), L()), parseHostValues(out()), (s) => s)
    expect(fresh.state).toBe('new')
    expect(fresh.note).toBe('nothing applied yet: the values file on the host is that of the failed install to 1.5.0 of run run-9')
    // A record written before the applied copy was kept.
    fs.writeFileSync(L().record, `${JSON.stringify(record(OLD))}\n`)
    const old = compareValues(job(NEW), parseProbe(out(), L()), parseHostValues(out()), (s) => s)
    expect(old).toMatchObject({state: 'unknown', changes: []})
    expect(old.note).toMatch(/the values last applied are not kept on this host/)
  })

  it('status says it too, until the gateway is where the inventory wants it', () => {
    appliedThenFailed()
    const status = () => parseStatus(sh(statusScript(remoteDir, 'gw')), '1.5.0')
    expect(status().lastChange).toBe('last change failed (run run-2): values not applied (installer exited with code 1)')
    // The next change succeeds: old news.
    sh(recordScript({remoteDir, gateway: 'gw', record: record(NEW), history: [line({run: 'run-3'})]}))
    expect(status().lastChange).toBeNull()
  })

  it('an interrupted upgrade says where the gateway stands; host text in the line is made inert', () => {
    const a = lastAttempt({attempt: line({run: 'r\x1b]52;c;aGk=\x07un-4', action: 'upgrade', fromVersion: '1.4.0', toVersion: '1.6.0', result: 'interrupted', error: 'stopped\x1b[2J by the operator'})})!
    expect(a.run).toBe('run-4')
    const words = attemptWords(a, {valuesSha256: 'v', record: {...record(OLD), valuesSha256: 'v'}, version: '1.5.0'})
    expect(words).toBe('last change interrupted (run run-4): upgrade to 1.6.0 not done, the gateway runs 1.5.0 (stopped by the operator)')
    expect(parseAttempt('{"time":"t","result":"maybe"}')).toBeNull()
    expect(parseAttempt('not json')).toBeNull()
  })

  it('a failure that is old news: the gateway is as the inventory wants it, so audit is in sync', () => {
    fs.writeFileSync(L().values, OLD, {mode: 0o600})
    sh(recordScript({remoteDir, gateway: 'gw', record: record(OLD), history: [line({run: 'run-1'})]}))
    // An upgrade to 1.6.0 failed before anything changed; the inventory went back to 1.5.0.
    sh(recordScript({remoteDir, gateway: 'gw', record: null, history: [line({run: 'run-2', action: 'upgrade', toVersion: '1.6.0', result: 'failed'})]}))
    const a = auditVerdict({name: 'gw', host: 'h', desiredVersion: '1.5.0'}, probe(), job(OLD).values.sha256, 0)
    expect(a.status).toBe('in-sync')
  })
})
