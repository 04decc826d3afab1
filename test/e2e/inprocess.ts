// Run the built CLI inside the test's own process: the same command classes bin/run.js runs
// (dist/, through oclif), without starting node for each call. Starting node and loading gwfleet
// costs a CLI call ~0.4 s of CPU, most of what a call that only reads the hosts costs; the suite
// is CPU-bound, so calls that check what a command reports run here, and calls that check a
// process seam spawn the CLI with runCli (Workspace.run): its own stdin or terminal, signals, its
// exit, a lock whose holder's process is gone, two runs at once.
//
// What differs from a spawned CLI, and how each is kept out of the cases:
// - Calls run one at a time (they share the process's environment, cwd, output streams and exit
//   code); a case that needs runs side by side spawns them.
// - gwfleet keeps what it reads once per run (known_hosts files, key files, release zips) for the
//   rest of the run: each call starts with forgetRunState(), so it reads them afresh. This needs
//   vitest to load dist/ through Node (server.deps.external in vitest.config.ts): a copy of its
//   own would be the one reset, not the one the command classes use.
// - A call has no time limit of its own: a case that guards against a hang spawns with timeoutMs.
// - A run folder's name holds the second the run made it, the command and the process id: a call
//   waits for the next second when a run here made a folder in this second.
// - Output is captured from process.stdout and process.stderr, and from console (oclif prints help
//   with console.log).
// - stdin, stdout and stderr are no terminal (as for a spawned CLI with pipes), and stdin is
//   never read: a command that would ask refuses instead, as it does without a terminal.
import {setTimeout as sleep} from 'node:timers/promises'
import {fileURLToPath, pathToFileURL} from 'node:url'
import fs from 'node:fs'
import path from 'node:path'
import {format} from 'node:util'

import type {CliResult} from './fleet.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

let queue: Promise<unknown> = Promise.resolve()

/** Run `gwfleet <args>` in this process with `env` as its whole environment; calls queue up one after another. */
export function runInProcess(args: string[], env: NodeJS.ProcessEnv, opts: {cwd?: string} = {}): Promise<CliResult> {
  const next = queue.then(() => runNow(args, env, opts))
  queue = next.catch(() => undefined)
  return next
}

/** The built run-log module (dist/), typed by its source. */
type RunlogModule = typeof import('../../src/runner/runlog.js')

/** The second of the newest run folder this process made in a runs folder (undefined: none). */
function newestFolder(runlog: RunlogModule, home: string): number | undefined {
  let names: string[]
  try {
    names = fs.readdirSync(home)
  } catch {
    return undefined
  }
  let newest: number | undefined
  for (const name of names) {
    const m = runlog.RUN_ID_RE.exec(name)
    if (!m || Number(m[3]) !== process.pid) continue
    const second = Math.floor((runlog.runStart(name)?.getTime() ?? 0) / 1000)
    if (newest === undefined || second > newest) newest = second
  }
  return newest
}

/** Wait until the second of the newest run folder made here is past: the next run's folder gets another name. */
async function distinctSecond(runlog: RunlogModule, home: string): Promise<void> {
  const made = newestFolder(runlog, home)
  const now = Date.now()
  if (made !== undefined && made >= Math.floor(now / 1000)) await sleep((made + 1) * 1000 - now + 5)
}

/** Make the three streams no terminal for a call; gives back a function that restores them. */
function noTerminal(): () => void {
  const streams = [process.stdin, process.stdout, process.stderr] as Array<{isTTY?: boolean}>
  const saved = streams.map((s) => Object.getOwnPropertyDescriptor(s, 'isTTY'))
  for (const s of streams) Object.defineProperty(s, 'isTTY', {value: undefined, configurable: true, writable: true})
  return () =>
    streams.forEach((s, i) => {
      const d = saved[i]
      if (d) Object.defineProperty(s, 'isTTY', d)
      else delete s.isTTY
    })
}

async function runNow(args: string[], env: NodeJS.ProcessEnv, opts: {cwd?: string}): Promise<CliResult> {
  const {rejectUnknownCommand} = await import(pathToFileURL(path.join(ROOT, 'dist', 'src', 'cli', 'suggest.js')).href)
  const {forgetRunState} = await import(pathToFileURL(path.join(ROOT, 'dist', 'src', 'util', 'per-run.js')).href)
  const oclif = await import('@oclif/core')
  oclif.settings.enableAutoTranspile = false
  const runlog: RunlogModule = await import(pathToFileURL(path.join(ROOT, 'dist', 'src', 'runner', 'runlog.js')).href)
  await distinctSecond(runlog, runlog.runsHome(env))
  forgetRunState()

  const savedEnv = {...process.env}
  const savedCwd = process.cwd()
  const out = {stdout: '', stderr: ''}
  const writes = {stdout: process.stdout.write, stderr: process.stderr.write}
  const listeners = {stdout: process.stdout.listeners('error'), stderr: process.stderr.listeners('error')}
  const capture = (name: 'stdout' | 'stderr') =>
    function (chunk: string | Uint8Array, ...rest: unknown[]): boolean {
      out[name] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined
      if (cb) queueMicrotask(cb)
      return true
    }
  // As spawn does: a variable set to undefined is left unset.
  for (const k of Object.keys(process.env)) if (env[k] === undefined) delete process.env[k]
  for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v
  process.exitCode = undefined
  const restoreTerminal = noTerminal()
  if (opts.cwd) process.chdir(opts.cwd)
  process.stdout.write = capture('stdout') as typeof process.stdout.write
  process.stderr.write = capture('stderr') as typeof process.stderr.write
  // oclif prints help through console.log; the test runner has console of its own in this process.
  const consoleSaved = {log: console.log, info: console.info, warn: console.warn, error: console.error}
  const toStream = (name: 'stdout' | 'stderr') => (...a: unknown[]) => void process[name].write(`${format(...a)}\n`)
  console.log = console.info = toStream('stdout')
  console.warn = console.error = toStream('stderr')
  let code: number | null
  try {
    if (!rejectUnknownCommand(args)) await oclif.run(args, ROOT)
    code = typeof process.exitCode === 'number' ? process.exitCode : Number(process.exitCode ?? 0)
  } catch (e) {
    // What bin/run.js's execute() would have printed and exited with; a case reads it as a failure.
    const err = e as Error & {oclif?: {exit?: number}}
    out.stderr += `(uncaught in-process) ${err?.stack ?? String(e)}\n`
    code = err?.oclif?.exit ?? 1
  } finally {
    Object.assign(console, consoleSaved)
    process.stdout.write = writes.stdout
    process.stderr.write = writes.stderr
    restoreTerminal()
    process.chdir(savedCwd)
    // The commands drop output errors quietly (dropUnwritableOutput); give the streams back their listeners.
    for (const name of ['stdout', 'stderr'] as const) {
      process[name].removeAllListeners('error')
      for (const l of listeners[name]) process[name].on('error', l as (e: Error) => void)
    }
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k]
    Object.assign(process.env, savedEnv)
    process.exitCode = undefined
  }
  let json: any = null
  if (args.includes('--json')) {
    try {
      json = JSON.parse(out.stdout)
    } catch {
      json = null
    }
  }
  return {code, ...out, json}
}
