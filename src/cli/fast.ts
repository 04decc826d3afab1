// The fast start path: runs an ordinary command line without loading oclif. The flags and args of
// every command come from oclif.manifest.json; the command line is parsed the way oclif's parser
// parses it, and the command runs through the same table the oclif command classes use
// (dispatch.ts). Anything this parser is not sure about (help, version, an unknown command or flag,
// a flag given twice, a missing value, a value starting with "-", a missing required flag, too many
// args, an oclif setting it does not model) is left to oclif, so every message and exit code of
// those cases stays oclif's. Nothing here may import @oclif/core.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import tty from 'node:tty'
import {fileURLToPath} from 'node:url'

import {COMMANDS, runParsed, type ParsedArgs, type ParsedFlags} from './dispatch.js'
import {rejectUnknownCommand} from './suggest.js'

export interface ManifestFlag {
  name: string
  type: string
  char?: string
  env?: string
  default?: unknown
  required?: boolean
  options?: string[]
  multiple?: boolean
  allowNo?: boolean
}

export interface ManifestArg {
  name: string
  required?: boolean
  options?: string[]
}

export interface ManifestCommand {
  id: string
  flags: Record<string, ManifestFlag>
  args?: Record<string, ManifestArg>
  strict?: boolean
  aliases?: string[]
  hiddenAliases?: string[]
}

export interface Manifest {
  version: string
  commands: Record<string, ManifestCommand>
}

/** What the parse depends on besides argv. */
export interface ParseContext {
  env: NodeJS.ProcessEnv
  /** oclif reads a missing arg from stdin unless stdin is a terminal. */
  stdinIsTTY: boolean
}

export interface FastCommandLine {
  id: string
  flags: ParsedFlags
  args: ParsedArgs
}

// Manifest fields this parser knows. A command, flag or arg with any other field (aliases of a
// flag, relationships, a default function, stdin reading, ...) is left to oclif.
const COMMAND_KEYS = new Set(['id', 'summary', 'description', 'examples', 'usage', 'hidden', 'hasDynamicHelp', 'flags', 'args', 'strict', 'aliases', 'hiddenAliases', 'isESM', 'relativePath', 'pluginAlias', 'pluginName', 'pluginType'])
const FLAG_KEYS = new Set(['name', 'type', 'char', 'env', 'default', 'required', 'options', 'multiple', 'allowNo', 'summary', 'description', 'helpValue', 'helpGroup', 'hidden', 'hasDynamicHelp'])
const ARG_KEYS = new Set(['name', 'description', 'required', 'options', 'hidden'])
// The package.json oclif settings this path models; any other (plugins, hooks, extra help or
// version flags, exit codes, ...) sends every command line to oclif.
const OCLIF_KEYS = new Set(['bin', 'dirname', 'commands', 'topicSeparator', 'topics', 'helpClass'])

const onlyKeys = (o: object, known: Set<string>) => Object.keys(o).every((k) => known.has(k))

/** Whether every part of a manifest command is something this parser handles like oclif. */
function supported(cmd: ManifestCommand): boolean {
  if (!onlyKeys(cmd, COMMAND_KEYS) || cmd.strict !== true || cmd.aliases?.length || cmd.hiddenAliases?.length) return false
  if (!Object.hasOwn(COMMANDS, cmd.id)) return false
  for (const [name, f] of Object.entries(cmd.flags)) {
    if (!onlyKeys(f, FLAG_KEYS) || f.name !== name || f.multiple || f.allowNo) return false
    if (f.type === 'option') {
      if (f.default !== undefined && typeof f.default !== 'string') return false
    } else if (f.type === 'boolean') {
      if (f.default !== undefined && typeof f.default !== 'boolean') return false
    } else return false
  }
  for (const [name, a] of Object.entries(cmd.args ?? {})) if (!onlyKeys(a, ARG_KEYS) || a.name !== name) return false
  return true
}

/**
 * The command id as oclif finds it with a space as topic separator: words are joined while the
 * joined id is a command or a topic; the first flag, or a word after a command that takes args,
 * ends it. Returns the id and how many words it took.
 */
function findId(manifest: Manifest, argv: string[]): [string, number] | undefined {
  const usable = new Set<string>()
  for (const id of Object.keys(manifest.commands)) {
    const parts = id.split(':')
    for (let i = 1; i <= parts.length; i++) usable.add(parts.slice(0, i).join(':'))
  }
  const words: string[] = []
  for (const a of argv) {
    const current = words.join(':')
    const cmd = Object.hasOwn(manifest.commands, current) ? manifest.commands[current] : undefined
    if (usable.has([...words, a].join(':'))) words.push(a)
    else if (a.includes('=') || a.startsWith('-') || (cmd && (cmd.strict === false || Object.keys(cmd.args ?? {}).length > 0))) break
    else return undefined // oclif would look for a command that does not exist
  }
  const id = words.join(':')
  return Object.hasOwn(manifest.commands, id) ? [id, words.length] : undefined
}

/**
 * Parses argv (without node and the script) into the flags and args oclif would give the command,
 * or undefined when the command line is not one this parser is sure about.
 */
export function parseCommandLine(manifest: Manifest, argv: string[], ctx: ParseContext): FastCommandLine | undefined {
  if (argv.length === 0 || argv[0].includes(':') || argv.some((a) => a === '--' || a === '--help' || a === '-h' || a === '--version')) return undefined
  const found = findId(manifest, argv)
  if (!found) return undefined
  const [id, used] = found
  const cmd = manifest.commands[id]
  if (!supported(cmd)) return undefined
  const defs = Object.values(cmd.flags)

  const given = new Map<string, string | true>()
  const positional: string[] = []
  const rest = argv.slice(used)
  for (let i = 0; i < rest.length; i++) {
    const token = rest[i]
    if (!token.startsWith('-')) {
      positional.push(token)
      continue
    }
    if (token === '-') return undefined
    let flag: ManifestFlag | undefined
    let value: string | undefined
    let inline = false
    if (token.startsWith('--')) {
      const eq = token.indexOf('=')
      const name = eq === -1 ? token.slice(2) : token.slice(2, eq)
      flag = Object.hasOwn(cmd.flags, name) ? cmd.flags[name] : undefined
      if (eq !== -1) [value, inline] = [token.slice(eq + 1), true]
    } else {
      flag = defs.find((f) => f.char !== undefined && f.char === token[1])
      if (token.length > 2) [value, inline] = [token.slice(token[2] === '=' ? 3 : 2), true]
    }
    if (!flag || given.has(flag.name)) return undefined
    if (flag.type === 'boolean') {
      if (inline) return undefined
      given.set(flag.name, true)
      continue
    }
    if (!inline) value = rest[++i]
    if (value === undefined || value === '' || value.startsWith('-')) return undefined
    given.set(flag.name, value)
  }

  // Values in the order the command declares its flags: given, else env, else default.
  const flags: ParsedFlags = {}
  for (const f of defs) {
    let v: string | boolean | undefined
    const fromEnv = f.env ? ctx.env[f.env] : undefined
    if (given.has(f.name)) v = given.get(f.name)
    else if (fromEnv) {
      if (f.type === 'boolean') return undefined
      v = fromEnv
    } else v = f.default as string | boolean | undefined
    if (v === undefined) {
      if (f.required) return undefined
      continue
    }
    if (f.options && (given.has(f.name) || fromEnv) && !f.options.includes(v as string)) return undefined
    flags[f.name] = v
  }

  const argDefs = Object.values(cmd.args ?? {})
  if (positional.length > argDefs.length) return undefined
  const args: ParsedArgs = {}
  for (const [i, a] of argDefs.entries()) {
    if (i < positional.length) {
      if (a.options && !a.options.includes(positional[i])) return undefined
      args[a.name] = positional[i]
    } else if (a.required || !ctx.stdinIsTTY) return undefined
  }
  return {id, flags, args}
}

/** Whether the process environment and the installed package leave parsing to this module. */
export function environmentAllows(env: NodeJS.ProcessEnv, pjson: any): boolean {
  const oclif = pjson?.oclif
  if (!oclif || !onlyKeys(oclif, OCLIF_KEYS) || oclif.topicSeparator !== ' ' || typeof oclif.bin !== 'string') return false
  if (process.platform === 'win32' || Number(process.versions.node.split('.')[0]) < 20) return false
  const scope = oclif.bin.replaceAll('@', '').replaceAll(/[/-]/g, '_').toUpperCase()
  // oclif's debug output and its manifest switches
  if (env.DEBUG || env.CLI_FLAGS_DEBUG || env[`${scope}_DEBUG`] || Object.keys(env).some((k) => k.startsWith('OCLIF_'))) return false
  // oclif loads user-installed plugins from its data folder
  const home = env.HOME || os.homedir() || os.tmpdir()
  const dataDir = env[`${scope}_DATA_DIR`] || path.join(env.XDG_DATA_HOME || path.join(home, '.local/share'), oclif.dirname || pjson.name)
  return !fs.existsSync(path.join(dataDir, 'package.json'))
}

/**
 * Runs the command line without oclif when it is an ordinary one; resolves false, having done
 * nothing, when oclif must handle it. `root` is the package folder (package.json, the manifest).
 */
export async function runFast(argv: string[], root: string | URL): Promise<boolean> {
  if (rejectUnknownCommand(argv)) return true
  const dir = typeof root === 'string' ? root : fileURLToPath(root)
  let pjson: any
  let manifest: Manifest
  try {
    pjson = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
    manifest = JSON.parse(fs.readFileSync(path.join(dir, 'oclif.manifest.json'), 'utf8'))
  } catch {
    return false
  }
  if (manifest?.version !== pjson?.version || typeof manifest.commands !== 'object') return false
  const env = process.env
  if (!environmentAllows(env, pjson)) return false
  const line = parseCommandLine(manifest, argv, {env, stdinIsTTY: tty.isatty(0)})
  if (!line) return false

  // What oclif does before every command: drop the auto-update marker. (A closed stdout or stderr
  // is ignored by runParsed, for either path.)
  const scope = pjson.oclif.bin.replaceAll('@', '').replaceAll(/[/-]/g, '_').toUpperCase()
  delete env[`${scope}_REDIRECTED`]
  await runParsed(line.id, line.flags, line.args)
  return true
}
