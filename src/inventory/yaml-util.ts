// Shared helpers for the inventory and values loaders: YAML parsing with
// positions, locating dotted keys, duplicate-key checks, path expansion.

import path from 'node:path'
import {
  LineCounter,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  parseDocument,
  type Document,
  type Pair,
  type YAMLMap,
} from 'yaml'
import { InputError } from '../errors.js'
import { expandHome, homeDir } from '../util/local.js'

/** A parsed YAML file together with what is needed to turn offsets into line numbers. */
export interface ParsedYaml {
  file: string
  doc: Document.Parsed
  lines: LineCounter
}

/** One segment of a key path: a map key or a sequence index. */
export type PathSegment = string | number

/**
 * Most nodes that aliases (`*name`) may add to a document once expanded. A few thousand gateways
 * sharing `labels: *eu` stay far below it; a "billion laughs" document (aliases of aliases,
 * growing tenfold per level) does not.
 */
export const MAX_ALIAS_EXPANSION = 100_000

/** Deepest nesting of mappings and lists a document may have. */
export const MAX_DEPTH = 64

/** Parses YAML text keeping positions; syntax errors become InputError with file and line (never the text). */
export function parseYaml(file: string, text: string): ParsedYaml {
  const lines = new LineCounter()
  // uniqueKeys off: duplicates are reported by checkDuplicateKeys, which names both lines.
  // logLevel error: the library's warnings (which quote the text) never reach the terminal.
  let doc: Document.Parsed
  try {
    doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false, logLevel: 'error' })
  } catch (e) {
    throw new InputError(`cannot read the YAML: ${firstLine((e as Error).message)}`, { file, line: 1 })
  }
  const err = doc.errors[0]
  if (err) {
    let line = lines.linePos(err.pos[0]).line
    // An unclosed quote is noticed at the end of the file; name the line where it opens.
    const q = /Missing closing (["'])?(\w*)\s*quote/i.exec(err.message)
    if (q) line = openingQuoteLine(text, line, err.message.includes("'") && !err.message.includes('"') ? "'" : '"') ?? line
    throw new InputError(`YAML syntax error: ${firstLine(err.message)}`, { file, line })
  }
  const p = { file, doc, lines }
  checkShape(p)
  return p
}

/**
 * Refuses what would make reading the document loop, recurse without end or grow without
 * bound, naming the line and key: aliases without an anchor before them, an alias inside the
 * node it names, aliases expanding past MAX_ALIAS_EXPANSION nodes, nesting past MAX_DEPTH, and
 * keys that are mappings, lists or aliases (no operator needs them; they only hide text).
 */
function checkShape(p: ParsedYaml): void {
  // Per anchor name: the size of the node it last named, or 'open' while that node is being walked.
  const anchors = new Map<string, number | 'open'>()
  let added = 0
  const refuse = (message: string, node: unknown, at: PathSegment[]): never => {
    throw new InputError(message, { file: p.file, line: lineOf(p, node) || 1, key: dotted(at) || undefined })
  }
  const size = (node: unknown, at: PathSegment[], depth: number): number => {
    if (isAlias(node)) {
      const known = anchors.get(node.source)
      if (known === undefined) refuse(`alias *${node.source} has no anchor &${node.source} before it`, node, at)
      if (known === 'open') refuse(`alias *${node.source} is inside the node it names (a loop)`, node, at)
      added += known as number
      if (added > MAX_ALIAS_EXPANSION) {
        refuse(`aliases expand to more than ${MAX_ALIAS_EXPANSION} nodes (a "billion laughs" document?); write the values out instead`, node, at)
      }
      return known as number
    }
    if (depth > MAX_DEPTH) refuse(`nested more than ${MAX_DEPTH} levels deep`, node, at)
    const anchor = (node as { anchor?: string } | null)?.anchor
    if (anchor !== undefined) anchors.set(anchor, 'open')
    let n = 1
    if (isMap(node)) {
      for (const pair of node.items) {
        if (pair.key !== null && !isScalar(pair.key)) refuse('a key must be a plain value, not a mapping, list or alias', pair.key, at)
        const k = [...at, keyName(pair.key)]
        n += (pair.key === null ? 1 : size(pair.key, k, depth + 1)) + size(pair.value, k, depth + 1)
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => (n += size(item, [...at, i], depth + 1)))
    }
    if (anchor !== undefined) anchors.set(anchor, n)
    return n
  }
  size(p.doc.contents, [], 0)
}

/**
 * The document as plain data. Aliases are bounded by checkShape already; the library's own
 * limit is a second guard, and any failure here is still bad input with the file named.
 */
export function toData(p: ParsedYaml): unknown {
  try {
    return p.doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSION })
  } catch (e) {
    throw new InputError(`cannot read the YAML: ${firstLine((e as Error).message)}`, { file: p.file, line: lineOf(p, p.doc.contents) || 1 })
  }
}

/** The last line at or before `upTo` holding an odd number of `quote` characters (unescaped). */
function openingQuoteLine(text: string, upTo: number, quote: string): number | undefined {
  const rows = text.split('\n')
  for (let i = Math.min(upTo, rows.length) - 1; i >= 0; i--) {
    const row = quote === '"' ? rows[i]!.replace(/\\./g, '') : rows[i]!.replace(/''/g, '')
    if ((row.split(quote).length - 1) % 2 === 1) return i + 1
  }
  return undefined
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
}

/** 1-based line of a node's start, or 0 when it has no position. */
export function lineOf(p: ParsedYaml, node: unknown): number {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range
  if (!range) return 0
  return p.lines.linePos(range[0]).line
}

/** Renders a key path the way operators write it: `gateways.boston-1.port`, `dal.sources.s3[0]`. */
export function dotted(segments: readonly PathSegment[]): string {
  let s = ''
  for (const seg of segments) {
    if (typeof seg === 'number') s += `[${seg}]`
    else s += s === '' ? seg : `.${seg}`
  }
  return s
}

/** The string form of a map key node (scalar keys only; others get their YAML text). */
export function keyName(key: unknown): string {
  if (isScalar(key)) return String(key.value)
  return String(key)
}

function findPair(map: YAMLMap, key: PathSegment): Pair | undefined {
  for (const item of map.items) {
    if (isPair(item) && keyName(item.key) === String(key)) return item as Pair
  }
  return undefined
}

/**
 * Line where a key path is declared: the line of the deepest key that exists
 * along the path (for a missing key, the line of its parent's key).
 */
export function lineOfPath(p: ParsedYaml, segments: readonly PathSegment[]): number {
  let node: unknown = p.doc.contents
  let line = lineOf(p, node) || 1
  for (const seg of segments) {
    if (isAlias(node)) node = node.resolve(p.doc)
    if (isMap(node)) {
      const pair = findPair(node, seg)
      if (!pair) break
      line = lineOf(p, pair.key) || lineOf(p, pair.value) || line
      node = pair.value
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg]
      if (item === undefined) break
      line = lineOf(p, item) || line
      node = item
    } else {
      break
    }
  }
  return line
}

/**
 * Rejects duplicate keys in any mapping, naming both lines. `describe` lets the
 * caller phrase particular maps (e.g. "duplicate gateway name").
 */
export function checkDuplicateKeys(
  p: ParsedYaml,
  describe: (parent: readonly PathSegment[], key: string) => string = (_parent, key) => `duplicate key "${key}"`,
): void {
  const walk = (node: unknown, at: PathSegment[]): void => {
    if (isMap(node)) {
      const seen = new Map<string, number>()
      for (const item of node.items) {
        const name = keyName(item.key)
        const line = lineOf(p, item.key)
        const first = seen.get(name)
        if (first !== undefined) {
          throw new InputError(`${describe(at, name)} (lines ${first} and ${line})`, {
            file: p.file,
            line,
            key: dotted([...at, name]),
          })
        }
        seen.set(name, line)
        walk(item.value, [...at, name])
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...at, i]))
    }
  }
  walk(p.doc.contents, [])
}

/** Resolves a workstation path: `~` expanded, relative paths taken from `baseDir`. */
export function resolvePath(p: string, baseDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(baseDir, expandHome(p, homeDir(env)))
}



/** True when the string holds whitespace or control characters. */
export function hasSpaceOrControl(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\s\x00-\x1f\x7f]/.test(s)
}

/**
 * The type of a value a schema refused, in zod 3's words ('float' for a fraction where an integer
 * was expected): zod 4's issues carry the value (with `reportInput`), not its type.
 */
export function receivedType(input: unknown, expected?: string): string {
  if (input === undefined) return 'undefined'
  if (input === null) return 'null'
  if (Array.isArray(input)) return 'array'
  if (input instanceof Date) return 'date'
  if (typeof input === 'number') return Number.isNaN(input) ? 'nan' : expected === 'int' && !Number.isInteger(input) ? 'float' : 'number'
  return typeof input
}

/** A zod issue's path as the YAML helpers read it (zod 4 allows symbols, which YAML keys never are). */
export function issuePath(path: readonly PropertyKey[]): PathSegment[] {
  return path.filter((k): k is string | number => typeof k !== 'symbol')
}
