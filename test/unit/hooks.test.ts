// The inventory's hooks: how they load (and how bad ones are refused, with file, line and key),
// and how a hook runs: its variables, its output, its exit code and its time limit.
import fs from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {loadInventory} from '../../src/inventory/load.js'
import {Hooks} from '../../src/runner/hooks.js'
import {BASE, expectLocated, rejection, tree} from './fixtures/inventory/helpers.js'

function inventory(...hooks: string[]): string {
  const dir = tree({'inventory.yaml': [...BASE, ...hooks].join('\n') + '\n', 'values/a.yaml': 'tenant: t\n'})
  return path.join(dir, 'inventory.yaml')
}

describe('hooks in the inventory', () => {
  it('loads a command, or a command with its timeout, each with its line', async () => {
    const inv = await loadInventory(inventory('hooks:', '  before-run: ./announce.sh', '  after-host:', '    command: ./undrain.sh', '    timeout: 90s'))
    expect(inv.hooks).toEqual({
      'before-run': {command: './announce.sh', timeoutSeconds: 300, line: 11},
      'after-host': {command: './undrain.sh', timeoutSeconds: 90, line: 12},
    })
  })

  it('refuses an unknown hook, a bad timeout and an empty command, naming the line and key', async () => {
    const unknown = inventory('hooks:', '  before-all: ./x.sh')
    expectLocated(await rejection(loadInventory(unknown)), unknown, 11, 'hooks.before-all')
    const timeout = inventory('hooks:', '  after-run:', '    command: ./x.sh', '    timeout: soon')
    const err = await rejection(loadInventory(timeout))
    expectLocated(err, timeout, 13, 'hooks.after-run.timeout')
    expect(err.message).toMatch(/timeout must be a duration/)
    const empty = inventory('hooks:', "  before-host: ''")
    expectLocated(await rejection(loadInventory(empty)), empty, 11, 'hooks.before-host')
  })
})

describe('running a hook', () => {
  const dir = tree({'inventory.yaml': ''})
  const file = path.join(dir, 'inventory.yaml')
  const run = async (command: string, timeoutSeconds = 10) => {
    const lines: string[] = []
    const hooks = new Hooks({file, hooks: {'after-run': {command, timeoutSeconds, line: 3}}}, {GWFLEET_COMMAND: 'deploy'}, (scope, line) => lines.push(`${scope}: ${line}`))
    return {why: await hooks.run('after-run', {GWFLEET_OK: 2}, '_run'), lines}
  }

  it('runs in the inventory folder with its variables; output goes to the log', async () => {
    const {why, lines} = await run('echo "$GWFLEET_HOOK $GWFLEET_COMMAND ok=$GWFLEET_OK in $(pwd)"; echo oops >&2')
    expect(why).toBeNull()
    expect(lines).toContain(`_run: hook after-run | after-run deploy ok=2 in ${fs.realpathSync(dir)}`)
    expect(lines).toContain('_run: hook after-run | oops')
    expect(lines.at(-1)).toBe('_run: hook after-run: ok')
  })

  it('a failure names the hook, where it is declared and how it ended', async () => {
    expect((await run('exit 3')).why).toBe('hook after-run (inventory.yaml:3) exited with code 3')
  })

  it('a failure quotes the last lines of its stderr: at most three, each bounded, control characters stripped, secrets masked', async () => {
    const lines: string[] = []
    const hooks = new Hooks(
      {file, hooks: {'before-host': {command: `echo progress; for i in 1 2 3 4; do echo "line $i" >&2; done; printf '\\033]52;c;aGk=\\007maintenance \\033[31mclosed\\033[0m for tok-Secret-9\\r\\n\\n' >&2; head -c 500 /dev/zero | tr '\\0' x >&2; exit 4`, timeoutSeconds: 10, line: 7}}},
      {},
      (_s, line) => lines.push(line),
      (t) => t.replaceAll('tok-Secret-9', '***'),
    )
    const why = await hooks.run('before-host', {}, 'gw-1')
    expect(why).toBe(`hook before-host (inventory.yaml:7) exited with code 4; its stderr ended: "line 4" / "maintenance closed for ***" / "${'x'.repeat(199)}…"`)
    // The log keeps every line (the run log masks secrets when it writes them).
    expect(lines.filter((l) => l.startsWith('hook before-host | line '))).toHaveLength(4)
  })

  it('a hook past its time limit is stopped, with what it started', async () => {
    const marker = path.join(dir, 'child-alive')
    const {why} = await run(`(sleep 30; touch ${marker}) & sleep 30`, 1)
    expect(why).toBe('hook after-run (inventory.yaml:3) did not finish within 1s and was stopped')
    // The whole process group was stopped: the background child never gets to write its file.
    await new Promise((r) => setTimeout(r, 300))
    const ps = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8')
      } catch {
        return ''
      }
    })
    expect(ps.filter((c) => c.includes(marker))).toEqual([])
  })
})

describe('hooks never see any gateway\'s secrets (issue 20)', () => {
  it('a variable that the values of a gateway not selected for the run read is not in a hook\'s environment', async () => {
    const dir = tree({
      'inventory.yaml': '',
      'values/a.yaml': 'tenant: t\nclientSecret: ${env:GW_HOOKTEST_A}\n',
      'values/b.yaml': 'tenant: t\nhelmRepoPassword: "${env:GW_HOOKTEST_B}"\n',
    })
    const file = path.join(dir, 'inventory.yaml')
    process.env.GW_HOOKTEST_A = 'secret-of-a-1'
    process.env.GW_HOOKTEST_B = 'secret-of-b-2'
    process.env.GW_HOOKTEST_PLAIN = 'plain-3'
    try {
      const lines: string[] = []
      const gateways = ['a', 'b'].map((n) => ({valuesFile: path.join(dir, 'values', `${n}.yaml`)})) as any
      // The run holds only gateway a's secrets (its redactor knows those); b was not selected.
      const hooks = new Hooks({file, gateways, hooks: {'after-run': {command: 'env', timeoutSeconds: 10, line: 3}}}, {}, (_s, line) => lines.push(line), (t) => t.replaceAll('secret-of-a-1', '***'))
      expect(await hooks.run('after-run', {}, '_run')).toBeNull()
      const text = lines.join('\n')
      expect(text).not.toContain('secret-of-a-1')
      expect(text).not.toContain('secret-of-b-2')
      expect(text).not.toContain('GW_HOOKTEST_B')
      expect(text).toContain('GW_HOOKTEST_PLAIN=plain-3')
    } finally {
      delete process.env.GW_HOOKTEST_A
      delete process.env.GW_HOOKTEST_B
      delete process.env.GW_HOOKTEST_PLAIN
    }
  })
})

describe('hook variables from host text (issue 20)', () => {
  it('GWFLEET_ERROR reaches the hook without escape sequences or CR', async () => {
    const dir = tree({'inventory.yaml': ''})
    const lines: string[] = []
    const hooks = new Hooks({file: path.join(dir, 'inventory.yaml'), hooks: {'after-host': {command: 'printf "%s" "$GWFLEET_ERROR" | od -c', timeoutSeconds: 10, line: 3}}}, {}, (_s, line) => lines.push(line))
    expect(await hooks.run('after-host', {GWFLEET_ERROR: 'failed \x1b]52;c;ZXZpbA==\x07x\rhidden'}, 'g1')).toBeNull()
    const dump = lines.join('\n')
    expect(dump).not.toMatch(/033|\\r|\\a/)
    expect(dump).toContain('h   i   d   d   e   n')
  })

  it("GWFLEET_ERROR reaches the hook with the run's secrets masked (a failed hook's stderr may have quoted one)", async () => {
    const dir = tree({'inventory.yaml': ''})
    const lines: string[] = []
    const hooks = new Hooks({file: path.join(dir, 'inventory.yaml'), hooks: {'after-host': {command: 'echo "got: $GWFLEET_ERROR"', timeoutSeconds: 10, line: 3}}}, {}, (_s, line) => lines.push(line), (t) => t.replaceAll('tok-Secret-9', '***'))
    expect(await hooks.run('after-host', {GWFLEET_ERROR: 'hook before-host failed: "token tok-Secret-9 refused"'}, 'g1')).toBeNull()
    expect(lines).toContain('hook after-host | got: hook before-host failed: "token *** refused"')
  })
})
