// The preflight evaluator on canned probe outputs, and the script builders as strings.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

import {parse as parseYaml} from 'yaml'

import {
  evaluatePreflight,
  failingChecks,
  hostProxies,
  maskCredentials,
  outboundTargets,
  preflightScript,
  preflightScriptOptions,
  valuesNetwork,
  worstLevel,
  type CheckResult,
  type EvaluateOptions,
  type ValuesNetwork,
} from '../../src/preflight/checks.js'
import {parseKv} from '../../src/remote/scripts.js'
import type {Job} from '../../src/types.js'
import {logsScript, statusScript} from '../../src/remote/ops-scripts.js'
import {prettyLogLine} from '../../src/render/ops-output.js'
import {parseHistory, parseLock} from '../../src/runner/ops.js'

const OS = {
  ubuntu1804: {ID: 'ubuntu', VERSION_ID: '"18.04"', PRETTY_NAME: '"Ubuntu 18.04.6 LTS"'},
  ubuntu2004: {ID: 'ubuntu', VERSION_ID: '"20.04"', PRETTY_NAME: '"Ubuntu 20.04.6 LTS"'},
  ubuntu2204: {ID: 'ubuntu', VERSION_ID: '"22.04"', PRETTY_NAME: '"Ubuntu 22.04.4 LTS"'},
  ubuntu2404: {ID: 'ubuntu', VERSION_ID: '"24.04"', PRETTY_NAME: '"Ubuntu 24.04 LTS"'},
  rhel7: {ID: '"rhel"', VERSION_ID: '"7.9"', PRETTY_NAME: '"Red Hat Enterprise Linux Server 7.9 (Maipo)"'},
  rhel8: {ID: '"rhel"', VERSION_ID: '"8.10"', PRETTY_NAME: '"Red Hat Enterprise Linux 8.10 (Ootpa)"'},
  rhel9: {ID: '"rhel"', VERSION_ID: '"9.4"', PRETTY_NAME: '"Red Hat Enterprise Linux 9.4 (Plow)"'},
  debian12: {ID: 'debian', VERSION_ID: '"12"', PRETTY_NAME: '"Debian GNU/Linux 12 (bookworm)"'},
  rocky9: {ID: '"rocky"', ID_LIKE: '"rhel centos fedora"', VERSION_ID: '"9.3"', PRETTY_NAME: '"Rocky Linux 9.3 (Blue Onyx)"'},
}

interface Probe {
  uid?: string
  os?: Record<string, string> | null
  tools?: string[]
  cpus?: string
  memKB?: string
  dfReleases?: string
  dfDatasets?: string
  datasets?: 'ok' | 'missing' | 'unreadable' | 'notdir' | null
  k3s?: string
  portTool?: 'ss' | 'proc' | 'none'
  port?: string[]
}

const BIG = {cpus: '16', memKB: String(64 * 1024 * 1024), df: (p: string) => `${p}\t${500 * 1024 * 1024}\t/`}

/** Probe output as the script prints it on a good, big Ubuntu 22.04 host unless told otherwise. */
function probe(o: Probe = {}): string {
  const lines = [`gw.uid=${o.uid ?? '0'}`, 'gw.user=root']
  if (o.os === null) lines.push('gw.osr_missing=1')
  else for (const [k, v] of Object.entries(o.os ?? OS.ubuntu2204)) lines.push(`gw.osr.${k}=${v}`)
  const tools = o.tools ?? ['bash', 'curl', 'sha256sum', 'timeout', 'stat']
  for (const t of ['bash', 'curl', 'sha256sum', 'timeout', 'stat']) lines.push(`gw.tool.${t}=${tools.includes(t) ? `/usr/bin/${t}` : ''}`)
  lines.push(`gw.cpus=${o.cpus ?? BIG.cpus}`, `gw.mem_kb=${o.memKB ?? BIG.memKB}`)
  lines.push(`gw.df.releases=${o.dfReleases ?? BIG.df('/opt')}`, `gw.df.datasets=${o.dfDatasets ?? BIG.df('/srv/datasets')}`)
  if (o.datasets !== null) lines.push(`gw.datasets=${o.datasets ?? 'ok'}`)
  if (o.k3s) lines.push(`gw.k3s=${o.k3s}`)
  lines.push(`gw.port_tool=${o.portTool ?? 'ss'}`)
  for (const p of o.port ?? []) lines.push(`gw.port6443=${p}`)
  lines.push('gw.end=1')
  return lines.join('\n') + '\n'
}

const OPTS: EvaluateOptions = {remoteDir: '/opt/gwfleet', datasetsFolder: '/srv/datasets', loginUser: 'root'}

function check(results: CheckResult[], id: string): CheckResult {
  const c = results.find((r) => r.id === id)
  if (!c) throw new Error(`no check ${id} in ${JSON.stringify(results)}`)
  return c
}

const evalOs = (os: Record<string, string>) => check(evaluatePreflight(probe({os}), OPTS), 'os')

describe('evaluatePreflight: OS', () => {
  it('Ubuntu 18.04 fails', () => {
    const c = evalOs(OS.ubuntu1804)
    expect(c.level).toBe('fail')
    expect(c.message).toMatch(/Ubuntu 18\.04\.6 LTS: too old, Ubuntu 20\.04 or newer is required/)
  })
  it('Ubuntu 20.04 warns (22.04 recommended)', () => {
    const c = evalOs(OS.ubuntu2004)
    expect(c.level).toBe('warn')
    expect(c.message).toMatch(/22\.04 is recommended/)
  })
  it('Ubuntu 22.04 and 24.04 pass', () => {
    expect(evalOs(OS.ubuntu2204)).toEqual({id: 'os', level: 'pass', message: 'Ubuntu 22.04.4 LTS'})
    expect(evalOs(OS.ubuntu2404).level).toBe('pass')
  })
  it('RHEL 7 fails', () => {
    const c = evalOs(OS.rhel7)
    expect(c.level).toBe('fail')
    expect(c.message).toMatch(/Red Hat Enterprise Linux 8 or newer is required/)
  })
  it('RHEL 8 warns (9 recommended)', () => {
    const c = evalOs(OS.rhel8)
    expect(c.level).toBe('warn')
    expect(c.message).toMatch(/Red Hat Enterprise Linux 9 is recommended/)
  })
  it('RHEL 9 passes', () => {
    expect(evalOs(OS.rhel9)).toEqual({id: 'os', level: 'pass', message: 'Red Hat Enterprise Linux 9.4 (Plow)'})
  })
  it('Debian fails as an unsupported OS', () => {
    const c = evalOs(OS.debian12)
    expect(c.level).toBe('fail')
    expect(c.message).toBe('Debian GNU/Linux 12 (bookworm): not a supported OS; the installer supports Red Hat Enterprise Linux 8+ and Ubuntu 20.04+')
  })
  it('a RHEL rebuild fails too, saying so', () => {
    const c = evalOs(OS.rocky9)
    expect(c.level).toBe('fail')
    expect(c.message).toMatch(/Red Hat compatible, but not a supported OS/)
  })
  it('no os-release fails', () => {
    expect(check(evaluatePreflight(probe({os: null}), OPTS), 'os').level).toBe('fail')
  })
  it('an unreadable Ubuntu version fails', () => {
    expect(evalOs({ID: 'ubuntu', VERSION_ID: '"jammy"'}).level).toBe('fail')
  })
})

describe('evaluatePreflight: software and root', () => {
  it('a good big host passes every check', () => {
    const r = evaluatePreflight(probe(), OPTS)
    expect(r.map((c) => c.id)).toEqual(['root', 'os', 'bash', 'curl', 'tools', 'cpu', 'memory', 'disk', 'datasets', 'port-6443', 'firewall', 'firewall-rules', 'proxy'])
    expect(r.filter((c) => c.level !== 'pass')).toEqual([])
    expect(worstLevel(r)).toBe('pass')
    expect(failingChecks(r)).toEqual([])
  })
  it('missing curl fails with how to install it', () => {
    const r = evaluatePreflight(probe({tools: ['bash', 'sha256sum', 'timeout', 'stat']}), OPTS)
    expect(check(r, 'curl')).toEqual({id: 'curl', level: 'fail', message: 'curl not found; the installer needs it (Red Hat: yum install curl, Ubuntu: apt install curl)'})
    expect(check(r, 'bash').level).toBe('pass')
    expect(failingChecks(r).map((c) => c.id)).toEqual(['curl'])
  })
  it('missing bash fails', () => {
    expect(check(evaluatePreflight(probe({tools: ['curl', 'sha256sum', 'timeout', 'stat']}), OPTS), 'bash').level).toBe('fail')
  })
  it("missing coreutils gwfleet needs fails", () => {
    const c = check(evaluatePreflight(probe({tools: ['bash', 'curl', 'stat']}), OPTS), 'tools')
    expect(c.level).toBe('fail')
    expect(c.message).toMatch(/^sha256sum, timeout not found/)
  })
  it('root through sudo passes and says so', () => {
    expect(check(evaluatePreflight(probe(), {...OPTS, loginUser: 'ops', viaSudo: true}), 'root')).toEqual({id: 'root', level: 'pass', message: 'root through sudo as ops'})
  })
  it('a sudo failure fails root with the reason, and the rest is still judged', () => {
    const r = evaluatePreflight(probe({uid: '60001', datasets: 'ok'}), {...OPTS, loginUser: 'ops', viaSudo: true, rootError: 'sudo is not installed on this host'})
    expect(check(r, 'root')).toEqual({id: 'root', level: 'fail', message: 'sudo is not installed on this host'})
    expect(check(r, 'os').level).toBe('pass')
    expect(check(r, 'datasets').message).toMatch(/readable by ops/)
  })
  it('a sudo failure with no output at all is one failed root check', () => {
    expect(evaluatePreflight('', {...OPTS, rootError: 'ops may not use sudo on this host'})).toEqual([{id: 'root', level: 'fail', message: 'ops may not use sudo on this host'}])
  })
  it('a login that is not root fails root', () => {
    const c = check(evaluatePreflight(probe({uid: '1000'}), {...OPTS, loginUser: 'deploy'}), 'root')
    expect(c.level).toBe('fail')
    // The same words as every other command's (notRootMessage).
    expect(c.message).toBe('deploy is not root on this host; set become: true to use sudo')
  })
  it('no answer at all is a failed probe', () => {
    expect(evaluatePreflight('', {...OPTS, stderr: 'sh: 1: cannot fork\n'})).toEqual([{id: 'probe', level: 'fail', message: 'the host did not answer the prerequisite probe: sh: 1: cannot fork'}])
  })
})

describe('evaluatePreflight: resources', () => {
  it('a small machine warns on CPUs, memory and disk, but does not fail', () => {
    const r = evaluatePreflight(probe({cpus: '2', memKB: String(8 * 1024 * 1024), dfReleases: `/opt\t${20 * 1024 * 1024}\t/`, dfDatasets: `/srv/datasets\t${20 * 1024 * 1024}\t/`}), OPTS)
    expect(check(r, 'cpu')).toEqual({id: 'cpu', level: 'warn', message: '2 CPUs; 8 recommended'})
    expect(check(r, 'memory')).toEqual({id: 'memory', level: 'warn', message: '8.0 GiB RAM; 32 GB recommended'})
    expect(check(r, 'disk')).toEqual({id: 'disk', level: 'warn', message: 'releases /opt/gwfleet and datasets /srv/datasets (on /): 21.5 GB free; 200 GB recommended'})
    expect(failingChecks(r)).toEqual([])
    expect(worstLevel(r)).toBe('warn')
  })
  it('a "32 GB" machine (MemTotal a little under 32 GiB) passes memory', () => {
    expect(check(evaluatePreflight(probe({memKB: '32803424'}), OPTS), 'memory').level).toBe('pass')
  })
  it('releases and datasets on different filesystems are checked apart', () => {
    const r = evaluatePreflight(probe({dfReleases: `/opt\t${500 * 1024 * 1024}\t/`, dfDatasets: `/data\t${10 * 1024 * 1024}\t/data`}), {...OPTS, datasetsFolder: '/data/sets'})
    expect(check(r, 'disk-releases').level).toBe('pass')
    expect(check(r, 'disk-datasets')).toEqual({id: 'disk-datasets', level: 'warn', message: 'datasets /data/sets (on /data): 10.7 GB free; 200 GB recommended'})
  })
  it('unknown sizes warn', () => {
    const r = evaluatePreflight(probe({cpus: '', memKB: '', dfReleases: '/opt\t\t', dfDatasets: '/srv\t\t'}), OPTS)
    expect(check(r, 'cpu').level).toBe('warn')
    expect(check(r, 'memory').level).toBe('warn')
    expect(r.filter((c) => c.id.startsWith('disk')).every((c) => c.level === 'warn')).toBe(true)
  })
})

describe('evaluatePreflight: datasets folder', () => {
  it('missing fails, naming the folder and the key', () => {
    expect(check(evaluatePreflight(probe({datasets: 'missing'}), OPTS), 'datasets')).toEqual({
      id: 'datasets',
      level: 'fail',
      message: 'datasets folder /srv/datasets (dal.sources.files.folder) does not exist',
    })
  })
  it('not a directory fails', () => {
    expect(check(evaluatePreflight(probe({datasets: 'notdir'}), OPTS), 'datasets').level).toBe('fail')
  })
  it('unreadable by root fails', () => {
    expect(check(evaluatePreflight(probe({datasets: 'unreadable'}), OPTS), 'datasets').message).toMatch(/not readable by root/)
  })
  it('not set in the values passes (the installer has its default)', () => {
    const c = check(evaluatePreflight(probe({datasets: null}), {...OPTS, datasetsFolder: undefined}), 'datasets')
    expect(c.level).toBe('pass')
    expect(c.message).toMatch(/\/home\/datastore/)
  })
})

describe('evaluatePreflight: port 6443', () => {
  it('busy with something else fails, naming it', () => {
    const c = check(evaluatePreflight(probe({port: ['LISTEN 0      4096         *:6443      *:*    users:(("kube-apiserver",pid=812,fd=7))']}), OPTS), 'port-6443')
    expect(c).toEqual({id: 'port-6443', level: 'fail', message: 'port 6443 is in use by kube-apiserver; k3s needs it for its API server'})
  })
  it('busy (from /proc/net/tcp, no process name) fails', () => {
    const c = check(evaluatePreflight(probe({portTool: 'proc', port: ['LISTEN (from /proc/net/tcp)']}), OPTS), 'port-6443')
    expect(c.level).toBe('fail')
  })
  it('held by k3s passes (a cluster is already there)', () => {
    const c = check(evaluatePreflight(probe({k3s: '/usr/local/bin/k3s', port: ['LISTEN 0 4096 *:6443 *:* users:(("k3s-server",pid=1,fd=3))']}), OPTS), 'port-6443')
    expect(c.level).toBe('pass')
  })
  it('free passes; cannot check warns', () => {
    expect(check(evaluatePreflight(probe(), OPTS), 'port-6443')).toEqual({id: 'port-6443', level: 'pass', message: 'free'})
    expect(check(evaluatePreflight(probe({portTool: 'none'}), OPTS), 'port-6443').level).toBe('warn')
  })
})

describe('script builders', () => {
  it('quote every path that reaches the shell', () => {
    const s = preflightScript({remoteDir: "/opt/gw fleet's", datasetsFolder: '/srv/$(reboot)'})
    expect(s).toContain(`gw_up '/opt/gw fleet'\\''s'; pr=$p`)
    expect(s).toContain(`D='/srv/$(reboot)'`)
    expect(s).not.toMatch(/[^']\/srv\/\$\(reboot\)/)
    expect(s.trimEnd().endsWith('echo gw.end=1')).toBe(true)
  })
  it('skips the datasets test when the values name no folder, but still sizes the default', () => {
    const s = preflightScript({remoteDir: '/opt/gwfleet'})
    expect(s).not.toContain('gw.datasets=')
    expect(s).toContain('gw_up /home/datastore; pd=$p')
  })
  it('logs: the vendor query, tail, and a watchdog only when following', () => {
    const once = logsScript({follow: false})
    expect(once).toContain('exec $K logs --namespace=apheris --selector=apheris-component=agent --tail=-1')
    expect(once).not.toContain('--follow')
    expect(once).toMatch(/cluster went away.*exit 3/)
    const f = logsScript({follow: true, tail: 50})
    expect(f).toContain('$K logs --namespace=apheris --selector=apheris-component=agent --tail=50 --follow &')
    expect(f).toContain("trap '' PIPE")
    expect(f).toContain('kill "$kp"')
  })
  it("status: the pods of all namespaces as kubectl's JSON", () => {
    expect(statusScript()).toContain('$K get pod --all-namespaces -o json')
  })
})

describe('parsers', () => {
  it('lock: holder and expiry', () => {
    const raw = JSON.stringify({owner: 'ana@ws', pid: 42, command: 'deploy', started: '2024-01-01T00:00:00Z', token: 't'})
    const {lock} = parseLock(`gw.lock=${raw}\ngw.lock_age=300\ngw.end=1\n`)
    expect(lock).toMatchObject({owner: 'ana@ws', pid: 42, command: 'deploy', ageSeconds: 300, expired: true})
    expect(lock!.holder).toBe('ana@ws pid 42 (deploy) since 2024-01-01T00:00:00Z')
    expect(parseLock('gw.end=1\n')).toEqual({lock: null, cleared: false})
  })
  it("history: this gateway's lines only, broken lines skipped", () => {
    const a = {time: '2024-01-02T00:00:00Z', gateway: 'a', operator: 'o', command: 'deploy', action: 'install', fromVersion: null, toVersion: '1.4.0', valuesSha256: 'x', result: 'ok'}
    const text = [JSON.stringify(a), JSON.stringify({...a, gateway: 'b'}), '{"time": "2024-01-0', ''].join('\n')
    expect(parseHistory(text, 'a')).toEqual([a])
  })
  it('log lines: time, level, message, then the rest compactly; other lines as they are', () => {
    expect(prettyLogLine('{"level":"info","ts":"2024-01-01T00:00:00Z","msg":"agent started","version":"1.5.0"}')).toBe('2024-01-01T00:00:00Z  INFO   agent started  version=1.5.0')
    expect(prettyLogLine('{"level":"error","ts":1704067200.5,"msg":"x","request":{"id":"c1"},"note":"two words"}')).toBe(
      '2024-01-01T00:00:00.500Z  ERROR  x  request={"id":"c1"}  note="two words"',
    )
    expect(prettyLogLine('I0101 plain klog line')).toBe('I0101 plain klog line')
    expect(prettyLogLine('{not json')).toBe('{not json')
  })
})

// ------------------------------------------------------------------ firewall, proxy, outbound

/** A good host's probe output with extra lines (firewall, proxy, net) before its end. */
const withLines = (...extra: string[]) => probe().replace('gw.end=1\n', `${extra.join('\n')}\ngw.end=1\n`)

const NET = (o: Partial<ValuesNetwork> = {}): ValuesNetwork => ({proxy: {}, secret: new Set(), ciliumEnabled: true, authDomain: 'auth.example.net', ...o})
const TARGETS = {targets: ['auth.example.net', 'quay.io', 'helm.cilium.io']}

describe('evaluatePreflight: firewall', () => {
  it('ufw active: the installer changes its rules (warn)', () => {
    const r = evaluatePreflight(withLines('gw.fw.ufw=Status: active'), OPTS)
    expect(check(r, 'firewall')).toEqual({
      id: 'firewall',
      level: 'warn',
      message: 'ufw is active: deploy_gateway changes its rules during setup and upgrades (vendor guide, "Firewall"); review them after the install',
    })
    expect(failingChecks(r)).toEqual([])
  })
  it('firewalld running and ufw active are both named; inactive ones pass', () => {
    expect(check(evaluatePreflight(withLines('gw.fw.ufw=Status: active', 'gw.fw.firewalld=running'), OPTS), 'firewall').message).toMatch(/^ufw and firewalld are active: deploy_gateway changes their rules/)
    expect(check(evaluatePreflight(withLines('gw.fw.ufw=Status: inactive', 'gw.fw.firewalld=not running'), OPTS), 'firewall')).toEqual({
      id: 'firewall',
      level: 'pass',
      message: 'ufw inactive, firewalld not running',
    })
    expect(check(evaluatePreflight(withLines('gw.fw.ufw=ERROR: problem running iptables'), OPTS), 'firewall')).toMatchObject({level: 'warn', message: expect.stringMatching(/cannot tell whether ufw is active \(ERROR/)})
  })
  it('other rules: warn that 6443 and the service route must be allowed, with samples', () => {
    const r = evaluatePreflight(
      withLines('gw.fw.ipt=1', 'gw.fw.ipt_policy=INPUT DROP [0:0]', 'gw.fw.ipt_rule=filter: -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT', 'gw.fw.ipt_rules=7', 'gw.fw.nft=1', 'gw.fw.nft_rules=0'),
      OPTS,
    )
    const c = check(r, 'firewall-rules')
    expect(c.level).toBe('warn')
    expect(c.message).toBe(
      'other firewall rules are present (iptables: policy INPUT DROP [0:0], 7 rules, e.g. "filter: -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"); the installer does not change them: ' +
        'allow traffic to port 6443 and routing from the Kubernetes service kubernetes.default.svc.cluster.local:443 to the control plane at localhost:6443 (vendor guide, "Firewall"; K3s inbound rules for server nodes)',
    )
    expect(check(evaluatePreflight(withLines('gw.fw.nft=1', 'gw.fw.nft_policy=inet filter input: drop', 'gw.fw.nft_rules=0'), OPTS), 'firewall-rules').message).toMatch(/^other firewall rules are present \(nftables: policy inet filter input: drop, 0 rules\)/)
  })
  it('with ufw or firewalld active, the policies are theirs: only other rules count', () => {
    expect(check(evaluatePreflight(withLines('gw.fw.ufw=Status: active', 'gw.fw.ipt=1', 'gw.fw.ipt_policy=INPUT DROP [0:0]', 'gw.fw.ipt_rules=0'), OPTS), 'firewall-rules').level).toBe('pass')
    const c = check(evaluatePreflight(withLines('gw.fw.firewalld=running', 'gw.fw.nft=1', 'gw.fw.nft_policy=ip filter INPUT: drop', 'gw.fw.nft_rule=ip filter INPUT: tcp dport 9000 drop', 'gw.fw.nft_rules=1'), OPTS), 'firewall-rules')
    expect(c.message).toMatch(/^other firewall rules are present \(nftables: 1 rule, e\.g\. "ip filter INPUT: tcp dport 9000 drop"\)/)
  })
  it('accepting policies only: pass; as the login user: not checked', () => {
    expect(check(evaluatePreflight(withLines('gw.fw.ipt=1', 'gw.fw.ipt_rules=0'), OPTS), 'firewall-rules').level).toBe('pass')
    const r = evaluatePreflight(probe({uid: '1000'}).replace('gw.end=1', 'gw.fw.ufw=Status: active\ngw.end=1'), {...OPTS, loginUser: 'ops'})
    expect(check(r, 'firewall')).toEqual({id: 'firewall', level: 'warn', message: 'not checked: reading the firewall needs root'})
    expect(r.find((c) => c.id === 'firewall-rules')).toBeUndefined()
  })
})

describe('evaluatePreflight: proxy', () => {
  it('reads assignments from the environment, /etc/environment, profiles and systemd lines', () => {
    expect(
      hostProxies([
        'env\thttps_proxy=http://***@proxy.corp:3128',
        '/etc/environment\tHTTP_PROXY="http://proxy.corp:3128/"',
        "/etc/profile.d/proxy.sh\texport no_proxy='localhost,127.0.0.1'",
        '/etc/systemd/system.conf\tDefaultEnvironment="HTTPS_PROXY=http://p2:8080" "NO_PROXY=.corp"',
        '/root/.bashrc\t# nothing here: https_proxy=',
      ]),
    ).toEqual([
      {source: 'env', kind: 'https', value: 'http://***@proxy.corp:3128'},
      {source: '/etc/environment', kind: 'http', value: 'http://proxy.corp:3128/'},
      {source: '/etc/profile.d/proxy.sh', kind: 'no', value: 'localhost,127.0.0.1'},
      {source: '/etc/systemd/system.conf', kind: 'https', value: 'http://p2:8080'},
      {source: '/etc/systemd/system.conf', kind: 'no', value: '.corp'},
    ])
  })
  it('the host has a proxy, the values none: warn, naming the side that has it, credentials masked', () => {
    const out = withLines('gw.proxy=/etc/environment\thttps_proxy=http://bob:hunter2@proxy.corp:3128')
    const c = check(evaluatePreflight(out, {...OPTS, network: NET()}), 'proxy')
    expect(c).toEqual({
      id: 'proxy',
      level: 'warn',
      message:
        'proxy settings differ: the host sets https_proxy=http://***@proxy.corp:3128 (/etc/environment) but the values set no proxy.httpsProxy (the gateway would connect directly) (vendor guide, "HTTP proxy")',
    })
    expect(JSON.stringify(c)).not.toContain('hunter2')
  })
  it('the values have a proxy, the host another or none: warn with both sides', () => {
    const values = NET({proxy: {https: 'http://alice:pw-123@gw-proxy:3128', no: 'localhost,.svc'}})
    const c = check(evaluatePreflight(withLines('gw.proxy=env\tHTTPS_PROXY=http://other:8080', 'gw.proxy=env\tNO_PROXY=localhost'), {...OPTS, network: values}), 'proxy')
    expect(c.level).toBe('warn')
    expect(c.message).toContain('the host sets https_proxy=http://other:8080 (the environment root gets over SSH) but the values set proxy.httpsProxy=http://***@gw-proxy:3128')
    expect(c.message).toContain('the host sets no_proxy=localhost (the environment root gets over SSH) but the values set proxy.noProxy=localhost,.svc')
    expect(c.message).not.toContain('pw-123')
    const none = check(evaluatePreflight(probe(), {...OPTS, network: values}), 'proxy')
    expect(none.message).toBe(
      'proxy settings differ: the values set proxy.httpsProxy=http://***@gw-proxy:3128 but the host sets no https_proxy (the installer and k3s would connect directly) (vendor guide, "HTTP proxy")',
    )
  })
  it('the same proxy on both sides passes (credentials, case and a trailing slash aside); a secret value is never shown', () => {
    const values = NET({proxy: {https: 'http://Proxy.corp:3128/'}})
    expect(check(evaluatePreflight(withLines('gw.proxy=/etc/environment\thttps_proxy=http://***@proxy.corp:3128'), {...OPTS, network: values}), 'proxy')).toEqual({
      id: 'proxy',
      level: 'pass',
      message: 'the host and the values agree: https proxy http://Proxy.corp:3128/',
    })
    const secret = NET({proxy: {http: 'http://u:s3cr3t-value@p:1'}, secret: new Set(['http'])})
    const c = check(evaluatePreflight(probe(), {...OPTS, network: secret}), 'proxy')
    expect(c.message).toContain('proxy.httpProxy=(a secret reference)')
    expect(c.message).not.toContain('p:1')
    expect(check(evaluatePreflight(probe(), OPTS), 'proxy')).toEqual({id: 'proxy', level: 'pass', message: 'no proxy on the host or in the values'})
  })
  it('masks user:password in every URL of a text', () => {
    expect(maskCredentials('a=http://u:p@h:1/x b=https://h2/ c=socks5://x@y')).toBe('a=http://***@h:1/x b=https://h2/ c=socks5://***@y')
  })
})

describe('evaluatePreflight: outbound HTTPS', () => {
  const opts = {...OPTS, network: NET(), outbound: TARGETS}
  it('all reached: pass, saying how', () => {
    const out = withLines('gw.net_method=curl', ...TARGETS.targets.map((h) => `gw.net=${h}\tok\tcurl\t-\t (exit 0)`))
    expect(check(evaluatePreflight(out, opts), 'outbound')).toEqual({
      id: 'outbound',
      level: 'pass',
      message: 'reached auth.example.net (auth.domain), quay.io (image and chart registry), helm.cilium.io (Cilium chart repository) over HTTPS (curl, directly (no proxy), at most 3s each)',
    })
  })
  it('unreachable ones: warn naming each, why, the method and the proxy (masked); no answer counts too', () => {
    const out = withLines(
      'gw.net_method=curl',
      'gw.net=auth.example.net\tok\tcurl\thttp://***@proxy.corp:3128 (/etc/environment)\t (exit 0)',
      'gw.net=quay.io\tfail\tcurl\thttp://***@proxy.corp:3128 (/etc/environment)\tcurl: (56) CONNECT tunnel failed, response 403 (exit 56)',
    )
    const c = check(evaluatePreflight(out, opts), 'outbound')
    expect(c.level).toBe('warn')
    expect(c.message).toBe(
      'could not reach quay.io (image and chart registry): curl: (56) CONNECT tunnel failed, response 403 (exit 56); helm.cilium.io (Cilium chart repository): no answer ' +
        '(tested with curl, through proxy http://***@proxy.corp:3128 (/etc/environment), at most 3s each); the installer and the gateway need them (vendor guide, "Networking")',
    )
    expect(failingChecks(evaluatePreflight(out, opts))).toEqual([])
  })
  it('says which fallback was used, and when none could be', () => {
    const bash = withLines('gw.net_method=bash', ...TARGETS.targets.map((h) => `gw.net=${h}\tfail\tbash\t-\tgw: line 1: ${h}: Name or service not known (exit 1)`))
    const c = check(evaluatePreflight(bash, opts), 'outbound')
    expect(c.message).toContain('auth.example.net (auth.domain): auth.example.net: Name or service not known (exit 1)')
    expect(c.message).toContain('tested with bash /dev/tcp (a TCP connect; curl is missing), directly (no proxy)')
    const ossl = withLines('gw.net_method=openssl', `gw.net=quay.io\tfail\topenssl\t-\t4097C05C547F0000:error:10080002:BIO routines:BIO_lookup_ex:system lib:x.c:746:Name or service not known (exit 1)`)
    expect(check(evaluatePreflight(ossl, opts), 'outbound').message).toContain('quay.io (image and chart registry): BIO routines:BIO_lookup_ex:system lib:x.c:746:Name or service not known (exit 1)')
    expect(check(evaluatePreflight(withLines('gw.net_method=none'), opts), 'outbound')).toMatchObject({level: 'warn', message: expect.stringMatching(/^cannot test outbound HTTPS/)})
  })
})

describe('the values side', () => {
  const job = (text: string, secrets: string[] = [], ciliumEnabled = true): Job =>
    ({gw: {remoteDir: '/opt/gwfleet'}, values: {file: '/x.yaml', text, data: parseYaml(text), sha256: 'x', secrets, ciliumEnabled}}) as unknown as Job
  it('auth.domain and the proxy keys; the test proxy is sent without its credentials', () => {
    const j = job('auth:\n  domain: https://auth.example.net/\nproxy:\n  httpsProxy: "http://bob:pw-42@proxy.corp:3128"\n  noProxy: localhost\n')
    const n = valuesNetwork(j.values)
    expect(n.authDomain).toBe('auth.example.net')
    expect(n.proxy).toEqual({https: 'http://bob:pw-42@proxy.corp:3128', no: 'localhost'})
    const o = preflightScriptOptions(j)
    expect(o.outbound).toEqual({targets: ['auth.example.net', 'quay.io', 'helm.cilium.io'], proxy: 'http://proxy.corp:3128'})
    const script = preflightScript(o)
    expect(script).toContain('gw_np=http://proxy.corp:3128; gw_nps=values')
    expect(script).not.toContain('pw-42')
  })
  it('a secret proxy or auth.domain is never sent; cilium disabled drops its chart repository; a bad domain is left out', () => {
    const j = job('auth:\n  domain: "secret.example"\nproxy:\n  httpsProxy: "http://u:tok@p:1"\n', ['secret.example', 'http://u:tok@p:1'], false)
    const o = preflightScriptOptions(j)
    expect(o.outbound).toEqual({targets: ['quay.io']})
    expect(preflightScript(o)).not.toMatch(/secret\.example|tok|p:1/)
    expect(outboundTargets(NET({authDomain: 'x;reboot'})).map((t) => t.host)).toEqual(['quay.io', 'helm.cilium.io'])
  })
})

describe('the probe on a real shell', () => {
  let dir: string
  let proxy: net.Server
  let port = 0
  let tunnel: net.Server
  const run = (script: string, env: Record<string, string>) =>
    new Promise<string>((resolve) => execFile('sh', ['-c', script], {env: {PATH: `${process.env.PATH}:${dir}`, ...env}, encoding: 'utf8'}, (_e, out) => resolve(out)))
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'gwfleet-pf-'))
    const tool = (name: string, body: string) => writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`, {mode: 0o755})
    tool('ufw', "printf 'Status: active\\n\\nTo   Action   From\\n22   ALLOW    Anywhere\\n'")
    tool('firewall-cmd', 'echo "not running"; exit 252')
    tool(
      'iptables-save',
      "printf '*nat\\n:PREROUTING ACCEPT [0:0]\\n-A PREROUTING -j KUBE-SERVICES\\nCOMMIT\\n*filter\\n:INPUT DROP [0:0]\\n:FORWARD ACCEPT [0:0]\\n:ufw-before-input - [0:0]\\n-A INPUT -j ufw-before-input\\n-A INPUT -p tcp --dport 22 -j ACCEPT\\n-A KUBE-FIREWALL -j DROP\\nCOMMIT\\n'",
    )
    tool(
      'nft',
      "printf 'table inet filter {\\n\\tset blocked {\\n\\t\\ttype ipv4_addr\\n\\t\\telements = { 10.0.0.1,\\n\\t\\t\\t     10.0.0.2 }\\n\\t}\\n\\tchain input {\\n\\t\\ttype filter hook input priority filter; policy drop;\\n\\t\\ttcp dport { 22, 80 } accept\\n\\t}\\n}\\ntable inet firewalld {\\n\\tchain filter_INPUT {\\n\\t\\ttype filter hook input priority filter + 10; policy drop;\\n\\t\\tjump filter_INPUT_ZONES\\n\\t}\\n}\\n'",
    )
    // An HTTP proxy that wants credentials: every CONNECT gets 407.
    proxy = net.createServer((c) => c.on('error', () => {}).once('data', () => c.end('HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n')))
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()))
    port = (proxy.address() as net.AddressInfo).port
  })
  afterAll(() => {
    proxy?.close()
    tunnel?.close()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  it('reports ufw, the other rules (not those of k3s, ufw or firewalld), the proxy masked, and the outbound test through it', async () => {
    const script = preflightScript({remoteDir: '/opt/gwfleet', outbound: {targets: ['quay.io', 'auth.example.net']}})
    const out = await run(script, {https_proxy: `http://carol:pa55word@127.0.0.1:${port}`})
    expect(out).not.toContain('pa55word')
    const kv = parseKv(out)
    expect(kv.get('fw.ufw')).toEqual(['Status: active'])
    expect(kv.get('fw.firewalld')).toEqual(['not running'])
    expect(kv.get('fw.ipt_policy')).toEqual(['INPUT DROP [0:0]'])
    expect(kv.get('fw.ipt_rule')).toEqual(['filter: -A INPUT -p tcp --dport 22 -j ACCEPT'])
    expect(kv.get('fw.ipt_rules')).toEqual(['1'])
    expect(kv.get('fw.nft_policy')).toEqual(['inet filter input: drop'])
    expect(kv.get('fw.nft_rule')).toEqual(['inet filter input: tcp dport { 22, 80 } accept'])
    expect(kv.get('fw.nft_rules')).toEqual(['1'])
    expect(kv.get('proxy')).toContain(`env\thttps_proxy=http://***@127.0.0.1:${port}`)
    expect(kv.get('net_method')).toEqual(['curl'])
    const net = (kv.get('net') ?? []).sort()
    expect(net).toHaveLength(2)
    for (const [i, h] of ['auth.example.net', 'quay.io'].entries()) {
      expect(net[i]).toMatch(new RegExp(`^${h.replace(/\./g, '\\.')}\tfail\tcurl\thttp://\\*\\*\\*@127\\.0\\.0\\.1:${port} \\(env\\)\tcurl: \\(56\\) .*407.* \\(exit 56\\)$`))
    }
    const r = evaluatePreflight(out, {remoteDir: '/opt/gwfleet', outbound: {targets: ['quay.io', 'auth.example.net']}, network: NET()})
    expect(check(r, 'firewall').message).toMatch(/^ufw is active/)
    // ufw is active here: the policies are its own, the rules are what counts
    expect(check(r, 'firewall-rules').message).toMatch(/^other firewall rules are present \(iptables: 1 rule, e\.g\. "filter: -A INPUT -p tcp --dport 22 -j ACCEPT"; nftables: 1 rule, e\.g\. "inet filter input: tcp dport \{ 22, 80 \} accept"\)/)
    expect(check(r, 'proxy').level).toBe('warn')
    expect(check(r, 'outbound').message).toContain(`through proxy http://***@127.0.0.1:${port} (the environment root gets over SSH)`)
    expect(JSON.stringify(r)).not.toContain('pa55word')
  })

  it('without curl: a CONNECT through the proxy by bash; a 200 from the proxy is a reach', async () => {
    // A proxy that accepts every CONNECT (it tunnels nowhere: bash only needs its answer).
    tunnel = net.createServer((c) => c.on('error', () => {}).once('data', () => c.end('HTTP/1.1 200 Connection established\r\n\r\n')))
    await new Promise<void>((r) => tunnel.listen(0, '127.0.0.1', () => r()))
    const tport = (tunnel.address() as net.AddressInfo).port
    const opts = {remoteDir: '/opt/gwfleet', outbound: {targets: ['quay.io', 'auth.example.net'], proxy: `http://127.0.0.1:${tport}`}}
    // The host "has no curl": the script looks for a name that does not exist instead.
    const script = preflightScript(opts).replace('command -v curl ', 'command -v gwfleet-no-such-curl ')
    const out = await run(script, {})
    expect(parseKv(out).get('net_method')).toEqual(['bash'])
    const c = check(evaluatePreflight(out, {...opts, network: NET({authDomain: 'auth.example.net', proxy: {https: `http://127.0.0.1:${tport}`}})}), 'outbound')
    expect(c).toEqual({
      id: 'outbound',
      level: 'pass',
      message: `reached quay.io (image and chart registry), auth.example.net (auth.domain) over HTTPS (bash /dev/tcp (a TCP connect; curl is missing), through proxy http://127.0.0.1:${tport} (the values' proxy.httpsProxy), at most 3s each)`,
    })
  })
})
