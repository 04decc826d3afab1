// Secrets (subnet 17, lab "secrets"): deploy, upgrade, audit, uninstall and failing deploys (one
// whose installer prints the client secret, one that prints the whole values file it was given, with
// a secret full of quotes and backslashes and a PEM key, also base64-encoded) run with known secret
// values, while every command line
// on the machine is watched (lab hosts share the PID namespace: the remote commands are visible
// here). Afterwards every byte the workstation wrote is searched: stdout, stderr, the JSON, the run
// folders and everything under HOME, GWFLEET_HOME and TMPDIR. No secret may appear anywhere but in
// the values file on its own host (0600 in a 0700 directory).
//
//   npm run build && npx vitest run test/e2e/secrets.test.ts
import {generateKeyPairSync} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

// @ts-expect-error plain JS lab module
import {LAB_ROOT} from '../lab/lab.js'

import {allFiles, lab, SECRETS, Workspace, type CliResult, type Lab, type LabHost, mntNs, procPids} from './fleet.js'

let L: Lab
let ws: Workspace
let tmp: string
let becomePassword: string
const runs: {what: string; res: CliResult}[] = []
const cliPids = new Set<string>()

/** A secret with what YAML and JSON escape: the values file holds it as Qu0te\"Back\\slash$ecret. */
const QUOTE = 'Qu0te"Back\\slash$ecret'
/** A private key read through ${file:}: its lines are secret, its BEGIN/END lines are not. */
const PEM = generateKeyPairSync('rsa', {modulusLength: 2048, publicKeyEncoding: {type: 'spki', format: 'pem'}, privateKeyEncoding: {type: 'pkcs8', format: 'pem'}}).privateKey.trimEnd()
const PEM_BODY = PEM.split('\n').filter((l) => !l.startsWith('-----'))

/** Every form of the attack's secrets that output could show, spelled out here (not taken from gwfleet). */
const attackForms = () => [
  QUOTE,
  'Qu0te\\"Back\\\\slash$ecret', // YAML double-quoted, and JSON
  'Qu0te\\\\\\"Back\\\\\\\\slash$ecret', // the YAML form inside a JSON string
  'slash$ecret', // any part of it
  Buffer.from(QUOTE).toString('base64'),
  PEM,
  JSON.stringify(PEM).slice(1, -1),
  ...PEM_BODY,
]

/** Every secret of this file: the values' references, the sudo password and the attack's forms. */
const secrets = () => [...Object.values(SECRETS), becomePassword, ...attackForms()]

/** What any base64 run of 16 or more characters in a text decodes to, at each of the four alignments. */
function base64Decoded(text: string): string[] {
  return [...text.matchAll(/[A-Za-z0-9+/]{16,}/g)].flatMap((m) => [0, 1, 2, 3].map((o) => Buffer.from(m[0].slice(o), 'base64').toString('latin1')))
}

/** The secrets found in base64-encoded text: the quote secret's tail or a piece of a key line. */
function base64Leaks(text: string): string[] {
  const decoded = base64Decoded(text)
  const pieces = ['slash$ecret', ...PEM_BODY.flatMap((l) => [l.slice(0, 16), l.slice(-16)])]
  return pieces.filter((p) => decoded.some((d) => d.includes(p)))
}


/** Parent pid of a process (null when it is gone). */
function ppidOf(pid: string): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? null
  } catch {
    return null
  }
}

/**
 * Watch the processes of this test while the runs go: every process in the lab's hosts (the remote
 * side: sshd sessions, sudo, gwfleet's scripts, the installer) and the CLI with anything it starts.
 * Other processes on the machine (other test files' labs) are not ours to judge. Command lines of
 * all of ours are kept; for the remote ones the environment is checked too (the workstation's CLI
 * has the secrets in its environment on purpose: that is where ${env:...} reads them).
 */
function watchProcesses(labNs: Set<string>) {
  const cmdlines = new Set<string>()
  const envHits = new Set<string>()
  const ours = new Set<string>()
  const scan = () => {
    for (const pid of procPids()) {
      try {
        const ns = mntNs(pid)
        const remote = ns !== null && labNs.has(ns)
        const parent = ppidOf(pid)
        if (cliPids.has(pid) || (parent !== null && ours.has(parent))) ours.add(pid)
        if (!remote && !ours.has(pid)) continue
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ').trim()
        if (cmd) cmdlines.add(cmd)
        if (remote) {
          const env = fs.readFileSync(`/proc/${pid}/environ`, 'latin1')
          for (const s of secrets()) if (env.includes(s)) envHits.add(`${pid} ${cmd.slice(0, 120)}: environment holds ${JSON.stringify(s)}`)
        }
      } catch {
        // the process ended
      }
    }
  }
  const t = setInterval(scan, 5)
  return {
    stop() {
      clearInterval(t)
      scan()
      return {cmdlines: [...cmdlines], envHits: [...envHits]}
    },
  }
}

let watcher: ReturnType<typeof watchProcesses>
const H = (i: number): LabHost => L.hosts[i - 1]!

beforeAll(async () => {
  L = await lab(5, 17, 'secrets')
  becomePassword = L.sudoPassword
  ws = new Workspace(L, 'secrets')
  tmp = path.join(ws.dir, 'tmp')
  fs.mkdirSync(tmp)
  await ws.releasesOf('1.4.0', '1.5.0')
  watcher = watchProcesses(new Set(L.hosts.map((h) => mntNs(h.holderPid)!).filter(Boolean)))
})

afterAll(async () => {
  watcher?.stop()
  await L?.stop()
  if (ws && !process.env.GWFLEET_E2E_KEEP) fs.rmSync(ws.dir, {recursive: true, force: true})
})

/**
 * Run gwfleet with the secrets in its environment. Most runs go in this process (inprocess.ts): the
 * watcher then counts this process and whatever it starts as the CLI's. `spawned` starts the CLI as
 * its own process instead, so the watcher reads the command line of a real gwfleet process: kept for
 * one run of each kind of change that carries secrets (install with and without sudo's password, an
 * upgrade, an uninstall, installers that print secrets).
 */
async function run(what: string, args: string[], how: 'here' | 'spawned' = 'here'): Promise<CliResult> {
  const env = {GWFLEET_BECOME_PASSWORD: becomePassword, TMPDIR: tmp, GW_QUOTE_SECRET: QUOTE}
  if (how === 'here') cliPids.add(String(process.pid))
  const res = how === 'spawned' ? await ws.run(args, {env, onSpawn: (pid) => cliPids.add(String(pid))}) : await ws.runHere(args, {env})
  runs.push({what, res})
  return res
}

function hostsOf(res: CliResult): Record<string, string> {
  return Object.fromEntries(((res.json?.hosts ?? []) as any[]).map((h) => [h.name, h.status]))
}

describe('secrets never leave the values file on the target host', () => {
  it('deploy, upgrade, audit, uninstall and failing deploys with known secrets', async () => {
    const gws = [
      {host: H(1), name: 'sec-root'},
      {host: H(2), name: 'sec-sudo', opts: {user: 'opspw', become: true}},
      {host: H(3), name: 'sec-fail'},
      {host: H(4), name: 'sec-echo'},
    ]
    const inv = ws.inventory('1.4.0', gws)
    const good = ['-l', 'sec-root,sec-sudo']
    // Slow the installer down a little so the process watcher sees it at work.
    for (const h of L.hosts) await h.setFault('sleep', '1')

    // spawned: the watcher reads the command line of a real gwfleet process (here and for each kind of change below)
    let r = await run('deploy --json', ['deploy', '-i', inv, ...good, '--json'], 'spawned')
    expect.soft(hostsOf(r)).toEqual({'sec-root': 'ok', 'sec-sudo': 'ok'})
    r = await run('deploy plain (in sync)', ['deploy', '-i', inv, ...good])
    expect.soft(r.code).toBe(0)
    r = await run('upgrade plain', ['upgrade', '-i', inv, ...good, '--to', '1.5.0'], 'spawned') // spawned: a real process's command line
    expect.soft(r.code, r.stderr).toBe(0)
    r = await run('upgrade --json (in sync)', ['upgrade', '-i', inv, ...good, '--to', '1.5.0', '--json'])
    expect.soft(hostsOf(r)).toEqual({'sec-root': 'unchanged', 'sec-sudo': 'unchanged'})
    r = await run('audit --json', ['audit', '-i', inv, '--json'])
    expect.soft(r.json?.hosts?.length).toBe(4)
    await run('audit plain', ['audit', '-i', inv])
    await run('audit csv', ['audit', '-i', inv, '--output', 'csv'])
    await run('deploy --dry-run', ['deploy', '-i', inv, '--dry-run'])

    // Failing deploys: the installer fails; the installer prints the secret and then fails.
    await H(3).setFault('fail', '1')
    await H(3).setFault('echo-secret', '1')
    await H(4).setFault('echo-secret', '1')
    await H(4).setFault('never-ready', '1')
    r = await run('failing deploy --json', ['deploy', '-i', inv, '-l', 'sec-fail,sec-echo', '--batch-size', 'all', '--json'], 'spawned') // spawned: a real process's command line
    expect.soft(hostsOf(r)).toEqual({'sec-fail': 'failed', 'sec-echo': 'failed'})
    r = await run('failing deploy plain', ['deploy', '-i', inv, '-l', 'sec-fail,sec-echo', '--batch-size', 'all'])
    expect.soft(r.code).toBe(1)
    // The secret really went through gwfleet's hands (and was masked): the installer printed it.
    const echoLogs = allFiles(path.join(ws.home, '.gwfleet')).filter((f) => f.endsWith('sec-echo.log'))
    expect.soft(echoLogs.length).toBeGreaterThan(0)
    expect.soft(echoLogs.some((f) => /Authenticating with client secret: \S/.test(fs.readFileSync(f, 'utf8'))), 'the echoed secret line is in the log, masked').toBe(true)

    // Values changed on one host (reconfigure sends the secrets again), then uninstall.
    ws.inventory('1.5.0', gws)
    ws.writeValues('sec-root', Workspace.valuesText('sec-root', 'gpu:\n  enabled: false\n'))
    r = await run('reconfigure --json', ['deploy', '-i', inv, '-l', 'sec-root', '--json'])
    expect.soft(hostsOf(r)).toEqual({'sec-root': 'ok'})
    r = await run('uninstall --json', ['uninstall', '-i', inv, '-l', 'sec-sudo', '--yes', '--json'], 'spawned') // spawned: a real process's command line
    expect.soft(hostsOf(r)).toEqual({'sec-sudo': 'ok'})

    // Bad input beside a secret: the error names file, line and key, never the value.
    const bad = ws.writeValues('sec-fail', Workspace.valuesText('sec-fail', `gpu:\n  enabled: ${JSON.stringify(SECRETS.GW_HELM_PASSWORD)}\n`))
    r = await run('bad values type', ['deploy', '-i', inv, '--json'])
    expect.soft(r.code).toBe(2)
    expect.soft(r.json?.error ?? '').toContain(bad)
    fs.writeFileSync(bad, Workspace.valuesText('sec-fail').replace('${env:GW_HELM_PASSWORD}', `"${SECRETS.GW_HELM_PASSWORD}`))
    r = await run('bad values syntax', ['deploy', '-i', inv])
    expect.soft(r.code).toBe(2)
  })

  it('an installer that prints the values it was given, then fails: every form of the secrets is masked, and history keeps no installer text', async () => {
    fs.writeFileSync(path.join(ws.dir, 'attack-key.pem'), `${PEM}\n`, {mode: 0o600})
    // The quoted secret is the last line the installer prints (keys are uploaded sorted): it becomes the error of the run.
    ws.writeValues(
      'sec-attack',
      [
        'tenant: tenant-sec-attack',
        'auth:',
        '  orchestrator:',
        '    clientId: client-sec-attack',
        '    clientSecret: ${env:GW_QUOTE_SECRET}',
        'tls:',
        '  key: ${file:../attack-key.pem}',
        'zNote: ${env:GW_QUOTE_SECRET}', // last of the sorted keys: the installer's last line
        '',
      ].join('\n'),
    )
    const inv = ws.inventory('1.4.0', [{host: H(5), name: 'sec-attack'}], 'attack.yaml')
    // Installed first, so the cluster answers after the installer and its last line stays the last one.
    let r = await run('attack values deploy', ['deploy', '-i', inv, '--json'])
    expect.soft(r.json?.hosts?.[0]?.status).toBe('ok')
    const values = path.join(ws.dir, 'values', 'sec-attack.yaml')
    fs.writeFileSync(values, fs.readFileSync(values, 'utf8').replace('tenant: tenant-sec-attack', 'tenant: tenant-sec-attack-2'))
    await H(5).setFault('echo-values', '1')
    const reason = 'installer 1.4.0 exited with code 3'

    r = await run('echo-values deploy --json', ['deploy', '-i', inv, '--json'], 'spawned') // spawned: a real process's command line
    const h = (r.json?.hosts ?? [])[0] ?? {}
    expect.soft(h.status).toBe('failed')
    // The installer's last line, its secret masked: the escaped form was found and replaced.
    expect.soft(h.error).toBe(`${reason}: zNote: "[redacted]"`)
    r = await run('echo-values deploy plain', ['deploy', '-i', inv])
    expect.soft(r.code).toBe(1)
    expect.soft(r.stdout).toContain(`${reason}: zNote: "[redacted]"`)

    // The run logs hold what the installer printed, each secret line masked, the key's armour kept.
    const logs = allFiles(path.join(ws.home, '.gwfleet', 'runs')).filter((f) => f.endsWith('sec-attack.log') && fs.readFileSync(f, 'utf8').includes('| Values given:'))
    expect.soft(logs.length).toBe(2)
    for (const f of logs) {
      const text = fs.readFileSync(f, 'utf8')
      expect.soft(text).toContain('Values given:')
      expect.soft(text).toContain('key: "-----BEGIN PRIVATE KEY-----')
      expect.soft(text).toMatch(/Values given \(base64\): \S*\[redacted\]/)
      expect.soft(text.split('[redacted]').length - 1, f).toBeGreaterThanOrEqual(PEM_BODY.length + 3)
    }

    // The host's history: gwfleet's words only.
    const lines = (await H(5).readFile('/opt/gwfleet/state/history.jsonl')).split('\n').filter(Boolean).map((l) => JSON.parse(l))
    expect.soft(lines.map((l) => [l.gateway, l.result, l.error])).toEqual([
      ['sec-attack', 'ok', undefined],
      ['sec-attack', 'failed', reason],
      ['sec-attack', 'failed', reason],
    ])
    r = await run('history after echo-values', ['history', '-i', inv])
    expect.soft(r.code).toBe(0)
    expect.soft(r.stdout.split('\n').filter((l) => l.includes('sec-attack') && l.endsWith(reason)).length).toBe(2)
    r = await run('history --json after echo-values', ['history', '-i', inv, '--json'])
    expect.soft((r.json?.entries ?? []).map((e: any) => e.error ?? null)).toEqual([null, reason, reason])
    await H(5).setFault('echo-values', null)
  })

  it('host text with terminal escapes never reaches the screen; a CSV cell from the host cannot start a formula', async () => {
    const inv = path.join(ws.dir, 'fleet.yaml')
    await H(1).setFault('kubectl-ansi', '1')
    // Anything a terminal acts on: C0 controls but tab and newline, DEL, C1 controls (U+009B is CSI).
    const active = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/
    let r = await run('status with escapes', ['status', 'sec-root', '-i', inv])
    expect.soft(r.stdout).toMatch(/ansi-pod/)
    expect.soft(r.stdout).not.toMatch(active)
    for (const extra of [[], ['--raw']]) {
      r = await run(`logs ${extra.join(' ')} with escapes`, ['logs', 'sec-root', '-i', inv, ...extra])
      expect.soft(r.code).toBe(0)
      expect.soft(r.stdout).toMatch(/ansi-json/)
      expect.soft(r.stdout).toMatch(/plain ansi-plain line/)
      expect.soft(r.stdout + r.stderr).not.toMatch(active)
    }
    r = await run('logs --json with escapes', ['logs', 'sec-root', '-i', inv, '--json'])
    const jsonLines = r.stdout.split('\n').filter(Boolean)
    // The JSON lines' strings without their escape sequences (jq -r would turn a \u001b back into a
    // live one), and nothing raw a terminal would act on.
    expect.soft(jsonLines.map((l) => JSON.parse(l).msg)).toContain('ansi-json')
    expect.soft(r.stdout + r.stderr).not.toMatch(active)
    expect.soft(r.stderr).toMatch(/plain ansi-plain line/)
    await H(1).setFault('kubectl-ansi', null)

    // A host whose record says the operator was a formula.
    const recordFile = '/opt/gwfleet/state/sec-root.json'
    const record = await H(1).readFile(recordFile)
    await H(1).writeFile(recordFile, JSON.stringify({...JSON.parse(record), operator: '=HYPERLINK("http://evil.example/","click")'}) + '\n', 0o600)
    r = await run('audit csv with a formula', ['audit', '-i', inv, '-l', 'sec-root', '--output', 'csv'])
    await H(1).writeFile(recordFile, record, 0o600)
    const row = r.stdout.split('\r\n').find((l) => l.startsWith('sec-root,'))
    expect.soft(row).toContain(`,"'=HYPERLINK(""http://evil.example/"",""click"")",`)
  })

  it('no secret in any output, JSON, run folder, HOME, GWFLEET_HOME or TMPDIR', () => {
    const leaks: string[] = []
    for (const {what, res} of runs) {
      for (const s of secrets()) {
        if (res.stdout.includes(s)) leaks.push(`${what}: stdout holds ${JSON.stringify(s)}`)
        if (res.stderr.includes(s)) leaks.push(`${what}: stderr holds ${JSON.stringify(s)}`)
      }
    }
    const files = [...allFiles(ws.home), ...allFiles(tmp)]
    expect(files.filter((f) => f.includes(`${path.sep}runs${path.sep}`)).length, 'run folders were written').toBeGreaterThan(5)
    for (const f of files) {
      const text = fs.readFileSync(f, 'latin1')
      for (const s of secrets()) if (text.includes(s)) leaks.push(`${f} holds ${JSON.stringify(s)}`)
      for (const p of base64Leaks(text)) leaks.push(`${f} holds ${JSON.stringify(p)} base64-encoded`)
    }
    for (const {what, res} of runs) for (const p of base64Leaks(res.stdout + res.stderr)) leaks.push(`${what}: output holds ${JSON.stringify(p)} base64-encoded`)
    expect(runs.length).toBeGreaterThanOrEqual(12)
    expect(leaks).toEqual([])
  })

  it('no secret on any command line (or in the environment of a remote process) during the runs', () => {
    const {cmdlines, envHits} = watcher.stop()
    // The watcher saw the remote side at work: gwfleet's scripts, sudo, the installer.
    expect(cmdlines.some((c) => /^sh -c .*gw\./s.test(c)), 'saw gwfleet remote scripts').toBe(true)
    expect(cmdlines.some((c) => /^sudo /.test(c)), 'saw sudo').toBe(true)
    expect(cmdlines.some((c) => /deploy_gateway/.test(c)), 'saw the installer').toBe(true)
    const hits = cmdlines.filter((c) => secrets().some((s) => c.includes(s))).map((c) => c.slice(0, 300))
    expect(hits).toEqual([])
    expect(envHits).toEqual([])
  })

  it('on the hosts the secrets live only in the values file and its applied copy, 0600 in 0700 directories', async () => {
    // Everything a lab host ever wrote is in the upper layers of its overlays: search them all.
    const written = (h: LabHost) => path.join(LAB_ROOT, L.name, 'hosts', h.name)
    let appliedSeen = 0
    for (const [h, name] of [
      [H(1), 'sec-root'],
      [H(4), 'sec-echo'],
      [H(5), 'sec-attack'],
    ] as const) {
      const st = await h.exec(`stat -c '%a %U' /opt/gwfleet/values /opt/gwfleet/values/${name}.yaml`)
      expect.soft(st.stdout.trim().split('\n'), h.name).toEqual(['700 root', '600 root'])
      const holding = allFiles(written(h))
        .filter((f) => f.includes(`${path.sep}upper${path.sep}`))
        .filter((f) => {
          const text = fs.readFileSync(f, 'latin1')
          return secrets().some((s) => text.includes(s))
        })
        .map((f) => path.relative(written(h), f))
      // Besides gwfleet's values file and its copy as applied beside the record (root's 0600 in the
      // root-only state folder), only the stand-in installer's own copy of the values it was given
      // (the installer's log on the host, root's alone while it runs, goes once it is recorded).
      const values = `opt/upper/gwfleet/values/${name}.yaml`
      const applied = `opt/upper/gwfleet/state/${name}.applied`
      const mine = holding.filter((f) => !f.startsWith('var/upper/lib/gwlab-k3s/'))
      expect.soft(mine, h.name).toContain(values)
      expect.soft(mine.filter((f) => f !== values && f !== applied), h.name).toEqual([])
      // The applied copy is there once a change was recorded ok.
      if (mine.includes(applied)) {
        appliedSeen++
        const st = await h.exec(`stat -c '%a %U' /opt/gwfleet/state /opt/gwfleet/state/${name}.applied`)
        expect.soft(st.stdout.trim().split('\n'), h.name).toEqual(['700 root', '600 root'])
      }
      expect.soft(await h.exists('/opt/gwfleet/state/history.jsonl')).toBe(true)
    }
    expect(appliedSeen).toBeGreaterThan(0)
    // The uninstalled host keeps no values file, nor their applied copy.
    expect.soft(await H(2).exists('/opt/gwfleet/values/sec-sudo.yaml')).toBe(false)
    expect.soft(await H(2).exists('/opt/gwfleet/state/sec-sudo.applied')).toBe(false)
  })
})
