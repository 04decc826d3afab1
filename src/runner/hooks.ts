// The inventory's hooks: local commands on the workstation at points of a changing run (announce
// maintenance, drain, notify a chat). Each gets what it needs in GWFLEET_* variables, never a
// secret; its output goes to the run log; it has a time limit. A hook that fails says how it
// ended and the last lines of its stderr, inert for a terminal and with the run's secrets masked.
import {spawn} from 'node:child_process'
import path from 'node:path'

import {envReferenceNames} from '../inventory/values.js'
import {displayLine, ellipsize} from '../render/sanitize.js'
import {LineSplitter} from '../ssh/output.js'
import type {Hook, HookName, Inventory} from '../types.js'

/** Variables of the operator's environment a hook never sees: gwfleet's own secrets. */
const SECRET_ENV = /^GWFLEET_(BECOME_PASSWORD|KEY_PASSPHRASE)/

/** What a hook run came to: null when it succeeded, else why not. */
export type HookOutcome = string | null

/** How many of a failed hook's last stderr lines its outcome quotes, and how long each may be. */
const HOOK_STDERR_LINES = 3
const HOOK_STDERR_LINE_MAX = 200

/** Runs the inventory's hooks for one run. */
export class Hooks {
  private secretNames?: Set<string>

  constructor(
    private readonly inventory: Pick<Inventory, 'file' | 'hooks'> & Partial<Pick<Inventory, 'gateways'>>,
    /** Variables every hook gets (command, run folder, inventory). */
    private readonly common: Record<string, string>,
    /** Where a hook's output and outcome go: the log of `scope` (a gateway, or the run's). */
    private readonly log: (scope: string, line: string) => void,
    /** The run's secrets masked in a text: a variable holding one is not passed on, and what a hook prints is masked. */
    private readonly redact: (text: string) => string = (text) => text,
  ) {}

  private holdsSecret(text: string): boolean {
    return this.redact(text) !== text
  }

  /** True when the inventory sets this hook. */
  has(name: HookName): boolean {
    return this.inventory.hooks?.[name] !== undefined
  }

  /** Run a hook (when set) with extra GWFLEET_* variables; its output goes to the log of `scope`. */
  async run(name: HookName, vars: Record<string, string | number | null | undefined>, scope: string): Promise<HookOutcome> {
    const hook = this.inventory.hooks?.[name]
    if (!hook) return null
    const env: NodeJS.ProcessEnv = {}
    // Every variable any gateway's values read a secret from, not only the selected gateways' (whose
    // values the run holds): the others' secrets are in the environment all the same.
    this.secretNames ??= envReferenceNames((this.inventory.gateways ?? []).map((g) => g.valuesFile))
    // The operator's environment, less gwfleet's own secrets and any variable a values file reads a secret from.
    for (const [k, v] of Object.entries(process.env)) if (!SECRET_ENV.test(k) && !this.secretNames.has(k) && !(v && this.holdsSecret(v))) env[k] = v
    Object.assign(env, this.common, {GWFLEET_HOOK: name})
    // Host text (GWFLEET_ERROR) is handed on inert, with the run's secrets masked: no escape
    // sequence or CR for a hook to pass to a chat or a terminal.
    for (const [k, v] of Object.entries(vars)) env[k] = v === null || v === undefined ? '' : this.redact(displayLine(String(v)))
    this.log(scope, `hook ${name}: ${hook.command}`)
    const stderr: string[] = []
    const why = await runCommand(hook, path.dirname(this.inventory.file), env, (line, stream) => {
      this.log(scope, `hook ${name} | ${line}`)
      if (stream !== 'stderr') return
      const shown = ellipsize(this.redact(displayLine(line)).trim(), HOOK_STDERR_LINE_MAX)
      if (shown === '') return
      stderr.push(shown)
      if (stderr.length > HOOK_STDERR_LINES) stderr.shift()
    })
    this.log(scope, `hook ${name}: ${why ?? 'ok'}`)
    if (why === null) return null
    const said = stderr.length ? `; its stderr ended: ${stderr.map((l) => JSON.stringify(l)).join(' / ')}` : ''
    return `hook ${name} (${path.basename(this.inventory.file)}:${hook.line}) ${why}${said}`
  }
}

/**
 * Run a hook's command with `sh -c` in the inventory's folder, in its own process group (the
 * operator's Ctrl-C is gwfleet's to handle, and a timeout stops the whole group). Null when it exits 0.
 */
function runCommand(hook: Hook, cwd: string, env: NodeJS.ProcessEnv, onLine: (line: string, stream: 'stdout' | 'stderr') => void): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', hook.command], {cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe']})
    const out = new LineSplitter((line) => onLine(line, 'stdout'))
    const err = new LineSplitter((line) => onLine(line, 'stderr'))
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    let timedOut = false
    const kill = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig)
      } catch {
        // already gone
      }
    }
    const timer = setTimeout(() => {
      timedOut = true
      kill('SIGTERM')
      setTimeout(() => kill('SIGKILL'), 5000).unref()
    }, hook.timeoutSeconds * 1000)
    child.on('error', (e) => {
      clearTimeout(timer)
      resolve(`could not start: ${e.message}`)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      out.flush()
      err.flush()
      if (timedOut) resolve(`did not finish within ${hook.timeoutSeconds}s and was stopped`)
      else if (code === 0) resolve(null)
      else resolve(code === null ? `ended by signal ${signal}` : `exited with code ${code}`)
    })
  })
}
