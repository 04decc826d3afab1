// The gateway's cluster as gwfleet reads it: the one agent-version query, the one definition of
// "a gateway is installed" that the probe (audit), status and logs share, and status's reading of
// kubectl's pod JSON. Scripts run through a real sh with a scripted kubectl.
import {execFileSync} from 'node:child_process'
import {chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {AGENT_SELECTOR, AGENT_VERSION_TEMPLATE, agentVersionQuery, gatewayQuery, K3S_KUBECONFIG, parseGateway, parsePods} from '../../src/remote/cluster.js'
import {gatewayScript, statusScript} from '../../src/remote/ops-scripts.js'
import {installerScript, parseKv, parseProbe, probeScript} from '../../src/remote/scripts.js'
import {statusText} from '../../src/render/ops-output.js'
import {auditVerdict} from '../../src/runner/audit.js'
import {parseStatus, statusVerdict, type StatusResult} from '../../src/runner/ops.js'

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
})

// ------------------------------------------------------------------------------------ installed

const REFUSED = 'The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?'
const NO_DEPLOY =
  'error: error executing template "{{if and (index .items 0)...}}": template: output:1:10: executing "output" at <index .items 0>: error calling index: index out of range: 0'

describe('parseGateway: one reading of "is a gateway installed"', () => {
  const kv = (...lines: string[]) => parseKv(lines.join('\n'))
  it.each([
    ['no kubectl', ['gw.kubectl=missing'], 'no', null, /^no kubectl or k3s on the host$/],
    ['no kubeconfig', ['gw.cluster=none'], 'no', null, new RegExp(`^no k3s cluster on the host \\(no ${K3S_KUBECONFIG}\\)$`)],
    ['an agent', ['gw.kubectl_rc=0', 'gw.kubectl_out=quay.io/apheris/gateway-agent:1.5.0 '], 'yes', '1.5.0', null],
    ['an empty answer', ['gw.kubectl_rc=0', 'gw.kubectl_out='], 'no', null, /^no agent deployment in namespace apheris$/],
    ['no deployment', ['gw.kubectl_rc=1', `gw.kubectl_out=${NO_DEPLOY}`], 'no', null, /^no agent deployment/],
    ['the API server refuses', ['gw.kubectl_rc=1', `gw.kubectl_out=${REFUSED}`], 'unknown', null, /^the cluster does not answer .*127\.0\.0\.1:6443 was refused/],
    ['an image without a version', ['gw.kubectl_rc=0', 'gw.kubectl_out=registry.local/agent@sha256:abc'], 'unknown', null, /^unreadable agent image "registry\.local\/agent@sha256:abc"$/],
    ['any other kubectl failure', ['gw.kubectl_rc=1', 'gw.kubectl_out=error: You must be logged in to the server (Unauthorized)'], 'unknown', null, /^kubectl failed: error: You must be logged in/],
    ['an answer cut short', ['gw.uid=0'], 'unknown', null, /cut short/],
  ] as const)('%s', (_what, lines, installed, version, note) => {
    const g = parseGateway(kv(...lines))
    expect(g.installed).toBe(installed)
    expect(g.version).toBe(version)
    if (note) expect(g.note).toMatch(note)
    else expect(g.note).toBeNull()
  })
})

// Run a script through sh on this machine with a scripted kubectl (a shell function, which
// `command -v` finds before any kubectl on PATH) and, when `cluster`, a kubeconfig.
function runScript(script: string, kubectl: {agent: string; agentRc: number; pods?: string}, cluster: boolean): string {
  const kubeconfig = join(dir, 'k3s.yaml')
  writeFileSync(kubeconfig, 'apiVersion: v1\n')
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
  const fn = [
    'kubectl() {',
    '  case " $* " in',
    `    *" get deploy "*) printf '%s' ${q(kubectl.agent)}; return ${kubectl.agentRc} ;;`,
    `    *" get pod --all-namespaces -o json "*) printf '%s\\n' ${q(kubectl.pods ?? POD_LIST)}; return ${kubectl.agentRc === 0 ? 0 : kubectl.agentRc} ;;`,
    '  esac',
    '  echo "unexpected kubectl $*" >&2; return 1',
    '}',
  ].join('\n')
  const env = {...process.env, KUBECONFIG: cluster ? kubeconfig : ''}
  return execFileSync('sh', ['-c', `${fn}\n${script}`], {encoding: 'utf8', env})
}

describe('audit, status and logs agree on every host state (the same shell fragment, the same parser)', () => {
  it('every script that decides asks with the one fragment', () => {
    const q = gatewayQuery()
    expect(probeScript({remoteDir: '/opt/gwfleet', gateway: 'gw', releaseVersions: []})).toContain(q)
    expect(statusScript()).toContain(q)
    expect(gatewayScript()).toContain(q)
    expect(installerScript({remoteDir: '/opt/gwfleet', gateway: 'gw', version: '1.5.0', timeoutSeconds: 60, commit: [], token: 't', meta: {id: 'r/t/install-1.5.0', token: 't', run: 'r', kind: 'install', gateway: 'gw', version: '1.5.0', fromVersion: null, action: 'install', valuesSha256: 'ab', operator: 'o@w', command: 'deploy', started: 'now'}})).toContain(q)
  })

  it.each([
    ['no k3s kubeconfig', {agent: 'quay.io/apheris/gateway-agent:1.5.0\n', agentRc: 0}, false, 'no', 'not-installed', 'not-installed'],
    ['an agent at 1.5.0', {agent: 'quay.io/apheris/gateway-agent:1.5.0\n', agentRc: 0}, true, 'yes', 'in-sync', 'ok'],
    ['no agent deployment', {agent: NO_DEPLOY, agentRc: 1}, true, 'no', 'not-installed', 'not-installed'],
    ['a cluster that refuses', {agent: REFUSED, agentRc: 1}, true, 'unknown', 'failed', 'failed'],
  ] as const)('%s', (_what, kubectl, cluster, installed, auditStatus, statusStatus) => {
    // /etc/rancher/k3s/k3s.yaml on this machine would count as a cluster for every case.
    expect(existsSync(K3S_KUBECONFIG), `${K3S_KUBECONFIG} exists on this machine`).toBe(false)
    const remoteDir = join(dir, 'remote')
    const facts = parseProbe(runScript(probeScript({remoteDir, gateway: 'gw', releaseVersions: []}), kubectl, cluster))
    const status = parseStatus(runScript(statusScript(), kubectl, cluster))
    const logs = parseGateway(parseKv(runScript(gatewayScript(), kubectl, cluster)))

    expect(facts.installed).toBe(installed)
    expect([status.installed, status.version, status.versionNote]).toEqual([facts.installed, facts.version, facts.versionNote])
    expect([logs.installed, logs.version, logs.note]).toEqual([facts.installed, facts.version, facts.versionNote])
    // The commands' own words for it.
    const audit = auditVerdict({name: 'gw', host: 'h', desiredVersion: '1.5.0'}, {...facts, valuesSha256: 'v', record: {gateway: 'gw', version: '1.5.0', valuesSha256: 'v', deployedAt: 't', operator: 'o', command: 'deploy'}}, 'v', 0)
    expect(audit.status).toBe(auditStatus)
    expect(statusVerdict(status).status).toBe(statusStatus)
    if (installed === 'no') {
      expect(audit.error).toMatch(/^no gateway installed \(/)
      expect(statusVerdict(status).error).toBe(audit.error)
    }
    if (installed === 'unknown') expect(statusVerdict(status).error).toBe(audit.error)
  })
})

describe('audit of a host with a job no run has recorded', () => {
  const base = {name: 'gw', host: 'h', desiredVersion: '1.5.0'}
  const meta = {id: 'r/t/install-1.5.0', token: 't', run: 'r', kind: 'install' as const, gateway: 'gw', version: '1.5.0', fromVersion: '1.4.0', action: 'upgrade', valuesSha256: 'v', operator: 'ana@ws', command: 'deploy', started: '2026-12-07T10:00:00Z'}
  const facts = {uid: 0, installed: 'yes' as const, version: '1.5.0', versionNote: null, record: null, valuesSha256: 'v', releaseFiles: new Map(), lock: null, k3sUninstall: null, unsafe: null}

  it('a live install is installing: which run, since when, its pid and output so far', () => {
    const a = auditVerdict(base, {...facts, job: {meta, state: 'running', rc: null, pid: 4242, logBytes: 9000, ageSeconds: 75}}, 'v', 0)
    expect(a).toMatchObject({status: 'installing', valuesInSync: null})
    expect(a.reasons).toEqual(['the install of 1.5.0 by ana@ws (run r, deploy) since 2026-12-07T10:00:00Z: running for 75s, pid 4242, 9000 bytes of output so far'])
  })

  it('one that ended unwatched is drift until a deploy records it, even when the cluster agrees', () => {
    const a = auditVerdict(base, {...facts, job: {meta, state: 'ended', rc: 0, pid: null, logBytes: 9000, ageSeconds: 300}}, 'v', 0)
    expect(a.status).toBe('drift')
    expect(a.reasons[0]).toMatch(/ended while nobody watched \(exit code 0\); `gwfleet deploy` judges and records it$/)
    const lost = auditVerdict(base, {...facts, job: {meta, state: 'lost', rc: null, pid: null, logBytes: 10, ageSeconds: 300}}, 'v', 0)
    expect(lost.reasons[0]).toMatch(/without an exit status/)
  })
})

// ------------------------------------------------------------------------------------ pods

const T0 = '2026-01-10T08:00:00Z'
const running = (name: string, ready = true, restartCount = 0) => ({
  containerID: `containerd://${name}`,
  image: `example/${name}:1`,
  name,
  ready,
  restartCount,
  started: ready,
  state: {running: {startedAt: T0}},
})
function pod(ns: string, name: string, o: {labels?: Record<string, string>; containers?: {name: string; cpu?: string; memory?: string}[]; status: Record<string, unknown>; deleting?: boolean}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      creationTimestamp: T0,
      ...(o.deleting ? {deletionTimestamp: '2026-01-10T09:00:00Z', deletionGracePeriodSeconds: 30} : {}),
      labels: o.labels ?? {},
      name,
      namespace: ns,
      resourceVersion: '4711',
      uid: `uid-${name}`,
    },
    spec: {
      containers: (o.containers ?? [{name: 'main'}]).map((c) => ({
        image: `example/${c.name}:1`,
        imagePullPolicy: 'IfNotPresent',
        name: c.name,
        resources: c.cpu ? {requests: {cpu: c.cpu, memory: c.memory}} : {},
      })),
      nodeName: 'gw-node-1',
      restartPolicy: 'Always',
    },
    status: {conditions: [{status: 'True', type: 'PodScheduled'}], hostIP: '10.0.0.5', qosClass: 'Burstable', startTime: T0, ...o.status},
  }
}

// `kubectl get pod --all-namespaces -o json` as kubectl prints it (four-space indent).
const POD_LIST = JSON.stringify(
  {
    apiVersion: 'v1',
    items: [
      pod('apheris', 'apheris-gateway-agent-76b585556f-mfhx6', {
        labels: {'apheris-component': 'agent', 'pod-template-hash': '76b585556f'},
        containers: [{name: 'agent', cpu: '250m', memory: '256Mi'}],
        status: {phase: 'Running', conditions: [{status: 'True', type: 'Ready'}], containerStatuses: [running('agent')]},
      }),
      pod('kube-system', 'coredns-77ccd57875-vzghv', {status: {phase: 'Running', containerStatuses: [running('main')]}}),
      pod('cilium', 'cilium-operator-76c55fc6b6-hlfr5', {
        containers: [{name: 'operator'}, {name: 'health'}],
        status: {phase: 'Running', containerStatuses: [running('operator'), running('health', false, 2)]},
      }),
      pod('apheris', 'apheris-computation-c1239352-trainer-statefulset-0', {
        labels: {apheris_job_id: 'c1239352'},
        containers: [
          {name: 'trainer', cpu: '1', memory: '2Gi'},
          {name: 'sidecar', cpu: '100m', memory: '64Mi'},
        ],
        status: {phase: 'Running', containerStatuses: [running('trainer'), running('sidecar')]},
      }),
      pod('apheris', 'apheris-computation-c1239352-worker-statefulset-1', {
        labels: {apheris_job_id: 'c1239352'},
        containers: [{name: 'worker', cpu: '2', memory: '4Gi'}],
        status: {
          phase: 'Running',
          containerStatuses: [
            {
              image: 'example/worker:1',
              lastState: {terminated: {exitCode: 137, reason: 'OOMKilled'}},
              name: 'worker',
              ready: false,
              restartCount: 4,
              started: false,
              state: {waiting: {message: 'back-off 1m20s restarting failed container', reason: 'CrashLoopBackOff'}},
            },
          ],
        },
      }),
      pod('apheris', 'apheris-computation-7e4a90d1-statefulset-0', {
        labels: {apheris_job_id: '7e4a90d1'},
        containers: [{name: 'trainer', cpu: '500m', memory: '1Gi'}],
        status: {
          phase: 'Pending',
          initContainerStatuses: [running('fetch-model', false)],
          containerStatuses: [{image: 'example/trainer:1', name: 'trainer', ready: false, restartCount: 0, started: false, state: {waiting: {reason: 'PodInitializing'}}}],
        },
      }),
      // A job label outside namespace apheris is not a computation.
      pod('default', 'look-alike-0', {labels: {apheris_job_id: 'c1239352'}, status: {phase: 'Running', containerStatuses: [running('main')]}}),
      pod('kube-system', 'helm-install-traefik-crd-x2x4v', {
        status: {phase: 'Succeeded', containerStatuses: [{name: 'helm', ready: false, restartCount: 0, state: {terminated: {exitCode: 0, reason: 'Completed'}}}]},
      }),
      pod('kube-system', 'svclb-traefik-3c7e9a4d-8sd7k', {deleting: true, status: {phase: 'Running', containerStatuses: [running('main')]}}),
      pod('kube-system', 'metrics-server-648b5df564-abcde', {
        status: {phase: 'Running', containerStatuses: [{name: 'main', ready: false, restartCount: 1, state: {terminated: {exitCode: 2, signal: 0}}}]},
      }),
    ],
    kind: 'List',
    metadata: {resourceVersion: ''},
  },
  null,
  4,
)

describe("status reads kubectl's JSON, not its text columns", () => {
  it('every pod, with long names whole, several namespaces, readiness, restarts and kubectl-style status', () => {
    const {pods} = parsePods(POD_LIST)
    expect(pods.map((p) => [p.namespace, p.name, p.ready, p.status, p.restarts])).toEqual([
      ['apheris', 'apheris-gateway-agent-76b585556f-mfhx6', '1/1', 'Running', 0],
      ['kube-system', 'coredns-77ccd57875-vzghv', '1/1', 'Running', 0],
      ['cilium', 'cilium-operator-76c55fc6b6-hlfr5', '1/2', 'Running', 2],
      ['apheris', 'apheris-computation-c1239352-trainer-statefulset-0', '2/2', 'Running', 0],
      ['apheris', 'apheris-computation-c1239352-worker-statefulset-1', '0/1', 'CrashLoopBackOff', 4],
      ['apheris', 'apheris-computation-7e4a90d1-statefulset-0', '0/1', 'Init:0/1', 0],
      ['default', 'look-alike-0', '1/1', 'Running', 0],
      ['kube-system', 'helm-install-traefik-crd-x2x4v', '0/1', 'Completed', 0],
      ['kube-system', 'svclb-traefik-3c7e9a4d-8sd7k', '1/1', 'Terminating', 0],
      ['kube-system', 'metrics-server-648b5df564-abcde', '0/1', 'ExitCode:2', 1],
    ])
    expect(pods[0].created).toBe(T0)
  })

  it('the computations: apheris_job_id pods of namespace apheris, by job, with their requests', () => {
    const {computations} = parsePods(POD_LIST)
    expect(computations.map((c) => [c.jobId, c.pods.map((p) => p.name)])).toEqual([
      ['c1239352', ['apheris-computation-c1239352-trainer-statefulset-0', 'apheris-computation-c1239352-worker-statefulset-1']],
      ['7e4a90d1', ['apheris-computation-7e4a90d1-statefulset-0']],
    ])
    expect(computations[0].pods[0]).toEqual({
      name: 'apheris-computation-c1239352-trainer-statefulset-0',
      phase: 'Running',
      ready: '2/2',
      restarts: 0,
      created: T0,
      requests: ['1/2Gi', '100m/64Mi'],
    })
    expect(computations[0].pods[1]).toMatchObject({ready: '0/1', restarts: 4, requests: ['2/4Gi']})
  })

  it('from the script: the prefixed lines joined back; kubectl failing or not a pod list is a pods error', () => {
    const lines = (json: string, rc = 0) =>
      ['gw.kubectl_rc=0', 'gw.kubectl_out=quay.io/apheris/gateway-agent:1.5.0 ', ...json.split('\n').map((l) => `gw.pods=${l}`), `gw.pods_rc=${rc}`, 'gw.end=1'].join('\n')
    const ok = parseStatus(lines(POD_LIST))
    expect(ok).toMatchObject({installed: 'yes', version: '1.5.0', podsError: null})
    expect(ok.pods).toHaveLength(10)
    expect(statusVerdict(ok)).toEqual({status: 'ok', error: null})

    const down = parseStatus(lines(`I0110 08:00:00 memcache.go:265] couldn't get current server API group list\n${REFUSED}`, 1))
    expect(down.podsError).toBe(REFUSED)
    expect(down.pods).toEqual([])
    expect(statusVerdict(down)).toEqual({status: 'failed', error: `kubectl get pod: ${REFUSED}`})

    expect(parseStatus(lines('{"kind": "Status", "status": "Failure"}')).podsError).toMatch(/^kubectl's JSON could not be read: not a list of pods \(kind Status\)/)
    expect(parseStatus(lines('{"items": [')).podsError).toMatch(/^kubectl's JSON could not be read/)
    // No cluster to ask: no pods asked for, and not installed.
    expect(parseStatus('gw.cluster=none\ngw.end=1\n')).toMatchObject({installed: 'no', pods: [], podsError: null})
  })

  it('the table view lists each pod on its own row, its name whole', () => {
    const g = parseStatus(['gw.kubectl_rc=0', 'gw.kubectl_out=quay.io/apheris/gateway-agent:1.5.0', ...POD_LIST.split('\n').map((l) => `gw.pods=${l}`), 'gw.pods_rc=0'].join('\n'))
    const r: StatusResult = {name: 'berlin-1', host: '10.0.0.5', status: 'ok', error: null, gateway: g, durationMs: 1}
    const text = statusText([r], Date.parse(T0) + 7 * 60_000 + 48_000).split('\n')
    expect(text[0]).toBe('== berlin-1 (10.0.0.5): agent 1.5.0')
    expect(text[1]).toMatch(/^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/)
    expect(text).toContainEqual(expect.stringMatching(/^apheris\s+apheris-gateway-agent-76b585556f-mfhx6\s+1\/1\s+Running\s+0\s+7m48s$/))
    expect(text).toContainEqual(expect.stringMatching(/^apheris\s+apheris-computation-c1239352-worker-statefulset-1\s+0\/1\s+CrashLoopBackOff\s+4\s+7m48s$/))
    expect(text).toContain('Computations (apheris_job_id): 2 job(s)')
    expect(text).toContainEqual(expect.stringMatching(/^c1239352\s+apheris-computation-c1239352-worker-statefulset-1\s+0\/1\s+Running\s+4\s+7m48s\s+2\/4Gi$/))
  })
})
