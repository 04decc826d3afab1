// A chatty installer (subnet 24, lab "chatty"): one host's installer prints 300 MiB (a 30 MiB line
// with no newline in it, then 1 KiB lines) before its usual output, beside three hosts that deploy
// normally. gwfleet streams it: the chatty host ends ok (the markers after the flood are seen), the
// others are unharmed, every lock is released, result.json is written, the run folder stays small
// and its log says what was cut, and gwfleet's peak RSS stays under 300 MB (measured by
// /usr/bin/time, test/lab/setup.sh installs it).
//
//   npm run build && GWFLEET_LAB_OFFSET=<n> npx vitest run test/e2e/chatty.test.ts
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {agentVersion, allFiles, byName, CLI, installs, lab, Workspaces, type CliResult, type Lab, type Workspace} from './fleet.js'

const SUBNET = 24
const REMOTE = '/opt/gwfleet'
const FLOOD_MIB = 300
const TIME = '/usr/bin/time'

let L: Lab
const spaces = new Workspaces(() => L)

beforeAll(async () => {
  L = await lab(4, SUBNET, 'chatty')
})

afterAll(async () => {
  await L?.stop()
  spaces.cleanup()
})

/** Run the CLI under /usr/bin/time; the result plus its peak resident set size in bytes. */
function runMeasured(ws: Workspace, args: string[]): Promise<CliResult & {maxRss: number}> {
  return new Promise((resolve) => {
    const child = spawn(TIME, ['-f', 'gwfleet-max-rss-kb=%M', process.execPath, CLI, ...args], {env: ws.env(), stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    // Only so that a stuck run cannot hold the suite forever; nothing is asserted on time.
    const t = setTimeout(() => child.kill('SIGKILL'), 900_000)
    child.on('close', (code) => {
      clearTimeout(t)
      const kb = Number(/gwfleet-max-rss-kb=(\d+)/.exec(stderr)?.[1] ?? NaN)
      let json: any = null
      try {
        json = JSON.parse(stdout)
      } catch {
        json = null
      }
      resolve({code, stdout, stderr, json, maxRss: kb * 1024})
    })
  })
}

describe('a chatty installer', () => {
  it(`one installer prints ${FLOOD_MIB} MiB: it ends ok, the hosts beside it are unharmed, memory and the run folder stay bounded`, async () => {
    expect(fs.existsSync(TIME), `${TIME} is missing: run test/lab/setup.sh`).toBe(true)
    const ws = spaces.make('chatty')
    await ws.releasesOf('1.5.0')
    const [loud, ...quiet] = L.hosts
    const inv = ws.inventory('1.5.0', [
      {host: loud, name: 'loud'},
      {host: quiet[0], name: 'quiet-1'},
      {host: quiet[1], name: 'quiet-2', opts: {user: 'ops', become: true}},
      {host: quiet[2], name: 'quiet-3'},
    ])
    await loud.setFault('chatty', String(FLOOD_MIB))

    let res: CliResult & {maxRss: number}
    try {
      res = await runMeasured(ws, ['deploy', '-i', inv, '--json', '--timeout', '15m'])
    } finally {
      await loud.setFault('chatty', null)
    }
    const hosts = byName(res)
    const summary = JSON.stringify(res.json?.hosts?.map((h: any) => [h.name, h.status, h.error]))
    expect.soft(res.code, `${summary} ${res.stderr.slice(-2000)}`).toBe(0)

    // The chatty host: ok, with the version the markers after the flood reported, and recorded.
    expect.soft(hosts.loud?.status, summary).toBe('ok')
    expect.soft(hosts.loud?.toVersion).toBe('1.5.0')
    expect.soft(await agentVersion(loud)).toBe('1.5.0')
    expect.soft(await installs(loud)).toHaveLength(1)
    const record = await loud.exec(`cat ${REMOTE}/state/loud.json`)
    expect.soft(JSON.parse(record.stdout || '{}').version, record.stderr).toBe('1.5.0')
    // The others deployed as usual.
    for (const [i, name] of ['quiet-1', 'quiet-2', 'quiet-3'].entries()) {
      expect.soft(hosts[name]?.status, summary).toBe('ok')
      expect.soft(await agentVersion(quiet[i]), name).toBe('1.5.0')
    }
    // Every lock released.
    for (const h of L.hosts) expect.soft(await h.exists(`${REMOTE}/state/lock`), `lock left on ${h.name}`).toBe(false)

    // Memory: far below the output that went through.
    expect.soft(res.maxRss, `peak RSS ${(res.maxRss / 1024 / 1024).toFixed(0)} MiB`).toBeGreaterThan(0)
    expect.soft(res.maxRss, `peak RSS ${(res.maxRss / 1024 / 1024).toFixed(0)} MiB`).toBeLessThan(300 * 1024 * 1024)

    // The run folder: result.json, logs capped, the cut said in the chatty host's log.
    const runDir: string = res.json?.runDir
    expect.soft(runDir && fs.existsSync(path.join(runDir, 'result.json'))).toBe(true)
    const saved = JSON.parse(fs.readFileSync(path.join(runDir, 'result.json'), 'utf8'))
    expect.soft(saved.hosts.map((h: any) => [h.name, h.status])).toEqual([
      ['loud', 'ok'],
      ['quiet-1', 'ok'],
      ['quiet-2', 'ok'],
      ['quiet-3', 'ok'],
    ])
    const size = allFiles(runDir).reduce((n, f) => n + fs.statSync(f).size, 0)
    expect.soft(size, `run folder ${size} bytes`).toBeLessThan(50 * 1024 * 1024)
    const logSize = fs.statSync(path.join(runDir, 'loud.log')).size
    console.info(`chatty: peak RSS ${(res.maxRss / 1024 / 1024).toFixed(1)} MiB, run folder ${(size / 1024 / 1024).toFixed(1)} MiB, loud.log ${(logSize / 1024 / 1024).toFixed(1)} MiB`)
    // 4 MiB head + 2 MiB tail; an uncapped log is not read into the test's memory.
    expect(logSize).toBeLessThan(7 * 1024 * 1024)
    const log = fs.readFileSync(path.join(runDir, 'loud.log'), 'utf8')
    // The 30 MiB line without newline: cut at 16 Ki characters, the rest counted.
    const long = (FLOOD_MIB * 1024 * 1024) / 10
    expect.soft(log).toContain(`| ${'x'.repeat(16 * 1024)} [gwfleet: ${long - 16 * 1024} more characters of this line cut]`)
    // One line says how much of the middle was cut; the beginning and the end are there.
    const cut = log.split('\n').filter((l) => /of this log cut here/.test(l))
    expect.soft(cut, 'one line saying what was cut').toHaveLength(1)
    const cutMiB = Number(/line\(s\), ([\d.]+) MiB, of this log cut here/.exec(cut[0] ?? '')?.[1])
    // All of the flood but the long line (kept cut) and the 6 MiB kept.
    expect.soft(cutMiB, cut[0]).toBeGreaterThan(FLOOD_MIB * 0.9 - 10)
    const at = log.indexOf(cut[0] ?? '\u0000')
    expect.soft(log.slice(0, at)).toMatch(/connected to root@/)
    expect.soft(log.slice(0, at)).toMatch(/\| chatty: 0{1010}\n/)
    expect.soft(log.slice(at)).toMatch(/\| chatty: printed 300 MiB\n[\s\S]*\| agent: 1\.5\.0\n[\s\S]*\| All services are ready\.\n[\s\S]*result: ok/)
    // The quiet hosts' logs are whole.
    for (const name of ['quiet-1', 'quiet-2', 'quiet-3']) {
      const q = fs.readFileSync(path.join(runDir, `${name}.log`), 'utf8')
      expect.soft(q, name).not.toMatch(/cut here/)
      expect.soft(q, name).toMatch(/All services are ready\.[\s\S]*result: ok/)
    }
  }, 900_000)
})
