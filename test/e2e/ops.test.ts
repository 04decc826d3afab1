// End to end: the operator commands (preflight, logs, status, locks, history) on real OpenSSH lab
// hosts, and that audit, status and logs agree whether a gateway is installed. One lab for the file
// (subnet 14, name 'ops'); the tests run in order and build on each other:
//   h1: /etc/os-release says Debian (unsupported)     h2: user ops with become, sudo removed
//   h3: its datasets folder is missing                 h4: a good host: deployed, logs, status, locks, history
import {spawn} from 'node:child_process'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {agentVersion, CLI, type CliResult, type Lab, lab as startLab, type LabHost, Workspace} from './fleet.js'

const DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n'

let lab: Lab
let ws: Workspace
let fleet: string
const h = (i: number): LabHost => lab.hosts[i - 1]
/** Host i's address as a regular-expression fragment (GWFLEET_LAB_OFFSET shifts the lab's subnet). */
const ip = (i: number): string => h(i).address.replace(/\./g, '\\.')

/** The commands run in this process (inprocess.ts): these cases check what they report; `logs --follow` spawns. */
async function gw(args: string[]): Promise<CliResult> {
  return ws.runHere(args)
}

/** What every command says of h3, which never had k3s. */
const NOT_INSTALLED_H3 = /no gateway installed \(no (kubectl or k3s on the host|k3s cluster on the host \(no \/etc\/rancher\/k3s\/k3s\.yaml\))\)/

/** Processes in a lab host's own mount namespace whose command line starts with `prefix`. */
async function processesOn(host: LabHost, prefix: string): Promise<string[]> {
  const r = await host.exec(
    `me=$(readlink /proc/self/ns/mnt); for p in /proc/[0-9]*; do [ "$(readlink $p/ns/mnt 2>/dev/null)" = "$me" ] || continue; c=$(tr '\\0' ' ' < $p/cmdline 2>/dev/null); case "$c" in '${prefix}'*) echo "\${p#/proc/} $c";; esac; done`,
  )
  return r.stdout.split('\n').filter(Boolean)
}

beforeAll(async () => {
  lab = await startLab(4, 14, 'ops')
  ws = new Workspace(lab, 'ops')
  await ws.releasesOf('1.4.0', '1.5.0')
  fleet = ws.inventory('1.4.0', [{host: h(1)}, {host: h(2), opts: {user: 'ops', become: true}}, {host: h(3)}, {host: h(4)}])
  await h(1).setOsRelease(DEBIAN)
  const rm = await h(2).exec('rm -f /usr/bin/sudo && ! command -v sudo')
  expect(rm.code).toBe(0)
  await h(3).exec('rm -rf /srv/datasets')
}, 180_000)

afterAll(async () => {
  await lab?.stop()
})

describe('preflight', () => {
  let doc: any
  it('reports each problem host as fail with the reason, exit 1', async () => {
    const r = await gw(['preflight', '-i', fleet, '--json'])
    expect(r.code, r.stderr).toBe(1)
    doc = r.json
    expect(doc.command).toBe('preflight')
    expect(doc.ok).toBe(false)
    const byName = Object.fromEntries(doc.hosts.map((x: any) => [x.name, x]))
    const checkOf = (name: string, id: string) => byName[name].checks.find((c: any) => c.id === id)

    expect(byName.h1.status).toBe('fail')
    expect(checkOf('h1', 'os')).toEqual({id: 'os', level: 'fail', message: expect.stringMatching(/^Debian GNU\/Linux 12 \(bookworm\): not a supported OS/)})
    expect(byName.h1.checks.filter((c: any) => c.level === 'fail').map((c: any) => c.id)).toEqual(['os'])

    expect(byName.h2.status).toBe('fail')
    expect(checkOf('h2', 'root')).toEqual({id: 'root', level: 'fail', message: 'sudo is not installed on this host'})
    // the rest was still read, as the login user
    expect(checkOf('h2', 'os').level).toBe('pass')

    expect(byName.h3.status).toBe('fail')
    expect(checkOf('h3', 'datasets')).toEqual({id: 'datasets', level: 'fail', message: 'datasets folder /srv/datasets (dal.sources.files.folder) does not exist'})
    expect(byName.h3.checks.filter((c: any) => c.level === 'fail').map((c: any) => c.id)).toEqual(['datasets'])

    // the good host: nothing fails (a small lab machine may warn on CPUs, memory, disk)
    expect(['pass', 'warn']).toContain(byName.h4.status)
    expect(byName.h4.checks.filter((c: any) => c.level === 'fail')).toEqual([])
    expect(checkOf('h4', 'root')).toEqual({id: 'root', level: 'pass', message: 'logged in as root'})
    expect(checkOf('h4', 'os')).toEqual({id: 'os', level: 'pass', message: 'Ubuntu 22.04.4 LTS'})
    expect(checkOf('h4', 'datasets').level).toBe('pass')
    expect(checkOf('h4', 'port-6443').level).toBe('pass')
    expect(checkOf('h4', 'bash').level).toBe('pass')
    expect(checkOf('h4', 'curl').level).toBe('pass')
  })

  it('prints a table per host and check, problems first', async () => {
    const r = await gw(['preflight', '-i', fleet])
    expect(r.code).toBe(1)
    const lines = r.stdout.split('\n')
    expect(lines[0]).toMatch(/^GATEWAY\s+HOST\s+CHECK\s+RESULT\s+DETAIL$/)
    expect(r.stdout).toMatch(new RegExp(String.raw`h1\s+${ip(1)}\s+os\s+FAIL\s+Debian GNU/Linux 12 \(bookworm\): not a supported OS`))
    expect(r.stdout).toMatch(new RegExp(String.raw`h2\s+${ip(2)}\s+root\s+FAIL\s+sudo is not installed on this host`))
    expect(r.stdout).toMatch(new RegExp(String.raw`h3\s+${ip(3)}\s+datasets\s+FAIL\s+datasets folder /srv/datasets`))
    // h4 (no failure) comes after every failing host
    const firstH4 = lines.findIndex((l) => l.startsWith('h4 '))
    expect(firstH4).toBeGreaterThan(Math.max(...['h1', 'h2', 'h3'].map((n) => lines.findLastIndex((l) => l.startsWith(`${n} `)))))
    expect(r.stdout).toMatch(/fail: 3/)
  })

  it('the table lists the problems and counts every check by default; --all lists every check; the JSON always holds them all', async () => {
    const json = await gw(['preflight', '-i', fleet, '-l', 'h1,h4', '--json'])
    const checks = Object.fromEntries(json.json.hosts.map((x: any) => [x.name, x.checks]))
    const count = (level: string) => [...checks.h1, ...checks.h4].filter((c: any) => c.level === level).length
    expect(json.json.checkCounts).toEqual({total: checks.h1.length + checks.h4.length, pass: count('pass'), warn: count('warn'), fail: 1})

    const r = await gw(['preflight', '-i', fleet, '-l', 'h1,h4'])
    expect(r.code).toBe(1)
    const rows = r.stdout.split('\n').filter((l) => /^h[14] /.test(l))
    const idsOf = (name: string, table: string[]) => table.filter((l) => l.startsWith(`${name} `)).map((l) => l.split(/\s+/)[2])
    const problems = (name: string) => checks[name].filter((c: any) => c.level !== 'pass').map((c: any) => c.id)
    // Only what warns or fails (h1's os among them), in check order; a host whose checks all pass gets one line.
    expect(idsOf('h1', rows)).toEqual(problems('h1'))
    expect(rows.find((l) => /^h1 .*\sos\s/.test(l))).toMatch(/\sos\s+FAIL\s+Debian GNU\/Linux 12/)
    expect(idsOf('h4', rows)).toEqual(problems('h4').length ? problems('h4') : ['all'])
    expect(rows.filter((l) => /\sPASS\s/.test(l)).every((l) => new RegExp(String.raw`^h4\s.*\sall\s+PASS\s+all ${checks.h4.length} checks pass$`).test(l))).toBe(true)
    expect(r.stdout).toContain(
      `\n${count('pass') + count('warn') + 1} checks on 2 hosts: ${count('pass')} pass, ${count('warn')} warn, 1 fail; the ${count('pass')} passing are not listed (--all lists every check)\n`,
    )

    const all = await gw(['preflight', '-i', fleet, '-l', 'h1,h4', '--all'])
    const allRows = all.stdout.split('\n').filter((l) => /^h[14] /.test(l))
    expect(idsOf('h1', allRows)).toEqual(checks.h1.map((c: any) => c.id))
    expect(idsOf('h4', allRows)).toEqual(checks.h4.map((c: any) => c.id))
    expect(all.stdout).not.toContain('are not listed')
  })

  it('exit 0 when only the good host is checked', async () => {
    const r = await gw(['preflight', '-i', fleet, '-l', 'h4', '--json'])
    expect(r.code, r.stdout).toBe(0)
    expect(r.json.ok).toBe(true)
  })

  it('a bad selector is bad input (exit 2)', async () => {
    const r = await gw(['preflight', '-i', fleet, '-l', 'nope', '--json'])
    expect(r.code).toBe(2)
    expect(r.json).toEqual({ok: false, error: expect.stringMatching(/no gateway named "nope"/)})
  })
})

describe('deploy runs the failing-level preflight checks first', () => {
  it('stops each problem host before uploading anything; --skip-preflight bypasses', async () => {
    const r = await gw(['deploy', '-i', fleet, '-l', 'h1,h3', '--json'])
    expect(r.code).toBe(1)
    const byName = Object.fromEntries(r.json.hosts.map((x: any) => [x.name, x]))
    expect(byName.h1).toMatchObject({status: 'failed', action: 'install'})
    expect(byName.h1.error).toMatch(/^preflight failed: os: Debian GNU\/Linux 12 \(bookworm\): not a supported OS.*--skip-preflight/)
    expect(byName.h3.error).toMatch(/^preflight failed: datasets: datasets folder \/srv\/datasets/)
    for (const host of [h(1), h(3)]) {
      // Nothing was uploaded or run: no release, no values, no installer run, and the lock is released.
      expect(await host.exists('/opt/gwfleet/releases/1.4.0')).toBe(false)
      expect(await host.exists(`/opt/gwfleet/values/${host.name}.yaml`)).toBe(false)
      expect(await host.exists('/var/lib/gwlab-k3s/installs.log')).toBe(false)
      expect(await host.exists('/opt/gwfleet/state/lock')).toBe(false)
    }
    // The sudo-less host never gets that far: taking the lock already needs root.
    const r2 = await gw(['deploy', '-i', fleet, '-l', 'h2', '--json'])
    expect(r2.json.hosts[0]).toMatchObject({status: 'failed', error: 'sudo is not installed on this host'})

    const forced = await gw(['deploy', '-i', fleet, '-l', 'h1', '--skip-preflight', '--json'])
    expect(forced.code, forced.stdout).toBe(0)
    expect(await agentVersion(h(1))).toBe('1.4.0')
  })
})

describe('logs and status on a deployed gateway', () => {
  beforeAll(async () => {
    const r = await gw(['deploy', '-i', fleet, '-l', 'h4', '--json'])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(await agentVersion(h(4))).toBe('1.4.0')
  }, 180_000)

  it('logs: each JSON line pretty-printed', async () => {
    const r = await gw(['logs', 'h4', '-i', fleet])
    expect(r.code, r.stderr).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines).toEqual([
      '2024-01-01T00:00:00Z  INFO   agent started  version=1.4.0',
      '2024-01-01T00:00:01Z  INFO   connected to orchestrator',
      '2024-01-01T00:00:02Z  INFO   computation request  request={"id":"c1239352","resources":{"cpu":"1","memory":"2Gi"}}',
    ])
  })

  it('logs --raw: the lines as kubectl gives them; --json: jsonlines', async () => {
    const raw = await gw(['logs', 'h4', '-i', fleet, '--raw'])
    expect(raw.code).toBe(0)
    expect(raw.stdout.split('\n')[0]).toBe('{"level":"info","ts":"2024-01-01T00:00:00Z","msg":"agent started","version":"1.4.0"}')
    const js = await gw(['logs', 'h4', '-i', fleet, '--json'])
    expect(js.code).toBe(0)
    const parsed = js.stdout.trimEnd().split('\n').map((l) => JSON.parse(l))
    expect(parsed.map((o) => o.msg)).toEqual(['agent started', 'connected to orchestrator', 'computation request'])
  })

  it('logs on a host without a gateway: exit 1, says why', async () => {
    const r = await gw(['logs', 'h3', '-i', fleet])
    expect(r.code).toBe(1)
    // Without k3s there is no kubectl, or (where the machine has one of its own) no k3s kubeconfig.
    expect(r.stderr).toMatch(NOT_INSTALLED_H3)
    expect(r.stdout).toBe('')
  })

  it('logs of an unknown gateway is bad input', async () => {
    const r = await gw(['logs', 'nope', '-i', fleet])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/no gateway named "nope"/)
  })

  it('logs --follow streams until Ctrl-C, then exits 0 and leaves no follower on the host', async () => {
    const child = spawn(process.execPath, [CLI, 'logs', 'h4', '-i', fleet, '--follow'], {env: ws.env(), stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    const deadline = Date.now() + 30_000
    while (!out.includes('computation request') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    expect(out, err).toContain('agent started')
    // still running: following
    await new Promise((r) => setTimeout(r, 1500))
    expect(child.exitCode).toBeNull()
    expect(await processesOn(h(4), 'sleep infinity')).toHaveLength(1)
    child.kill('SIGINT')
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000))])
    expect(code, err).toBe(0)
    expect(out).not.toContain('gw.hb')
    // the watchdog notices the closed channel within a heartbeat or two
    let left: string[] = []
    for (let i = 0; i < 30; i++) {
      left = await processesOn(h(4), 'sleep infinity')
      if (left.length === 0) break
      await new Promise((r) => setTimeout(r, 500))
    }
    expect(left).toEqual([])
  })

  it("status GATEWAY: the cluster's pods as kubectl lists them, and the computations", async () => {
    const r = await gw(['status', 'h4', '-i', fleet])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(new RegExp(String.raw`^== h4 \(${ip(4)}\): agent 1\.4\.0$`, 'm'))
    expect(r.stdout).toMatch(/^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/m)
    // The age is the agent's, counted from when the installer made it.
    expect(r.stdout).toMatch(/^apheris\s+apheris-gateway-agent-76b585556f-mfhx6\s+1\/1\s+Running\s+0\s+(\d+s|\d+m\d\ds)$/m)
    expect(r.stdout).toMatch(/^kube-system\s+coredns-77ccd57875-vzghv\s+1\/1\s+Running\s+0\s+\S+$/m)
    expect(r.stdout).toContain('Computations (apheris_job_id): none running')
  })

  it("status --limit --json: read from kubectl's JSON; not-installed ones make exit 1", async () => {
    const r = await gw(['status', '-i', fleet, '-l', 'h3,h4', '--json'])
    expect(r.code).toBe(1)
    const byName = Object.fromEntries(r.json.hosts.map((x: any) => [x.name, x]))
    expect(byName.h4).toMatchObject({status: 'ok', installed: 'yes', version: '1.4.0', error: null, computations: []})
    expect(byName.h4.pods).toContainEqual({
      namespace: 'apheris',
      name: 'apheris-gateway-agent-76b585556f-mfhx6',
      ready: '1/1',
      status: 'Running',
      restarts: 0,
      created: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    })
    expect(byName.h4.pods.map((p: any) => p.namespace).sort()).toEqual(['apheris', 'cilium', 'cilium', 'kube-system', 'kube-system'])
    expect(byName.h3).toMatchObject({status: 'not-installed', installed: 'no', error: expect.stringMatching(NOT_INSTALLED_H3), pods: []})
  })

  it('status: computations grouped by apheris_job_id, with not-ready and crash-looping pods', async () => {
    await h(4).setFault('kubectl-jobs', '1')
    try {
      const r = await gw(['status', 'h4', '-i', fleet, '--json'])
      expect(r.code, r.stderr).toBe(0)
      const [g] = r.json.hosts
      expect(g.pods).toHaveLength(8)
      expect(g.pods).toContainEqual(expect.objectContaining({name: 'apheris-computation-c1239352-worker-statefulset-1', ready: '0/1', status: 'CrashLoopBackOff', restarts: 4}))
      expect(g.pods).toContainEqual(expect.objectContaining({name: 'apheris-computation-7e4a90d1-statefulset-0', ready: '0/1', status: 'Init:0/1'}))
      expect(g.computations.map((c: any) => [c.jobId, c.pods.map((p: any) => [p.name, p.ready, p.restarts, p.requests])])).toEqual([
        [
          'c1239352',
          [
            ['apheris-computation-c1239352-trainer-statefulset-0', '2/2', 0, ['1/2Gi', '100m/64Mi']],
            ['apheris-computation-c1239352-worker-statefulset-1', '0/1', 4, ['2/4Gi']],
          ],
        ],
        ['7e4a90d1', [['apheris-computation-7e4a90d1-statefulset-0', '0/1', 0, ['500m/1Gi']]]],
      ])
      const t = await gw(['status', 'h4', '-i', fleet])
      expect(t.stdout).toContain('Computations (apheris_job_id): 2 job(s)')
      expect(t.stdout).toMatch(/^c1239352\s+apheris-computation-c1239352-worker-statefulset-1\s+0\/1\s+Running\s+4\s+\S+\s+2\/4Gi$/m)
    } finally {
      await h(4).setFault('kubectl-jobs', null)
    }
  })

  it('status with both GATEWAY and --limit is bad input', async () => {
    const r = await gw(['status', 'h4', '-i', fleet, '-l', 'h3'])
    expect(r.code).toBe(2)
  })
})

describe('audit, status and logs agree whether a gateway is installed', () => {
  /** What each of the three commands says about h4. */
  async function say(): Promise<{audit: any; status: any; logs: CliResult}> {
    const a = await gw(['audit', '-i', fleet, '-l', 'h4', '--json'])
    const s = await gw(['status', 'h4', '-i', fleet, '--json'])
    const l = await gw(['logs', 'h4', '-i', fleet])
    return {audit: a.json.hosts[0], status: s.json.hosts[0], logs: l}
  }

  it('installed: in sync, ok, and its logs', async () => {
    const {audit, status, logs} = await say()
    expect(audit).toMatchObject({status: 'in-sync', version: '1.4.0'})
    expect(status).toMatchObject({status: 'ok', installed: 'yes', version: '1.4.0'})
    expect(logs.code, logs.stderr).toBe(0)
    expect(logs.stdout).toContain('agent started  version=1.4.0')
  })

  it("k3s's kubeconfig moved away: all three say not installed, for the same reason", async () => {
    await h(4).exec('mv /etc/rancher/k3s/k3s.yaml /root/k3s.yaml.away')
    try {
      const {audit, status, logs} = await say()
      const why = 'no gateway installed (no k3s cluster on the host (no /etc/rancher/k3s/k3s.yaml))'
      expect(audit).toMatchObject({status: 'not-installed', version: null, error: why})
      expect(status).toMatchObject({status: 'not-installed', installed: 'no', version: null, error: why, pods: []})
      expect(logs.code).toBe(1)
      expect(logs.stderr).toContain(`h4: ${why}`)
      expect(logs.stdout).toBe('')
    } finally {
      await h(4).exec('mv /root/k3s.yaml.away /etc/rancher/k3s/k3s.yaml')
    }
  })

  it('the agent deployment gone: not installed everywhere, though the cluster still answers', async () => {
    await h(4).exec('mv /var/lib/gwlab-k3s/agent-image /root/agent-image.away')
    try {
      const {audit, status, logs} = await say()
      const why = 'no gateway installed (no agent deployment in namespace apheris)'
      expect(audit).toMatchObject({status: 'not-installed', error: why})
      expect(status).toMatchObject({status: 'not-installed', installed: 'no', error: why})
      // The cluster itself still runs: status shows its pods, none of them the agent.
      expect(status.pods.map((p: any) => p.namespace)).not.toContain('apheris')
      expect(status.pods.length).toBeGreaterThan(0)
      expect(logs.code).toBe(1)
      expect(logs.stderr).toContain(`h4: ${why}`)
    } finally {
      await h(4).exec('mv /root/agent-image.away /var/lib/gwlab-k3s/agent-image')
    }
  })

  it('the API server down: none of them claims either way; each fails with the same cause', async () => {
    await h(4).setFault('kubectl-down', '1')
    try {
      const {audit, status, logs} = await say()
      expect(audit.status).toBe('failed')
      expect(audit.error).toMatch(/^the cluster does not answer .*127\.0\.0\.1:6443 was refused/)
      expect(status).toMatchObject({status: 'failed', installed: 'unknown', error: audit.error})
      expect(logs.code).toBe(1)
      expect(logs.stderr).toContain(`h4: cannot tell whether a gateway is installed: ${audit.error}`)
    } finally {
      await h(4).setFault('kubectl-down', null)
    }
  })
})

describe('locks', () => {
  const LOCK = '/opt/gwfleet/state/lock'
  const owner = {owner: 'ana@ws-7', pid: 4242, command: 'upgrade', started: '2024-05-01T10:00:00.000Z', token: 'tok-e2e'}

  it('list: free everywhere reachable', async () => {
    const r = await gw(['locks', 'list', '-i', fleet, '-l', 'h1,h4', '--json'])
    expect(r.code, r.stdout).toBe(0)
    expect(r.json.hosts.map((x: any) => [x.name, x.locked])).toEqual([
      ['h1', false],
      ['h4', false],
    ])
  })

  it('list: shows the holder and the age of a lock', async () => {
    await h(4).exec(`mkdir -p /opt/gwfleet/state && printf '%s\\n' '${JSON.stringify(owner)}' > ${LOCK} && touch -d '-10 minutes' ${LOCK}`)
    const r = await gw(['locks', 'list', '-i', fleet, '-l', 'h1,h4', '--json'])
    expect(r.code).toBe(0)
    const h4 = r.json.hosts.find((x: any) => x.name === 'h4')
    expect(h4.locked).toBe(true)
    expect(h4.lock).toMatchObject({owner: 'ana@ws-7', pid: 4242, command: 'upgrade', started: '2024-05-01T10:00:00.000Z', expired: true})
    expect(h4.lock.ageSeconds).toBeGreaterThanOrEqual(590)
    const t = await gw(['locks', 'list', '-i', fleet, '-l', 'h1,h4'])
    expect(t.stdout).toMatch(new RegExp(String.raw`^h4\s+${ip(4)}\s+expired\s+1\dm\d\ds\s+ana@ws-7 pid 4242 \(upgrade\) since 2024-05-01T10:00:00\.000Z$`, 'm'))
    expect(t.stdout).toMatch(new RegExp(String.raw`^h1\s+${ip(1)}\s+free`, 'm'))
    expect(t.stdout).toContain('1 of 2 host(s) locked')
  })

  it('list: a host it cannot read (sudo missing) is exit 1', async () => {
    const r = await gw(['locks', 'list', '-i', fleet, '-l', 'h2', '--json'])
    expect(r.code).toBe(1)
    expect(r.json.hosts[0]).toMatchObject({status: 'failed', error: 'sudo is not installed on this host'})
  })

  it('clear needs --yes; nothing is removed without it', async () => {
    const r = await gw(['locks', 'clear', '-i', fleet, '-l', 'h4'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--yes/)
    expect(await h(4).exists(LOCK)).toBe(true)
  })

  it('clear --yes removes it and says whose it was', async () => {
    const r = await gw(['locks', 'clear', '-i', fleet, '-l', 'h4', '--yes'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(new RegExp(String.raw`^h4\s+${ip(4)}\s+cleared\s+\S+\s+ana@ws-7 pid 4242`, 'm'))
    expect(await h(4).exists(LOCK)).toBe(false)
    const again = await gw(['locks', 'clear', '-i', fleet, '-l', 'h4', '--yes', '--json'])
    expect(again.code).toBe(0)
    expect(again.json.hosts[0]).toMatchObject({name: 'h4', cleared: false, lock: null})
  })
})

describe('history', () => {
  it('after two deploys shows 2 entries', async () => {
    const fleet15 = ws.inventory('1.5.0', [{host: h(4)}], 'fleet-1.5.yaml')
    const d = await gw(['deploy', '-i', fleet15, '--json'])
    expect(d.code, d.stdout + d.stderr).toBe(0)
    expect(await agentVersion(h(4))).toBe('1.5.0')

    const r = await gw(['history', 'h4', '-i', fleet, '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.json.entries).toHaveLength(2)
    expect(r.json.entries.map((e: any) => [e.gateway, e.command, e.action, e.fromVersion, e.toVersion, e.result])).toEqual([
      ['h4', 'deploy', 'install', null, '1.4.0', 'ok'],
      ['h4', 'deploy', 'upgrade', '1.4.0', '1.5.0', 'ok'],
    ])
    expect(r.json.entries[0].operator).toMatch(/@/)

    const t = await gw(['history', 'h4', '-i', fleet])
    expect(t.code).toBe(0)
    const lines = t.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^TIME\s+GATEWAY\s+OPERATOR\s+COMMAND\s+ACTION\s+FROM\s+TO\s+RESULT/)
    expect(lines).toHaveLength(3)
    expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+h4\s+\S+@\S+\s+deploy\s+install\s+-\s+1\.4\.0\s+ok$/)
    expect(lines[2]).toMatch(/\s+deploy\s+upgrade\s+1\.4\.0\s+1\.5\.0\s+ok$/)
  })

  it('--last 1 and the fleet view (an unreadable host is exit 1)', async () => {
    const r = await gw(['history', '-i', fleet, '-l', 'h4', '--last', '1', '--json'])
    expect(r.json.entries.map((e: any) => e.toVersion)).toEqual(['1.5.0'])
    const all = await gw(['history', '-i', fleet, '--json'])
    expect(all.code).toBe(1)
    // h4's two deploys, and h1's install forced past preflight above.
    expect(all.json.entries).toHaveLength(3)
    expect(all.json.hosts.find((x: any) => x.name === 'h2')).toMatchObject({status: 'failed', error: 'sudo is not installed on this host'})
    expect(all.json.hosts.find((x: any) => x.name === 'h1')).toMatchObject({status: 'ok', entries: 1})
    expect(all.json.hosts.find((x: any) => x.name === 'h3')).toMatchObject({status: 'ok', entries: 0})
  })
})
