// An unknown command gets gwfleet's own error (exit 2) and, when one is close, the command the
// operator probably meant. bin/run.js asks here before it hands the command line to oclif, whose
// own "command not found" suggests nothing.
import fs from 'node:fs'

import {closest, distance} from '../util/distance.js'

// The command classes, as oclif finds them (package.json oclif.commands): one file per command,
// a folder per topic. They sit two folders up from this module both in src/ and in dist/src/.
const COMMANDS_DIR = new URL('../../commands/', import.meta.url)

/** The commands as typed: "deploy", "locks list". */
export function commandNames(dir: URL = COMMANDS_DIR, topic: string[] = []): string[] {
  return fs.readdirSync(dir, {withFileTypes: true}).flatMap((e) => {
    if (e.isDirectory()) return commandNames(new URL(`${e.name}/`, dir), [...topic, e.name])
    // deploy.js, deploy.ts; not deploy.d.ts or deploy.js.map
    const m = /^([a-z][\w-]*)\.(js|ts)$/.exec(e.name)
    return m ? [[...topic, m[1]].join(' ')] : []
  })
}

export {distance}

/**
 * When argv names no gwfleet command: what the operator typed and the closest command (if any is
 * close). Undefined for a known command, a topic alone (`locks`: its help) and flags only (--help,
 * --version), which oclif answers.
 */
export function unknownCommand(argv: string[], names: string[] = commandNames()): {typed: string; suggestion?: string} | undefined {
  const word = (s: string | undefined) => s !== undefined && s !== '' && !s.startsWith('-') && !s.includes('=')
  const [first, second] = argv
  if (!word(first)) return undefined
  const firsts = new Set(names.map((n) => n.split(' ')[0]))
  if (names.includes(first)) return undefined
  if (firsts.has(first) && (!word(second) || names.includes(`${first} ${second}`))) return undefined
  const one = first.toLowerCase()
  const two = word(second) ? `${one} ${second.toLowerCase()}` : undefined
  let best: {name: string; d: number; typed: string} | undefined
  for (const name of names) {
    const typed = name.includes(' ') ? two : one
    if (typed === undefined) continue
    const d = distance(typed, name)
    if (!best || d < best.d) best = {name, d, typed}
  }
  const typed = firsts.has(first) && two ? `${first} ${second}` : first
  if (!best || best.d > Math.max(2, Math.floor(best.name.length / 3))) return {typed}
  return {typed: best.typed === two ? `${first} ${second}` : typed, suggestion: best.name}
}

/** A flag as a command class declares it (oclif's definitions), as far as suggestions need it. */
export interface FlagInfo {
  char?: string
  hidden?: boolean
}

/**
 * The command's flag closest to one oclif did not know (`--dryrun` → `--dry-run`, `--Limit` →
 * `--limit`), when one is close; hidden flags are never suggested. `typed` is the word as given,
 * with any `=value`.
 */
export function suggestFlag(typed: string, flags: Record<string, FlagInfo>): string | undefined {
  const m = /^--?([^=]+)/.exec(typed)
  if (!m || !typed.startsWith('--')) return undefined
  // The rule of the inventory's keys (case slips nearly free, a third of the word's length).
  const best = closest(m[1], Object.entries(flags).filter(([, f]) => !f.hidden).map(([name]) => name))
  return best === undefined ? undefined : `--${best}`
}

/**
 * The error for flags a command does not have: each named as typed (never its `=value`, which may
 * be anything, a secret too), with the closest flag of the command when one is close.
 */
export function unknownFlagsMessage(typed: string[], flags: Record<string, FlagInfo>): string {
  return typed
    .map((t) => {
      const s = suggestFlag(t, flags)
      return `Unknown flag ${t.replace(/=.*$/s, '')}.${s ? ` Did you mean ${s}?` : ''}`
    })
    .join(' ')
}

/** Report an unknown command the way gwfleet reports bad input (exit 2); false when argv names a command. */
export function rejectUnknownCommand(argv: string[]): boolean {
  const u = unknownCommand(argv)
  if (!u) return false
  const msg = `"${u.typed}" is not a gwfleet command${u.suggestion ? `; did you mean "${u.suggestion}"?` : ''}`
  if (argv.includes('--json')) process.stdout.write(JSON.stringify({ok: false, error: msg}) + '\n')
  else process.stderr.write(`gwfleet: error: ${msg}\nSee: gwfleet --help\n`)
  process.exitCode = 2
  return true
}
