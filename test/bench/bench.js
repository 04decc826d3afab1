// gwfleet benchmark (issue 6): gwfleet against parallel-ssh/parallel-scp, Ansible and a bare ssh2
// client, on the same real lab sshd hosts, in one run, alternating tools round by round.
//
//   npm run bench                         # build, then: node test/bench/bench.js
//   node test/bench/bench.js --hosts 10 --rounds 1 --skip-ansible
//   npm run bench -- --rtt 100 --hosts 30 # every host reached through a 100 ms round-trip proxy
//   npm run bench -- --heavy-rc           # every login shell on every host costs 100 ms more
//
// Flags: --hosts N (50)  --rounds R (3)  --ansible-rounds K (R)  --skip-ansible  --rss-hosts M (200)
//        --skip-rss  --version V (1.5.0)  --results FILE (test/bench/last-results.json)
//        --rtt MS (0: off)  --heavy-rc  --single-rounds K (5)  --baseline DIR  --hold
//
// --rtt MS: each lab sshd is reached through latency-proxy.js (MS/2 each way), for every tool. The
//   proxy counts connections and client turns per host; and a one-host section times gwfleet with
//   and without the proxy: (median with RTT - median without) / RTT = round trips waited for.
// --heavy-rc: root's and the login user's ~/.bashrc sleep 0.1 s (a pyenv-like rc) on every host.
// In every mode both rc files count the shells sshd starts (one line per start in ~/.gwbench-shells),
// read inside the host after each run: "shells per host" below.
// --hold: start the lab (with --rtt, its proxy) and wait, printing how to run gwfleet against it;
//   `reset`, `shells` and `turns` on standard input. For timing and profiling by hand.
// --baseline DIR: also times another build of gwfleet (a copy of bin/, dist/, package.json,
//   oclif.manifest.json and a node_modules link), as the tool "gwfleet@base", alternating with the rest.
// GWFLEET_LAB_OFFSET moves the bench's labs (240/241 without it) within 200..249, away from test labs.
//
// Every figure is checked before it is reported: after a deploy, every host must report the release's
// agent version and show exactly the installer runs expected (read inside the host, not over SSH);
// after an audit, the tool must have returned N versions equal to the release's. A run that did not do
// the work is reported as FAILED and not timed. Not part of the test suite.
import {spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'

import {startLab} from '../lab/lab.js'
import {installRc, limiter, takeShells} from './shells.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.resolve(HERE, '..', '..')
const CLI = path.join(ROOT, 'bin', 'run.js')
const PLAYBOOK = path.join(HERE, 'deploy-playbook.yml')
const BARE = path.join(HERE, 'bare-ssh2.js')
const PROXY = path.join(HERE, 'latency-proxy.js')
/** The port each host's latency proxy listens on (beside its sshd, on the host's address). */
const PROXY_PORT = 2222

// ---------------------------------------------------------------------------- arguments

function parseArgs(argv) {
  const o = {hosts: 50, rounds: 3, ansibleRounds: null, skipAnsible: false, rssHosts: 200, skipRss: false, version: '1.5.0', results: path.join(HERE, 'last-results.json'), rtt: 0, heavyRc: false, singleRounds: 5, baseline: null}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const num = (name) => {
      const v = Number(argv[++i])
      if (!Number.isInteger(v) || v < 1) throw new Error(`${name} needs a positive integer`)
      return v
    }
    if (a === '--hosts') o.hosts = num(a)
    else if (a === '--rounds') o.rounds = num(a)
    else if (a === '--ansible-rounds') o.ansibleRounds = num(a)
    else if (a === '--skip-ansible') o.skipAnsible = true
    else if (a === '--rss-hosts') o.rssHosts = num(a)
    else if (a === '--skip-rss') o.skipRss = true
    else if (a === '--version') o.version = argv[++i]
    else if (a === '--results') o.results = path.resolve(argv[++i])
    else if (a === '--rtt') o.rtt = num(a)
    else if (a === '--heavy-rc') o.heavyRc = true
    else if (a === '--single-rounds') o.singleRounds = num(a)
    else if (a === '--baseline') o.baseline = path.resolve(argv[++i])
    else if (a === '--hold') o.hold = true
    else if (a === '-h' || a === '--help') {
      console.log('usage: node test/bench/bench.js [--hosts N] [--rounds R] [--ansible-rounds K] [--skip-ansible] [--rss-hosts M] [--skip-rss] [--rtt MS] [--heavy-rc] [--single-rounds K] [--baseline DIR]')
      process.exit(0)
    } else throw new Error(`unknown argument ${a}`)
  }
  if (o.hosts > 254 || o.rssHosts > 254) throw new Error('at most 254 hosts per lab')
  o.ansibleRounds ??= o.rounds
  // the RSS figure belongs to the quiet lab
  if (o.rtt || o.heavyRc) o.skipRss = true
  if (o.baseline && !fs.existsSync(path.join(o.baseline, 'bin', 'run.js'))) throw new Error(`--baseline: no bin/run.js in ${o.baseline}`)
  return o
}

const opts = parseArgs(process.argv.slice(2))
const V = opts.version

// ---------------------------------------------------------------------------- processes and cleanup

/** Children we started (each its own process group, so ssh children of pssh/ansible die with it). */
const children = new Set()
/** Labs we started. */
const labs = new Set()
/** Temp dirs we made (workspaces), removed at the end. */
const tempDirs = new Set()

function killChildren() {
  for (const pid of children) {
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {
      /* gone */
    }
  }
  children.clear()
}

let interrupted = false
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (interrupted) return
    interrupted = true
    console.error(`\n${sig}: stopping children and labs ...`)
    killChildren()
    for (const l of labs) l.stop().catch(() => {})
    for (const d of tempDirs) fs.rmSync(d, {recursive: true, force: true})
    // the labs' own 'exit' hooks finish the cleanup synchronously
    process.exit(130)
  })
}
process.on('exit', killChildren)

/** Run a command; never rejects. Returns code, output and wall milliseconds. */
function run(cmd, args, {env = process.env, cwd = ROOT, timeoutMs = 600_000, input} = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now()
    const child = spawn(cmd, args, {env, cwd, stdio: ['pipe', 'pipe', 'pipe'], detached: true})
    children.add(child.pid)
    const out = []
    const err = []
    let timedOut = false
    child.stdout.on('data', (d) => out.push(d))
    child.stderr.on('data', (d) => err.push(d))
    child.on('error', (e) => err.push(Buffer.from(String(e))))
    const timer = setTimeout(() => {
      timedOut = true
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        /* gone */
      }
    }, timeoutMs)
    child.stdin.on('error', () => {})
    child.stdin.end(input ?? '')
    child.on('close', (code, signal) => {
      const ms = performance.now() - t0
      clearTimeout(timer)
      children.delete(child.pid)
      resolve({code, signal, timedOut, ms, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString()})
    })
  })
}

/** A tiny p-limit. */

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  if (s.length === 0) return null
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a)
const oneLine = (s, n = 300) => String(s ?? '').replace(/\s+/g, ' ').trim().slice(0, n)

// ---------------------------------------------------------------------------- machine

function machine() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8')
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown'
  const memKb = Number(/^MemTotal:\s*(\d+)/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0)
  const ver = (cmd, args) => {
    const r = spawnSync(cmd, args, {encoding: 'utf8'})
    return oneLine((r.stdout || r.stderr || '').split('\n')[0], 80) || 'missing'
  }
  return {
    nproc: Number(spawnSync('nproc', [], {encoding: 'utf8'}).stdout.trim()) || os.cpus().length,
    cpuModel: model,
    ramGiB: Math.round((memKb / 1024 / 1024) * 10) / 10,
    node: process.version,
    kernel: os.release(),
    loadavgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    openssh: ver('ssh', ['-V']),
    pssh: ver('parallel-ssh', ['--version']),
    ansible: ver('ansible', ['--version']),
  }
}

/** /usr/bin/time -v gives the peak RSS of the wrapped process; install it when missing. */
function ensureGnuTime() {
  if (fs.existsSync('/usr/bin/time')) return true
  log('/usr/bin/time missing: apt-get install time')
  spawnSync('apt-get', ['install', '-y', '-qq', 'time'], {stdio: 'ignore', env: {...process.env, DEBIAN_FRONTEND: 'noninteractive'}})
  return fs.existsSync('/usr/bin/time')
}

// ---------------------------------------------------------------------------- workspace

/** Values for one gateway (literal strings: the same bytes go to every tool). */
function valuesText(name) {
  return [
    `tenant: tenant-${name}`,
    'auth:',
    '  domain: auth.example.net',
    '  orchestrator:',
    `    clientId: client-${name}`,
    `    clientSecret: cs-bench-${name}-secret`,
    'dal:',
    '  sources:',
    '    files:',
    '      folder: /srv/datasets',
    'helmRepoUsername: bench-user',
    `helmRepoPassword: hp-bench-${name}`,
    '',
  ].join('\n')
}

/**
 * Everything each tool needs to reach the lab: inventory, values, pssh hosts file, ansible inventory.
 * `hosts` (default: all of the lab's) on `port` (22: the sshd itself; PROXY_PORT: through the proxy).
 */
async function makeWorkspace(lab, tag, {hosts = lab.hosts, port = 22} = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gwbench-${tag}-`))
  tempDirs.add(dir)
  const ws = {dir, lab, hosts, port, home: path.join(dir, 'home'), releases: path.join(dir, 'releases'), values: path.join(dir, 'values')}
  fs.mkdirSync(path.join(ws.home, '.ssh'), {recursive: true, mode: 0o700})
  fs.mkdirSync(ws.values)
  ws.zip = await lab.makeRelease(ws.releases, V)
  ws.knownHosts = path.join(dir, 'known_hosts')
  // OpenSSH's known_hosts names a host on another port than 22 `[address]:port`
  const known = fs.readFileSync(lab.knownHostsFile, 'utf8').split('\n').filter(Boolean)
  fs.writeFileSync(ws.knownHosts, known.map((l) => (port === 22 ? l : l.replace(/^(\S+)/, `[$1]:${port}`))).join('\n') + '\n')
  for (const h of hosts) fs.writeFileSync(path.join(ws.values, `${h.name}.yaml`), valuesText(h.name), {mode: 0o600})

  // gwfleet inventory
  const inv = ['release:', '  dir: releases', `  version: ${V}`, 'defaults:', '  user: root', `  port: ${port}`, `  identityFile: ${lab.clientKey}`, `  knownHosts: ${ws.knownHosts}`, 'gateways:']
  for (const h of hosts) inv.push(`  ${h.name}:`, `    host: ${h.address}`, `    values: values/${h.name}.yaml`)
  ws.inventory = path.join(dir, 'fleet.yaml')
  fs.writeFileSync(ws.inventory, inv.join('\n') + '\n')

  // pssh: hosts file; a stage dir (zip + every gateway's values) that one parallel-scp -r puts in place
  ws.psshHosts = path.join(dir, 'pssh-hosts')
  fs.writeFileSync(ws.psshHosts, hosts.map((h) => `root@${h.address}:${port}`).join('\n') + '\n')
  ws.psshStage = path.join(dir, 'pssh-stage')
  fs.mkdirSync(path.join(ws.psshStage, 'values'), {recursive: true})
  fs.copyFileSync(ws.zip, path.join(ws.psshStage, path.basename(ws.zip)))
  for (const h of hosts) fs.copyFileSync(path.join(ws.values, `${h.name}.yaml`), path.join(ws.psshStage, 'values', `${h.name}.yaml`))

  // ansible inventory
  ws.ansibleInventory = path.join(dir, 'ansible-hosts.ini')
  const sshArgs = `-o UserKnownHostsFile=${ws.knownHosts} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes`
  fs.writeFileSync(
    ws.ansibleInventory,
    [
      '[gateways]',
      ...hosts.map((h) => `${h.name} ansible_host=${h.address} ansible_port=${port}`),
      '',
      '[all:vars]',
      'ansible_user=root',
      `ansible_ssh_private_key_file=${lab.clientKey}`,
      `ansible_ssh_common_args='${sshArgs}'`,
      'ansible_python_interpreter=/usr/bin/python3',
      '',
    ].join('\n'),
  )
  fs.mkdirSync(path.join(dir, 'ansible-tmp'))
  return ws
}

function gwEnv(ws) {
  const env = {...process.env, HOME: ws.home, GWFLEET_HOME: path.join(ws.home, '.gwfleet'), GWFLEET_PLAIN: '1'}
  delete env.SSH_AUTH_SOCK
  delete env.GWFLEET_INVENTORY
  delete env.GWFLEET_BECOME_PASSWORD
  return env
}

function sshToolEnv(ws) {
  const env = {...process.env, HOME: ws.home}
  delete env.SSH_AUTH_SOCK
  return env
}

let ansibleRun = 0
function ansibleEnv(ws, forks) {
  // a fresh ControlPath dir per run: no run profits from the masters a previous run left behind
  const cp = path.join(ws.dir, `ansible-cp-${++ansibleRun}`)
  fs.mkdirSync(cp)
  return {
    ...sshToolEnv(ws),
    ANSIBLE_HOST_KEY_CHECKING: 'True',
    ANSIBLE_PIPELINING: 'True',
    ANSIBLE_FORKS: String(forks),
    ANSIBLE_SSH_CONTROL_PATH_DIR: cp,
    ANSIBLE_LOCAL_TEMP: path.join(ws.dir, 'ansible-tmp'),
    ANSIBLE_LOAD_CALLBACK_PLUGINS: '1',
    ANSIBLE_STDOUT_CALLBACK: 'json',
    ANSIBLE_RETRY_FILES_ENABLED: 'False',
    ANSIBLE_DEPRECATION_WARNINGS: 'False',
    ANSIBLE_SYSTEM_WARNINGS: 'False',
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_TIMEOUT: '30',
  }
}

// ---------------------------------------------------------------------------- the remote commands

/** The SPEC's agent-version query (kubeconfig passed as a flag so it also works without a shell). */
const GO_TEMPLATE =
  '{{if and (index .items 0).spec.template.spec.containers (index (index .items 0).spec.template.spec.containers 0).image }}{{ (index (index .items 0).spec.template.spec.containers 0).image }}{{ "\\n" }}{{end}}'
const VERSION_QUERY = `kubectl --kubeconfig /etc/rancher/k3s/k3s.yaml get deploy -n apheris -l apheris-component=agent -o go-template='${GO_TEMPLATE}'`

const PSSH_DIR = '/opt/bench-pssh'
const ANSIBLE_DIR = '/opt/bench-ansible'
const RESET_CMD = `rm -rf /var/lib/gwlab-k3s /var/lib/gwlab-net /usr/local/bin/kubectl /usr/local/bin/k3s /usr/local/bin/k3s-uninstall.sh /usr/bin/kubectl /usr/bin/k3s /usr/bin/k3s-uninstall.sh /etc/rancher /opt/gwfleet /opt/bench-*`

function psshOpts(ws, n, timeoutS) {
  return [
    '-h', ws.psshHosts, '-p', String(n), '-t', String(timeoutS),
    '-O', `IdentityFile=${ws.lab.clientKey}`, '-O', 'IdentitiesOnly=yes',
    '-O', `UserKnownHostsFile=${ws.knownHosts}`, '-O', 'GlobalKnownHostsFile=/dev/null', '-O', 'StrictHostKeyChecking=yes',
    '-O', 'BatchMode=yes', '-O', 'LogLevel=ERROR',
  ]
}

// ---------------------------------------------------------------------------- host-side checks (not timed)

async function resetHosts(hosts) {
  const limit = limiter(16)
  const rs = await Promise.all(hosts.map((h) => limit(() => h.exec(RESET_CMD))))
  const bad = rs.findIndex((r) => r.code !== 0)
  if (bad >= 0) throw new Error(`reset of ${hosts[bad].name} failed: ${rs[bad].stderr}`)
}

/** Per host: the agent version the stand-in cluster reports and how many installer runs it logged. */
async function hostStates(hosts) {
  const limit = limiter(16)
  return Promise.all(
    hosts.map((h) =>
      limit(async () => {
        const r = await h.exec("sed 's/.*://' /var/lib/gwlab-k3s/agent-image 2>/dev/null; echo '--'; cat /var/lib/gwlab-k3s/installs.log 2>/dev/null | wc -l")
        const [v, n] = r.stdout.split('--\n')
        return {name: h.name, version: v.trim() || null, installs: Number(n.trim())}
      }),
    ),
  )
}

/** Null when every host has version V and `installs` installer runs; else a one-line reason. */
async function checkDeployed(hosts, installs) {
  const st = await hostStates(hosts)
  const wrongV = st.filter((s) => s.version !== V)
  const wrongN = st.filter((s) => s.installs !== installs)
  if (!wrongV.length && !wrongN.length) return null
  const parts = []
  if (wrongV.length) parts.push(`${wrongV.length}/${st.length} hosts without agent ${V} (e.g. ${wrongV[0].name}: ${wrongV[0].version})`)
  if (wrongN.length) parts.push(`${wrongN.length}/${st.length} hosts with installer runs != ${installs} (e.g. ${wrongN[0].name}: ${wrongN[0].installs})`)
  return parts.join('; ')
}

/** Null when `versions` (name or address -> version) holds N entries all equal to V. */
function checkVersions(versions, n) {
  const entries = Object.entries(versions)
  const good = entries.filter(([, v]) => v === V)
  if (entries.length === n && good.length === n) return null
  const bad = entries.find(([, v]) => v !== V)
  return `${good.length}/${n} versions read${bad ? ` (e.g. ${bad[0]}: ${JSON.stringify(bad[1])})` : ''}`
}

const versionOf = (image) => (typeof image === 'string' && /:(\d+\.\d+\.\d+)\s*$/.exec(image)?.[1]) || null

// ---------------------------------------------------------------------------- rc files, proxy, counts

/** Start latency-proxy.js for these hosts (RTT/2 each way, on PROXY_PORT); `take()` returns and zeroes its counts. */
async function startProxy(hosts, rttMs) {
  const map = hosts.map((h) => `${h.address}:${PROXY_PORT}=${h.address}:22`).join(',')
  const child = spawn(process.execPath, [PROXY, '--delay-ms', String(rttMs / 2), '--map', map], {stdio: ['pipe', 'pipe', 'inherit'], detached: true})
  children.add(child.pid)
  const lines = readline.createInterface({input: child.stdout})
  const waiting = []
  lines.on('line', (l) => waiting.shift()?.(l))
  const next = () => new Promise((resolve) => waiting.push(resolve))
  const first = await Promise.race([next(), new Promise((resolve) => child.once('exit', () => resolve('exited')))])
  if (first !== 'ready') throw new Error(`latency proxy did not start (${first})`)
  return {
    async take() {
      const p = next()
      child.stdin.write('take\n')
      return JSON.parse(await p)
    },
    stop() {
      child.stdin.end()
      children.delete(child.pid)
    },
  }
}

/** min/median/max of numbers. */
const spread = (xs) => (xs.length ? {min: Math.min(...xs), median: median(xs), max: Math.max(...xs)} : null)

/**
 * Run one tool with the hosts' shell counts (and the proxy's) zeroed before and read after, and
 * record it: `perHost` holds shells started, proxy connections and client turns per host.
 */
async function measured(ctx, scenario, tool, fn) {
  await takeShells(ctx.hosts)
  await ctx.proxy?.take()
  const res = await fn()
  const shells = await takeShells(ctx.hosts)
  const counts = ctx.proxy ? await ctx.proxy.take() : null
  res.perHost = {
    shells: spread(shells),
    connections: counts && spread(ctx.hosts.map((h) => counts[h.address].connections)),
    turns: counts && spread(ctx.hosts.map((h) => counts[h.address].turns)),
  }
  record(scenario, tool, res)
  return res
}

// ---------------------------------------------------------------------------- the tools

/** Run the built CLI under /usr/bin/time -v: wall ms, exit code, output and peak RSS (MB). */
async function gwfleet(ws, args, {timeoutMs = 600_000, cli = CLI} = {}) {
  const timeFile = path.join(ws.dir, 'time-v.txt')
  fs.rmSync(timeFile, {force: true})
  const r = await run('/usr/bin/time', ['-v', '-o', timeFile, process.execPath, cli, ...args], {env: gwEnv(ws), timeoutMs})
  let rssMB = null
  try {
    const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(fs.readFileSync(timeFile, 'utf8'))?.[1])
    if (kb) rssMB = kb / 1024
  } catch {
    /* no figure */
  }
  let json = null
  if (args.includes('--json')) {
    try {
      json = JSON.parse(r.stdout)
    } catch {
      /* not JSON */
    }
  }
  return {...r, rssMB, json}
}

/** Median over hosts of the upload step's time in a run's host logs ("== uploading" to "upload ..."). */
function uploadStepMs(runDir) {
  if (!runDir || !fs.existsSync(runDir)) return null
  const ms = []
  for (const f of fs.readdirSync(runDir).filter((x) => x.endsWith('.log'))) {
    const lines = fs.readFileSync(path.join(runDir, f), 'utf8').split('\n')
    const at = (re) => {
      const l = lines.find((x) => re.test(x.slice(25)))
      return l ? Date.parse(l.slice(0, 24)) : NaN
    }
    const d = at(/^upload \S+: /) - at(/^== uploading /)
    if (Number.isFinite(d)) ms.push(d)
  }
  return ms.length ? median(ms) : null
}

/** Summary of gwfleet's per-host durationMs (where its wall time goes). */
function hostDurations(json, wallMs) {
  const d = (json?.hosts ?? []).map((h) => h.durationMs).filter((x) => typeof x === 'number')
  if (!d.length) return null
  const max = Math.max(...d)
  return {minMs: Math.min(...d), medianMs: median(d), maxMs: max, outsideHostsMs: Math.round(wallMs - max)}
}

const tools = {
  // ---- fresh deploy
  async 'deploy:gwfleet'(ws, n, cli) {
    const r = await gwfleet(ws, ['deploy', '-i', ws.inventory, '--json'], {cli})
    const hosts = r.json?.hosts ?? []
    let error = null
    if (r.code !== 0) error = `exit ${r.code}${r.timedOut ? ' (timeout)' : ''}: ${oneLine(r.stderr || r.stdout)}`
    else if (hosts.length !== n || !hosts.every((h) => h.status === 'ok' && h.action === 'install')) error = `JSON: ${hosts.filter((h) => h.status === 'ok').length}/${n} installed`
    error ??= await checkDeployed(ws.hosts, 1)
    return {ms: r.ms, error, rssMB: r.rssMB, detail: hostDurations(r.json, r.ms), runDir: r.json?.runDir, uploadMs: uploadStepMs(r.json?.runDir)}
  },
  async 'deploy:pssh'(ws, n) {
    // 1) one parallel-scp -r: creates PSSH_DIR holding the zip and the values  2) one parallel-ssh:
    // unzip, run the installer as root from the release dir with this host's values, check its report
    const t0 = performance.now()
    const scp = await run('parallel-scp', [...psshOpts(ws, n, 300), '-r', ws.psshStage, PSSH_DIR], {env: sshToolEnv(ws)})
    if (scp.code !== 0) return {ms: null, error: `parallel-scp exit ${scp.code}: ${oneLine(scp.stdout + scp.stderr)}`}
    const remote = [
      `cd ${PSSH_DIR}`,
      `unzip -oq ${path.basename(ws.zip)}`,
      'chmod 700 values && chmod 600 values/*',
      `./deploy_gateway --helm-values-file-path ${PSSH_DIR}/values/$(hostname).yaml > install.log 2>&1`,
      `grep -qx 'agent: ${V}' install.log`,
      "grep -qx 'All services are ready.' install.log",
    ].join(' && ')
    const ssh = await run('parallel-ssh', [...psshOpts(ws, n, 300), remote], {env: sshToolEnv(ws)})
    const ms = performance.now() - t0
    if (ssh.code !== 0) return {ms: null, error: `parallel-ssh exit ${ssh.code}: ${oneLine(ssh.stdout + ssh.stderr)}`}
    return {ms, error: await checkDeployed(ws.hosts, 1)}
  },
  async 'deploy:ansible'(ws, n) {
    const r = await run(
      'ansible-playbook',
      ['-i', ws.ansibleInventory, '-f', String(n), PLAYBOOK, '-e', JSON.stringify({zip: ws.zip, version: V, values_dir: ws.values, dest: ANSIBLE_DIR})],
      {env: ansibleEnv(ws, n), cwd: ws.dir, timeoutMs: 900_000},
    )
    let error = null
    let stats = null
    try {
      stats = JSON.parse(r.stdout).stats
    } catch {
      /* not JSON */
    }
    const okHosts = stats ? Object.values(stats).filter((s) => !s.failures && !s.unreachable).length : 0
    if (r.code !== 0) error = `exit ${r.code}${r.timedOut ? ' (timeout)' : ''}: ${oneLine(r.stderr || r.stdout)}`
    else if (okHosts !== n) error = `${okHosts}/${n} hosts ok in the play recap`
    error ??= await checkDeployed(ws.hosts, 1)
    return {ms: r.ms, error}
  },

  // ---- audit (read the agent version on all hosts)
  async 'audit:gwfleet'(ws, n, cli) {
    const r = await gwfleet(ws, ['audit', '-i', ws.inventory, '--json'], {cli})
    const versions = Object.fromEntries((r.json?.hosts ?? []).map((h) => [h.name, h.version]))
    let error = r.json ? checkVersions(versions, n) : `no JSON (exit ${r.code}): ${oneLine(r.stderr || r.stdout)}`
    if (!error && r.code !== 0) error = `exit ${r.code}`
    return {ms: r.ms, error, rssMB: r.rssMB, detail: hostDurations(r.json, r.ms)}
  },
  async 'audit:pssh'(ws, n) {
    const outDir = fs.mkdtempSync(path.join(ws.dir, 'pssh-out-'))
    const r = await run('parallel-ssh', [...psshOpts(ws, n, 120), '-o', outDir, VERSION_QUERY], {env: sshToolEnv(ws)})
    const versions = {}
    for (const f of fs.readdirSync(outDir)) versions[f] = versionOf(fs.readFileSync(path.join(outDir, f), 'utf8'))
    fs.rmSync(outDir, {recursive: true, force: true})
    let error = r.code !== 0 ? `exit ${r.code}: ${oneLine(r.stdout + r.stderr)}` : checkVersions(versions, n)
    return {ms: r.ms, error}
  },
  async 'audit:ansible'(ws, n) {
    // ad-hoc arguments are Jinja-templated: keep the Go template away from Jinja
    const r = await run('ansible', ['all', '-i', ws.ansibleInventory, '-f', String(n), '-m', 'command', '-a', `{% raw %}${VERSION_QUERY}{% endraw %}`], {
      env: ansibleEnv(ws, n),
      cwd: ws.dir,
    })
    const versions = {}
    let error = null
    try {
      const doc = JSON.parse(r.stdout)
      for (const [h, res] of Object.entries(doc.plays[0].tasks[0].hosts)) versions[h] = versionOf(res.stdout)
    } catch (e) {
      error = `no JSON (exit ${r.code}): ${oneLine(r.stderr || r.stdout)}`
    }
    error ??= r.code !== 0 ? `exit ${r.code}` : checkVersions(versions, n)
    return {ms: r.ms, error}
  },
  async 'audit:bare-ssh2'(ws, n) {
    const r = await run(process.execPath, [BARE, '--hosts', ws.hosts.map((h) => h.address).join(','), '--port', String(ws.port), '--key', ws.lab.clientKey, '--known-hosts', ws.knownHosts, '--command', VERSION_QUERY], {
      env: sshToolEnv(ws),
    })
    let error = null
    try {
      const doc = JSON.parse(r.stdout)
      const versions = Object.fromEntries(Object.entries(doc.versions).map(([h, v]) => [h, versionOf(v)]))
      error = checkVersions(versions, n)
      if (error && Object.keys(doc.errors).length) error += `; ${oneLine(Object.values(doc.errors)[0], 120)}`
    } catch {
      error = `no JSON (exit ${r.code}): ${oneLine(r.stderr)}`
    }
    return {ms: r.ms, error}
  },

  // ---- no-op deploy (everything in sync)
  async 'noop:gwfleet'(ws, n, cli) {
    const r = await gwfleet(ws, ['deploy', '-i', ws.inventory, '--json'], {cli})
    const hosts = r.json?.hosts ?? []
    let error = null
    if (r.code !== 0) error = `exit ${r.code}: ${oneLine(r.stderr || r.stdout)}`
    else if (hosts.length !== n || !hosts.every((h) => h.status === 'unchanged')) error = `JSON: ${hosts.filter((h) => h.status === 'unchanged').length}/${n} unchanged`
    error ??= await checkDeployed(ws.hosts, 1) // still exactly the one install: nothing re-ran
    return {ms: r.ms, error, rssMB: r.rssMB, detail: hostDurations(r.json, r.ms)}
  },
}

// ---------------------------------------------------------------------------- results

/** scenario -> tool -> {runs: [{ms, error, rssMB, detail}]} */
const results = {}
function record(scenario, tool, res) {
  results[scenario] ??= {}
  results[scenario][tool] ??= {runs: []}
  // the 1-minute load average after the run: other work on the machine shows up here
  results[scenario][tool].runs.push({...res, load1: Math.round(os.loadavg()[0] * 100) / 100})
  const what = res.error ? `FAILED: ${res.error}` : `${(res.ms / 1000).toFixed(2)} s${res.rssMB ? `, peak RSS ${res.rssMB.toFixed(0)} MB` : ''}`
  log(`${scenario} / ${tool}: ${what}`)
}

function stats(scenario, tool) {
  const runs = results[scenario]?.[tool]?.runs ?? []
  const ok = runs.filter((r) => !r.error && typeof r.ms === 'number').map((r) => r.ms / 1000)
  return {runs: runs.length, ok: ok.length, failed: runs.length - ok.length, median: median(ok), min: ok.length ? Math.min(...ok) : null, max: ok.length ? Math.max(...ok) : null, errors: runs.filter((r) => r.error).map((r) => r.error)}
}

// ---------------------------------------------------------------------------- main

async function main() {
  if (process.getuid?.() !== 0) throw new Error('the bench needs root (the lab uses namespaces and overlayfs)')
  if (!fs.existsSync(path.join(ROOT, 'dist'))) throw new Error('dist/ missing: run `npm run build` (or `npm run bench`)')
  for (const t of ['parallel-ssh', 'parallel-scp']) if (!fs.existsSync(`/usr/bin/${t}`)) throw new Error(`${t} missing: apt-get install pssh (Debian/Ubuntu)`)
  if (!ensureGnuTime()) throw new Error('/usr/bin/time (package `time`) is needed for peak RSS')
  const m = machine()
  const useAnsible = !opts.skipAnsible && fs.existsSync('/usr/bin/ansible-playbook')
  if (!opts.skipAnsible && !useAnsible) log('ansible-playbook not found: skipping Ansible (apt-get install ansible)')
  const t0 = performance.now()
  const N = opts.hosts
  log(`machine: ${m.nproc} CPUs (${m.cpuModel}), ${m.ramGiB} GiB RAM, node ${m.node}`)

  // 5. start-up time (no lab needed)
  const wsBare = {dir: fs.mkdtempSync(path.join(os.tmpdir(), 'gwbench-startup-')), home: ''}
  tempDirs.add(wsBare.dir)
  wsBare.home = path.join(wsBare.dir, 'home')
  await run(process.execPath, [CLI, '--version'], {env: gwEnv(wsBare)}) // warm the page cache
  for (let i = 0; i < 10; i++) {
    const r = await run(process.execPath, [CLI, '--version'], {env: gwEnv(wsBare)})
    record('startup', 'gwfleet', {ms: r.ms, error: r.code === 0 && /gwfleet\//.test(r.stdout) ? null : `exit ${r.code}: ${oneLine(r.stderr)}`})
  }

  // the N-host lab
  const sub = benchSubnets()
  log(`starting lab 'bench': ${N} hosts on 127.77.${sub.main}.1-${N}`)
  const lab = await startLab({count: N, subnet: sub.main - sub.offset, name: 'bench', startTimeoutMs: 60_000})
  labs.add(lab)
  await installRc(lab.hosts, opts.heavyRc)
  const proxy = opts.rtt ? await startProxy(lab.hosts, opts.rtt) : null
  const ws = await makeWorkspace(lab, 'n', {port: proxy ? PROXY_PORT : 22})
  const ctx = {hosts: lab.hosts, proxy}
  log(`lab up in ${((performance.now() - t0) / 1000).toFixed(1)} s; workspace ${ws.dir}${proxy ? `; every host through a ${opts.rtt} ms round-trip proxy` : ''}${opts.heavyRc ? '; heavy rc' : ''}`)
  if (opts.hold) return hold(ws, lab, proxy)
  const gwTools = ['gwfleet', ...(opts.baseline ? ['gwfleet@base'] : [])]

  // 1. fresh deploy, alternating tools round by round
  const deployTools = [...gwTools, 'pssh', ...(useAnsible ? ['ansible'] : [])]
  for (let r = 1; r <= opts.rounds; r++) {
    for (const tool of deployTools) {
      if (tool === 'ansible' && r > opts.ansibleRounds) continue
      await resetHosts(lab.hosts)
      log(`round ${r}: fresh deploy with ${tool} ...`)
      await measured(ctx, 'deploy', tool, () => toolFn('deploy', tool)(ws, N))
    }
  }

  // 2 + 3. audit and no-op deploy, on hosts installed by gwfleet (not timed)
  await resetHosts(lab.hosts)
  const setup = await tools['deploy:gwfleet'](ws, N)
  if (setup.error) throw new Error(`setting up the installed fleet failed: ${setup.error}`)
  const auditTools = [...gwTools, 'pssh', ...(useAnsible ? ['ansible'] : []), 'bare-ssh2']
  for (let r = 1; r <= opts.rounds; r++) {
    for (const tool of auditTools) {
      if (tool === 'ansible' && r > opts.ansibleRounds) continue
      await measured(ctx, 'audit', tool, () => toolFn('audit', tool)(ws, N))
    }
    for (const tool of gwTools) await measured(ctx, 'noop', tool, () => toolFn('noop', tool)(ws, N))
  }

  // one host, with and without the proxy: the round trips gwfleet waits for, from the time they cost
  if (proxy) await singleHost(lab, ctx, gwTools)

  // one human-output deploy to read gwfleet's per-step log of the slowest host
  const timeline = await stepTimeline(ws, lab)

  proxy?.stop()
  await lab.stop()
  labs.delete(lab)

  // 4. peak RSS at M hosts
  if (!opts.skipRss) {
    const M = opts.rssHosts
    log(`starting lab 'benchrss': ${M} hosts on 127.77.${sub.rss}.1-${M}`)
    const rlab = await startLab({count: M, subnet: sub.rss - sub.offset, name: 'benchrss', startTimeoutMs: 120_000})
    labs.add(rlab)
    const rws = await makeWorkspace(rlab, 'rss')
    // human output (not --json): the progress/table rendering is part of what is measured
    const d = await gwfleet(rws, ['deploy', '-i', rws.inventory])
    let error = d.code !== 0 ? `exit ${d.code}: ${oneLine(d.stderr.slice(-400) || d.stdout.slice(-400))}` : await checkDeployed(rlab.hosts, 1)
    record('rss-deploy', 'gwfleet', {ms: d.ms, error, rssMB: d.rssMB})
    const a = await tools['audit:gwfleet'](rws, M)
    record('rss-audit', 'gwfleet', a)
    await rlab.stop()
    labs.delete(rlab)
  }

  report(m, N, useAnsible, timeline, (performance.now() - t0) / 1000)
}

/**
 * --hold: keep the lab (and proxy) up for timing or profiling gwfleet by hand. Prints the
 * environment and inventory to use; on standard input `reset` puts every host back to fresh,
 * `shells` prints the shells started per host since the last call, end of input stops the lab.
 */
async function hold(ws, lab, proxy) {
  const env = Object.entries(gwEnv(ws)).filter(([k]) => ['HOME', 'GWFLEET_HOME', 'GWFLEET_PLAIN'].includes(k))
  console.log(`env ${env.map(([k, v]) => `${k}=${v}`).join(' ')} node ${CLI} deploy -i ${ws.inventory}`)
  console.log('commands on standard input: reset, shells, turns; end of input stops the lab')
  for await (const line of readline.createInterface({input: process.stdin})) {
    const cmd = line.trim()
    if (cmd === 'reset') await resetHosts(lab.hosts)
    else if (cmd === 'shells') console.log((await takeShells(lab.hosts)).join(' '))
    else if (cmd === 'turns' && proxy) console.log(JSON.stringify(await proxy.take()))
    else if (cmd) console.log(`unknown command ${cmd}`)
    console.log('ok')
  }
  proxy?.stop()
  await lab.stop()
  labs.delete(lab)
}

/**
 * The bench's labs: 240 and 241, or with GWFLEET_LAB_OFFSET (which startLab adds to every subnet)
 * two subnets in 200..249, past the test labs' (base subnets below 40, offsets below 200).
 */
function benchSubnets() {
  const offset = Number(process.env.GWFLEET_LAB_OFFSET || 0)
  if (!Number.isInteger(offset) || offset < 0) throw new Error(`GWFLEET_LAB_OFFSET must be a whole number, got ${process.env.GWFLEET_LAB_OFFSET}`)
  const main = 200 + ((40 + offset) % 50)
  return {offset, main, rss: main === 249 ? 200 : main + 1}
}

/** The run of `tool` for `scenario`: "gwfleet@base" is gwfleet's own runs with the baseline build. */
function toolFn(scenario, tool) {
  if (tool === 'gwfleet@base') return (ws, n) => tools[`${scenario}:gwfleet`](ws, n, path.join(opts.baseline, 'bin', 'run.js'))
  return (ws, n) => tools[`${scenario}:${tool}`](ws, n)
}

/**
 * gwfleet on the lab's first host alone, directly and through the proxy, alternating: fresh deploy,
 * audit and no-op deploy. (median through the proxy - median direct) / RTT is the number of round
 * trips the run waited for, whatever they were spent on.
 */
async function singleHost(lab, ctx, gwTools) {
  const one = [lab.hosts[0]]
  const direct = await makeWorkspace(lab, 'one', {hosts: one})
  const far = await makeWorkspace(lab, 'onefar', {hosts: one, port: PROXY_PORT})
  for (let r = 1; r <= opts.singleRounds; r++) {
    log(`one host, round ${r}/${opts.singleRounds}`)
    for (const tool of gwTools) {
      for (const [where, ws] of [['direct', direct], ['rtt', far]]) {
        await resetHosts(one)
        const c1 = {hosts: one, proxy: where === 'rtt' ? ctx.proxy : null}
        for (const sc of ['deploy', 'audit', 'noop']) await measured(c1, `one-${sc}-${where}`, tool, () => toolFn(sc, tool)(ws, 1))
      }
    }
  }
}

/** A fresh gwfleet deploy whose per-host run log shows where the time goes (steps by timestamp). */
async function stepTimeline(ws, lab) {
  await resetHosts(lab.hosts)
  const r = await tools['deploy:gwfleet'](ws, lab.hosts.length)
  if (r.error || !r.runDir) return null
  const files = fs.readdirSync(r.runDir).filter((f) => f.endsWith('.log'))
  const perHost = files.map((f) => {
    const lines = fs.readFileSync(path.join(r.runDir, f), 'utf8').split('\n').filter(Boolean)
    const pts = lines.map((l) => ({t: Date.parse(l.slice(0, 24)), text: l.slice(25)})).filter((p) => !Number.isNaN(p.t))
    return {host: f.replace(/\.log$/, ''), pts}
  })
  const slowest = perHost.sort((a, b) => (b.pts.at(-1)?.t - b.pts[0]?.t) - (a.pts.at(-1)?.t - a.pts[0]?.t))[0]
  if (!slowest) return null
  const steps = slowest.pts.map((p, i) => ({atMs: p.t - slowest.pts[0].t, text: oneLine(p.text, 110)}))
  return {wallMs: Math.round(r.ms), detail: r.detail, host: slowest.host, steps}
}

// ---------------------------------------------------------------------------- report

function report(m, N, useAnsible, timeline, totalS) {
  const g = (sc) => stats(sc, 'gwfleet').median
  const rows = []
  const fmt = (x, d = 2) => (x === null || x === undefined ? '-' : x.toFixed(d))
  const verdict = (value, limit) => (value === null ? 'MISS (no figure)' : value <= limit ? 'PASS' : 'MISS')
  const addTimed = (scenario, label, tool, target) => {
    const s = stats(scenario, tool)
    const row = {scenario: label, tool, ...s, unit: 's'}
    if (target) {
      const value = target.value(s)
      Object.assign(row, {ratioLabel: target.ratioLabel, ratio: value, target: target.text, verdict: target.text ? verdict(value, target.limit) : ''})
    }
    // the baseline build against the same tool
    if (opts.baseline && !tool.startsWith('gwfleet') && s.median && stats(scenario, 'gwfleet@base').median) row.baseRatio = stats(scenario, 'gwfleet@base').median / s.median
    rows.push(row)
  }
  const vsGw = (sc, limit, text) => ({ratioLabel: 'gwfleet/this', limit, text, value: (s) => (s.median && g(sc) ? g(sc) / s.median : null)})

  // the targets of the mode (issue 14): at a distance, on hosts with a costly rc, on a quiet lab
  const T = opts.rtt
    ? {deployPssh: 0.5, deployAnsible: [0.1, '0.1'], auditPssh: null, auditBare: 1.2}
    : opts.heavyRc
      ? {deployPssh: 0.6, deployAnsible: null, auditPssh: 0.6, auditBare: null}
      : {deployPssh: 0.6, deployAnsible: [1 / 15, '1/15'], auditPssh: 0.6, auditBare: 1.2}
  const where = `${N} hosts${opts.rtt ? `, ${opts.rtt} ms RTT` : ''}${opts.heavyRc ? ', heavy rc' : ''}`
  const hasBase = !!opts.baseline
  addTimed('deploy', `fresh deploy, ${where}`, 'gwfleet')
  if (hasBase) addTimed('deploy', `fresh deploy, ${where}`, 'gwfleet@base')
  addTimed('deploy', `fresh deploy, ${where}`, 'pssh', T.deployPssh ? vsGw('deploy', T.deployPssh, `gwfleet <= ${T.deployPssh} x pssh`) : vsGw('deploy', Infinity, ''))
  if (useAnsible) addTimed('deploy', `fresh deploy, ${where}`, 'ansible', T.deployAnsible ? vsGw('deploy', T.deployAnsible[0], `gwfleet <= ${T.deployAnsible[1]} x ansible`) : vsGw('deploy', Infinity, ''))
  addTimed('audit', `audit, ${where}`, 'gwfleet')
  if (hasBase) addTimed('audit', `audit, ${where}`, 'gwfleet@base')
  addTimed('audit', `audit, ${where}`, 'pssh', T.auditPssh ? vsGw('audit', T.auditPssh, `gwfleet <= ${T.auditPssh} x pssh`) : vsGw('audit', Infinity, ''))
  if (useAnsible) addTimed('audit', `audit, ${where}`, 'ansible', vsGw('audit', Infinity, ''))
  addTimed('audit', `audit, ${where}`, 'bare-ssh2', T.auditBare ? vsGw('audit', T.auditBare, `gwfleet <= ${T.auditBare} x bare ssh2`) : vsGw('audit', Infinity, ''))
  if (hasBase)
    addTimed('noop', `no-op deploy, ${where}`, 'gwfleet@base', {
      ratioLabel: 'this/its audit',
      limit: Infinity,
      text: '',
      value: (s) => (s.median && stats('audit', 'gwfleet@base').median ? s.median / stats('audit', 'gwfleet@base').median : null),
    })
  addTimed('noop', `no-op deploy, ${where}`, 'gwfleet', {
    ratioLabel: 'this/gw audit',
    limit: 1.2,
    text: 'no-op <= 1.2 x gwfleet audit',
    value: (s) => (s.median && g('audit') ? s.median / g('audit') : null),
  })
  // start-up
  const st = stats('startup', 'gwfleet')
  rows.push({scenario: 'gwfleet --version (x10)', tool: 'gwfleet', ...st, unit: 's', target: '<= 300 ms', ratio: null, verdict: verdict(st.median, 0.3)})
  // RSS
  const rssOf = (sc) => {
    const rs = (results[sc]?.gwfleet?.runs ?? []).filter((r) => !r.error && r.rssMB).map((r) => r.rssMB)
    return rs.length ? Math.max(...rs) : null
  }
  const rssRows = [
    ['deploy', `peak RSS, deploy ${N} hosts`],
    ['audit', `peak RSS, audit ${N} hosts`],
    ['noop', `peak RSS, no-op deploy ${N} hosts`],
    ['rss-deploy', `peak RSS, deploy ${opts.rssHosts} hosts`],
    ['rss-audit', `peak RSS, audit ${opts.rssHosts} hosts`],
  ]
  for (const [sc, label] of rssRows) {
    if (!results[sc]) continue
    const mb = rssOf(sc)
    const s = stats(sc, 'gwfleet')
    const big = sc.startsWith('rss-')
    rows.push({scenario: label, tool: 'gwfleet', unit: 'MB', peakMB: mb, wallS: s.median, failed: s.failed, errors: s.errors, target: big ? '<= 150 MB' : '', verdict: big ? verdict(mb, 150) : ''})
  }

  // print
  const head = ['scenario', 'tool', 'median', 'min', 'max', 'ok/runs', 'ratio', 'target', 'verdict']
  const body = rows.map((r) =>
    r.unit === 'MB'
      ? [r.scenario, r.tool, r.peakMB === null ? 'FAILED' : `${r.peakMB.toFixed(0)} MB`, '', '', r.failed ? `${r.failed} FAILED` : '', r.wallS ? `(wall ${r.wallS.toFixed(1)} s)` : '', r.target, r.verdict]
      : r.scenario.startsWith('gwfleet --version')
        ? [r.scenario, r.tool, r.median === null ? 'FAILED' : `${(r.median * 1000).toFixed(0)} ms`, `${fmt(r.min * 1000, 0)} ms`, `${fmt(r.max * 1000, 0)} ms`, `${r.ok}/${r.runs}`, '', r.target, r.verdict]
        : [
            r.scenario,
            r.tool,
            r.median === null ? 'FAILED' : `${r.median.toFixed(2)} s`,
            fmt(r.min),
            fmt(r.max),
            `${r.ok}/${r.runs}`,
            `${r.ratioLabel ? `${r.ratioLabel} ${fmt(r.ratio)}` : ''}${r.baseRatio ? ` (base ${fmt(r.baseRatio)})` : ''}`,
            r.target ?? '',
            r.verdict ?? '',
          ],
  )
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => String(b[i]).length)))
  const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd()
  const out = []
  out.push('')
  out.push(`gwfleet benchmark — ${N} lab sshd hosts${opts.rtt ? `, each through a ${opts.rtt} ms round-trip proxy` : ''}${opts.heavyRc ? ', a 0.1 s ~/.bashrc on every host' : ''}, ${opts.rounds} rounds (Ansible ${useAnsible ? `${Math.min(opts.ansibleRounds, opts.rounds)} rounds` : 'skipped'}), tools alternating each round`)
  m.loadavgAtEnd = os.loadavg().map((x) => Math.round(x * 100) / 100)
  out.push(`machine: ${m.nproc} CPUs, ${m.cpuModel}, ${m.ramGiB} GiB RAM; node ${m.node}; kernel ${m.kernel}; ${m.openssh}; pssh ${m.pssh}; ${m.ansible}`)
  out.push(`load average (1/5/15 min) at start ${m.loadavgAtStart.join(' ')}, at end ${m.loadavgAtEnd.join(' ')}`)
  if (m.loadavgAtStart[0] > m.nproc)
    out.push(`WARNING: the machine was busy before the bench started (1-min load ${m.loadavgAtStart[0]} > ${m.nproc} CPUs): figures are noisy; rerun on a quiet machine`)
  out.push('')
  out.push(line(head))
  out.push(line(widths.map((w) => '-'.repeat(w))))
  for (const b of body) out.push(line(b))
  out.push('')
  out.push(`ratio: gwfleet median / this tool median (no-op: no-op median / gwfleet audit median)${opts.baseline ? `; (base x): the same for gwfleet@base, the build in ${opts.baseline}` : ''}. FAILED runs are not timed.`)
  const failures = rows.filter((r) => r.errors?.length)
  for (const r of failures) out.push(`FAILED ${r.scenario} / ${r.tool}: ${r.errors.join(' | ')}`)

  // shells and round trips per host
  out.push('')
  out.push('per host, median over runs (min-max over hosts of that run): shells = shells sshd started, counted by the')
  out.push(`hosts' ~/.bashrc${opts.rtt ? '; conns and turns = TCP connections and client turns (client bytes after server bytes) at the proxy, an upper bound on round trips' : ''}`)
  const perHostRows = [['scenario', 'tool', 'shells', ...(opts.rtt ? ['conns', 'turns'] : [])]]
  const cell = (runs, k) => {
    const xs = runs.map((r) => r.perHost?.[k]).filter(Boolean)
    if (!xs.length) return '-'
    const med = median(xs.map((x) => x.median))
    const lo = Math.min(...xs.map((x) => x.min))
    const hi = Math.max(...xs.map((x) => x.max))
    return `${fmt(med, 1)} (${lo}-${hi})`
  }
  for (const sc of Object.keys(results).filter((k) => ['deploy', 'audit', 'noop'].includes(k) || k.startsWith('one-')))
    for (const [tool, {runs}] of Object.entries(results[sc])) {
      const ok = runs.filter((r) => !r.error)
      perHostRows.push([sc, tool, cell(ok, 'shells'), ...(opts.rtt ? [cell(ok, 'connections'), cell(ok, 'turns')] : [])])
    }
  const pw = perHostRows[0].map((_, i) => Math.max(...perHostRows.map((r) => String(r[i]).length)))
  for (const r of perHostRows) out.push('  ' + r.map((c, i) => String(c).padEnd(pw[i])).join('  ').trimEnd())
  if (opts.rtt && results['one-deploy-rtt']) {
    out.push('')
    out.push(`one host, ${opts.singleRounds} rounds alternating: round trips waited for = (median through the proxy - median direct) / ${opts.rtt} ms`)
    for (const tool of Object.keys(results['one-deploy-rtt'])) {
      for (const sc of ['deploy', 'audit', 'noop']) {
        const far = stats(`one-${sc}-rtt`, tool).median
        const near = stats(`one-${sc}-direct`, tool).median
        const trips = far !== null && near !== null ? ((far - near) * 1000) / opts.rtt : null
        out.push(`  ${tool.padEnd(13)} ${sc.padEnd(6)} direct ${fmt(near)} s, through the proxy ${fmt(far)} s: ${fmt(trips, 1)} round trips`)
      }
      // the upload step alone, from the run log's timestamps
      const up = (where) => median((results[`one-deploy-${where}`]?.[tool]?.runs ?? []).filter((r) => !r.error && r.uploadMs !== null).map((r) => r.uploadMs))
      const [upFar, upNear] = [up('rtt'), up('direct')]
      if (upFar !== null && upNear !== null)
        out.push(`  ${tool.padEnd(13)} upload step of the fresh deploy: direct ${upNear} ms, through the proxy ${upFar} ms: ${fmt((upFar - upNear) / opts.rtt, 1)} round trips`)
    }
  }

  // where gwfleet's time goes
  out.push('')
  out.push('gwfleet per-host durationMs (from --json), median over runs:')
  for (const sc of ['deploy', 'audit', 'noop']) {
    const ds = (results[sc]?.gwfleet?.runs ?? []).map((r) => r.detail).filter(Boolean)
    if (!ds.length) continue
    const med = (k) => Math.round(median(ds.map((d) => d[k])))
    out.push(`  ${sc.padEnd(6)} per host min ${med('minMs')} ms, median ${med('medianMs')} ms, max ${med('maxMs')} ms; wall minus slowest host ${med('outsideHostsMs')} ms (start-up, inventory, release read, render)`)
  }
  if (timeline) {
    out.push(`  slowest host of one more fresh deploy (${timeline.host}, wall ${timeline.wallMs} ms), its run log by offset:`)
    for (const s of timeline.steps.slice(0, 40)) out.push(`    +${String(s.atMs).padStart(5)} ms  ${s.text}`)
  }
  out.push('')
  out.push(`total bench time ${totalS.toFixed(0)} s. Reproduce: npm run bench  (node test/bench/bench.js --hosts ${N} --rounds ${opts.rounds}${opts.skipAnsible ? ' --skip-ansible' : ''}${opts.rtt ? ` --rtt ${opts.rtt}` : ''}${opts.heavyRc ? ' --heavy-rc' : ''})`)
  console.log(out.join('\n'))

  const doc = {
    date: new Date().toISOString(),
    options: opts,
    machine: m,
    rows,
    raw: results,
    timeline,
    totalSeconds: Math.round(totalS),
    command: 'npm run bench',
  }
  fs.writeFileSync(opts.results, JSON.stringify(doc, null, 2) + '\n')
  console.log(`results written to ${path.relative(process.cwd(), opts.results) || opts.results}`)
}

try {
  await main()
} catch (e) {
  console.error(`bench failed: ${e.stack || e}`)
  process.exitCode = 1
} finally {
  killChildren()
  for (const l of labs) await l.stop().catch(() => {})
  for (const d of tempDirs) fs.rmSync(d, {recursive: true, force: true})
  // the lab's startSshd leaves a 50 ms poll loop running for every sshd it started (test/lab/lab.js:
  // `while (exited === null) await sleep(50)`), which would keep this process alive: exit explicitly
  process.exit(process.exitCode ?? 0)
}
