// Renders a gateway's values file for upload: resolves ${env:NAME} and
// ${file:PATH} references, refuses vendor placeholders, type-checks the keys
// the installation guide documents. Errors never contain a resolved value.
// What is uploaded is a canonical rendering of the values' data (keys sorted,
// no comments, one quoting style), so only a change of the data changes its
// sha256: a comment, quoting, key order or whitespace edit deploys nothing.

import { createHash } from 'node:crypto'
import path from 'node:path'
import { isMap, isPair, isSeq, parseDocument, stringify, visit, type Scalar } from 'yaml'
import { z } from 'zod'
import { InputError, formatLocation } from '../errors.js'
import type { RenderedValues } from '../types.js'
import { unknownKeyText, unknownValuesKeys, type UnknownValuesKey } from './vendor-keys.js'
import { SECRET_FILE_LIMIT, VALUES_LIMIT, formatSize, readInputFile } from './input-file.js'
import {
  checkDuplicateKeys,
  dotted,
  issuePath,
  receivedType,
  keyName,
  lineOf,
  lineOfPath,
  MAX_ALIAS_EXPANSION,
  parseYaml,
  type ParsedYaml,
  resolvePath,
  toData,
  type PathSegment,
} from './yaml-util.js'

/** Vendor template placeholders that must be replaced before a deploy. */
export const VENDOR_PLACEHOLDERS = ['REDACTED', 'APHERIS_PROVIDED_TENANT_ID'] as const

const REF_RE = /\$\{(env|file):([^}]*)\}/g
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/

const absPath = z
  .string()
  .refine((s) => s.startsWith('/'), 'expected an absolute path (starting with /)')

const str = z.string().nullish()
const bool = z.boolean().nullish()

// Only the documented keys are checked; everything else passes through.
const valuesSchema = z
  .object({
    tenant: str,
    auth: z
      .object({
        domain: str,
        orchestrator: z.object({ clientId: str, clientSecret: str }).passthrough().nullish(),
      })
      .passthrough()
      .nullish(),
    dal: z
      .object({
        sources: z
          .object({
            files: z.object({ folder: absPath.nullish() }).passthrough().nullish(),
            s3: z.array(z.string()).nullish(),
          })
          .passthrough()
          .nullish(),
        persistence: z
          .object({
            enabled: bool,
            local: z.object({ hostPath: absPath.nullish() }).passthrough().nullish(),
          })
          .passthrough()
          .nullish(),
      })
      .passthrough()
      .nullish(),
    gpu: z.object({ enabled: bool }).passthrough().nullish(),
    cilium: z.object({ enabled: bool, egressToHost: bool }).passthrough().nullish(),
    helmRepoUsername: str,
    helmRepoPassword: str,
  })
  .passthrough()

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  null: 'an empty value',
}

/** The key path of a node from the visitor's ancestor list. */
function pathFromAncestors(ancestors: readonly unknown[], self: unknown): PathSegment[] {
  const out: PathSegment[] = []
  const chain = [...ancestors, self]
  for (let i = 1; i < chain.length; i++) {
    const parent = chain[i - 1]
    const node = chain[i]
    if (isPair(parent)) {
      if (node === parent.value) out.push(keyName(parent.key))
    } else if (isSeq(parent)) {
      out.push(parent.items.indexOf(node as never))
    }
  }
  return out
}

/**
 * A key path as diffs and records name it: `auth.orchestrator.clientSecret`, `dal.sources.s3[0]`,
 * keys other than plain words quoted as JSON (`labels["a.b"]`).
 */
export function keyPath(segments: readonly PathSegment[]): string {
  let out = ''
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`
    else if (/^[A-Za-z0-9_-]+$/.test(s)) out += out === '' ? s : `.${s}`
    else out += `[${JSON.stringify(s)}]`
  }
  return out
}

/** Values as data, and the canonical text of that data with its sha256. */
export interface CanonicalValues {
  data: unknown
  text: string
  sha256: string
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

/**
 * The canonical rendering of a YAML text's data: keys sorted, no comments, anchors expanded, every
 * string double-quoted (so no YAML reader, helm's 1.1 one included, takes "on" or "0777" for
 * anything but a string; keys are quoted where it could). Integers stay exact (no float rounding).
 * Equal data gives equal bytes. A text that is not
 * YAML throws an error that quotes nothing of it (it may hold secrets).
 */
export function canonicalValues(text: string): CanonicalValues {
  const doc = parseDocument(text, { intAsBigInt: true, uniqueKeys: false, prettyErrors: false, logLevel: 'silent' })
  if (doc.errors.length) throw new Error('not valid YAML')
  let data: unknown
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSION })
  } catch {
    throw new Error('not readable YAML (aliases)')
  }
  return canonicalOf(data)
}

/** The canonical text of values data (see canonicalValues). */
export function canonicalOf(data: unknown): CanonicalValues {
  const text = stringify(data, { sortMapEntries: true, lineWidth: 0, version: '1.1', defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' })
  return { data, text, sha256: sha256(text) }
}

/** Integers too large for a float, as written (the parser made them floats): exact again. */
function exactIntegers(p: { doc: { contents: unknown } }): void {
  visit(p.doc as never, {
    Scalar(_key, node) {
      const src = (node as Scalar & { source?: string }).source
      if (typeof node.value === 'number' && !Number.isSafeInteger(node.value) && typeof src === 'string' && /^[-+]?[0-9]+$/.test(src)) node.value = BigInt(src)
    },
  })
}

function hasPlaceholder(s: string): string | undefined {
  return VENDOR_PLACEHOLDERS.find((p) => s.includes(p))
}

/** Largest the values may grow once references are resolved (what is uploaded). */
export const RENDERED_LIMIT = 2 * VALUES_LIMIT

async function resolveRef(
  kind: string,
  arg: string,
  baseDir: string,
  tree: string,
  env: NodeJS.ProcessEnv,
  where: { file: string; line: number; key: string },
): Promise<string> {
  if (kind === 'env') {
    if (!ENV_NAME_RE.test(arg)) throw new InputError(`\${env:${arg}}: not a valid environment variable name`, where)
    const v = env[arg]
    if (v === undefined) throw new InputError(`\${env:${arg}}: environment variable ${arg} is not set`, where)
    return v
  }
  if (arg === '') throw new InputError('${file:}: empty path', where)
  const target = resolvePath(arg, baseDir, env)
  const read = readInputFile(target, { limit: SECRET_FILE_LIMIT, tree })
  if ('why' in read) throw new InputError(`\${file:${arg}}: secret file ${read.why}: ${target}`, where)
  return read.text.replace(/\r?\n$/, '')
}

/** A values file read and parsed, with what resolving its references needs. */
interface OpenedValues {
  abs: string
  text: string
  p: ParsedYaml
  env: NodeJS.ProcessEnv
  /** Relative ${file:} paths start here. */
  baseDir: string
  /** Symbolic links inside this folder must not lead out of it. */
  tree: string
}

/** Read (within the size limit and the inventory's folder) and parse a values file. */
function openValues(file: string, opts: { env?: NodeJS.ProcessEnv; inventory?: string }): OpenedValues {
  const abs = path.resolve(file)
  const tree = path.dirname(path.resolve(opts.inventory ?? abs))
  const read = readInputFile(abs, { limit: VALUES_LIMIT, tree })
  if ('why' in read) throw new InputError(`values file ${read.why}`, { file: abs })
  return { abs, text: read.text, p: parseYaml(abs, read.text), env: opts.env ?? process.env, baseDir: path.dirname(abs), tree }
}

/**
 * Reads a values file and returns its upload-ready text with every reference resolved.
 * `inventory` is the inventory file: symbolic links inside its folder must not lead out of it
 * (the values file's own folder stands in when it is not given).
 */
export async function renderValues(
  file: string,
  opts: { env?: NodeJS.ProcessEnv; inventory?: string } = {},
): Promise<RenderedValues> {
  const { abs, text, p, env, baseDir, tree } = openValues(file, opts)
  // Keys the vendor's guide does not know, found while the file is parsed anyway (references resolve values, not keys).
  const keyWarnings = unknownValuesKeys(p).map(unknownKeyText)
  checkDuplicateKeys(p)
  if (!isMap(p.doc.contents)) {
    throw new InputError('values file must be a YAML mapping', { file: abs, line: lineOf(p, p.doc.contents) || 1 })
  }

  // Collect string scalars first (visit is synchronous; resolution reads files).
  const scalars: { node: Scalar; at: PathSegment[]; isKey: boolean }[] = []
  visit(p.doc, {
    Scalar(_key, node, ancestors) {
      const parent = ancestors[ancestors.length - 1]
      const isKey = isPair(parent) && parent.key === node
      if (typeof node.value === 'string') {
        const at = isKey
          ? [...pathFromAncestors(ancestors.slice(0, -1), parent), keyName(node)]
          : pathFromAncestors(ancestors, node)
        scalars.push({ node, at, isKey })
      }
    },
  })

  const secrets = new Set<string>()
  const secretKeys = new Set<string>()
  // Every reference adds to the upload: bounded in total, not only per file.
  let size = Buffer.byteLength(text)
  for (const { node, at, isKey } of scalars) {
    const raw = node.value as string
    const where = { file: abs, line: lineOf(p, node) || lineOfPath(p, at), key: dotted(at) || '(root)' }
    const ph = hasPlaceholder(raw)
    if (ph) {
      throw new InputError(`vendor placeholder ${ph} must be replaced with this gateway's real value`, where)
    }
    if (isKey) continue
    const refs = [...raw.matchAll(REF_RE)]
    if (refs.length === 0) continue
    let out = ''
    let last = 0
    const resolved: string[] = []
    for (const m of refs) {
      const value = await resolveRef(m[1]!, m[2]!, baseDir, tree, env, where)
      size += Buffer.byteLength(value)
      if (size > RENDERED_LIMIT) {
        throw new InputError(`the references make the values larger than the ${formatSize(RENDERED_LIMIT)} limit`, where)
      }
      out += raw.slice(last, m.index) + value
      last = m.index! + m[0].length
      resolved.push(value)
    }
    out += raw.slice(last)
    for (const v of resolved) if (v !== '') secrets.add(v)
    secretKeys.add(keyPath(at))
    if (out !== '' && out !== raw) secrets.add(out)
    if (hasPlaceholder(out)) {
      throw new InputError(`a referenced value still holds a vendor placeholder (${hasPlaceholder(out)})`, where)
    }
    node.value = out
    // Double quotes escape anything a secret may hold (": #", quotes, newlines).
    node.type = 'QUOTE_DOUBLE'
  }

  const data = toData(p) as Record<string, unknown>
  // reportInput: the words of a type error name the type of the value given (never the value).
  const checked = valuesSchema.safeParse(data, { reportInput: true })
  if (!checked.success) {
    const issue = [...checked.error.issues].sort((a, b) => lineOfPath(p, issuePath(a.path)) - lineOfPath(p, issuePath(b.path)))[0]!
    const at = issuePath(issue.path)
    let message = issue.message
    if (issue.code === 'invalid_type') {
      const received = receivedType(issue.input, issue.expected)
      message = `expected ${TYPE_WORDS[issue.expected] ?? issue.expected}, got ${TYPE_WORDS[received] ?? received}`
    }
    throw new InputError(message, { file: abs, line: lineOfPath(p, at), key: dotted(at) })
  }
  const v = checked.data

  // What earlier versions uploaded: the file's own text with the references resolved. Its hash
  // is what hosts deployed by them carry, so they can be migrated without a reinstall.
  const legacy = p.doc.toString({ lineWidth: 0 })
  exactIntegers(p)
  const canonical = canonicalOf(toData(p))
  const out: RenderedValues = {
    file: abs,
    text: canonical.text,
    data: canonical.data,
    sha256: canonical.sha256,
    legacySha256: sha256(legacy),
    secretKeys: [...secretKeys].sort(),
    secrets: [...secrets],
    ciliumEnabled: v.cilium?.enabled !== false,
    keyWarnings,
  }
  const folder = v.dal?.sources?.files?.folder
  if (typeof folder === 'string') out.datasetsFolder = folder
  const hostPath = v.dal?.persistence?.local?.hostPath
  if (typeof hostPath === 'string') out.dalStoragePath = hostPath
  return out
}


/**
 * The keys of a values file that the vendor's installation guide does not document (see
 * vendor-keys.ts), each with file, line and the documented key it probably means. Reads and parses
 * the file as renderValues does, and resolves no reference.
 */
export function valuesKeyWarnings(file: string, opts: { inventory?: string } = {}): UnknownValuesKey[] {
  return unknownValuesKeys(openValues(file, opts).p)
}

/**
 * The environment variables any of these values files names in `${env:NAME}` (read as text, so a
 * file that does not parse still gives its names; one that cannot be read gives none). What hooks
 * must never see: the secrets of every gateway of the inventory, selected for this run or not.
 */
export function envReferenceNames(files: Iterable<string>): Set<string> {
  const names = new Set<string>()
  for (const f of new Set(files)) {
    const read = readInputFile(f, { limit: VALUES_LIMIT })
    if (!('text' in read)) continue
    for (const m of read.text.matchAll(REF_RE)) if (m[1] === 'env') names.add(m[2]!.trim())
  }
  return names
}

/** One ${env:}/${file:} reference of a values file and whether it resolves now; never its value. */
export interface ValuesReference {
  /** The reference as written, e.g. `${env:GW_CLIENT_SECRET}`. */
  ref: string
  line: number
  key: string
  resolvable: boolean
  /** Why it does not resolve (names the variable or file, never a value). */
  problem?: string
}

/**
 * Every secret reference in a values file, each tried the way renderValues resolves it, so a
 * check can say which resolve and which do not; resolved values are dropped at once.
 * A file that cannot be read or parsed throws InputError, as renderValues does.
 */
export async function valuesReferences(
  file: string,
  opts: { env?: NodeJS.ProcessEnv; inventory?: string } = {},
): Promise<ValuesReference[]> {
  const { abs, p, env, baseDir, tree } = openValues(file, opts)
  const found: { raw: string; where: { file: string; line: number; key: string } }[] = []
  visit(p.doc, {
    Scalar(_key, node, ancestors) {
      const parent = ancestors[ancestors.length - 1]
      if (typeof node.value !== 'string' || (isPair(parent) && parent.key === node)) return
      const at = pathFromAncestors(ancestors, node)
      found.push({ raw: node.value, where: { file: abs, line: lineOf(p, node) || lineOfPath(p, at), key: dotted(at) || '(root)' } })
    },
  })
  const out: ValuesReference[] = []
  for (const { raw, where } of found) {
    for (const m of raw.matchAll(REF_RE)) {
      const entry: ValuesReference = { ref: m[0], line: where.line, key: where.key, resolvable: true }
      try {
        await resolveRef(m[1]!, m[2]!, baseDir, tree, env, where)
      } catch (e) {
        if (!(e instanceof InputError)) throw e
        entry.resolvable = false
        // The location is reported beside the reference; keep the reason only.
        entry.problem = e.location ? e.message.slice(formatLocation(e.location).length + 2) : e.message
      }
      out.push(entry)
    }
  }
  return out
}
