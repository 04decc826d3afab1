// Loads and validates the inventory file (SPEC section 2) into an Inventory.
// Every problem is an InputError naming file, line and dotted key.

import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { isMap } from 'yaml'
import { z } from 'zod'
import { InputError } from '../errors.js'
import type { Gateway, Inventory } from '../types.js'
import {
  checkDuplicateKeys,
  closest,
  dotted,
  hasSpaceOrControl,
  keyName,
  lineOf,
  lineOfPath,
  parseYaml,
  resolvePath,
  type ParsedYaml,
  type PathSegment,
} from './yaml-util.js'

/** Default directory on each host for releases and values. */
export const DEFAULT_REMOTE_DIR = '/opt/gwfleet'

/** Gateway names become file names: this keeps them safe. */
export const GATEWAY_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

const SEMVER_RE = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/

/** Checks a host name (or address); returns why it is unusable, or undefined when fine. */
export function hostProblem(host: string): string | undefined {
  if (host === '') return 'host is empty'
  if (hasSpaceOrControl(host)) return 'host must not contain whitespace or control characters'
  if (host.startsWith('-')) return "host must not start with '-'"
  if (host.includes('@')) return "host must not contain '@' (set the user with `user`)"
  if (host.includes('/')) return "host must not contain '/'"
  return undefined
}

function userProblem(user: string): string | undefined {
  if (user === '') return 'user is empty'
  if (hasSpaceOrControl(user)) return 'user must not contain whitespace or control characters'
  if (user.startsWith('-')) return "user must not start with '-'"
  return undefined
}

function portProblem(port: string): string | undefined {
  if (!/^\d+$/.test(port)) return `port "${port}" is not a number`
  const n = Number(port)
  if (n < 1 || n > 65535) return `port ${port} is out of range 1-65535`
  return undefined
}

/**
 * Validates ProxyJump syntax: a comma list of `[user@]host[:port]`, host may be
 * a bracketed IPv6 address. Returns why it is invalid, or undefined when fine.
 */
export function jumpProblem(jump: string): string | undefined {
  if (jump === '') return 'jump is empty'
  for (const part of jump.split(',')) {
    const where = `jump hop "${part}"`
    if (part === '') return `${where}: empty hop`
    if (hasSpaceOrControl(part)) return `${where}: must not contain whitespace or control characters`
    let rest = part
    const at = rest.lastIndexOf('@')
    if (at >= 0) {
      const user = rest.slice(0, at)
      const p = userProblem(user)
      if (p) return `${where}: ${p}`
      rest = rest.slice(at + 1)
    }
    let host: string
    let port: string | undefined
    if (rest.startsWith('[')) {
      const close = rest.indexOf(']')
      if (close < 0) return `${where}: unclosed '[' in IPv6 address`
      host = rest.slice(1, close)
      if (!/^[0-9A-Fa-f:.%A-Za-z]+$/.test(host) || !host.includes(':')) return `${where}: "[${host}]" is not an IPv6 address`
      const after = rest.slice(close + 1)
      if (after !== '') {
        if (!after.startsWith(':')) return `${where}: expected ':port' after ']'`
        port = after.slice(1)
      }
    } else {
      const pieces = rest.split(':')
      if (pieces.length > 2) return `${where}: expected [user@]host[:port] (put IPv6 addresses in brackets)`
      host = pieces[0]!
      port = pieces[1]
    }
    if (host === '') return `${where}: missing host`
    const hp = hostProblem(host)
    if (hp) return `${where}: ${hp}`
    if (port !== undefined) {
      const pp = portProblem(port)
      if (pp) return `${where}: ${pp}`
    }
  }
  return undefined
}

function refineWith(problem: (s: string) => string | undefined) {
  return (s: string, ctx: z.RefinementCtx): void => {
    const p = problem(s)
    if (p) ctx.addIssue({ code: z.ZodIssueCode.custom, message: p })
  }
}

const semverSchema = z
  .string()
  .regex(SEMVER_RE, 'expected a version X.Y.Z (digits only, no pre-release or build suffix)')

const localPath = z.string().min(1, 'path is empty').refine((s) => !s.includes('\0'), 'path must not contain NUL')

const remoteDirSchema = z.string().superRefine(
  refineWith((s) => {
    if (!s.startsWith('/')) return 'remoteDir must be an absolute path (start with /)'
    if (hasSpaceOrControl(s.replace(/ /g, ''))) return 'remoteDir must not contain control characters'
    if (s.split('/').some((seg) => seg === '..' || seg === '.')) return "remoteDir must not contain '.' or '..' segments"
    if (s.replace(/\/+$/, '') === '') return 'remoteDir must not be /'
    return undefined
  }),
)

const labelKey = z.string().superRefine(
  refineWith((s) => {
    if (s === '') return 'label name is empty'
    if (/[,=!*?\s]/.test(s)) return "label name must not contain ',', '=', '!', '*', '?' or whitespace"
    return undefined
  }),
)
const labelValue = z.string().superRefine(
  refineWith((s) => (/[,\s]/.test(s) ? "label value must not contain ',' or whitespace" : undefined)),
)

const gatewayFieldSchemas = {
  host: z.string().superRefine(refineWith(hostProblem)),
  port: z.number().int('port must be an integer').min(1, 'port must be 1-65535').max(65535, 'port must be 1-65535'),
  user: z.string().superRefine(refineWith(userProblem)),
  identityFile: localPath,
  knownHosts: localPath,
  become: z.boolean(),
  remoteDir: remoteDirSchema,
  jump: z.string().superRefine(refineWith(jumpProblem)),
  version: semverSchema,
  values: localPath,
  labels: z.record(labelKey, labelValue),
}

const GATEWAY_KEYS = Object.keys(gatewayFieldSchemas)
const DEFAULTS_KEYS = GATEWAY_KEYS.filter((k) => k !== 'host')
const RELEASE_KEYS = ['dir', 'version']
const ROOT_KEYS = ['release', 'defaults', 'gateways']

const gatewaySchema = z
  .object({
    host: gatewayFieldSchemas.host.optional(),
    port: gatewayFieldSchemas.port.optional(),
    user: gatewayFieldSchemas.user.optional(),
    identityFile: gatewayFieldSchemas.identityFile.optional(),
    knownHosts: gatewayFieldSchemas.knownHosts.optional(),
    become: gatewayFieldSchemas.become.optional(),
    remoteDir: gatewayFieldSchemas.remoteDir.optional(),
    jump: gatewayFieldSchemas.jump.optional(),
    version: gatewayFieldSchemas.version.optional(),
    values: gatewayFieldSchemas.values.optional(),
    labels: gatewayFieldSchemas.labels.optional(),
  })
  .strict()

const defaultsSchema = gatewaySchema.omit({ host: true }).strict()

const gatewayName = z
  .string()
  .regex(
    GATEWAY_NAME_RE,
    "invalid gateway name: use letters, digits, '.', '_' and '-', starting with a letter or digit",
  )

const inventorySchema = z
  .object({
    release: z.object({ dir: localPath, version: semverSchema }).strict(),
    defaults: defaultsSchema.optional(),
    gateways: z.record(gatewayName, gatewaySchema),
  })
  .strict()

type GatewayFields = z.infer<typeof gatewaySchema>

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  float: 'a number',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  null: 'an empty value',
  undefined: 'nothing',
  date: 'a date',
}

function words(t: string): string {
  return TYPE_WORDS[t] ?? t
}

/** Which keys are allowed in the mapping at a path, for "did you mean" hints. */
function knownKeysAt(at: readonly PathSegment[]): string[] {
  if (at.length === 0) return ROOT_KEYS
  if (at.length === 1 && at[0] === 'release') return RELEASE_KEYS
  if (at.length === 1 && at[0] === 'defaults') return DEFAULTS_KEYS
  if (at.length === 2 && at[0] === 'gateways') return GATEWAY_KEYS
  return []
}

interface Problem {
  line: number
  key: string
  message: string
}

function issueProblems(p: ParsedYaml, issue: z.ZodIssue): Problem[] {
  const at = issue.path
  if (issue.code === z.ZodIssueCode.unrecognized_keys) {
    return issue.keys.map((k) => {
      let message = `unknown key "${k}"`
      if (k === 'host' && at.length === 1 && at[0] === 'defaults') {
        message = '"host" cannot be a default: each gateway names its own host'
      } else {
        const hint = closest(k, knownKeysAt(at))
        if (hint) message += ` (did you mean "${hint}"?)`
        else if (knownKeysAt(at).length) message += ` (known keys: ${knownKeysAt(at).join(', ')})`
      }
      return { line: lineOfPath(p, [...at, k]), key: dotted([...at, k]), message }
    })
  }
  let message = issue.message
  if (issue.code === z.ZodIssueCode.invalid_type) {
    message =
      issue.received === 'undefined'
        ? `missing required key "${String(at[at.length - 1])}"`
        : `expected ${words(issue.expected)}, got ${words(issue.received)}`
    if (at[at.length - 1] === 'version' && at[at.length - 2] !== 'labels' && issue.received !== 'undefined') {
      message = `expected a version X.Y.Z, got ${words(issue.received)}`
    } else if (issue.expected === 'string' && (issue.received === 'number' || issue.received === 'boolean')) {
      message += ' (quote it)'
    }
  }
  return [{ line: lineOfPath(p, at), key: dotted(at), message }]
}

function fail(p: ParsedYaml, all: Problem[]): never {
  // A problem in `defaults` shows once, not once per gateway that inherits it.
  const seen = new Set<string>()
  const problems = all.filter((x) => {
    const k = `${x.line}\0${x.key}\0${x.message}`
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
  // A misspelt key usually explains a "missing" one: report the misspelling first.
  const rank = (x: Problem): number => (x.message.startsWith('missing required key') ? 1 : 0)
  problems.sort((a, b) => rank(a) - rank(b) || a.line - b.line)
  const [first, ...rest] = problems
  let message = first!.message
  for (const r of rest) message += `\n  ${p.file}:${r.line} (${r.key}): ${r.message}`
  throw new InputError(message, { file: p.file, line: first!.line, key: first!.key || undefined })
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile()
  } catch {
    return false
  }
}

/** Reads, validates and resolves the inventory file; defaults merged, paths absolute, gateways in file order. */
export async function loadInventory(file: string, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<Inventory> {
  const env = opts.env ?? process.env
  const abs = path.resolve(file)
  const dir = path.dirname(abs)
  let text: string
  try {
    text = readFileSync(abs, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new InputError(code === 'ENOENT' ? 'inventory file not found' : `cannot read inventory (${code ?? 'error'})`, {
      file: abs,
    })
  }
  const p = parseYaml(abs, text)
  checkDuplicateKeys(p, (parent, key) =>
    parent.length === 1 && parent[0] === 'gateways' ? `duplicate gateway name "${key}"` : `duplicate key "${key}"`,
  )
  const root = p.doc.contents
  if (!isMap(root)) {
    throw new InputError('inventory must be a mapping with release, defaults and gateways', {
      file: abs,
      line: lineOf(p, root) || 1,
    })
  }
  const raw = p.doc.toJS() as Record<string, unknown>
  const gwNode = root.get('gateways', true)
  if (raw.gateways === null || (isMap(gwNode) && gwNode.items.length === 0)) {
    throw new InputError('no gateways: the gateways map is empty', {
      file: abs,
      line: lineOfPath(p, ['gateways']),
      key: 'gateways',
    })
  }

  const parsed = inventorySchema.safeParse(raw)
  if (!parsed.success) fail(p, parsed.error.issues.flatMap((i) => issueProblems(p, i)))
  const inv = parsed.data
  const defaults: GatewayFields = inv.defaults ?? {}

  const problems: Problem[] = []
  const gateways: Gateway[] = []
  // Iterate the YAML map, not the JS object: numeric-looking names would be reordered by JS.
  const items = isMap(gwNode) ? gwNode.items : []
  for (const item of items) {
    const name = keyName(item.key)
    const own = inv.gateways[name]!
    const line = lineOf(p, item.key) || lineOfPath(p, ['gateways', name])
    const at = ['gateways', name]
    if (own.host === undefined) {
      problems.push({ line, key: dotted([...at, 'host']), message: 'missing required key "host"' })
      continue
    }
    const valuesFrom = own.values !== undefined ? [...at, 'values'] : ['defaults', 'values']
    const values = own.values ?? defaults.values
    if (values === undefined) {
      problems.push({ line, key: dotted([...at, 'values']), message: 'missing required key "values" (the gateway\'s values file)' })
      continue
    }
    const valuesFile = resolvePath(values, dir, env)
    if (!isFile(valuesFile)) {
      problems.push({
        line: lineOfPath(p, valuesFrom),
        key: dotted(valuesFrom),
        message: `values file not found: ${valuesFile}`,
      })
      continue
    }
    const identity = own.identityFile ?? defaults.identityFile
    let identityFile: string | undefined
    if (identity !== undefined) {
      identityFile = resolvePath(identity, dir, env)
      if (!isFile(identityFile)) {
        const from = own.identityFile !== undefined ? [...at, 'identityFile'] : ['defaults', 'identityFile']
        problems.push({ line: lineOfPath(p, from), key: dotted(from), message: `identity file not found: ${identityFile}` })
        continue
      }
    }
    const known = own.knownHosts ?? defaults.knownHosts
    const gw: Gateway = {
      name,
      host: own.host,
      port: own.port ?? defaults.port,
      user: own.user ?? defaults.user,
      identityFile,
      knownHosts: known === undefined ? undefined : resolvePath(known, dir, env),
      become: own.become ?? defaults.become ?? false,
      jump: own.jump ?? defaults.jump,
      remoteDir: (own.remoteDir ?? defaults.remoteDir ?? DEFAULT_REMOTE_DIR).replace(/\/+$/, ''),
      version: own.version ?? defaults.version ?? inv.release.version,
      pinned: own.version !== undefined || defaults.version !== undefined,
      valuesFile,
      labels: { ...(defaults.labels ?? {}), ...(own.labels ?? {}) },
      source: { file: abs, line },
    }
    // Keep the object tidy for deep-equality and JSON: no explicit undefined fields.
    for (const k of Object.keys(gw) as (keyof Gateway)[]) if (gw[k] === undefined) delete gw[k]
    gateways.push(gw)
  }
  if (problems.length) fail(p, problems)

  // Where the keys that later checks (release folder, versions) may complain about are written.
  const lines: Record<string, number> = {
    'release.dir': lineOfPath(p, ['release', 'dir']),
    'release.version': lineOfPath(p, ['release', 'version']),
  }
  if (defaults.version !== undefined) lines['defaults.version'] = lineOfPath(p, ['defaults', 'version'])
  for (const g of gateways) {
    const at = ['gateways', g.name, 'version']
    if (g.pinned && (parsed.data.gateways[g.name] as {version?: string} | undefined)?.version !== undefined) lines[at.join('.')] = lineOfPath(p, at)
  }
  return {
    file: abs,
    releaseDir: resolvePath(inv.release.dir, dir, env),
    releaseVersion: inv.release.version,
    gateways,
    lines,
  }
}
