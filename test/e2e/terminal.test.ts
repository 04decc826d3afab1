// End to end in a real terminal (subnet 19, lab "terminal"): gwfleet runs in a tmux pane, as an
// operator runs it, with the live progress view. Ctrl-C once and twice during a rolling upgrade,
// the terminal closing under a run, a host that fails at once (alone and beside a healthy one, for
// every command that shows progress), a closed output pipe, the uninstall question, the preflight
// warnings of a deploy, a mistyped command, and tables on an 80-column terminal. Each test asserts on the screen, the exit code,
// the hosts (versions, history, installer processes) and the locks.
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {agentVersion, CLI, endInstallerPause, installs, lab, type Lab, type LabHost, Workspace, Workspaces} from './fleet.js'
import {Terminal, terminalEnv} from './terminal.js'

let L: Lab
let ws: Workspace
const spaces = new Workspaces(() => L)
let inv: string
let h1: LabHost, h2: LabHost, h3: LabHost, h4: LabHost
const open: Terminal[] = []

/** gwfleet in a fresh terminal of the workspace's operator. */
async function gwfleet(args: string[], opts: {cols?: number; rows?: number; env?: Record<string, string>} = {}): Promise<Terminal> {
  const t = await Terminal.gwfleet(args, {cols: opts.cols ?? 120, rows: opts.rows ?? 40, env: terminalEnv(ws.env(), opts.env)})
  open.push(t)
  return t
}

/** The lock file on a host (null when free). */
async function lockOn(h: LabHost): Promise<string | null> {
  const r = await h.exec("cat /opt/gwfleet/state/lock 2>/dev/null")
  return r.code === 0 ? r.stdout.trim() : null
}

/** `gwfleet locks list --json` for the inventory: gateway -> locked. */
async function locks(): Promise<Record<string, boolean>> {
  const r = await ws.runHere(['locks', 'list', '-i', inv, '--json'])
  expect(r.code, r.stderr).toBe(0)
  return Object.fromEntries(r.json.hosts.map((h: any) => [h.name, h.locked]))
}

/** The host's history lines (parsed). */
async function history(h: LabHost): Promise<any[]> {
  const text = await h.readFile('/opt/gwfleet/state/history.jsonl').catch(() => '')
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l))
}

/** Installer processes of a run on a host (the stand-in, or its `sleep infinity` when it hangs). */
async function installerProcesses(h: LabHost): Promise<string[]> {
  // The name is split in the script so the script's own command line does not match it.
  const r = await h.exec(
    `n=deploy_; me=$(readlink /proc/self/ns/mnt); for p in /proc/[0-9]*; do [ "$(readlink $p/ns/mnt 2>/dev/null)" = "$me" ] || continue; c=$(tr '\\0' ' ' < $p/cmdline 2>/dev/null); case "$c" in *"$n"gateway*|'sleep infinity'*) echo "\${p#/proc/} $c";; esac; done`,
  )
  return r.stdout.split('\n').filter(Boolean)
}

/** The run folder a run printed ("Run folder: ..."). */
function runFolder(screen: string): string {
  const m = /Run folder: (\S+)/.exec(screen)
  expect(m, `no run folder on the screen:\n${screen}`).not.toBeNull()
  return m![1]
}

/** The rows of the results table on a screen, by gateway: its cells. */
function tableRows(screen: string): Record<string, string[]> {
  const lines = screen.split('\n')
  const head = lines.findIndex((l) => /^GATEWAY\s+HOST\s+STATUS/.test(l))
  expect(head, `no results table on the screen:\n${screen}`).toBeGreaterThanOrEqual(0)
  const rows: Record<string, string[]> = {}
  for (const l of lines.slice(head + 1)) {
    if (!l.trim()) break
    const cells = l.trim().split(/\s{2,}/)
    rows[cells[0]] = cells
  }
  return rows
}

/** Every spinner frame the progress view draws. */
const SPINNING = /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/

beforeAll(async () => {
  L = await lab(4, 19, 'terminal')
  ;[h1, h2, h3, h4] = L.hosts
  ws = spaces.make('terminal')
  await ws.releasesOf('1.4.0', '1.5.0', '1.6.0')
  inv = ws.inventory('1.4.0', [{host: h1}, {host: h2}, {host: h3}, {host: h4}])
  // Setup, in this process (Workspace.runHere); the cases run gwfleet in a terminal.
  const r = await ws.runHere(['deploy', '-i', inv, '--json'])
  expect(r.code, r.stdout + r.stderr).toBe(0)
})

afterEach(async () => {
  for (const t of open.splice(0)) await t.close()
})

afterAll(async () => {
  spaces.cleanup()
  await L?.stop()
})

describe('in a terminal (lab subnet 19)', () => {
  it('one Ctrl-C in a rolling upgrade: the running installer finishes, nothing new starts, results and unlocks are written, exit 130', async () => {
    // The canary's installer pauses until the run has taken the Ctrl-C (then the test ends the
    // pause, however slow the machine); h2 and h3 never start.
    await h1.setFault('sleep', '600')
    for (const h of [h2, h3]) await h.setFault('sleep', '3')
    const t = await gwfleet(['upgrade', '-i', inv, '-l', 'h1,h2,h3', '--to', '1.5.0', '--batch-size', '1'])
    await t.waitFor(/h1: running installer 1\.5\.0/)
    await Terminal.until('the canary installer to run', async () => (await installerProcesses(h1)).length > 0)
    await t.ctrlC()
    await t.waitFor('Interrupted: no new host or hop will start', {all: true})
    for (const h of [h1, h2, h3]) await h.setFault('sleep', null)
    await endInstallerPause(h1)
    const end = await t.exit()
    const screen = await t.scrollback()
    expect(end, screen).toEqual({code: 130, signal: null})
    const rows = tableRows(screen)
    expect(rows.h1?.[2], screen).toBe('ok')
    expect(rows.h2?.[2]).toBe('skipped')
    expect(rows.h3?.[2]).toBe('skipped')
    expect(screen).toMatch(/interrupted by the operator/)
    expect(screen).toMatch(/Interrupted by the operator: .*rerun to finish/)
    // The progress rows ended with each host's outcome, not a spinner.
    expect(screen).toMatch(/✔ h1: ok \(upgrade\)/)
    expect(screen).toMatch(/↓ h2: skipped/)
    expect(screen.split('\n').filter((l) => SPINNING.test(l))).toEqual([])
    // The run folder has the results; the canary reached 1.5.0 with its history; nothing is locked.
    const saved = JSON.parse(fs.readFileSync(path.join(runFolder(screen), 'result.json'), 'utf8'))
    expect(saved.hosts.map((h: any) => [h.name, h.status])).toEqual([
      ['h1', 'ok'],
      ['h2', 'skipped'],
      ['h3', 'skipped'],
    ])
    expect([await agentVersion(h1), await agentVersion(h2), await agentVersion(h3)]).toEqual(['1.5.0', '1.4.0', '1.4.0'])
    expect((await history(h1)).at(-1)).toMatchObject({fromVersion: '1.4.0', toVersion: '1.5.0', result: 'ok'})
    expect((await history(h2)).at(-1)).toMatchObject({toVersion: '1.4.0'})
    expect(await locks()).toEqual({h1: false, h2: false, h3: false, h4: false})
  })

  it('two Ctrl-C: the running installer is stopped on the host, the rest skipped, unlocks written, exit 130', async () => {
    await h2.setFault('hang', '1')
    const before = await installs(h2)
    const t = await gwfleet(['upgrade', '-i', inv, '-l', 'h1,h2,h3', '--to', '1.5.0', '--batch-size', '1'])
    await t.waitFor(/h2: running installer 1\.5\.0/)
    await Terminal.until('the hanging installer to run', async () => (await installerProcesses(h2)).length > 0)
    // The hung installer reads as hung: its row shows how long the host has been at it and how
    // long ago its last line came, and that age keeps growing while nothing comes.
    const ROW = /h2: running installer 1\.5\.0 · (\d+)s · last output (\d+)s ago {2}Waiting for k3s to become ready\.\.\./
    const first = ROW.exec(await t.waitFor(ROW))!
    expect(Number(first[1])).toBeGreaterThanOrEqual(Number(first[2]))
    const seen: {row: RegExpExecArray | null} = {row: null}
    await Terminal.until('the last output to grow older', async () => Number((seen.row = ROW.exec(await t.screen()))?.[2]) > Number(first[2]))
    expect(Number(seen.row![1])).toBeGreaterThanOrEqual(Math.max(Number(first[1]), Number(seen.row![2])))
    await t.ctrlC()
    await t.waitFor('Press Ctrl-C again', {all: true})
    await t.ctrlC()
    await t.waitFor('Stopping running installers on the hosts', {all: true})
    const end = await t.exit()
    await h2.setFault('hang', null)
    const screen = await t.scrollback()
    expect(end, screen).toEqual({code: 130, signal: null})
    const rows = tableRows(screen)
    expect(rows.h1?.[2], screen).toBe('unchanged')
    expect(['failed', 'skipped']).toContain(rows.h2?.[2])
    expect(rows.h3?.[2]).toBe('skipped')
    expect(screen).toMatch(/h2 .*(stopped|interrupted) by the operator/)
    expect(screen.split('\n').filter((l) => SPINNING.test(l))).toEqual([])
    // Stopped on the host, not only on the workstation; the failed hop is in the history.
    expect(await installerProcesses(h2)).toEqual([])
    expect(await installs(h2)).toEqual(before)
    expect(await agentVersion(h2)).toBe('1.4.0')
    // The host's history says the operator stopped it, with the run that did.
    expect((await history(h2)).at(-1)).toMatchObject({fromVersion: '1.4.0', toVersion: '1.5.0', result: 'interrupted', run: expect.any(String)})
    const saved = JSON.parse(fs.readFileSync(path.join(runFolder(screen), 'result.json'), 'utf8'))
    expect(saved.hosts.map((h: any) => h.name)).toEqual(['h1', 'h2', 'h3'])
    expect(await locks()).toEqual({h1: false, h2: false, h3: false, h4: false})
    for (const h of [h1, h2, h3]) expect(await lockOn(h), h.name).toBeNull()
  })

  it('the terminal closing (SIGHUP) is a first Ctrl-C: the installer finishes, results and unlocks are written', async () => {
    await h2.setFault('sleep', '3')
    const runsBefore = new Set(fs.readdirSync(path.join(ws.home, '.gwfleet', 'runs')))
    const t = await gwfleet(['upgrade', '-i', inv, '-l', 'h2,h3', '--to', '1.5.0', '--batch-size', '1'])
    await t.waitFor(/h2: running installer 1\.5\.0/)
    const pid = await t.pid()
    await t.hangUp()
    // gwfleet outlives its terminal until its work is done.
    await Terminal.until('gwfleet to finish after its terminal closed', () => !fs.existsSync(`/proc/${pid}`), 90_000)
    await h2.setFault('sleep', null)
    const runs = fs.readdirSync(path.join(ws.home, '.gwfleet', 'runs')).filter((d) => !runsBefore.has(d))
    expect(runs).toHaveLength(1)
    const saved = JSON.parse(fs.readFileSync(path.join(ws.home, '.gwfleet', 'runs', runs[0], 'result.json'), 'utf8'))
    expect(saved.hosts.map((h: any) => [h.name, h.status])).toEqual([
      ['h2', 'ok'],
      ['h3', 'skipped'],
    ])
    expect(await agentVersion(h2)).toBe('1.5.0')
    expect(await agentVersion(h3)).toBe('1.4.0')
    expect(await locks()).toEqual({h1: false, h2: false, h3: false, h4: false})
  })

  it('a host that fails at once ends the run with its real outcome: alone, and beside a healthy host, for every command that shows progress', async () => {
    await h4.stopSshd()
    try {
      const commands: [string[], string][] = [
        [['audit', '-i', inv], 'unreachable'],
        [['deploy', '-i', inv, '--dry-run'], 'unreachable'],
        [['preflight', '-i', inv], 'unreachable'],
        [['status', '-i', inv], 'unreachable'],
        [['locks', 'list', '-i', inv], 'unreachable'],
        [['history', '-i', inv], 'unreachable'],
        [['upgrade', '-i', inv, '--to', '1.5.0', '--dry-run'], 'unreachable'],
        [['uninstall', '-i', inv, '--yes', '--dry-run'], 'unreachable'],
      ]
      // Every command is read-only here (dry runs, audits, lists): two terminals at a time.
      const cases = commands.flatMap(([args, label]) => ['h4', 'h3,h4'].map((limit) => [args, label, limit] as const))
      const check = async ([args, label, limit]: (typeof cases)[number]) => {
        // h3 is healthy and in sync with the inventory here.
        const t = await gwfleet([...args, '-l', limit])
        const end = await t.exit(60_000)
        const screen = await t.scrollback()
        const what = `${args.slice(0, 2).join(' ')} -l ${limit}:\n${screen}`
        expect(end.code, what).toBe(1)
        expect(screen, what).toMatch(new RegExp(`✖ h4: ${label}`))
        expect(screen, what).not.toMatch(/✔ h4/)
        expect(screen.split('\n').filter((l) => SPINNING.test(l)), what).toEqual([])
        if (limit.includes('h3')) expect(screen, what).toMatch(/✔ h3: /)
        await t.close()
      }
      const queue = [...cases]
      await Promise.all([0, 1].map(async () => {
        for (let c = queue.shift(); c; c = queue.shift()) await check(c)
      }))
    } finally {
      await h4.startSshd()
    }
  })

  it('deploy | head -1, and progress into a pipe that closes: the work completes, the run folder is written, the locks released', async () => {
    const home = path.join(ws.home, '.gwfleet', 'runs')
    for (const [name, pipe] of [
      ['h3', '| head -1'],
      ['h4', '2>&1 | head -1'],
    ] as const) {
      ws.writeValues(name, Workspace.valuesText(name, `extraKey: pipe-${Date.now()}`))
      const before = (await installs(L.hosts[Number(name[1]) - 1])).length
      const runsBefore = new Set(fs.readdirSync(home))
      const code = path.join(ws.dir, `code-${name}`)
      const q = (s: string) => `'${s}'`
      const t = await Terminal.shell(`{ ${q(process.execPath)} ${q(CLI)} deploy -i ${q(inv)} -l ${name}; echo $? > ${q(code)}; } ${pipe}; echo pipeline-done`, {
        cols: 120,
        rows: 40,
        env: terminalEnv(ws.env()),
      })
      open.push(t)
      const screen = await t.waitFor('pipeline-done', {timeoutMs: 120_000})
      await Terminal.until('gwfleet to exit', () => fs.existsSync(code) && fs.readFileSync(code, 'utf8').trim() !== '', 120_000)
      expect(fs.readFileSync(code, 'utf8').trim(), screen).toBe('0')
      if (pipe === '| head -1') expect(screen).toMatch(/^GATEWAY\s+HOST\s+STATUS/m)
      const host = L.hosts[Number(name[1]) - 1]
      expect((await installs(host)).length, `${name} reconfigured`).toBe(before + 1)
      const runs = fs.readdirSync(home).filter((d) => !runsBefore.has(d))
      expect(runs).toHaveLength(1)
      const saved = JSON.parse(fs.readFileSync(path.join(home, runs[0], 'result.json'), 'utf8'))
      expect(saved.hosts.map((h: any) => [h.name, h.status, h.action])).toEqual([[name, 'ok', 'reconfigure']])
      expect(await lockOn(host)).toBeNull()
    }
  })

  it('uninstall asks [y/N] on a terminal and takes "y"', async () => {
    const t = await gwfleet(['uninstall', '-i', inv, '-l', 'h3'])
    await t.waitFor(/Remove the gateway from 1 host\(s\): h3\? \[y\/N\]/)
    expect(await agentVersion(h3)).toBe('1.4.0')
    await t.type('y')
    const end = await t.exit()
    const screen = await t.scrollback()
    expect(end, screen).toEqual({code: 0, signal: null})
    expect(tableRows(screen).h3?.slice(2, 4)).toEqual(['ok', 'uninstall'])
    expect(await agentVersion(h3)).toBeNull()
    expect(await lockOn(h3)).toBeNull()
    // Ctrl-C at the question changes nothing and exits 130.
    const t2 = await gwfleet(['uninstall', '-i', inv, '-l', 'h2'])
    await t2.waitFor('[y/N]')
    await t2.ctrlC()
    expect(await t2.exit()).toEqual({code: 130, signal: null})
    expect(await t2.scrollback()).toMatch(/gwfleet: interrupted: uninstall not confirmed; nothing was changed/)
    expect(await agentVersion(h2)).toBe('1.5.0')
  })

  it('deploy counts the preflight warnings it finds beside the result, and keeps their words in the JSON', async () => {
    // h3 has no gateway now (the test above); an older Ubuntu is supported with a warning.
    await h3.setOsRelease('PRETTY_NAME="Ubuntu 20.04.6 LTS"\nNAME="Ubuntu"\nVERSION_ID="20.04"\nID=ubuntu\nID_LIKE=debian\n')
    const warning = 'preflight warning: os: Ubuntu 20.04.6 LTS: supported, but Ubuntu 22.04 is recommended'
    try {
      const t = await gwfleet(['deploy', '-i', inv, '-l', 'h3'], {cols: 250})
      const end = await t.exit()
      const screen = await t.scrollback()
      expect(end, screen).toEqual({code: 0, signal: null})
      expect(screen).toMatch(/^h3 .*ok\s+install .*\d+ preflight warnings? \(see --json or the run folder\)/m)
      expect(screen).not.toContain(warning)
      const saved = JSON.parse(fs.readFileSync(path.join(runFolder(screen), 'result.json'), 'utf8'))
      expect(saved.hosts[0].notes).toContain(warning)
      expect(await agentVersion(h3)).toBe('1.4.0')
    } finally {
      await h3.setOsRelease('PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n')
    }
  })

  it('a mistyped command says what was probably meant, exit 2', async () => {
    const t = await gwfleet(['deplyo', '-i', inv])
    expect(await t.exit()).toEqual({code: 2, signal: null})
    expect(await t.screen()).toBe('gwfleet: error: "deplyo" is not a gwfleet command; did you mean "deploy"?\nSee: gwfleet --help')
    // OCLIF_* settings in the environment do not change it: bin/run.js checks before oclif starts.
    for (const env of [{}, {OCLIF_GWFLEET_TEST_PATH: '1'}]) {
      const r = await ws.run(['lock', 'list', '-i', inv], {env})
      expect(r.code, JSON.stringify(env)).toBe(2)
      expect(r.stderr).toBe('gwfleet: error: "lock list" is not a gwfleet command; did you mean "locks list"?\nSee: gwfleet --help\n')
      const j = await ws.run(['deplyo', '--json'], {env})
      expect(j.code).toBe(2)
      expect(j.json).toEqual({ok: false, error: '"deplyo" is not a gwfleet command; did you mean "deploy"?'})
    }
  })

  it('tables fit an 80-column terminal: a problem comes first, its DETAIL whole on the lines below its row; one line per row into a pipe', async () => {
    await h4.stopSshd()
    try {
      const t = await gwfleet(['audit', '-i', inv], {cols: 80})
      expect((await t.exit()).code).toBe(1)
      const screen = await t.scrollback()
      const table = screen.slice(screen.search(/^GATEWAY/m))
      const lines = table.split('\n')
      const wide = lines.filter((l) => [...l].length > 80)
      expect(wide, screen).toEqual([])
      expect(lines[1], screen).toMatch(/^h4\s.*unreachable(\s|$)/)
      const below = lines.slice(2, lines.findIndex((l, i) => i > 1 && !l.startsWith('  ')))
      const r = await ws.runHere(['audit', '-i', inv, '-l', 'h4', '--json'])
      expect(r.json.hosts[0].error).toMatch(/connection refused by .*:22 \(is sshd running\?\)$/)
      expect(below.length, screen).toBeGreaterThan(0)
      expect(below.map((l) => l.slice(2)).join(' '), screen).toContain(r.json.hosts[0].error)
      expect(table).not.toContain('…')
      // Into a pipe (no terminal width): one line per row, the DETAIL on it.
      const piped = await ws.run(['audit', '-i', inv])
      expect(piped.stdout).toMatch(new RegExp(`^h4\\s.*unreachable\\s.*${r.json.hosts[0].error.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'))
    } finally {
      await h4.startSshd()
    }
  })
})
