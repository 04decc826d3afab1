// The inventory's hooks: local commands on the workstation at points of a changing run (announce
// maintenance, drain, notify a chat). Each gets what it needs in GWFLEET_* variables, never a
// secret; its output goes to the run log; it has a time limit.
import {spawn} from 'node:child_process'
import path from 'node:path'

import {envReferenceNames} from '../inventory/values.js'
import {displayLine} from '../render/sanitize.js'
import {LineSplitter} from '../ssh/output.js'
import type {Hook, HookName, Inventory} from '../types.js'

/** Variables of the operator's environment a hook never sees: gwfleet's own secrets. */
const SECRET_ENV = /^GWFLEET_(BECOME_PASSWORD|KEY_PASSPHRASE)/

/** What a hook run came to: null when it succeeded, else why not. */
export type HookOutcome = string | null

/** Runs the inventory's hooks for one run. */
export class Hooks {
  private secretNames?: Set<string>

  constructor(
    private readonly inventory: Pick<Inventory, 'file' | 'hooks'> & Partial<Pick<Inventory, 'gateways'>>,
    /** Variables every hook gets (command, run folder, inventory). */
    private readonly common: Record<string, string>,
    /** Where a hook's output and outcome go: the log of `scope` (a gateway, or the run's). */
    private readonly log: (scope: string, line: string) => void,
    /** True for a text that holds a secret of the run (a variable holding one is not passed on). */
    private readonly holdsSecret: (text: string) => boolean = () => false,
  ) {}

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
    // Host text (GWFLEET_ERROR) is handed on inert: no escape sequence or CR for a hook to pass to a chat or a terminal.
    for (const [k, v] of Object.entries(vars)) env[k] = v === null || v === undefined ? '' : displayLine(String(v))
    this.log(scope, `hook ${name}: ${hook.command}`)
    const why = await runCommand(hook, path.dirname(this.inventory.file), env, (line) => this.log(scope, `hook ${name} | ${line}`))
    this.log(scope, `hook ${name}: ${why ?? 'ok'}`)
    return why === null ? null : `hook ${name} (${path.basename(this.inventory.file)}:${hook.line}) ${why}`
  }
}

/**
 * Run a hook's command with `sh -c` in the inventory's folder, in its own process group (the
 * operator's Ctrl-C is gwfleet's to handle, and a timeout stops the whole group). Null when it exits 0.
 */
function runCommand(hook: Hook, cwd: string, env: NodeJS.ProcessEnv, onLine: (line: string) => void): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', hook.command], {cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe']})
    const out = new LineSplitter(onLine)
    const err = new LineSplitter(onLine)
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
