// Big releases and zip bombs on real lab hosts (lab subnet 53, lab "bigrel"): a release's files are
// streamed from the zip into each host byte for byte (stored and deflated entries of several MB); a
// zip bomb, or an entry whose header lies about its size, is refused before any host is touched:
// exit 2 naming the zip and the entry, no login, nothing changed on any host.
//
//   npm run build && GWFLEET_LAB_OFFSET=<n> npx vitest run test/e2e/bigrelease.test.ts
import {createHash, randomBytes} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

// @ts-expect-error plain JS lab module
import {buildInstaller, TEMPLATE_VALUES} from '../lab/release.js'
import {writeZip, zeroBomb, type ZipInput} from '../unit/zip-writer.js'
import {changedSince, installs, lab, markHost, reconfigureSshd, sshdLog, Workspace, type Lab} from './fleet.js'

let L: Lab
let ws: Workspace
let inv: string

const MiB = 1024 * 1024
const zip = (v: string) => path.join(ws.releases, `apheris-gateway-${v}.zip`)
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')
/** Logins each lab host's sshd has accepted so far (LogLevel VERBOSE). */
const logins = async () => Promise.all(L.hosts.map(async (h) => (await sshdLog(h)).filter((l) => /Accepted publickey/.test(l)).length))

/** A release zip written by the test's zip writer: the lab's installer, VERSION, values.yaml, and `more`. */
function release(version: string, more: ZipInput[]): string {
  return writeZip(zip(version), [
    {name: 'deploy_gateway', data: buildInstaller() as string, unixMode: 0o100755},
    {name: 'VERSION', data: `${version}\n`, unixMode: 0o100644},
    {name: 'values.yaml', data: TEMPLATE_VALUES as string, unixMode: 0o100644},
    ...more,
  ])
}

// 6 MiB that deflate cannot shrink (stored) and 6 MiB of text (deflated): both paths of the upload.
const image = randomBytes(6 * MiB)
const charts = Buffer.from(Array.from({length: 6 * MiB / 32}, (_, i) => `chart-line-${String(i).padStart(20, '0')}\n`).join(''))

beforeAll(async () => {
  L = await lab(2, 53, 'bigrel')
  for (const h of L.hosts) await reconfigureSshd(h, (c) => c.replace(/^LogLevel .*$/m, 'LogLevel VERBOSE'))
  ws = new Workspace(L, 'bigrel')
  release('1.4.1', [
    {name: 'images/gateway.tar.gz', data: image, method: 0, unixMode: 0o100644},
    {name: 'images/charts.tar', data: charts, unixMode: 0o100644},
  ])
  inv = ws.inventory('1.4.1', L.hosts.map((host) => ({host})))
})

afterAll(async () => {
  await L?.stop()
  if (ws) fs.rmSync(ws.dir, {recursive: true, force: true})
})

describe('release files are streamed from the zip (lab subnet 53)', () => {
  it('a deploy puts every file of a 12 MiB release, stored and deflated, on each host byte for byte; a rerun sends nothing', async () => {
    // spawned: this file's deploy by the real binary, end to end
    const r = await ws.run(['deploy', '-i', inv, '--json'])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.json.hosts.map((h: any) => h.status)).toEqual(['ok', 'ok'])
    for (const h of L.hosts) {
      const sums = await h.exec('cd /opt/gwfleet/releases/1.4.1 && sha256sum images/gateway.tar.gz images/charts.tar VERSION && stat -c %a deploy_gateway')
      expect(sums.code, sums.stderr).toBe(0)
      expect(sums.stdout).toBe(`${sha(image)}  images/gateway.tar.gz\n${sha(charts)}  images/charts.tar\n${sha('1.4.1\n')}  VERSION\n755\n`)
      expect((await installs(h)).length).toBe(1)
    }
    const again = await ws.runHere(['deploy', '-i', inv, '--json'])
    expect(again.code, again.stderr).toBe(0)
    expect(again.json.hosts.map((h: any) => h.status)).toEqual(['unchanged', 'unchanged'])
  })
})

describe('zip bombs are refused before any host is touched (lab subnet 53)', () => {
  it('a 1.5 MB zip holding a 1.5 GiB entry: exit 2 naming the zip, the entry and the limit, for deploy, its dry run, upgrade and validate; no login, no change', async () => {
    const bomb = zeroBomb(1536)
    const file = release('1.5.0', [{name: 'images/payload.tar', raw: bomb.raw, size: bomb.size, crc: bomb.crc}])
    expect(fs.statSync(file).size).toBeLessThan(2 * MiB)
    for (const h of L.hosts) await markHost(h)
    const before = await logins()
    const words = `${file}: release zip refused: entry "images/payload.tar" would inflate to 1.5 GiB from 1.5 MiB`
    const limit = 'gwfleet refuses entries above 8.0 MiB that inflate more than 200:1 (a zip bomb?)'

    const bombInv = ws.inventory('1.5.0', L.hosts.map((host) => ({host})), 'bomb.yaml')
    for (const args of [['deploy', '-i', bombInv], ['deploy', '-i', bombInv, '--dry-run'], ['upgrade', '-i', inv, '--to', '1.5.0'], ['validate', '-i', bombInv]]) {
      const r = await ws.runHere(args)
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(2)
      expect(r.stdout + r.stderr, args.join(' ')).toContain(words)
      expect(r.stdout + r.stderr, args.join(' ')).toContain(limit)
    }
    const json = await ws.runHere(['deploy', '-i', bombInv, '--json'])
    expect(json.code).toBe(2)
    expect(json.json).toMatchObject({ok: false})
    expect(json.json.error).toContain(words)

    expect(await logins()).toEqual(before)
    for (const h of L.hosts) {
      expect(await changedSince(h), `${h.name} changed`).toEqual([])
      expect(await h.exists('/opt/gwfleet/releases/1.5.0'), `${h.name}: 1.5.0 uploaded`).toBe(false)
      expect((await installs(h)).length).toBe(1)
    }
  })

  it('an entry whose header lies (1.5 GiB of zeros declared as 64 KiB) is stopped there: exit 2 naming the zip and the entry; no login, no change', async () => {
    const bomb = zeroBomb(1536)
    const file = release('1.5.0', [{name: 'images/payload.tar', raw: bomb.raw, size: 64 * 1024, crc: bomb.crc}])
    for (const h of L.hosts) await markHost(h)
    const before = await logins()
    const r = await ws.runHere(['upgrade', '-i', inv, '--to', '1.5.0'])
    expect(r.code, r.stdout + r.stderr).toBe(2)
    expect(r.stderr).toContain(`${file}: cannot read release zip: images/payload.tar: size mismatch (the data inflates past the 65536 bytes the zip declares for it: a lying header or a zip bomb; stopped there)`)
    expect(await logins()).toEqual(before)
    for (const h of L.hosts) {
      expect(await changedSince(h), `${h.name} changed`).toEqual([])
      expect((await installs(h)).length).toBe(1)
    }
  })
})
