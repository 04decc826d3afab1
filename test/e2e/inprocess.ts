// Run the built CLI inside the test's own process: the same command classes bin/run.js runs
// (dist/, through oclif), without starting node for each call. For inputs that fail fast (bad
// input): a case costs milliseconds instead of a process start. Calls run one at a time, as they
// share the process's environment, output streams and exit code; a test that needs the process
// seams (its own stdin, exit status, a read that could block) spawns the CLI with runCli instead.
import {pathToFileURL} from 'node:url'
import path from 'node:path'

import {ROOT, type CliResult} from './fleet.js'

let queue: Promise<unknown> = Promise.resolve()

/** Run `gwfleet <args>` in this process with `env` as its whole environment; calls queue up one after another. */
export function runInProcess(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const next = queue.then(() => runNow(args, env))
  queue = next.catch(() => undefined)
  return next
}

async function runNow(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const {rejectUnknownCommand} = await import(pathToFileURL(path.join(ROOT, 'dist', 'src', 'cli', 'suggest.js')).href)
  const oclif = await import('@oclif/core')
  oclif.settings.enableAutoTranspile = false

  const savedEnv = {...process.env}
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
  for (const k of Object.keys(process.env)) if (!(k in env)) delete process.env[k]
  for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v
  process.exitCode = undefined
  process.stdout.write = capture('stdout') as typeof process.stdout.write
  process.stderr.write = capture('stderr') as typeof process.stderr.write
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
    process.stdout.write = writes.stdout
    process.stderr.write = writes.stderr
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
