// What a changing command says before and after it runs: the dry run read as a plan, and the
// warning of `upgrade --to` when the inventory still wants a lower version.
import {describe, expect, it} from 'vitest'

import {upgradeWarnings} from '../../src/cli/actions.js'
import {changeJson, changeSummary, changeTable, planView, statusWord} from '../../src/render/output.js'
import type {HostResult} from '../../src/runner/result.js'
import type {Gateway, Inventory} from '../../src/types.js'

const result = (name: string, status: HostResult['status'], action: HostResult['action'], extra: Partial<HostResult> = {}): HostResult => ({
  name,
  host: `${name}.example`,
  status,
  action,
  fromVersion: action === 'install' ? null : '1.4.0',
  toVersion: '1.5.0',
  hops: action === 'none' ? [] : ['1.5.0'],
  error: null,
  durationMs: 10,
  ...extra,
})

const dry: HostResult[] = [
  result('a', 'ok', 'install', {plan: {action: 'install', fromVersion: null, toVersion: '1.5.0', hops: ['1.5.0'], reason: 'no gateway installed'}}),
  result('b', 'ok', 'upgrade', {plan: {action: 'upgrade', fromVersion: '1.4.0', toVersion: '1.5.0', hops: ['1.5.0'], reason: '1.4.0 is older than 1.5.0'}}),
  result('c', 'ok', 'reconfigure'),
  result('d', 'unchanged', 'none'),
  result('e', 'refused', 'none', {error: 'downgrade from 1.6.0 to 1.5.0 is not allowed', plan: {action: 'none', fromVersion: '1.6.0', toVersion: '1.5.0', hops: [], refused: 'downgrade', reason: 'downgrade'}}),
  result('f', 'unreachable', 'none', {error: 'connection refused'}),
  result('g', 'ok', 'upgrade'),
]

describe('a dry run reads as a plan', () => {
  it('the plan table says what would happen, never ok', () => {
    const text = planView(dry, undefined)
    expect(text.split('\n')[0]).toMatch(/^GATEWAY\s+CURRENT\s+DESIRED\s+PLAN\s+HOPS\s+WHY$/)
    expect(text).toMatch(/^a\s+none\s+1\.5\.0\s+would install\s+1\.5\.0\s+no gateway installed$/m)
    expect(text).toMatch(/^b\s+1\.4\.0\s+1\.5\.0\s+would upgrade\s+1\.5\.0/m)
    expect(text).toMatch(/^c\s+1\.4\.0\s+1\.5\.0\s+would reconfigure\b/m)
    expect(text).toMatch(/^d\s+1\.4\.0\s+1\.5\.0\s+unchanged\b/m)
    expect(text).toMatch(/^e\s+1\.4\.0\s+1\.5\.0\s+refused\s+-\s+downgrade from 1\.6\.0/m)
    expect(text).toMatch(/^f\s+\S+\s+1\.5\.0\s+unreachable\b/m)
    expect(text).not.toMatch(/\bok\b/)
  })

  it('the summary counts planned actions, and a real run still counts ok', () => {
    expect(changeSummary(dry, true)).toBe('unreachable: 1   refused: 1   would install: 1   would upgrade: 2   would reconfigure: 1   unchanged: 1')
    expect(changeSummary(dry)).toBe('unreachable: 1   refused: 1   ok: 4   unchanged: 1')
    expect(changeTable(dry)).toMatch(/^a\s+a\.example\s+ok\s+install\b/m)
  })

  it('uninstall plans read "would uninstall"', () => {
    expect(statusWord(result('u', 'ok', 'uninstall'), true)).toBe('would uninstall')
    expect(statusWord(result('u', 'ok', 'uninstall'))).toBe('ok')
  })

  it('the JSON keeps SPEC statuses with dryRun: true, and carries warnings only when there are some', () => {
    const doc = changeJson('deploy', dry, {dryRun: true, runDir: '/runs/x'})
    expect(doc.dryRun).toBe(true)
    expect(doc.hosts.map((h) => h.status)).toEqual(['ok', 'ok', 'ok', 'unchanged', 'refused', 'unreachable', 'ok'])
    expect(doc).not.toHaveProperty('warnings')
    expect(changeJson('upgrade', dry, {dryRun: false, runDir: '/r', warnings: ['w']}).warnings).toEqual(['w'])
  })
})

describe('upgrade --to warns when the inventory still wants a lower version', () => {
  const gw = (name: string, version: string, pinned = false): Gateway => ({
    name, host: `${name}.example`, become: false, remoteDir: '/opt/gwfleet', version, pinned,
    valuesFile: '/v.yaml', labels: {}, source: {file: '/inv/fleet.yaml', line: 9},
  })
  const inventory: Inventory = {file: '/inv/fleet.yaml', releaseDir: '/inv/releases', releaseVersion: '1.5.0', gateways: [], lines: {'release.version': 3}}

  it('names the gateways, what will happen, and the line to edit', () => {
    const w = upgradeWarnings(inventory, [gw('a', '1.5.0'), gw('b', '1.5.0'), gw('p', '1.4.0', true), gw('new', '1.7.0', true)], '1.6.0')
    expect(w).toEqual([
      'the inventory still wants 1.5.0 (release.version) for 2 of the selected gateways (a, b): after this upgrade audit shows them as drift ' +
        'and deploy would refuse the downgrade; set release.version to 1.6.0 in /inv/fleet.yaml:3',
    ])
  })

  it('says nothing when the inventory already wants --to (or more)', () => {
    expect(upgradeWarnings(inventory, [gw('a', '1.6.0'), gw('b', '1.7.0')], '1.6.0')).toEqual([])
  })

  it('lists at most five names', () => {
    const many = Array.from({length: 8}, (_, i) => gw(`g${i}`, '1.5.0'))
    expect(upgradeWarnings(inventory, many, '1.6.0')[0]).toMatch(/for 8 of the selected gateways \(g0, g1, g2, g3, g4 and 3 more\)/)
  })
})

describe('the results table at a glance', () => {
  it('counts the preflight warnings of a host that ended well; the notes keep their words', () => {
    const notes = ['preflight warning: cpu: 2 CPUs; 8 recommended', 'lock taken over from a run whose process is gone', 'preflight warning: memory: 8 GiB RAM; 32 GB recommended']
    const r = result('a', 'ok', 'install', {notes})
    const row = changeTable([r]).split('\n').find((l) => l.startsWith('a '))!
    expect(row).toMatch(/lock taken over from a run whose process is gone; 2 preflight warnings \(see --json or the run folder\)$/)
    expect(row).not.toMatch(/CPUs/)
    expect(r.notes).toHaveLength(3)
  })

  it('a failure shows its error whole', () => {
    const r = result('b', 'failed', 'install', {error: 'preflight failed: disk: 3 GB free', notes: ['preflight warning: cpu: 2 CPUs']})
    expect(changeTable([r])).toMatch(/preflight failed: disk: 3 GB free/)
  })
})
