// End to end (lab subnet 55, name 'dayops'): what operators reached for on day two and did not
// find. A default inventory (./gwfleet.yaml), did-you-mean for a mistyped flag, one message for a
// login user that is not root, ... Each case fails on the code before it.
//   h1, h2: root logins (audit, deploy)     h3: the login user ops, no become
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {byName, type CliResult, type Lab, lab as startLab, type LabHost, ROOT, Workspace} from './fleet.js'

let lab: Lab
let ws: Workspace
const h = (i: number): LabHost => lab.hosts[i - 1]

beforeAll(async () => {
  lab = await startLab(3, 55, 'dayops')
  ws = new Workspace(lab, 'dayops')
  await ws.releasesOf('1.4.0', '1.5.0', '1.6.0')
}, 180_000)

afterAll(async () => {
  await lab?.stop()
  if (ws && !process.env.GWFLEET_E2E_KEEP) fs.rmSync(ws.dir, {recursive: true, force: true})
})

describe('a default inventory: ./gwfleet.yaml', () => {
  it('without -i and GWFLEET_INVENTORY, a command reads ./gwfleet.yaml and reaches its hosts', async () => {
    ws.inventory('1.5.0', [{host: h(1)}], 'gwfleet.yaml')
    const r = await ws.runHere(['audit', '--json'], {cwd: ws.dir})
    expect(r.code, r.stderr).toBe(1)
    expect(Object.keys(byName(r))).toEqual(['h1'])
    expect(byName(r).h1.status).toBe('not-installed')
  })

  it('-i and GWFLEET_INVENTORY win over ./gwfleet.yaml', async () => {
    ws.inventory('1.5.0', [{host: h(1)}], 'gwfleet.yaml')
    const other = ws.inventory('1.5.0', [{host: h(2)}], 'other.yaml')
    const byFlag = await ws.runHere(['audit', '--json', '-i', other], {cwd: ws.dir})
    expect(Object.keys(byName(byFlag))).toEqual(['h2'])
    const byEnv = await ws.runHere(['audit', '--json'], {cwd: ws.dir, env: {GWFLEET_INVENTORY: other}})
    expect(Object.keys(byName(byEnv))).toEqual(['h2'])
  })

  it('with none of the three: exit 2, and the error names all three ways', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-e2e-noinv-'))
    try {
      const r = await ws.runHere(['audit'], {cwd: empty})
      expect(r.code).toBe(2)
      expect(r.stderr).toBe(`gwfleet: error: --inventory: no inventory: pass -i FILE, set GWFLEET_INVENTORY, or put a gwfleet.yaml in this folder (${fs.realpathSync(empty)})\n`)
      const j = await ws.runHere(['deploy', '--json'], {cwd: empty})
      expect(j.code).toBe(2)
      expect(j.json).toEqual({ok: false, error: expect.stringContaining('pass -i FILE, set GWFLEET_INVENTORY, or put a gwfleet.yaml in this folder')})
    } finally {
      fs.rmSync(empty, {recursive: true, force: true})
    }
  })
})

describe('did you mean: a mistyped flag', () => {
  it('deploy --dryrun: exit 2 with the flag it means, and nothing on the host changes', async () => {
    const inv = ws.inventory('1.5.0', [{host: h(2)}], 'typo.yaml')
    // spawned: the message through the real entry point (bin/run.js); the other typos run in this process
    // NODE_ENV=development (set in many a developer's shell) adds no oclif warning to the two lines.
    const r = await ws.run(['deploy', '-i', inv, '--dryrun'], {env: {NODE_ENV: 'development'}})
    expect(r.code).toBe(2)
    expect(r.stderr).toBe('gwfleet: error: Unknown flag --dryrun. Did you mean --dry-run?\nSee: gwfleet deploy --help\n')
    expect(r.stdout).toBe('')
    const j = await ws.runHere(['deploy', '-i', inv, '--dryrun', '--json'])
    expect(j.code).toBe(2)
    expect(j.json).toEqual({ok: false, error: 'Unknown flag --dryrun. Did you mean --dry-run?'})
    expect(await h(2).exists('/opt/gwfleet')).toBe(false)
  })

  it('every command suggests its own flag for a typo in it, and never repeats a value given with =', async () => {
    // Each command's flags as oclif knows them (the manifest the build writes).
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, {flags: Record<string, {hidden?: boolean}>}>}
    const ids = Object.keys(manifest.commands)
    expect(ids.length).toBeGreaterThanOrEqual(15)
    for (const id of ids) {
      const flag = Object.entries(manifest.commands[id].flags).find(([name, f]) => !f.hidden && name.length >= 4)?.[0]
      if (!flag) continue
      // Two neighbouring letters swapped: one edit.
      const typo = `${flag[0]}${flag[2]}${flag[1]}${flag.slice(3)}`
      const r = await ws.runHere([...id.split(':'), `--${typo}=Not-Shown-42`])
      expect(r.code, id).toBe(2)
      expect(r.stderr.split('\n').slice(0, 2), id).toEqual([`gwfleet: error: Unknown flag --${typo}. Did you mean --${flag}?`, `See: gwfleet ${id.replace(/:/g, ' ')} --help`])
      expect(r.stderr, id).not.toContain('Not-Shown-42')
    }
  }, 120_000)
})

describe('one message for a login user that is not root (no become)', () => {
  const WORDS = 'ops is not root on this host; set become: true to use sudo'

  it('every command that reads or changes the host says the same words, and nothing is written there', async () => {
    const inv = ws.inventory('1.5.0', [{host: h(3), opts: {user: 'ops'}}], 'notroot.yaml')
    const runs = {
      audit: await ws.runHere(['audit', '-i', inv, '--json']),
      status: await ws.runHere(['status', '-i', inv, '--json']),
      history: await ws.runHere(['history', '-i', inv, '--json']),
      'locks list': await ws.runHere(['locks', 'list', '-i', inv, '--json']),
      preflight: await ws.runHere(['preflight', '-i', inv, '--json']),
      'deploy --dry-run': await ws.runHere(['deploy', '-i', inv, '--dry-run', '--json']),
      deploy: await ws.runHere(['deploy', '-i', inv, '--json']),
      diff: await ws.runHere(['diff', '-i', inv, '--json']),
      'locks clear': await ws.runHere(['locks', 'clear', '-i', inv, '--yes', '--json']),
      uninstall: await ws.runHere(['uninstall', '-i', inv, '--yes', '--json']),
    }
    for (const [cmd, r] of Object.entries(runs)) {
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(1)
      const host = byName(r).h3
      const said = cmd === 'preflight' ? host.checks.find((c: any) => c.id === 'root')?.message : host.error
      expect(said, cmd).toBe(WORDS)
    }
    const logs = await ws.runHere(['logs', 'h3', '-i', inv])
    expect(logs.code).toBe(1)
    expect(logs.stderr).toContain(WORDS)
    expect(await h(3).exists('/opt/gwfleet')).toBe(false)
  }, 240_000)
})

/** Anything a terminal acts on: C0 controls but tab and newline, ESC, DEL, C1 controls (0x9b is CSI). */
const ACTIVE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/

describe('logs of several gateways; a run folder log; host text made inert in logs --json', () => {
  let inv: string
  beforeAll(async () => {
    inv = ws.inventory('1.4.0', [{host: h(1), opts: {labels: {ring: 'canary'}}}, {host: h(2)}], 'fleet.yaml')
    const r = await ws.runHere(['deploy', '-i', inv, '--json'])
    expect(r.code, r.stderr).toBe(0)
  }, 180_000)

  const AGENT = (v: string) => [
    `2024-01-01T00:00:00Z  INFO   agent started  version=${v}`,
    '2024-01-01T00:00:01Z  INFO   connected to orchestrator',
    '2024-01-01T00:00:02Z  INFO   computation request  request={"id":"c1239352","resources":{"cpu":"1","memory":"2Gi"}}',
  ]

  it('logs -l: both gateways, every line prefixed with its gateway; a GATEWAY argument stays unprefixed', async () => {
    const r = await ws.runHere(['logs', '-i', inv, '-l', 'h1,h2'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.trimEnd().split('\n').sort()).toEqual([...AGENT('1.4.0').map((l) => `h1 | ${l}`), ...AGENT('1.4.0').map((l) => `h2 | ${l}`)].sort())
    const one = await ws.runHere(['logs', 'h2', '-i', inv])
    expect(one.stdout.trimEnd().split('\n')).toEqual(AGENT('1.4.0'))
    // The whole fleet when neither is given; --json wraps each record with its gateway.
    const js = await ws.runHere(['logs', '-i', inv, '--json'])
    expect(js.code, js.stderr).toBe(0)
    const recs = js.stdout.trimEnd().split('\n').map((l) => JSON.parse(l))
    const started = recs.filter((x) => x.log.msg === 'agent started').sort((a, b) => a.gateway.localeCompare(b.gateway))
    expect(started).toEqual(['h1', 'h2'].map((g) => ({gateway: g, log: {level: 'info', ts: '2024-01-01T00:00:00Z', msg: 'agent started', version: '1.4.0'}})))
    expect(recs.map((x) => x.gateway).sort()).toEqual(['h1', 'h1', 'h1', 'h2', 'h2', 'h2'])
  })

  it('a gateway that cannot be read is said on stderr under its name, the others still print, exit 1', async () => {
    await h(2).setFault('kubectl-down', '1')
    try {
      const r = await ws.runHere(['logs', '-i', inv, '-l', 'ring=canary,h2'])
      expect(r.code).toBe(1)
      expect(r.stdout.trimEnd().split('\n')).toEqual(AGENT('1.4.0').map((l) => `h1 | ${l}`))
      expect(r.stderr).toMatch(/^gwfleet: h2: cannot tell whether a gateway is installed: /m)
    } finally {
      await h(2).setFault('kubectl-down', null)
    }
  })

  it('logs --json: ESC, OSC 52 and CR from the host reach neither the terminal nor a JSON reader; the data stays', async () => {
    // A JSON record whose message carries OSC 52 (set the clipboard) as \u escapes and a raw CR
    // between its tokens, and a plain line with a raw OSC 52 and a CR that would hide its start.
    const record = '{"level":"warn","ts":"2024-01-01T00:00:03Z","msg":"clip \\u001b]52;c;cm0gLXJmIH4=\\u0007board",\r"n":9007199254740993}'
    await h(1).setFault('kubectl-log-lines', `${record}\nplain \u001b]52;c;cm0gLXJmIH4=\u0007 text\rHIDDEN`)
    try {
      const r = await ws.runHere(['logs', 'h1', '-i', inv, '--json'])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout + r.stderr).not.toMatch(ACTIVE)
      const lines = r.stdout.trimEnd().split('\n')
      expect(lines).toContain('{"level":"warn","ts":"2024-01-01T00:00:03Z","msg":"clip board","n":9007199254740993}')
      // What a reader decodes holds nothing a terminal acts on either (jq -r would print it raw).
      for (const l of lines) expect(JSON.stringify(JSON.parse(l))).not.toMatch(/\\u00(1b|07)|52;c;/)
      expect(r.stderr).toContain('plain  textHIDDEN')
      const pretty = await ws.runHere(['logs', 'h1', '-i', inv])
      expect(pretty.stdout + pretty.stderr).not.toMatch(ACTIVE)
      expect(pretty.stdout).toContain('WARN   clip board')
    } finally {
      await h(1).setFault('kubectl-log-lines', null)
    }
  })

  it("runs show ID --log GATEWAY prints that host's log from the run folder; a name it has no log of is bad input", async () => {
    const runs = await ws.runHere(['runs', '--json'])
    const deploy = runs.json.runs.find((x: any) => x.command === 'deploy' && x.summary && !x.summary.dryRun && x.summary.counts.ok === 2)
    expect(deploy, runs.stdout).toBeTruthy()
    const r = await ws.runHere(['runs', 'show', deploy.id, '--log', 'h1'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toBe(fs.readFileSync(path.join(deploy.dir, 'h1.log'), 'utf8'))
    expect(r.stdout).toMatch(/ == running installer 1\.4\.0$/m)
    const js = await ws.runHere(['runs', 'show', deploy.id, '--log', 'h2', '--json'])
    expect(js.json).toMatchObject({command: 'runs show', ok: true, id: deploy.id, gateway: 'h2', file: path.join(deploy.dir, 'h2.log')})
    expect(js.json.lines.join('\n')).toMatch(/ == running installer 1\.4\.0/)
    for (const name of ['h9', '../h1', '_run/../h1']) {
      const bad = await ws.runHere(['runs', 'show', deploy.id, '--log', name])
      expect(bad.code, name).toBe(2)
      expect(bad.stderr, name).toContain(`gwfleet: error: --log: run ${deploy.id} has no log of "${name}"; its logs: h1, h2`)
    }
  })
})

describe('values keys the vendor guide does not know', () => {
  it('validate warns with file, line, key and the key meant; --strict exits 2; deploy says it too and goes on', async () => {
    const inv = ws.inventory('1.5.0', [{host: h(3), name: 'typo', opts: {values: Workspace.valuesText('typo', 'gpu:\n  enabeld: true')}}], 'typo-keys.yaml')
    const values = path.join(ws.dir, 'values', 'typo.yaml')
    const warning = `${values}:14 (gpu.enabeld): not a key of the vendor installation guide; did you mean gpu.enabled?`
    const loose = await ws.runHere(['validate', '-i', inv])
    expect(loose.code, loose.stderr).toBe(0)
    expect(loose.stderr).toContain(`gwfleet: warning: ${warning}\n`)
    expect(loose.stdout).toMatch(/^valid: 0 problem\(s\), 1 warning\(s\)$/m)
    const strict = await ws.runHere(['validate', '-i', inv, '--strict', '--json'])
    expect(strict.code).toBe(2)
    expect(strict.json.problems).toEqual([`${warning} (--strict)`])
    const plan = await ws.runHere(['deploy', '-i', inv, '--dry-run', '--json'])
    expect(plan.code, plan.stderr).toBe(0)
    expect(plan.stderr).toContain(`gwfleet: warning: ${warning}\n`)
    expect(plan.json.warnings).toContain(warning)
    expect(byName(plan).typo.action).toBe('install')
  })
})

describe('old releases on the hosts after a successful hop', () => {
  const releasesOn = async (host: LabHost) => (await host.exec('ls /opt/gwfleet/releases')).stdout.split('\n').filter(Boolean).sort()

  it('each host keeps the release it runs and the one before; older ones go once the hop is recorded', async () => {
    const inv = ws.inventory('1.4.0', [{host: h(1), opts: {labels: {ring: 'canary'}}}, {host: h(2)}], 'fleet.yaml')
    expect(await releasesOn(h(1))).toEqual(['1.4.0'])
    const to15 = await ws.runHere(['upgrade', '-i', inv, '--to', '1.5.0', '--batch-size', 'all', '--json'])
    expect(to15.code, to15.stderr).toBe(0)
    expect(await releasesOn(h(1))).toEqual(['1.4.0', '1.5.0'])
    expect(await releasesOn(h(2))).toEqual(['1.4.0', '1.5.0'])
    const to16 = await ws.runHere(['upgrade', '-i', inv, '-l', 'h1', '--to', '1.6.0', '--json'])
    expect(to16.code, to16.stderr).toBe(0)
    expect(byName(to16).h1).toMatchObject({status: 'ok', toVersion: '1.6.0'})
    expect(byName(to16).h1.notes ?? []).toEqual([])
    expect(await releasesOn(h(1))).toEqual(['1.5.0', '1.6.0'])
    const log = fs.readFileSync(path.join(to16.json.runDir, 'h1.log'), 'utf8')
    expect(log).toMatch(/ removed old releases 1\.4\.0 from \/opt\/gwfleet\/releases \(keeping 2, 1\.6\.0 included\)$/m)
  }, 360_000)

  it('--keep-releases 1 keeps only the running one; one that cannot be removed (a mount inside) is a note, never a failed host', async () => {
    const inv = path.join(ws.dir, 'fleet.yaml')
    // Something mounted inside an old release: rm stays on its own filesystem and leaves it.
    const mnt = await h(2).exec('mkdir -p /opt/gwfleet/releases/1.4.0/mnt && mount -t tmpfs -o mode=0755 gwlab-keep /opt/gwfleet/releases/1.4.0/mnt && echo data > /opt/gwfleet/releases/1.4.0/mnt/file')
    expect(mnt.code, mnt.stderr).toBe(0)
    try {
      const r = await ws.runHere(['upgrade', '-i', inv, '-l', 'h2', '--to', '1.6.0', '--keep-releases', '1', '--json'])
      expect(r.code, r.stderr).toBe(0)
      expect(byName(r).h2).toMatchObject({status: 'ok', toVersion: '1.6.0', error: null})
      expect(byName(r).h2.notes).toEqual(['old releases not removed from /opt/gwfleet/releases: could not remove 1.4.0'])
      expect(await releasesOn(h(2))).toEqual(['1.4.0', '1.6.0'])
      expect((await h(2).exec('cat /opt/gwfleet/releases/1.4.0/mnt/file')).stdout).toBe('data\n')
      // The history says the hop succeeded.
      const hist = await ws.runHere(['history', 'h2', '-i', inv, '--json', '--last', '1'])
      expect(hist.json.entries[0]).toMatchObject({toVersion: '1.6.0', result: 'ok'})
    } finally {
      await h(2).exec('umount /opt/gwfleet/releases/1.4.0/mnt')
    }
  }, 240_000)
})
