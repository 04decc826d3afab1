// Shell completion, for real: the script `gwfleet completion bash` prints is sourced in bash and its
// function run on command lines (COMPREPLY checked); the zsh script is loaded with compinit in an
// interactive zsh on a pseudo-terminal and TAB pressed. Gateway names and labels come from an
// inventory through the built CLI. No lab host is needed.
import {spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {CLI, runCli} from './fleet.js'

let dir: string
let inv: string
let env: NodeJS.ProcessEnv

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-completion-'))
  fs.mkdirSync(path.join(dir, 'bin'))
  fs.symlinkSync(CLI, path.join(dir, 'bin', 'gwfleet'))
  fs.mkdirSync(path.join(dir, 'releases'))
  fs.writeFileSync(path.join(dir, 'values.yaml'), 'tenant: t\n')
  inv = path.join(dir, 'fleet.yaml')
  fs.writeFileSync(
    inv,
    [
      'release:',
      '  dir: releases',
      '  version: 1.5.0',
      'gateways:',
      '  berlin-1: {host: 10.9.0.1, values: values.yaml, labels: {ring: canary, site: berlin}}',
      '  berlin-2: {host: 10.9.0.2, values: values.yaml, labels: {ring: main, site: berlin}}',
      '  boston-1: {host: 10.9.0.3, values: values.yaml, labels: {ring: main, site: boston}}',
      '',
    ].join('\n'),
  )
  fs.mkdirSync(path.join(dir, 'home', '.gwfleet', 'runs', '20261128T114702Z-deploy-14075'), {recursive: true})
  fs.mkdirSync(path.join(dir, 'home', '.gwfleet', 'runs', '20261129T080000Z-upgrade-201'), {recursive: true})
  env = {PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`, HOME: path.join(dir, 'home'), TERM: 'dumb'}
})

afterAll(() => fs.rmSync(dir, {recursive: true, force: true}))

/** Run a command without blocking this worker (a blocked test worker misses vitest's own messages). */
function run(cmd: string, args: string[], opts: {env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number}): Promise<{status: number | null; stdout: string; stderr: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined
    child.on('error', reject)
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({status, stdout, stderr})
    })
  })
}

/** COMPREPLY after completing `line` (the cursor at its end) in a bash that sourced the script. */
async function bash(line: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const script = `source <(gwfleet completion bash) || exit 9
COMP_LINE="$LINE"; COMP_POINT=\${#COMP_LINE}
_gwfleet_complete
printf '%s\\n' "\${COMPREPLY[@]}"`
  const r = await run('bash', ['--norc', '--noprofile', '-c', script], {env: {...env, LINE: line, ...extraEnv}, cwd: dir})
  expect(r.status, r.stderr).toBe(0)
  return r.stdout.split('\n').filter((l) => l !== '').sort()
}

describe('bash completion', () => {
  it('the script is valid bash and registers the function for gwfleet', async () => {
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', 'source <(gwfleet completion bash) && complete -p gwfleet'], {env, encoding: 'utf8'})
    expect(r.stdout.trim()).toBe('complete -F _gwfleet_complete gwfleet')
  })

  it('completes command names, topics and their subcommands', async () => {
    expect(await bash('gwfleet ')).toEqual(['audit', 'completion', 'deploy', 'diff', 'history', 'locks', 'logs', 'preflight', 'runs', 'schema', 'status', 'uninstall', 'upgrade', 'validate'])
    expect(await bash('gwfleet up')).toEqual(['upgrade'])
    expect(await bash('gwfleet locks ')).toEqual(['clear', 'list'])
    expect(await bash('gwfleet runs s')).toEqual(['show'])
  })

  it("completes each command's own flags, and no flag another command has", async () => {
    expect(await bash('gwfleet audit --out')).toEqual(['--output', '--output-file'])
    expect(await bash('gwfleet upgrade --ma')).toEqual(['--max-fail'])
    expect(await bash('gwfleet audit --ma')).toEqual([])
    expect(await bash('gwfleet locks clear --y')).toEqual(['--yes'])
    expect(await bash('gwfleet locks list --s')).toEqual(['--save'])
  })

  it('completes flag values: formats, files, and nothing after a flag that takes a number', async () => {
    expect(await bash('gwfleet audit -o ')).toEqual(['csv', 'json', 'prometheus', 'table'])
    expect(await bash('gwfleet audit --output=p')).toEqual(['prometheus'])
    expect(await bash('gwfleet deploy -i fl')).toEqual(['fleet.yaml'])
    expect(await bash(`gwfleet deploy --inventory=${dir}/fl`)).toEqual([`${dir}/fleet.yaml`])
    expect(await bash('gwfleet deploy -c ')).toEqual([])
  })

  it('completes gateway names and labels from the inventory of -i, else GWFLEET_INVENTORY', async () => {
    expect(await bash(`gwfleet status -i ${inv} b`)).toEqual(['berlin-1', 'berlin-2', 'boston-1'])
    expect(await bash(`gwfleet logs -i ${inv} bo`)).toEqual(['boston-1'])
    // The argument is taken: nothing more to complete.
    expect(await bash(`gwfleet status -i ${inv} berlin-1 `)).toEqual([])
    expect(await bash('gwfleet deploy -l s', {GWFLEET_INVENTORY: inv})).toEqual(['site=berlin', 'site=boston'])
    // readline replaces only what follows the last "=": the candidates are cut to match.
    expect(await bash(`gwfleet deploy -i ${inv} -l ring=c`)).toEqual(['canary'])
    expect(await bash(`gwfleet deploy -i ${inv} --limit=ring=m`)).toEqual(['main'])
    // The last comma-separated term is completed, an exclusion kept.
    // Inserted quoted for the shell: "!" is not history expansion once the line is entered.
    expect(await bash(`gwfleet upgrade -i ${inv} -l berlin-1,!bo`)).toEqual(['berlin-1\\,\\!boston-1'])
    // No inventory, or one that does not load: nothing, and no error on the terminal.
    expect(await bash('gwfleet deploy -l b')).toEqual([])
    expect(await bash(`gwfleet deploy -i ${dir}/missing.yaml -l b`)).toEqual([])
  })

  it('inserts hostile labels and selector terms quoted: nothing runs when the line is entered (issue 20)', async () => {
    const evil = path.join(dir, 'evil.yaml')
    const marker = path.join(dir, 'completion-ran')
    fs.writeFileSync(evil, fs.readFileSync(inv, 'utf8').replace('{ring: canary, site: berlin}', `{ring: canary, site: berlin, x: '$(:>completion-ran)'}`))
    const replies = await bash(`gwfleet deploy -i ${evil} -l x`)
    expect(replies).toHaveLength(1)
    // What readline would insert, entered as a command line (in the folder the label writes to): the label comes back as text.
    const line = `printf '%s\\n' ${replies[0]}`
    const r = await run('bash', ['--norc', '--noprofile', '-c', line], {env, cwd: dir})
    expect(r.stdout.trim()).toBe('x=$(:>completion-ran)')
    expect(fs.existsSync(marker)).toBe(false)
  })

  it('completes run ids for runs show, and the shell for completion', async () => {
    expect(await bash('gwfleet runs show 2026')).toEqual(['20261128T114702Z-deploy-14075', '20261129T080000Z-upgrade-201'])
    expect(await bash('gwfleet completion ')).toEqual(['bash', 'zsh'])
  })

  it('--list-gateways prints names, then distinct labels; bad input is exit 2 on stderr', async () => {
    const r = await runCli(['completion', '--list-gateways', '-i', inv], env)
    expect(r.code).toBe(0)
    expect(r.stdout.trim().split('\n')).toEqual(['berlin-1', 'berlin-2', 'boston-1', 'ring=canary', 'ring=main', 'site=berlin', 'site=boston'])
    const bad = await runCli(['completion', '--list-gateways', '-i', path.join(dir, 'missing.yaml')], env)
    expect(bad.code).toBe(2)
    expect(bad.stdout).toBe('')
    const none = await runCli(['completion'], env)
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/name the shell/)
  })
})

const hasZsh = spawnSync('zsh', ['--version']).status === 0

// eslint-disable-next-line no-control-regex
const TERMINAL_CODES = /\x1b\[[0-9;?]*[a-zA-Z]|\x1b[=>]|\r/g
const SENT = 'gwfleet-e2e-sent-line'

/**
 * What an interactive zsh shows after `line` and two TABs (the completed line, or it and the list of
 * candidates), read until it shows `want` (terminal codes left out), or for at most a minute: the
 * driver echoes the editor's output as it comes and is stopped as soon as the awaited text is there.
 */
function zsh(line: string, want: RegExp): Promise<string> {
  const driver = `zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z 'PS1="> "; autoload -U compinit; compinit -u -D; source <(gwfleet completion zsh); print READY'
local all="" chunk
while [[ $all != *READY*'> '* ]]; do zpty -r -t z chunk && all+=$chunk || sleep 0.1; done
zpty -w -n z "$LINE"$'\\t\\t'
print -r -- '${SENT}'
while true; do if zpty -r -t z chunk; then print -rn -- "$chunk"; else sleep 0.05; fi; done`
  return new Promise((resolve, reject) => {
    // Its own process group, so that stopping it stops its sleeps too (the zpty shell is hung up).
    const child = spawn('zsh', ['-f', '-c', driver], {env: {...env, LINE: line}, stdio: ['ignore', 'pipe', 'pipe'], detached: true})
    let raw = ''
    let done = false
    const finish = () => {
      if (done) return
      done = true
      clearTimeout(timer)
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        // already gone
      }
      const i = raw.indexOf(SENT)
      resolve(i < 0 ? raw : raw.slice(i + SENT.length).replace(TERMINAL_CODES, ''))
    }
    const timer = setTimeout(finish, 60_000)
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      raw += d
      const i = raw.indexOf(SENT)
      if (i >= 0 && want.test(raw.slice(i + SENT.length).replace(TERMINAL_CODES, ''))) finish()
    })
    child.stderr.resume()
    child.on('error', reject)
    child.on('close', finish)
  })
}

describe.skipIf(!hasZsh)('zsh completion', () => {
  it('the script is valid zsh', async () => {
    const r = spawnSync('sh', ['-c', 'gwfleet completion zsh > "$D/_gwfleet" && zsh -n "$D/_gwfleet"'], {env: {...env, D: dir}, encoding: 'utf8'})
    expect(r.status, r.stderr).toBe(0)
  })

  it('completes subcommands, flags, gateway names and labels on a real zsh line editor', async () => {
    // Each call waits for what it expects (or a minute) and then asserts it: nothing waits on a clock.
    const lit = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    expect(await zsh('gwfleet locks ', /clear\s+list/)).toMatch(/clear\s+list/)
    expect(await zsh('gwfleet audit --output=prom', lit('--output=prometheus'))).toContain('--output=prometheus')
    expect(await zsh(`gwfleet status -i ${inv} bos`, lit(`status -i ${inv} boston-1`))).toContain(`status -i ${inv} boston-1`)
    const labels = await zsh(`gwfleet deploy -i ${inv} -l berlin-1,!ring=`, /ring=canary\s+ring=main/)
    expect(labels).toMatch(/ring=canary\s+ring=main/)
  })
})
