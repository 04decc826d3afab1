// Release zips checked before any host is touched, the dry run as a plan, upgrade --to's warning,
// and `gwfleet validate` (lab subnet 32, lab "relcheck"): a bad zip on any hop is exit 2 naming the
// file, with no login on any host; validate opens no SSH connection and never prints a secret.
//
//   npm run build && GWFLEET_LAB_OFFSET=<n> npx vitest run test/e2e/releasecheck.test.ts
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {changedSince, findSecrets, installs, lab, markHost, reconfigureSshd, SECRETS, sshdLog, Workspace, type CliResult, type Lab} from './fleet.js'

let L: Lab
let ws: Workspace
let inv: string

/** Logins each lab host's sshd has accepted so far (LogLevel VERBOSE). */
const logins = async () => Promise.all(L.hosts.map(async (h) => (await sshdLog(h)).filter((l) => /Accepted publickey/.test(l)).length))
const zip = (v: string) => path.join(ws.releases, `apheris-gateway-${v}.zip`)

/** Flip one byte in the middle of the zip's largest entry (the installer): its CRC no longer matches. */
function flipByte(file: string): void {
  const buf = fs.readFileSync(file)
  const sig = Buffer.from([0x50, 0x4b, 0x03, 0x04])
  let best = {at: -1, size: 0}
  for (let p = buf.indexOf(sig); p !== -1; p = buf.indexOf(sig, p + 4)) {
    const size = buf.readUInt32LE(p + 18)
    if (size > best.size) best = {at: p + 30 + buf.readUInt16LE(p + 26) + buf.readUInt16LE(p + 28), size}
  }
  buf[best.at + Math.floor(best.size / 2)]! ^= 0x20
  fs.writeFileSync(file, buf)
}

beforeAll(async () => {
  L = await lab(2, 32, 'relcheck')
  for (const h of L.hosts) await reconfigureSshd(h, (c) => c.replace(/^LogLevel .*$/m, 'LogLevel VERBOSE'))
  ws = new Workspace(L, 'relcheck')
  await ws.releasesOf('1.3.0', '1.4.0', '1.4.1', '1.5.0')
  inv = ws.inventory('1.4.1', L.hosts.map((host) => ({host})))
})

afterAll(async () => {
  await L?.stop()
  if (ws) fs.rmSync(ws.dir, {recursive: true, force: true})
})

describe('release zips are checked before any host is touched', () => {
  it('a corrupt, truncated or incomplete hop zip is exit 2 naming the file, with --dry-run too; no host sees a login', async () => {
    for (const h of L.hosts) await markHost(h)
    const before = await logins()
    const good = fs.readFileSync(zip('1.3.0'))

    // 1.3.0 is a hop toward 1.4.1 for a host on 1.2.x: the run may need it, so it must be whole.
    fs.writeFileSync(zip('1.3.0'), good.subarray(0, Math.floor(good.length * 0.6)))
    for (const args of [['deploy', '-i', inv], ['deploy', '-i', inv, '--dry-run']]) {
      const r = await ws.runHere(args)
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(2)
      expect(r.stderr).toContain(`${zip('1.3.0')}: cannot read release zip`)
    }

    fs.writeFileSync(zip('1.3.0'), good)
    flipByte(zip('1.4.1'))
    const crc = await ws.runHere(['deploy', '-i', inv, '--dry-run', '--json'])
    expect(crc.code).toBe(2)
    expect(crc.json).toMatchObject({ok: false})
    expect(crc.json.error).toContain(zip('1.4.1'))
    expect(crc.json.error).toMatch(/deploy_gateway: (CRC mismatch|cannot inflate|size mismatch)/)

    await L.makeRelease(ws.releases, '1.4.1', {withoutInstaller: true})
    const none = await ws.runHere(['deploy', '-i', inv])
    expect(none.code).toBe(2)
    expect(none.stderr).toContain(`${zip('1.4.1')}: release zip holds no deploy_gateway`)

    // upgrade --to checks the way to --to: 1.4.1 is the 1.4 hop toward 1.5.0.
    const up = await ws.runHere(['upgrade', '-i', inv, '--to', '1.5.0', '--dry-run'])
    expect(up.code).toBe(2)
    expect(up.stderr).toContain(zip('1.4.1'))

    expect(await logins()).toEqual(before)
    for (const h of L.hosts) {
      expect(await changedSince(h), `${h.name} changed`).toEqual([])
      expect(await h.exists('/opt/gwfleet'), `${h.name}: /opt/gwfleet`).toBe(false)
    }
    await L.makeRelease(ws.releases, '1.4.1')
  })

  it('a broken zip the policy never uses does not stop a run', async () => {
    // 1.4.0 is not the highest 1.4 patch: no way to 1.4.1 or 1.5.0 installs it.
    fs.writeFileSync(zip('1.4.0'), 'not a zip')
    const r = await ws.runHere(['deploy', '-i', inv, '--dry-run', '--json'])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    await L.makeRelease(ws.releases, '1.4.0')
  })
})

describe('the plan of a dry run, and what upgrade --to leaves behind', () => {
  it('a dry run reads "would install"; after a deploy, upgrade --to 1.5.0 warns that the inventory still wants 1.4.1', async () => {
    const plan = await ws.runHere(['deploy', '-i', inv, '--dry-run'])
    expect(plan.code, plan.stderr).toBe(0)
    for (const h of L.hosts) expect(plan.stdout).toMatch(new RegExp(`^${h.name}\\s+none\\s+1\\.4\\.1\\s+would install\\s+1\\.4\\.1`, 'm'))
    expect(plan.stdout).toMatch(/^would install: 2$/m)
    expect(plan.stdout).not.toMatch(/\bok\b/)

    const seen = await logins()
    // spawned: this file's deploy by the real binary, end to end
    const dep = await ws.run(['deploy', '-i', inv, '--json'])
    expect(dep.code, dep.stderr).toBe(0)
    // The login count the other tests rely on does see a run's logins.
    for (const [i, n] of (await logins()).entries()) expect(n).toBeGreaterThan(seen[i]!)
    expect(dep.json.hosts.map((h: any) => h.status)).toEqual(['ok', 'ok'])

    const up = await ws.runHere(['upgrade', '-i', inv, '--to', '1.5.0', '--dry-run', '--json'])
    expect(up.code, up.stderr).toBe(0)
    expect(up.json.dryRun).toBe(true)
    expect(up.json.hosts.map((h: any) => [h.status, h.action, h.hops])).toEqual([['ok', 'upgrade', ['1.5.0']], ['ok', 'upgrade', ['1.5.0']]])
    expect(up.json.warnings).toHaveLength(1)
    expect(up.json.warnings[0]).toMatch(/still wants 1\.4\.1 \(release\.version\) for 2 of the selected gateways .*drift.*refuse the downgrade; set release\.version to 1\.5\.0 in .*fleet\.yaml:3/)
    expect(up.stderr).toContain(`gwfleet: warning: ${up.json.warnings[0]}`)

    const text = await ws.runHere(['upgrade', '-i', inv, '--to', '1.5.0', '--dry-run'])
    expect(text.stdout).toMatch(/would upgrade\s+1\.5\.0/)
    expect(text.stdout).toMatch(/^would upgrade: 2$/m)
    // The deploy ran once per host; the dry runs installed nothing.
    for (const h of L.hosts) expect((await installs(h)).length).toBe(1)
  })
})

describe('gwfleet validate', () => {
  const runs: CliResult[] = []
  const validate = async (args: string[] = [], env?: NodeJS.ProcessEnv) => {
    const r = await ws.runHere(['validate', '-i', inv, ...args], {env})
    runs.push(r)
    return r
  }

  it('checks values, secret references, releases and the policy with no SSH connection, and prints no secret', async () => {
    const before = await logins()
    const ok = await validate(['--json'])
    expect(ok.code, ok.stdout + ok.stderr).toBe(0)
    expect(ok.json).toMatchObject({command: 'validate', ok: true, problems: []})
    expect(ok.json.inventory).toMatchObject({gateways: 2, selected: 2})
    const refs = ok.json.values[0].references
    expect(refs.map((r: any) => [r.ref, r.resolvable])).toEqual([
      ['${env:GW_CLIENT_SECRET}', true],
      ['${file:../client-secret.txt}', true],
      ['${env:GW_HELM_PASSWORD}', true],
    ])
    expect(ok.json.releases.map((r: any) => [r.version, r.role, r.ok])).toEqual([
      ['1.3.0', 'hop', true],
      ['1.4.1', 'target', true],
    ])
    expect(ok.json.policy).toContainEqual({to: '1.4.1', from: '1.3.x', hops: ['1.4.1'], refused: null})

    const table = await validate()
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/^secret\s+\$\{env:GW_CLIENT_SECRET\} \(line 6, auth\.orchestrator\.clientSecret\)\s+resolvable/m)
    expect(table.stdout).toMatch(/^valid: 0 problem/m)

    // Without one secret in the environment: exit 2, that reference named, the others still resolvable.
    const missing = await validate(['--json'], {GW_HELM_PASSWORD: undefined})
    expect(missing.code).toBe(2)
    expect(missing.json.ok).toBe(false)
    const r2 = missing.json.values[0].references
    expect(r2.find((r: any) => r.ref === '${env:GW_HELM_PASSWORD}')).toMatchObject({resolvable: false, problem: expect.stringMatching(/GW_HELM_PASSWORD is not set/)})
    expect(r2.filter((r: any) => r.resolvable)).toHaveLength(2)
    const missingText = await validate([], {GW_HELM_PASSWORD: undefined})
    expect(missingText.code).toBe(2)
    expect(missingText.stderr).toMatch(/gwfleet: error: .*values\/\S+\.yaml:12 \(helmRepoPassword\): \$\{env:GW_HELM_PASSWORD\}: environment variable GW_HELM_PASSWORD is not set/)

    // A corrupt hop zip and a vendor placeholder: both reported, exit 2.
    flipByte(zip('1.3.0'))
    const values = path.join(ws.dir, 'values', `${L.hosts[0]!.name}.yaml`)
    const original = fs.readFileSync(values, 'utf8')
    fs.writeFileSync(values, original.replace(/^tenant: .*$/m, 'tenant: APHERIS_PROVIDED_TENANT_ID'))
    const bad = await validate(['--json'])
    expect(bad.code).toBe(2)
    expect(bad.json.problems.some((p: string) => p.includes(zip('1.3.0')))).toBe(true)
    expect(bad.json.problems.some((p: string) => p.includes('vendor placeholder APHERIS_PROVIDED_TENANT_ID'))).toBe(true)
    fs.writeFileSync(values, original)
    await L.makeRelease(ws.releases, '1.3.0')

    expect(await logins(), 'validate logged in to a host').toEqual(before)
    // The secrets were in the environment and the file (the references resolved); none was printed or written.
    expect(findSecrets(runs, [ws.home], Object.values(SECRETS))).toEqual([])
  })
})
