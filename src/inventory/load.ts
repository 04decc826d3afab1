// Loads and validates the inventory file (SPEC section 2) into an Inventory.
// Every problem is an InputError naming file, line and dotted key.

import path from 'node:path'
import { isMap } from 'yaml'
import { z } from 'zod'
import { InputError } from '../errors.js'
import { parseVersion } from '../release/version.js'
import { jumpProblem, parseJump } from '../ssh/jump.js'
import type { Gateway, Hook, HookName, Inventory } from '../types.js'
import { closest } from '../util/distance.js'
import { durationSeconds } from '../util/duration.js'
import { selectGateways } from './selector.js'
import { INVENTORY_LIMIT, SECRET_FILE_LIMIT, VALUES_LIMIT, inputFileProblem, readInputFile } from './input-file.js'
import {
  checkDuplicateKeys,
  issuePath,
  receivedType,
  dotted,
  hasSpaceOrControl,
  keyName,
  lineOf,
  lineOfPath,
  parseYaml,
  resolvePath,
  toData,
  type ParsedYaml,
  type PathSegment,
} from './yaml-util.js'

/** Default directory on each host for releases and values. */
export const DEFAULT_REMOTE_DIR = '/opt/gwfleet'

/** Gateway names become file names: this keeps them safe. */
export const GATEWAY_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

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

function refineWith(problem: (s: string) => string | undefined) {
  return (s: string, ctx: z.RefinementCtx): void => {
    const p = problem(s)
    if (p) ctx.addIssue({ code: 'custom', message: p })
  }
}

export const semverSchema = z
  .string()
  .refine((s) => parseVersion(s) !== null, 'expected a version X.Y.Z (digits only, no pre-release or build suffix)')

const localPath = z.string().min(1, 'path is empty').refine((s) => !s.includes('\0'), 'path must not contain NUL')

const remoteDirSchema = z.string().superRefine(
  refineWith((s) => {
    if (!s.startsWith('/')) return 'remoteDir must be an absolute path (start with /)'
    if (hasSpaceOrControl(s.replace(/ /g, ''))) return 'remoteDir must not contain control characters, newlines or tabs'
    // sha256sum escapes names holding a backslash, so the host's hash of the values would never be read.
    if (s.includes('\\')) return 'remoteDir must not contain a backslash (\\)'
    // A lone surrogate is sent as U+FFFD: the path the host reports back would never match.
    if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)) return 'remoteDir must be valid Unicode text'
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
  state: z.enum(['present', 'absent'], {error: 'state must be present or absent'}),
}

const GATEWAY_KEYS = Object.keys(gatewayFieldSchemas)
const DEFAULTS_KEYS = GATEWAY_KEYS.filter((k) => k !== 'host' && k !== 'state')
const RELEASE_KEYS = ['dir', 'version']
const ROOT_KEYS = ['release', 'defaults', 'gateways', 'hooks', 'rollout']
const ROLLOUT_KEYS = ['first', 'keepReleases']
export const HOOK_NAMES: HookName[] = ['before-run', 'before-host', 'after-host', 'after-batch', 'after-run']
/** A hook's time limit unless it sets its own. */
export const HOOK_TIMEOUT_SECONDS = 300

const hookCommand = z.string().min(1, 'command is empty').refine((s) => !s.includes('\0'), 'command must not contain NUL')
const hookSchema = z.union([
  hookCommand,
  z
    .object({
      command: hookCommand,
      timeout: z.string().refine((s) => durationSeconds(s) !== null, 'timeout must be a duration such as 90s or 5m'),
    })
    .partial({timeout: true})
    .strict(),
])
const hooksSchema = z.object(Object.fromEntries(HOOK_NAMES.map((h) => [h, hookSchema.optional()]))).strict()

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
    state: gatewayFieldSchemas.state.optional(),
  })
  .strict()

const defaultsSchema = gatewaySchema.omit({ host: true, state: true }).strict()

const gatewayName = z
  .string()
  .regex(
    GATEWAY_NAME_RE,
    "invalid gateway name: use letters, digits, '.', '_' and '-', starting with a letter or digit",
  )

export const inventorySchema = z
  .object({
    release: z.object({ dir: localPath, version: semverSchema }).strict(),
    defaults: defaultsSchema.optional(),
    gateways: z.record(gatewayName, gatewaySchema),
    hooks: hooksSchema.optional(),
    rollout: z
      .object({
        first: z.string().min(1, 'selector is empty'),
        keepReleases: z.number().int('keepReleases must be a whole number').min(0, 'keepReleases must be 0 (keep all) or more').max(1000, 'keepReleases must be at most 1000'),
      })
      .partial()
      .strict()
      .optional(),
  })
  .strict()

type GatewayFields = z.infer<typeof gatewaySchema>

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  int: 'an integer',
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
  if (at.length === 1 && at[0] === 'hooks') return HOOK_NAMES
  if (at.length === 1 && at[0] === 'rollout') return ROLLOUT_KEYS
  return []
}

interface Problem {
  line: number
  key: string
  message: string
}

function issueProblems(p: ParsedYaml, issue: z.core.$ZodIssue): Problem[] {
  const at = issuePath(issue.path)
  // A map key its schema refused (a gateway name): the key's own problems, at the key.
  if (issue.code === 'invalid_key') return issue.issues.map((i) => ({ line: lineOfPath(p, at), key: dotted(at), message: i.message }))
  if (issue.code === 'unrecognized_keys') {
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
  if (issue.code === 'invalid_type') {
    const received = receivedType(issue.input, issue.expected)
    message =
      received === 'undefined'
        ? `missing required key "${String(at[at.length - 1])}"`
        : `expected ${words(issue.expected)}, got ${words(received)}`
    if (at[at.length - 1] === 'version' && at[at.length - 2] !== 'labels' && received !== 'undefined') {
      message = `expected a version X.Y.Z, got ${words(received)}`
    } else if (issue.expected === 'string' && (received === 'number' || received === 'boolean')) {
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

/** A host name as the network sees it: case, a trailing dot and IP spellings do not matter. */
function hostKey(host: string): string {
  const h = host.toLowerCase().replace(/\.$/, '')
  try {
    return new URL(`http://${h.includes(':') ? `[${h}]` : h}/`).hostname
  } catch {
    return h
  }
}

/**
 * Gateways reached at the same host and port (through the same jump hosts) with the same
 * remoteDir would share one lock and one state folder, and hold each other up at run time.
 */
function sharedHosts(p: ParsedYaml, gateways: Gateway[]): Problem[] {
  const seen = new Map<string, Gateway>()
  const out: Problem[] = []
  for (const g of gateways) {
    const via = g.jump === undefined ? '' : parseJump(g.jump).map((h) => `${hostKey(h.host)}:${h.port ?? 22}`).join(',')
    const id = `${via} ${hostKey(g.host)}:${g.port ?? 22} ${path.posix.normalize(g.remoteDir)}`
    const first = seen.get(id)
    if (!first) {
      seen.set(id, g)
      continue
    }
    const at = ['gateways', g.name, 'host']
    out.push({
      line: lineOfPath(p, at),
      key: dotted(at),
      message:
        `gateways "${first.name}" (line ${first.source.line}) and "${g.name}" (line ${g.source.line}) both reach ${g.host} port ${g.port ?? 22}` +
        `${g.jump === undefined ? '' : ` via ${g.jump}`} with remoteDir ${g.remoteDir}: ` +
        'they would share one lock and one state folder (one host runs one gateway)',
    })
  }
  return out
}

/** A gateway's own input problem (its values file cannot be read) as an error naming file, line and key. */
export function inputProblemOf(gw: Gateway): InputError | undefined {
  const p = gw.inputProblem
  return p ? new InputError(p.message, { file: p.file, line: p.line, key: p.key }) : undefined
}

/** Reads, validates and resolves the inventory file; defaults merged, paths absolute, gateways in file order. */
export async function loadInventory(file: string, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<Inventory> {
  const env = opts.env ?? process.env
  const abs = path.resolve(file)
  const dir = path.dirname(abs)
  const read = readInputFile(abs, { limit: INVENTORY_LIMIT })
  if ('why' in read) throw new InputError(`inventory file ${read.why}`, { file: abs })
  const p = parseYaml(abs, read.text)
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
  const raw = toData(p) as Record<string, unknown>
  const gwNode = root.get('gateways', true)
  if (raw.gateways === null || (isMap(gwNode) && gwNode.items.length === 0)) {
    throw new InputError('no gateways: the gateways map is empty', {
      file: abs,
      line: lineOfPath(p, ['gateways']),
      key: 'gateways',
    })
  }

  // reportInput: the words of a type error name the type of the value given (never the value).
  const parsed = inventorySchema.safeParse(raw, { reportInput: true })
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
    const absent = own.state === 'absent'
    // A gateway to be removed needs no values (without them, uninstall cleans Cilium as by default).
    if (values === undefined && !absent) {
      problems.push({ line, key: dotted([...at, 'values']), message: 'missing required key "values" (the gateway\'s values file)' })
      continue
    }
    const valuesFile = values === undefined ? '' : resolvePath(values, dir, env)
    // A values file that cannot be read is this gateway's problem only: the commands refuse it
    // when the gateway is selected for a change, and audit reports the gateway as invalid.
    const vp = values === undefined ? undefined : inputFileProblem(valuesFile, { limit: VALUES_LIMIT, tree: dir })
    const inputProblem = vp ? { file: abs, line: lineOfPath(p, valuesFrom), key: dotted(valuesFrom), message: `values file ${vp}: ${valuesFile}` } : undefined
    const identity = own.identityFile ?? defaults.identityFile
    let identityFile: string | undefined
    if (identity !== undefined) {
      identityFile = resolvePath(identity, dir, env)
      const ip = inputFileProblem(identityFile, { limit: SECRET_FILE_LIMIT })
      if (ip) {
        const from = own.identityFile !== undefined ? [...at, 'identityFile'] : ['defaults', 'identityFile']
        problems.push({ line: lineOfPath(p, from), key: dotted(from), message: `identity file ${ip}: ${identityFile}` })
        continue
      }
    }
    const known = own.knownHosts ?? defaults.knownHosts
    // known_hosts may not exist yet (a new host's key is recorded there), but a FIFO or device would hang its reader.
    const knownFile = known === undefined ? undefined : resolvePath(known, dir, env)
    const kp = knownFile === undefined ? undefined : inputFileProblem(knownFile, { limit: Number.MAX_SAFE_INTEGER })
    if (kp && kp !== 'not found') {
      const from = own.knownHosts !== undefined ? [...at, 'knownHosts'] : ['defaults', 'knownHosts']
      problems.push({ line: lineOfPath(p, from), key: dotted(from), message: `known_hosts file ${kp}: ${knownFile}` })
      continue
    }
    const gw: Gateway = {
      name,
      host: own.host,
      port: own.port ?? defaults.port,
      user: own.user ?? defaults.user,
      identityFile,
      knownHosts: knownFile,
      become: own.become ?? defaults.become ?? false,
      jump: own.jump ?? defaults.jump,
      remoteDir: (own.remoteDir ?? defaults.remoteDir ?? DEFAULT_REMOTE_DIR).replace(/\/+$/, ''),
      version: own.version ?? defaults.version ?? inv.release.version,
      pinned: own.version !== undefined || defaults.version !== undefined,
      valuesFile,
      labels: { ...(defaults.labels ?? {}), ...(own.labels ?? {}) },
      source: { file: abs, line },
      ...(absent ? { state: 'absent' as const } : {}),
      ...(inputProblem ? { inputProblem } : {}),
    }
    // Keep the object tidy for deep-equality and JSON: no explicit undefined fields.
    for (const k of Object.keys(gw) as (keyof Gateway)[]) if (gw[k] === undefined) delete gw[k]
    gateways.push(gw)
  }
  problems.push(...sharedHosts(p, gateways))
  const first = inv.rollout?.first
  if (first !== undefined) {
    // A mistyped default canary would silently send a production gateway first: refuse it here.
    try {
      selectGateways(gateways, first)
    } catch (e) {
      if (!(e instanceof InputError)) throw e
      const at = ['rollout', 'first']
      problems.push({ line: lineOfPath(p, at), key: dotted(at), message: e.reason })
    }
  }
  if (problems.length) fail(p, problems)

  // Where the keys that later checks (release folder, versions) may complain about are written.
  const lines: Record<string, number> = {
    'release.dir': lineOfPath(p, ['release', 'dir']),
    'release.version': lineOfPath(p, ['release', 'version']),
  }
  if (first !== undefined) lines['rollout.first'] = lineOfPath(p, ['rollout', 'first'])
  if (defaults.version !== undefined) lines['defaults.version'] = lineOfPath(p, ['defaults', 'version'])
  for (const g of gateways) {
    const at = ['gateways', g.name, 'version']
    if (g.pinned && (parsed.data.gateways[g.name] as {version?: string} | undefined)?.version !== undefined) lines[at.join('.')] = lineOfPath(p, at)
  }
  const hooks = hooksOf(p, inv.hooks)
  return {
    file: abs,
    releaseDir: resolvePath(inv.release.dir, dir, env),
    releaseVersion: inv.release.version,
    gateways,
    lines,
    ...(Object.keys(hooks).length ? {hooks} : {}),
    ...(first !== undefined ? {rolloutFirst: first} : {}),
    ...(inv.rollout?.keepReleases !== undefined ? {keepReleases: inv.rollout.keepReleases} : {}),
  }
}

/** The inventory's hooks, each with its time limit and line. */
function hooksOf(p: ParsedYaml, raw: Record<string, z.infer<typeof hookSchema> | undefined> | undefined): Partial<Record<HookName, Hook>> {
  const hooks: Partial<Record<HookName, Hook>> = {}
  for (const name of HOOK_NAMES) {
    const h = raw?.[name]
    if (h === undefined) continue
    const {command, timeout} = typeof h === 'string' ? {command: h, timeout: undefined} : h
    hooks[name] = {command, timeoutSeconds: timeout === undefined ? HOOK_TIMEOUT_SECONDS : durationSeconds(timeout)!, line: lineOfPath(p, ['hooks', name])}
  }
  return hooks
}
