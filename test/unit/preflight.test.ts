// The preflight evaluator on canned probe outputs, and the script builders as strings.
import {describe, expect, it} from 'vitest'

import {evaluatePreflight, failingChecks, preflightScript, worstLevel, type CheckResult, type EvaluateOptions} from '../../src/preflight/checks.js'
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
    expect(r.map((c) => c.id)).toEqual(['root', 'os', 'bash', 'curl', 'tools', 'cpu', 'memory', 'disk', 'datasets', 'port-6443'])
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
    expect(c.message).toMatch(/deploy is not root on this host; log in as root or set become: true/)
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
