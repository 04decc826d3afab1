import {describe, expect, it} from 'vitest'

import {planDeploy, planUninstall, planUpgrade} from '../../src/plan/plan.js'
import type {Gateway, HostFacts} from '../../src/types.js'

const gw = (over: Partial<Gateway> = {}): Gateway => ({
  name: 'berlin-1',
  host: '203.0.113.10',
  become: false,
  remoteDir: '/opt/gwfleet',
  version: '1.5.0',
  valuesFile: '/inv/values/berlin-1.yaml',
  labels: {},
  source: {file: '/inv/fleet.yaml', line: 7},
  ...over,
})

const facts = (over: Partial<HostFacts> = {}): HostFacts => ({
  uid: 0,
  version: null,
  installed: 'no',
  versionNote: 'no kubectl on the host: no gateway installed',
  record: null,
  valuesSha256: null,
  releaseFiles: new Map(),
  lock: null,
  k3sUninstall: null,
  job: null,
  unsafe: null,
  ...over,
})

const rec = (version: string, sha: string) => ({gateway: 'berlin-1', version, valuesSha256: sha, deployedAt: 't', operator: 'o', command: 'deploy'})
const available = ['1.4.0', '1.5.0', '1.5.1', '1.6.0']

describe('planDeploy', () => {
  it('installs the desired version where nothing is installed', () => {
    expect(planDeploy(gw(), facts(), 'abc', available)).toEqual({
      action: 'install',
      fromVersion: null,
      toVersion: '1.5.0',
      hops: ['1.5.0'],
      reason: 'no gateway installed (no kubectl on the host: no gateway installed)',
    })
  })

  it('does nothing when version, record and values match', () => {
    const p = planDeploy(gw(), facts({version: '1.5.0', valuesSha256: 'abc', record: rec('1.5.0', 'abc')}), 'abc', available)
    expect(p).toEqual({action: 'none', fromVersion: '1.5.0', toVersion: '1.5.0', hops: [], reason: 'in sync'})
  })

  it('reconfigures when the rendered values differ from the host', () => {
    const p = planDeploy(gw(), facts({version: '1.5.0', valuesSha256: 'old', record: rec('1.5.0', 'old')}), 'new', available)
    expect(p.action).toBe('reconfigure')
    expect(p.hops).toEqual(['1.5.0'])
  })

  it('reconfigures when the values file matches but the record does not (installer failed after upload)', () => {
    const p = planDeploy(gw(), facts({version: '1.5.0', valuesSha256: 'new', record: rec('1.5.0', 'old')}), 'new', available)
    expect(p.action).toBe('reconfigure')
  })

  it('upgrades hop by hop and refuses downgrades', () => {
    expect(planDeploy(gw({version: '1.6.0'}), facts({version: '1.4.0'}), 'x', available)).toMatchObject({action: 'upgrade', hops: ['1.5.1', '1.6.0']})
    const down = planDeploy(gw({version: '1.4.0'}), facts({version: '1.5.0'}), 'x', available)
    expect(down.refused).toMatch(/downgrade from 1.5.0 to 1.4.0/)
    expect(down.hops).toEqual([])
  })

  it('refuses a missing series, naming it', () => {
    const p = planDeploy(gw({version: '1.6.0'}), facts({version: '1.4.0'}), 'x', ['1.4.0', '1.6.0'])
    expect(p.refused).toMatch(/1\.5/)
  })
})

describe('planUpgrade', () => {
  it('never installs', () => {
    expect(planUpgrade(gw(), facts(), '1.6.0', available).refused).toMatch(/upgrade never installs/)
  })
  it('respects pins', () => {
    expect(planUpgrade(gw({pinned: true, version: '1.4.0'}), facts({version: '1.4.0'}), '1.6.0', available).refused).toMatch(/pinned to 1.4.0/)
  })
  it('is a no-op at the target version', () => {
    const p = planUpgrade(gw(), facts({version: '1.6.0'}), '1.6.0', available)
    expect(p.action).toBe('none')
    expect(p.refused).toBeUndefined()
  })
  it('walks the chain', () => {
    expect(planUpgrade(gw(), facts({version: '1.4.0'}), '1.6.0', available)).toMatchObject({action: 'upgrade', hops: ['1.5.1', '1.6.0']})
  })
})

describe('planUninstall', () => {
  it('has nothing to do on a clean host', () => {
    expect(planUninstall(facts()).action).toBe('none')
  })
  it('uninstalls when k3s is there even without an agent', () => {
    expect(planUninstall(facts({k3sUninstall: '/usr/local/bin/k3s-uninstall.sh'})).action).toBe('uninstall')
  })
})

describe('deploy on a cluster that cannot say what runs on it', () => {
  it('is refused, never installed over', async () => {
    const {planDeploy} = await import('../../src/plan/plan.js')
    const gw = {name: 'g', host: 'h', become: false, remoteDir: '/opt/gw', version: '1.5.0', valuesFile: '/v', labels: {}, source: {file: 'f', line: 1}}
    const facts = {uid: 0, installed: 'unknown' as const, version: null, versionNote: 'the cluster does not answer', record: null, valuesSha256: null, releaseFiles: new Map(), lock: null, k3sUninstall: null, job: null, unsafe: null}
    const p = planDeploy(gw, facts, 'sha', ['1.5.0'])
    expect(p.refused).toMatch(/^cannot tell whether a gateway is installed \(the cluster does not answer\): deploy does not install over a cluster it cannot read/)
    expect(planDeploy(gw, {...facts, installed: 'no'}, 'sha', ['1.5.0'])).toMatchObject({action: 'install', hops: ['1.5.0']})
  })
})
