import {execFileSync} from 'node:child_process'
import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {AGENT_SELECTOR, AGENT_VERSION_TEMPLATE, agentVersionQuery} from '../../src/remote/cluster.js'
import {statusScript} from '../../src/remote/ops-scripts.js'
import {parseKv, parseProbe, probeScript} from '../../src/remote/scripts.js'

const dir = mkdtempSync(join(tmpdir(), 'gwfleet-cluster-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

// A stand-in kubectl: records its argv, prints what the test gives it, exits with the given code.
function fakeKubectl(stdout: string, rc: number): {K: string; argv: string} {
  const K = join(dir, `kubectl-${Math.random().toString(36).slice(2)}`)
  const argv = `${K}.argv`
  writeFileSync(K, `#!/bin/sh\nprintf '%s\\n' "$@" > '${argv}'\nprintf '%s' '${stdout.replace(/'/g, `'\\''`)}'\nexit ${rc}\n`)
  chmodSync(K, 0o755)
  return {K, argv}
}

function run(k: {K: string}): string {
  return execFileSync('sh', ['-c', `K='${k.K}'\n${agentVersionQuery()}`], {encoding: 'utf8'})
}

describe('the one agent-version query', () => {
  it('asks for the agent deployment with the vendor template and reports rc and image', () => {
    const k = fakeKubectl('quay.io/apheris/gateway-agent:1.5.0\n', 0)
    const out = run(k)
    expect(execFileSync('cat', [k.argv], {encoding: 'utf8'}).split('\n')).toEqual([
      'get', 'deploy', '-n', 'apheris', '-l', AGENT_SELECTOR, '-o', `go-template=${AGENT_VERSION_TEMPLATE}`, '',
    ])
    expect(parseProbe(out).version).toBe('1.5.0')
  })

  it('folds a multi-line answer onto its one key, so no line of it reads as our key', () => {
    const out = run(fakeKubectl('error: boom\ngw.uid=0\ngw.kubectl_rc=0\n', 1))
    const kv = parseKv(out)
    expect(kv.get('uid')).toBeUndefined()
    expect(kv.get('kubectl_rc')).toEqual(['1'])
    expect(kv.get('kubectl_out')?.[0]).toContain('error: boom gw.uid=0')
    expect(parseProbe(out).versionNote).toMatch(/^kubectl failed: error: boom/)
  })

  it('is the same query in the probe and in status', () => {
    const q = agentVersionQuery()
    expect(statusScript()).toContain(q)
    expect(probeScript({remoteDir: '/opt/gwfleet', gateway: 'gw', releaseVersions: []})).toContain(q)
  })
})
