// The two experiments of "installs that survive" (issue 19), against any build of gwfleet, on real
// lab sshd hosts with the stand-in installer talking a line a second:
//
//   blip: N hosts behind TCP proxies; every connection is dropped DROP_AT s into the installs and
//         refused for DROP_FOR s.
//   kill: M hosts; gwfleet is SIGKILLed KILL_AT s into the installs, then `deploy` runs again.
//
// For each: gwfleet's exit codes and statuses, and, read inside each host, the installs completed,
// the installer starts, and whether a lock is left. Not part of the test suite.
//
//   npm run build && node test/bench/survive.js
//   node test/bench/survive.js --cli /path/to/other/bin/run.js --talk 40 --drop-at 20 --drop-for 8
//
// Flags: --cli PATH (this checkout's bin/run.js)  --hosts N (5)  --kill-hosts M (3)  --talk S (40)
//        --drop-at S (20)  --drop-for S (8)  --kill-at S (15)  --subnet X (230)
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {DropProxy} from '../lab/drop-proxy.js'
import {startLab} from '../lab/lab.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const o = {cli: path.resolve(HERE, '..', '..', 'bin', 'run.js'), hosts: 5, killHosts: 3, talk: 40, dropAt: 20, dropFor: 8, killAt: 15, subnet: 230}
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  const key = {'--cli': 'cli', '--hosts': 'hosts', '--kill-hosts': 'killHosts', '--talk': 'talk', '--drop-at': 'dropAt', '--drop-for': 'dropFor', '--kill-at': 'killAt', '--subnet': 'subnet'}[a]
  if (!key) throw new Error(`unknown argument ${a}`)
  o[key] = key === 'cli' ? path.resolve(argv[++i]) : Number(argv[++i])
}
delete process.env.GWFLEET_LAB_OFFSET
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const log = (...a) => console.error(`[survive ${new Date().toISOString().slice(11, 19)}]`, ...a)

function run(args, env, onSpawn) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [o.cli, ...args], {env, stdio: ['ignore', 'pipe', 'pipe']})
    onSpawn?.(child.pid)
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', () => undefined)
    child.on('close', (code, signal) => {
      let json = null
      try {
        json = JSON.parse(out)
      } catch {
        /* killed */
      }
      resolve({code, signal, statuses: json?.hosts?.map((h) => h.status) ?? null, errors: json?.hosts?.map((h) => h.error).filter(Boolean) ?? []})
    })
  })
}

const count = async (h, file) => (await h.exec(`cat ${file} 2>/dev/null`)).stdout.split('\n').filter(Boolean).length
const onHost = async (hosts) =>
  Promise.all(
    hosts.map(async (h) => ({
      host: h.name,
      installs: await count(h, '/var/lib/gwlab-k3s/installs.log'),
      starts: await count(h, '/var/lib/gwlab-k3s/starts.log'),
      lockLeft: await h.exists('/opt/gwfleet/state/lock'),
    })),
  )

async function startedEverywhere(hosts) {
  for (let t0 = Date.now(); Date.now() - t0 < 120_000; await sleep(200)) if ((await Promise.all(hosts.map((h) => count(h, '/var/lib/gwlab-k3s/starts.log')))).every((n) => n > 0)) return
  throw new Error('the installers never started')
}

const lab = await startLab({count: o.hosts + o.killHosts, subnet: o.subnet, name: 'survive-bench'})
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gwsurvive-'))
const proxies = []
try {
  await lab.makeRelease(path.join(dir, 'releases'), '1.5.0')
  fs.mkdirSync(path.join(dir, 'values'))
  const known = []
  const inv = (file, hosts) => {
    const lines = ['release:', '  dir: releases', '  version: 1.5.0', 'defaults:', '  user: root', `  identityFile: ${lab.clientKey}`, '  knownHosts: known_hosts', 'gateways:']
    for (const {h, p} of hosts) {
      fs.writeFileSync(path.join(dir, 'values', `${h.name}.yaml`), `tenant: tenant-${h.name}\nauth:\n  domain: auth.example.net\n`)
      lines.push(`  ${h.name}:`, '    host: 127.0.0.1', `    port: ${p.port}`, `    values: values/${h.name}.yaml`)
    }
    fs.writeFileSync(path.join(dir, file), `${lines.join('\n')}\n`)
    return path.join(dir, file)
  }
  for (const h of lab.hosts) {
    const p = new DropProxy(h)
    await p.listen()
    proxies.push({h, p})
    known.push(`[127.0.0.1]:${p.port} ${h.hostKeyLine.split(' ').slice(1).join(' ')}`)
    await h.setFault('talk', String(o.talk))
  }
  fs.writeFileSync(path.join(dir, 'known_hosts'), `${known.join('\n')}\n`)
  const env = {...process.env, HOME: dir, GWFLEET_HOME: path.join(dir, 'gw'), GWFLEET_PLAIN: '1'}
  delete env.SSH_AUTH_SOCK
  fs.mkdirSync(path.join(dir, 'gw'), {mode: 0o700})

  const blip = proxies.slice(0, o.hosts)
  log(`blip: ${o.hosts} hosts, ${o.talk} s installs, every connection dropped at ${o.dropAt} s for ${o.dropFor} s (${o.cli})`)
  const deploying = run(['deploy', '-i', inv('blip.yaml', blip), '--json'], env)
  await startedEverywhere(blip.map((x) => x.h))
  await sleep(o.dropAt * 1000)
  for (const {p} of blip) p.drop(o.dropFor * 1000)
  const blipRun = await deploying
  await sleep((o.talk + 5) * 1000 - o.dropAt * 1000) // whatever still runs on the hosts ends
  const blipResult = {run: blipRun, hosts: await onHost(blip.map((x) => x.h))}

  const kill = proxies.slice(o.hosts)
  const killInv = inv('kill.yaml', kill)
  log(`kill: ${o.killHosts} hosts, ${o.talk} s installs, gwfleet SIGKILLed ${o.killAt} s in, then deploy again`)
  let pid = 0
  const first = run(['deploy', '-i', killInv, '--json'], env, (p) => (pid = p))
  await startedEverywhere(kill.map((x) => x.h))
  await sleep(o.killAt * 1000)
  process.kill(pid, 'SIGKILL')
  const killed = await first
  const again = await run(['deploy', '-i', killInv, '--json'], env)
  await sleep(2000)
  const killResult = {first: killed, again, hosts: await onHost(kill.map((x) => x.h))}

  const summary = (hosts) => ({
    installsCompleted: hosts.filter((x) => x.installs > 0).length,
    installerStartsPerHost: hosts.map((x) => x.starts),
    locksLeft: hosts.filter((x) => x.lockLeft).length,
  })
  const doc = {
    cli: o.cli,
    when: new Date().toISOString(),
    blip: {exitCode: blipResult.run.code, statuses: blipResult.run.statuses, firstError: blipResult.run.errors[0] ?? null, ...summary(blipResult.hosts)},
    kill: {againExitCode: killResult.again.code, againStatuses: killResult.again.statuses, firstError: killResult.again.errors[0] ?? null, ...summary(killResult.hosts)},
  }
  console.log(JSON.stringify(doc, null, 2))
} finally {
  for (const {p} of proxies) p.close()
  await lab.stop().catch(() => undefined)
  fs.rmSync(dir, {recursive: true, force: true})
  process.exit(process.exitCode ?? 0)
}
