// gwfleet's memory with a big release (issue 22): the peak RSS of one `gwfleet deploy` of a release
// whose payload is --payload-mb MB (500), to 1 lab host and to 30 lab hosts at once, and how fast and
// in how much memory a zip bomb is refused. One command:
//
//   npm run build && node test/bench/release-rss.js
//   node test/bench/release-rss.js --hosts 1,30 --payload-mb 500 --baseline /path/to/other/checkout
//
// Flags: --hosts N[,N...] (1,30: one deploy per entry, each to its own fresh hosts)
//        --payload-mb MB (500)  --bomb-gib G (1.5: the bomb's one entry, deflated zeros)  --skip-bomb
//        --baseline DIR (also run another build of gwfleet, DIR/bin/run.js, on the same release)
//        --subnet S (the lab's; GWFLEET_LAB_OFFSET is added as for every lab)  --results FILE
//        --disk DIR (where the hosts' /opt/gwfleet really live, on a path the lab hosts share with this
//        machine: not under /tmp, /var, /opt, /etc, /usr, /srv, /root or /home; default: this checkout)
//
// The release holds the lab's stand-in installer and a payload of 80 % random bytes (a container image
// archive: stored, as zip cannot shrink it) and 20 % text (deflated), like a real deliverables zip.
// Each lab host's /opt/gwfleet is a bind mount of a folder on disk (the lab's own file systems are in
// memory: 30 copies of the release would not fit there), under --disk. The peak RSS is GNU time's maximum resident
// set size of the gwfleet process. A deploy counts only when every host ends `ok` and one host holds the
// payload byte for byte. Not part of the test suite.
import {spawn, spawnSync} from 'node:child_process'
import {createHash, randomFillSync} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'
import zlib from 'node:zlib'

import {startLab} from '../lab/lab.js'
import {buildInstaller, TEMPLATE_VALUES} from '../lab/release.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.resolve(HERE, '..', '..')
const VERSION = '1.5.0'
const MiB = 1024 * 1024

function parseArgs(argv) {
  const offset = Number(process.env.GWFLEET_LAB_OFFSET || 0)
  const o = {hosts: [1, 30], payloadMb: 500, bombGib: 1.5, skipBomb: false, baseline: null, subnet: 200 + ((45 + offset) % 50) - offset, results: null, disk: null}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`)
      return argv[++i]
    }
    const num = () => {
      const v = Number(next())
      if (!(v > 0)) throw new Error(`${a} needs a positive number`)
      return v
    }
    if (a === '--hosts') {
      o.hosts = next().split(',').map(Number)
      if (!o.hosts.every((n) => Number.isInteger(n) && n >= 1)) throw new Error('--hosts needs positive integers')
    } else if (a === '--payload-mb') o.payloadMb = num()
    else if (a === '--bomb-gib') o.bombGib = num()
    else if (a === '--skip-bomb') o.skipBomb = true
    else if (a === '--baseline') o.baseline = path.resolve(next())
    else if (a === '--subnet') o.subnet = num()
    else if (a === '--results') o.results = path.resolve(next())
    else if (a === '--disk') o.disk = path.resolve(next())
    else if (a === '-h' || a === '--help') {
      console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n'))
      process.exit(0)
    } else throw new Error(`unknown argument ${a}`)
  }
  return o
}

const opts = parseArgs(process.argv.slice(2))
const log = (...a) => console.error(`[release-rss ${new Date().toISOString().slice(11, 19)}]`, ...a)

let work = null
let disk = null
let lab = null
let child = null

function cleanup() {
  if (child) {
    try {
      process.kill(-child.pid, 'SIGKILL')
    } catch {
      /* gone */
    }
  }
  for (const d of [work, disk]) if (d) fs.rmSync(d, {recursive: true, force: true})
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping ...`)
    cleanup()
    process.exit(130)
  })
}

/** Write `bytes` bytes to `file` in 1 MiB chunks from `fill(chunk, index)`. */
function writeBig(file, bytes, fill) {
  const fd = fs.openSync(file, 'w')
  try {
    const buf = Buffer.alloc(MiB)
    for (let off = 0, i = 0; off < bytes; off += MiB, i++) {
      const n = Math.min(MiB, bytes - off)
      fill(buf, i)
      fs.writeSync(fd, buf, 0, n)
    }
  } finally {
    fs.closeSync(fd)
  }
}

/** The release zip: installer, VERSION, values.yaml, and the payload (random image archive stored, text deflated). */
function makeBigRelease(dir) {
  const stage = fs.mkdtempSync(path.join(work, 'stage-'))
  const total = Math.round(opts.payloadMb * 1e6)
  const image = Math.round(total * 0.8)
  fs.writeFileSync(path.join(stage, 'deploy_gateway'), buildInstaller(), {mode: 0o755})
  fs.writeFileSync(path.join(stage, 'VERSION'), `${VERSION}\n`)
  fs.writeFileSync(path.join(stage, 'values.yaml'), TEMPLATE_VALUES)
  fs.mkdirSync(path.join(stage, 'images'))
  writeBig(path.join(stage, 'images', 'gateway-images.tar.gz'), image, (b) => randomFillSync(b))
  const words = Array.from({length: 4096}, (_, i) => `key-${i.toString(36)}: value-${((i * 2654435761) >>> 0).toString(16)}\n`).join('')
  const text = Buffer.from(words.repeat(Math.ceil(MiB / words.length) + 1))
  writeBig(path.join(stage, 'images', 'charts.tar'), total - image, (b, i) => {
    text.copy(b, 0, (i * 7919) % (text.length - MiB), ((i * 7919) % (text.length - MiB)) + MiB)
    randomFillSync(b, 0, 64) // no two MiB alike
  })
  fs.mkdirSync(dir, {recursive: true})
  const zip = path.join(dir, `apheris-gateway-${VERSION}.zip`)
  const r = spawnSync('zip', ['-q', '-r', '-X', '-n', '.gz', zip, '.'], {cwd: stage, encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`zip failed: ${r.stderr || r.error}`)
  const sha = createHash('sha256').update(fs.readFileSync(path.join(stage, 'images', 'charts.tar'))).digest('hex')
  fs.rmSync(stage, {recursive: true, force: true})
  return {zip, chartsSha256: sha}
}

/**
 * A zip bomb: one entry `deploy_gateway` of `gib` GiB of zeros, deflated (about 1 MB per GiB),
 * written by hand so its directory tells the truth (zip64 when the size needs it).
 */
function makeBomb(dir, gib) {
  const size = Math.round(gib * 2 ** 30)
  const deflater = zlib.createDeflateRaw({level: 9})
  const zero = Buffer.alloc(MiB)
  const parts = []
  deflater.on('data', (d) => parts.push(d))
  for (let left = size; left > 0; left -= MiB) deflater.write(left >= MiB ? zero : zero.subarray(0, left))
  return new Promise((resolve, reject) => {
    deflater.on('error', reject)
    deflater.on('end', () => {
      const data = Buffer.concat(parts)
      let crc = 0
      for (let left = size; left > 0; left -= MiB) crc = zlib.crc32(left >= MiB ? zero : zero.subarray(0, left), crc)
      const name = Buffer.from('deploy_gateway')
      const z64 = size >= 0xffffffff
      const u16 = (v) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b }
      const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b }
      const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b }
      const extra = z64 ? Buffer.concat([u16(1), u16(16), u64(size), u64(data.length)]) : Buffer.alloc(0)
      const local = Buffer.concat([u32(0x04034b50), u16(45), u16(0), u16(8), u16(0), u16(0), u32(crc), u32(z64 ? 0xffffffff : data.length), u32(z64 ? 0xffffffff : size), u16(name.length), u16(extra.length), name, extra])
      const central = Buffer.concat([u32(0x02014b50), u16((3 << 8) | 45), u16(45), u16(0), u16(8), u16(0), u16(0), u32(crc), u32(z64 ? 0xffffffff : data.length), u32(z64 ? 0xffffffff : size), u16(name.length), u16(extra.length), u16(0), u16(0), u16(0), u32((0o100755 << 16) >>> 0), u32(0), name, extra])
      const cdOffset = local.length + data.length
      const eocd = Buffer.concat([u32(0x06054b50), u16(0), u16(0), u16(1), u16(1), u32(central.length), u32(cdOffset), u16(0)])
      fs.mkdirSync(dir, {recursive: true})
      const zip = path.join(dir, `apheris-gateway-${VERSION}.zip`)
      fs.writeFileSync(zip, Buffer.concat([local, data, central, eocd]))
      resolve(zip)
    })
    deflater.end()
  })
}

/** Run a gwfleet build under GNU time; resolves with exit code, output, wall seconds and peak RSS. */
function gwfleet(cli, args, env) {
  return new Promise((resolve) => {
    const t0 = performance.now()
    child = spawn('/usr/bin/time', ['-f', 'gwtime %M', process.execPath, cli, ...args], {env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true})
    const out = []
    const err = []
    child.stdout.on('data', (d) => out.push(d))
    child.stderr.on('data', (d) => err.push(d))
    child.on('close', (code) => {
      child = null
      const stderr = Buffer.concat(err).toString()
      const rssKb = Number(/gwtime (\d+)/.exec(stderr)?.[1])
      resolve({code, stdout: Buffer.concat(out).toString(), stderr, wallS: Math.round((performance.now() - t0) / 100) / 10, peakRssMiB: rssKb ? Math.round(rssKb / 102.4) / 10 : null})
    })
  })
}

/** A workspace for one deploy: the release folder, values and an inventory for `hosts`. */
function workspace(tag, releases, hosts) {
  const dir = fs.mkdtempSync(path.join(work, `${tag}-`))
  const home = path.join(dir, 'home')
  fs.mkdirSync(path.join(home, '.ssh'), {recursive: true, mode: 0o700})
  fs.mkdirSync(path.join(dir, 'values'))
  const inv = ['release:', `  dir: ${releases}`, `  version: ${VERSION}`, 'defaults:', '  user: root', `  identityFile: ${lab.clientKey}`, `  knownHosts: ${lab.knownHostsFile}`, 'gateways:']
  for (const h of hosts) {
    fs.writeFileSync(path.join(dir, 'values', `${h.name}.yaml`), `tenant: tenant-${h.name}\nauth:\n  domain: auth.example.net\n`, {mode: 0o600})
    inv.push(`  ${h.name}:`, `    host: ${h.address}`, `    values: values/${h.name}.yaml`)
  }
  const inventory = path.join(dir, 'fleet.yaml')
  fs.writeFileSync(inventory, inv.join('\n') + '\n')
  const env = {...process.env, HOME: home, GWFLEET_HOME: path.join(home, '.gwfleet'), GWFLEET_PLAIN: '1'}
  for (const k of ['SSH_AUTH_SOCK', 'GWFLEET_INVENTORY', 'GWFLEET_BECOME_PASSWORD']) delete env[k]
  return {inventory, env}
}

/** In parallel, at most `n` at a time. */
async function eachLimited(items, n, fn) {
  const queue = [...items]
  await Promise.all(Array.from({length: Math.min(n, queue.length)}, async () => {
    while (queue.length) await fn(queue.shift())
  }))
}

/** Give each host an /opt/gwfleet on disk: a bind mount (inside the host) of a fresh folder under `disk`. */
async function onDisk(hosts) {
  await eachLimited(hosts, 8, async (h) => {
    const real = path.join(disk, h.name)
    fs.mkdirSync(real, {mode: 0o755})
    fs.writeFileSync(path.join(real, '.seen'), h.name)
    // The host must see the very folder this process made (a path the lab does not overlay).
    const r = await h.exec(`mkdir -p /opt/gwfleet && mount --bind '${real}' /opt/gwfleet && cat /opt/gwfleet/.seen && rm /opt/gwfleet/.seen`)
    if (r.code !== 0 || r.stdout !== h.name) throw new Error(`${h.name}: cannot put /opt/gwfleet on ${real} (--disk must be a path the lab hosts share): ${r.stderr}`)
  })
}

async function deployRound(tool, cli, release, hosts) {
  await onDisk(hosts)
  const {inventory, env} = workspace(`deploy-${tool}-${hosts.length}`, path.dirname(release.zip), hosts)
  const load = os.loadavg()[0]
  log(`${tool}: deploy of a ${opts.payloadMb} MB-payload release to ${hosts.length} host(s) at once (load ${load.toFixed(2)})`)
  const res = await gwfleet(cli, ['deploy', '-i', inventory, '-c', String(hosts.length), '--json'], env)
  let json = null
  try {
    json = JSON.parse(res.stdout)
  } catch {
    /* reported below */
  }
  const statuses = {}
  const errors = {}
  for (const h of json?.hosts ?? []) {
    statuses[h.status] = (statuses[h.status] ?? 0) + 1
    if (h.error) {
      const e = String(h.error).replace(/127\.77\.\d+\.\d+/g, 'H')
      errors[e] = (errors[e] ?? 0) + 1
    }
  }
  // One host's copy of the deflated payload file, byte for byte.
  const sum = await hosts[0].exec(`sha256sum /opt/gwfleet/releases/${VERSION}/images/charts.tar`)
  const payloadOk = sum.code === 0 && sum.stdout.startsWith(release.chartsSha256)
  const ok = res.code === 0 && statuses.ok === hosts.length && payloadOk
  const r = {tool, hosts: hosts.length, ok, exitCode: res.code, statuses, errors, payloadOnHostMatches: payloadOk, wallS: res.wallS, peakRssMiB: res.peakRssMiB, loadAtStart: Math.round(load * 100) / 100}
  if (!ok) r.stderr = res.stderr.slice(-3000)
  log(`${tool}: ${hosts.length} host(s): ${ok ? 'ok' : 'FAILED'}, ${res.wallS} s, peak RSS ${res.peakRssMiB} MiB ${JSON.stringify(statuses)}`)
  if (!ok) log(JSON.stringify(errors), r.stderr)
  // The hosts' copies are not needed any more: free the disk for the next round.
  await eachLimited(hosts, 8, (h) => h.exec('umount /opt/gwfleet'))
  for (const h of hosts) fs.rmSync(path.join(disk, h.name), {recursive: true, force: true})
  return r
}

async function bombRound(tool, cli, bomb, host) {
  const {inventory, env} = workspace(`bomb-${tool}`, path.dirname(bomb), [host])
  const before = (await host.exec('ls -A /opt 2>/dev/null; ls -A /opt/gwfleet 2>/dev/null')).stdout
  log(`${tool}: deploy of a ${opts.bombGib} GiB zip bomb (${(fs.statSync(bomb).size / MiB).toFixed(1)} MiB zip)`)
  const res = await gwfleet(cli, ['deploy', '-i', inventory, '--json'], env)
  const after = (await host.exec('ls -A /opt 2>/dev/null; ls -A /opt/gwfleet 2>/dev/null')).stdout
  let said
  try {
    said = JSON.parse(res.stdout).error
  } catch {
    said = res.stderr.split('\n').find((l) => l.includes(path.basename(bomb))) ?? res.stdout.trim().split('\n').at(-1)
  }
  const r = {tool, zipMiB: Math.round((fs.statSync(bomb).size / MiB) * 10) / 10, entryGiB: opts.bombGib, exitCode: res.code, refused: res.code === 2, hostUnchanged: before === after, wallS: res.wallS, peakRssMiB: res.peakRssMiB, said}
  log(`${tool}: bomb ${r.refused ? 'refused' : 'NOT refused'} (exit ${res.code}) in ${res.wallS} s, peak RSS ${res.peakRssMiB} MiB: ${said}`)
  return r
}

async function main() {
  if (!fs.existsSync(path.join(ROOT, 'dist'))) throw new Error('build first: npm run build')
  const tools = [['gwfleet', path.join(ROOT, 'bin', 'run.js')]]
  if (opts.baseline) tools.push(['gwfleet@base', path.join(opts.baseline, 'bin', 'run.js')])
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'gwrelrss-'))
  disk = fs.mkdtempSync(path.join(opts.disk ?? ROOT, '.gwrelrss-disk-'))
  fs.chmodSync(disk, 0o755)

  log(`building a release with a ${opts.payloadMb} MB payload ...`)
  const release = makeBigRelease(path.join(work, 'releases'))
  log(`release zip: ${(fs.statSync(release.zip).size / MiB).toFixed(1)} MiB`)
  const bomb = opts.skipBomb ? null : await makeBomb(path.join(work, 'bomb'), opts.bombGib)

  const count = opts.hosts.reduce((a, b) => a + b, 0) * tools.length
  log(`starting ${count} lab hosts`)
  lab = await startLab({count, subnet: opts.subnet, name: 'relrss', startTimeoutMs: 180_000})
  let next = 0
  const deploys = []
  for (const n of opts.hosts) for (const [tool, cli] of tools) {
    deploys.push(await deployRound(tool, cli, release, lab.hosts.slice(next, next + n)))
    next += n
  }
  const bombs = []
  if (bomb) for (const [tool, cli] of tools) bombs.push(await bombRound(tool, cli, bomb, lab.hosts[0]))

  const doc = {
    when: new Date().toISOString(),
    command: `node test/bench/release-rss.js --hosts ${opts.hosts.join(',')} --payload-mb ${opts.payloadMb}${opts.baseline ? ` --baseline ${opts.baseline}` : ''}`,
    machine: {nproc: os.cpus().length, ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10, node: process.version},
    releaseZipMiB: Math.round((fs.statSync(release.zip).size / MiB) * 10) / 10,
    deploys,
    bombs,
  }
  if (opts.results) fs.writeFileSync(opts.results, JSON.stringify(doc, null, 2) + '\n')
  console.log(JSON.stringify(doc, null, 2))
  console.log('\ntool            hosts  ok     wall s  peak RSS MiB')
  for (const d of deploys) console.log(`${d.tool.padEnd(16)}${String(d.hosts).padStart(5)}  ${String(d.ok).padEnd(6)}${String(d.wallS).padStart(7)}  ${String(d.peakRssMiB).padStart(12)}`)
  for (const b of bombs) console.log(`${b.tool.padEnd(16)} bomb  ${b.refused ? 'refused' : 'PASSED'}${String(b.wallS).padStart(6)}  ${String(b.peakRssMiB).padStart(12)}   host unchanged: ${b.hostUnchanged}`)
  if (deploys.some((d) => !d.ok) || bombs.some((b) => b.tool === 'gwfleet' && (!b.refused || !b.hostUnchanged))) process.exitCode = 1
}

try {
  await main()
} catch (e) {
  console.error(e?.stack ?? e)
  process.exitCode = 1
} finally {
  await lab?.stop().catch(() => {})
  cleanup()
  process.exit(process.exitCode ?? 0)
}
