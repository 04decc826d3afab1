import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {auditPrometheus, escapeLabelValue} from '../../src/render/prometheus.js'
import type {AuditResult} from '../../src/runner/audit.js'
import {checkWritableFile, writeFileAtomic} from '../../src/util/atomic.js'
import {parseExposition, sampleValue} from '../e2e/prometheus-text.js'

const base = {reasons: [], lastChange: null, durationMs: 5, error: null}
const RESULTS: AuditResult[] = [
  {...base, name: 'gw-sync', host: '10.0.0.1', status: 'in-sync', version: '1.5.0', desiredVersion: '1.5.0', valuesInSync: true},
  {...base, name: 'gw-drift', host: 'odd"host\\name\nx', status: 'drift', version: '1.4.0', desiredVersion: '1.5.0', valuesInSync: false},
  {...base, name: 'gw-none', host: '10.0.0.3', status: 'not-installed', version: null, desiredVersion: '1.5.0', valuesInSync: null},
  {...base, name: 'gw-down', host: '10.0.0.4', status: 'unreachable', version: null, desiredVersion: '1.5.0', valuesInSync: null, error: 'refused'},
  {...base, name: 'gw-key', host: '10.0.0.5', status: 'failed', version: null, desiredVersion: '1.5.0', valuesInSync: null, error: 'key'},
  {...base, name: 'gw-bad', host: '10.0.0.6', status: 'invalid', version: '1.5.0', desiredVersion: '1.5.0', valuesInSync: null, error: 'v.yaml:3 (a): unset'},
  {...base, name: 'gw-gone', host: '10.0.0.7', status: 'absent', version: null, desiredVersion: null, valuesInSync: null},
]

describe('audit as Prometheus metrics', () => {
  it('escapes backslash, double quote and line feed in label values', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd')
  })

  it('parses back to one series per gateway and metric, the counts and the time', () => {
    const text = auditPrometheus(RESULTS, new Date('2026-11-30T12:00:00.900Z'))
    const {samples, types, help} = parseExposition(text)
    for (const n of ['gwfleet_gateway_info', 'gwfleet_gateway_in_sync', 'gwfleet_gateway_reachable', 'gwfleet_gateway_values_in_sync', 'gwfleet_gateways', 'gwfleet_audit_timestamp_seconds']) {
      expect(types.get(n), n).toBe('gauge')
      expect(help.get(n), n).toBeTruthy()
    }
    // The odd host name survives the round trip exactly.
    expect(sampleValue(samples, 'gwfleet_gateway_info', {gateway: 'gw-drift', host: 'odd"host\\name\nx', version: '1.4.0', desired: '1.5.0'})).toBe(1)
    expect(sampleValue(samples, 'gwfleet_gateway_info', {gateway: 'gw-none', version: ''})).toBe(1)
    const by = (metric: string) => Object.fromEntries(samples.filter((s) => s.name === metric).map((s) => [s.labels.gateway, s.value]))
    // A gateway marked absent with nothing there is as the inventory asks: in sync.
    expect(by('gwfleet_gateway_in_sync')).toEqual({'gw-sync': 1, 'gw-drift': 0, 'gw-none': 0, 'gw-down': 0, 'gw-key': 0, 'gw-bad': 0, 'gw-gone': 1})
    expect(by('gwfleet_gateway_reachable')).toEqual({'gw-sync': 1, 'gw-drift': 1, 'gw-none': 1, 'gw-down': 0, 'gw-key': 1, 'gw-bad': 1, 'gw-gone': 1})
    expect(sampleValue(samples, 'gwfleet_gateway_info', {gateway: 'gw-gone', desired: ''})).toBe(1)
    // Only where it is known.
    expect(by('gwfleet_gateway_values_in_sync')).toEqual({'gw-sync': 1, 'gw-drift': 0})
    const counts = Object.fromEntries(samples.filter((s) => s.name === 'gwfleet_gateways').map((s) => [s.labels.status, s.value]))
    expect(counts).toEqual({'in-sync': 1, drift: 1, 'not-installed': 1, unreachable: 1, failed: 1, installing: 0, invalid: 1, absent: 1})
    expect(sampleValue(samples, 'gwfleet_audit_timestamp_seconds')).toBe(Date.parse('2026-11-30T12:00:00Z') / 1000)
  })

  it('an empty selection still gives every count (zero) and the time', () => {
    const {samples} = parseExposition(auditPrometheus([], new Date(0)))
    expect(samples.filter((s) => s.name === 'gwfleet_gateways').map((s) => s.value)).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
    expect(samples.filter((s) => s.name.startsWith('gwfleet_gateway_'))).toEqual([])
  })
})

describe('atomic output file', () => {
  it('replaces the file whole, leaves no temporary file, and refuses an unusable path as bad input', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-atomic-'))
    try {
      const f = path.join(dir, 'gwfleet.prom')
      fs.writeFileSync(f, 'old\n')
      const inode = fs.statSync(f).ino
      await writeFileAtomic(f, 'new\n')
      expect(fs.readFileSync(f, 'utf8')).toBe('new\n')
      // Renamed over, not rewritten in place: a reader holding the old file keeps it whole.
      expect(fs.statSync(f).ino).not.toBe(inode)
      expect(fs.readdirSync(dir)).toEqual(['gwfleet.prom'])
      // A symlink at the destination is replaced, not written through.
      const victim = path.join(dir, 'victim')
      fs.writeFileSync(victim, 'keep')
      fs.rmSync(f)
      fs.symlinkSync(victim, f)
      await writeFileAtomic(f, 'metrics\n')
      expect(fs.readFileSync(victim, 'utf8')).toBe('keep')
      expect(fs.lstatSync(f).isSymbolicLink()).toBe(false)
      await expect(checkWritableFile(path.join(dir, 'no', 'such', 'x.prom'), '--output-file')).rejects.toThrow(/--output-file: .*no folder/)
      await expect(checkWritableFile(dir, '--output-file')).rejects.toThrow(/is a directory/)
      await expect(checkWritableFile(f, '--output-file')).resolves.toBeUndefined()
    } finally {
      fs.rmSync(dir, {recursive: true, force: true})
    }
  })
})
