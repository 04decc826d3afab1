// gwfleet at scale (issue 12, "load loses hosts"): one audit of many lab gateways at a high
// concurrency, counting how many hosts end each status and how long the run takes.
//
//   npm run build && node test/bench/scale.js --hosts 1000 -c 1000
//   node test/bench/scale.js --hosts 1000 -c 1000,64 --rounds 2   # each round audits at each -c in turn
//   node test/bench/scale.js --deploy --hosts 500 -c 500 --talk 60 # fresh installs, 60 s each, all at once
//
// Flags: --hosts N (1000)  -c/--concurrency C[,C...] (1000)  --rounds R (1)  --subnet S (220)
//        --connect-timeout T (gwfleet's default)  --results FILE (also write the summary there)
//        --deploy: one deploy of every host instead of audits, the stand-in installer talking a line
//        a second for --talk S seconds (60); reports each host's status, how often each installer
//        started (read inside the hosts), gwfleet's peak RSS and CPU seconds per host (GNU time),
//        and the round trips per host (the shells sshd started for gwfleet, counted by ~/.bashrc).
//
// The hosts are split over labs of 250 (scale-a on 127.77.S, scale-b on 127.77.S+1, ...); the labs
// ignore GWFLEET_LAB_OFFSET (pick another --subnet to move them). A fresh lab host has no gateway,
// so every host that was reached ends `not-installed`; `unreachable` is a host lost. After each
// round every lab sshd is checked to be still running, so a loss is not a dead server. Not part of
// the test suite.
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'

import {startLab} from '../lab/lab.js'
import {installRc, limiter, takeShells} from './shells.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.resolve(HERE, '..', '..')
const CLI = path.join(ROOT, 'bin', 'run.js')
const PER_LAB = 250
const VERSION = '1.5.0'

function parseArgs(argv) {
  const o = {hosts: 1000, concurrency: [1000], rounds: 1, subnet: 220, connectTimeout: null, results: null, deploy: false, talk: 60}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const num = () => {
      const v = Number(argv[++i])
      if (!Number.isInteger(v) || v < 1) throw new Error(`${a} needs a positive integer`)
      return v
    }
    if (a === '--hosts') o.hosts = num()
    else if (a === '-c' || a === '--concurrency') {
      o.concurrency = String(argv[++i]).split(',').map(Number)
      if (!o.concurrency.every((c) => Number.isInteger(c) && c >= 1)) throw new Error(`${a} needs positive integers`)
    }
    else if (a === '--rounds') o.rounds = num()
    else if (a === '--subnet') o.subnet = num()
    else if (a === '--connect-timeout') o.connectTimeout = argv[++i]
    else if (a === '--results') o.results = path.resolve(argv[++i])
    else if (a === '--deploy') o.deploy = true
    else if (a === '--talk') o.talk = num()
    else if (a === '-h' || a === '--help') {
      console.log('usage: node test/bench/scale.js [--hosts N] [-c C[,C...]] [--rounds R] [--subnet S] [--connect-timeout T] [--results FILE]')
      process.exit(0)
    } else throw new Error(`unknown argument ${a}`)
  }
  const labCount = Math.ceil(o.hosts / PER_LAB)
  if (labCount > 26 || o.subnet + labCount - 1 > 250) throw new Error(`${o.hosts} hosts need subnets ${o.subnet}..${o.subnet + labCount - 1}: at most 250`)
  return o
}

const opts = parseArgs(process.argv.slice(2))
// These labs choose their own subnets; an offset meant for the test suites would push them past 250.
delete process.env.GWFLEET_LAB_OFFSET

const log = (...a) => console.error(`[scale ${new Date().toISOString().slice(11, 19)}]`, ...a)

const labs = []
let workDir = null
let child = null

function cleanup() {
  if (child) {
    try {
      process.kill(-child.pid, 'SIGKILL')
    } catch {
      /* gone */
    }
  }
  if (workDir) fs.rmSync(workDir, {recursive: true, force: true})
}

let interrupted = false
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (interrupted) return
    interrupted = true
    console.error(`\n${sig}: stopping gwfleet and the labs ...`)
    cleanup()
    // each lab's own 'exit' hook tears it down synchronously
    process.exit(130)
  })
}

/** Run the built CLI (under GNU time with `timed`); resolves with exit code, output and wall milliseconds. */
function gwfleet(args, env, timed = false) {
  return new Promise((resolve) => {
    const t0 = performance.now()
    const argv = [process.execPath, CLI, ...args]
    if (timed) argv.unshift('/usr/bin/time', '-f', 'gwtime %M %U %S')
    child = spawn(argv[0], argv.slice(1), {env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true})
    const out = []
    const err = []
    child.stdout.on('data', (d) => out.push(d))
    child.stderr.on('data', (d) => err.push(d))
    child.on('close', (code, signal) => {
      child = null
      resolve({code, signal, ms: performance.now() - t0, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString()})
    })
  })
}

/** Inventory, values, one known_hosts for all labs; each gateway uses its own lab's client key. */
async function makeWorkspace() {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gwscale-'))
  const home = path.join(workDir, 'home')
  fs.mkdirSync(path.join(home, '.ssh'), {recursive: true, mode: 0o700})
  fs.mkdirSync(path.join(workDir, 'values'))
  await labs[0].makeRelease(path.join(workDir, 'releases'), VERSION)
  const knownHosts = path.join(workDir, 'known_hosts')
  fs.writeFileSync(knownHosts, labs.map((l) => fs.readFileSync(l.knownHostsFile, 'utf8')).join(''))
  const inv = ['release:', '  dir: releases', `  version: ${VERSION}`, 'defaults:', '  user: root', `  knownHosts: ${knownHosts}`, 'gateways:']
  labs.forEach((lab, li) => {
    const letter = String.fromCharCode(97 + li)
    for (const h of lab.hosts) {
      const name = `${letter}-${h.name}`
      fs.writeFileSync(path.join(workDir, 'values', `${name}.yaml`), `tenant: tenant-${name}\nauth:\n  domain: auth.example.net\n`, {mode: 0o600})
      inv.push(`  ${name}:`, `    host: ${h.address}`, `    identityFile: ${lab.clientKey}`, `    values: values/${name}.yaml`)
    }
  })
  const inventory = path.join(workDir, 'fleet.yaml')
  fs.writeFileSync(inventory, inv.join('\n') + '\n')
  const env = {...process.env, HOME: home, GWFLEET_HOME: path.join(home, '.gwfleet'), GWFLEET_PLAIN: '1'}
  delete env.SSH_AUTH_SOCK
  delete env.GWFLEET_INVENTORY
  delete env.GWFLEET_BECOME_PASSWORD
  return {inventory, env}
}

/** Status counts, the unreachable hosts' errors grouped with the address taken out, and per-host times. */
function summarize(json, n) {
  const hosts = json?.hosts ?? []
  const ms = hosts.map((h) => h.durationMs).filter((d) => typeof d === 'number').sort((a, b) => a - b)
  const statuses = {}
  const errors = {}
  for (const h of hosts) {
    statuses[h.status] = (statuses[h.status] ?? 0) + 1
    if (h.status === 'unreachable') {
      const e = String(h.error ?? '').replace(/127\.77\.\d+\.\d+/g, 'H')
      errors[e] = (errors[e] ?? 0) + 1
    }
  }
  const s = (x) => (x === undefined ? null : Math.round(x / 100) / 10)
  return {reported: hosts.length, expected: n, statuses, unreachableErrors: errors, hostS: {median: s(ms[Math.floor(ms.length / 2)]), max: s(ms.at(-1))}}
}

async function main() {
  if (!fs.existsSync(path.join(ROOT, 'dist'))) throw new Error('build first: npm run build')
  const labCount = Math.ceil(opts.hosts / PER_LAB)
  const t0 = performance.now()
  for (let i = 0; i < labCount; i++) {
    const count = Math.min(PER_LAB, opts.hosts - i * PER_LAB)
    const name = `scale-${String.fromCharCode(97 + i)}`
    log(`starting lab ${name}: ${count} hosts on 127.77.${opts.subnet + i}.x`)
    labs.push(await startLab({count, subnet: opts.subnet + i, name, startTimeoutMs: 120_000}))
  }
  log(`labs up in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  const {inventory, env} = await makeWorkspace()
  if (opts.deploy) return deployRound(inventory, env)

  const rounds = []
  for (let r = 1; r <= opts.rounds; r++) for (const c of opts.concurrency) {
    const args = ['audit', '-i', inventory, '-c', String(c), '--json']
    if (opts.connectTimeout) args.push('--connect-timeout', opts.connectTimeout)
    const load = os.loadavg()[0]
    log(`round ${r}: gwfleet ${args.slice(3).join(' ')} on ${opts.hosts} hosts (load ${load.toFixed(2)})`)
    const res = await gwfleet(args, env)
    let json = null
    try {
      json = JSON.parse(res.stdout)
    } catch {
      /* reported below */
    }
    const sshdDown = labs.flatMap((l) => l.hosts.filter((h) => !h.sshdRunning()).map((h) => `${l.name}/${h.name}`))
    const s = {round: r, concurrency: c, exitCode: res.code, wallS: Math.round(res.ms / 100) / 10, loadAtStart: Math.round(load * 100) / 100, ...summarize(json, opts.hosts), sshdDown}
    if (!json) s.stderr = res.stderr.slice(-2000)
    rounds.push(s)
    const lost = s.statuses.unreachable ?? 0
    log(`round ${r}: ${s.wallS} s, ${JSON.stringify(s.statuses)}, ${lost} lost, ${sshdDown.length} sshd down; per host median ${s.hostS.median} s, max ${s.hostS.max} s`)
    for (const [e, k] of Object.entries(s.unreachableErrors)) log(`  ${k} x ${e}`)
    if (!json) log(`  no JSON; stderr: ${s.stderr}`)
  }
  const doc = {
    when: new Date().toISOString(),
    command: `node test/bench/scale.js --hosts ${opts.hosts} -c ${opts.concurrency.join(',')} --rounds ${opts.rounds}`,
    machine: {nproc: os.cpus().length, ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10, node: process.version},
    rounds,
  }
  if (opts.results) fs.writeFileSync(opts.results, JSON.stringify(doc, null, 2) + '\n')
  console.log(JSON.stringify(doc, null, 2))
}

/** --deploy: every host installed at once while the stand-in installer talks; what it cost. */
async function deployRound(inventory, env) {
  const hosts = labs.flatMap((l) => l.hosts)
  const limit = limiter(16)
  await Promise.all(hosts.map((h) => limit(() => h.setFault('talk', String(opts.talk)))))
  await installRc(hosts, false)
  await takeShells(hosts)
  const c = opts.concurrency[0]
  const load = os.loadavg()[0]
  log(`gwfleet deploy -c ${c} on ${hosts.length} hosts, installers talking for ${opts.talk} s (load ${load.toFixed(2)})`)
  const res = await gwfleet(['deploy', '-i', inventory, '-c', String(c), '--json'], env, true)
  let json = null
  try {
    json = JSON.parse(res.stdout)
  } catch {
    /* reported below */
  }
  const [rssKb, user, sys] = (/gwtime (\d+) ([\d.]+) ([\d.]+)/.exec(res.stderr) ?? []).slice(1).map(Number)
  const starts = await Promise.all(hosts.map((h) => limit(async () => (await h.exec('cat /var/lib/gwlab-k3s/starts.log 2>/dev/null')).stdout.split('\n').filter(Boolean).length)))
  const shells = (await takeShells(hosts)).sort((a, b) => a - b)
  const byStarts = {}
  for (const n of starts) byStarts[n] = (byStarts[n] ?? 0) + 1
  const n = hosts.length
  const doc = {
    when: new Date().toISOString(),
    command: `node test/bench/scale.js --deploy --hosts ${n} -c ${c} --talk ${opts.talk}`,
    machine: {nproc: os.cpus().length, ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10, node: process.version},
    exitCode: res.code,
    wallS: Math.round(res.ms / 100) / 10,
    loadAtStart: Math.round(load * 100) / 100,
    ...summarize(json, n),
    hostsByInstallerStarts: byStarts,
    peakRssMiB: rssKb ? Math.round(rssKb / 102.4) / 10 : null,
    cpuSecondsPerHost: user !== undefined ? Math.round(((user + sys) / n) * 1000) / 1000 : null,
    roundTripsPerHost: {median: shells[Math.floor(n / 2)], min: shells[0], max: shells.at(-1)},
  }
  if (!json) doc.stderr = res.stderr.slice(-2000)
  if (opts.results) fs.writeFileSync(opts.results, JSON.stringify(doc, null, 2) + '\n')
  console.log(JSON.stringify(doc, null, 2))
}

try {
  await main()
} catch (e) {
  console.error(e?.stack ?? e)
  process.exitCode = 1
} finally {
  for (const l of labs) await l.stop().catch(() => {})
  cleanup()
  // the lab keeps a poll loop running for every sshd it started: exit explicitly
  process.exit(process.exitCode ?? 0)
}
