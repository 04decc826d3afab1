// The values.yaml keys the vendor's installation guide documents ("Deploying using the Installer":
// its Configuration section, the example values.yaml and the Optional subsections), as data, and
// the check that names keys it does not know. Such a key is a warning, not an error: the chart may
// know keys the guide leaves out, and gwfleet passes every key through. A typo such as
// `auth.domian` is still caught before a deploy sends it, with the key probably meant.
import { isAlias, isMap, isPair, type Node } from 'yaml'

import { distance } from '../util/distance.js'
import { dotted, keyName, lineOf, type ParsedYaml, type PathSegment } from './yaml-util.js'

/** A key whose value the guide documents as one value (or a list of them): nothing below it is checked. */
export const LEAF = 'leaf'
/** A key whose contents the guide leaves to another document: any key below it is fine. */
export const FREE_FORM = 'free-form'

/** Known keys and what is below each. */
export type KeyTree = { [key: string]: KeyTree | typeof LEAF | typeof FREE_FORM }

/** The guide's values.yaml keys, with the section each comes from. */
export const VENDOR_VALUES_KEYS: KeyTree = {
  // "Example": the complete example values.yaml
  tenant: LEAF,
  auth: {
    domain: LEAF,
    orchestrator: { clientId: LEAF, clientSecret: LEAF },
  },
  helmRepoUsername: LEAF,
  helmRepoPassword: LEAF,
  dal: {
    sources: {
      // "Local filesystem": the root folder of the datasets
      files: { folder: LEAF },
      // "External S3 bucket": a list of bucket names
      s3: LEAF,
    },
    // "Optional: Enabling DAL storage"
    persistence: { enabled: LEAF, local: { hostPath: LEAF } },
  },
  // "Optional: Disabling Cilium" and its note on egressToHost
  cilium: { enabled: LEAF, egressToHost: LEAF },
  // "Optional: Enabling NVIDIA GPU"
  gpu: { enabled: LEAF },
  // "HTTP proxy": the guide refers to the Helm chart's README (its Proxies section) for these.
  proxy: FREE_FORM,
}

/** A values key the guide does not document. */
export interface UnknownValuesKey {
  /** The file it is in, as given. */
  file: string
  line: number
  /** Its dotted path (`auth.domian`). */
  key: string
  /** The documented key it is probably a typo of (`auth.domain`), when one is close. */
  suggestion?: string
}

/** "file:line (key): ..." as the other input warnings read. */
export function unknownKeyText(u: UnknownValuesKey): string {
  return `${u.file}:${u.line} (${u.key}): not a key of the vendor installation guide${u.suggestion ? `; did you mean ${u.suggestion}?` : ''}`
}

/** Every dotted key path the tree knows, each with its last segment. */
function knownPaths(tree: KeyTree, at: string[] = []): { path: string; last: string }[] {
  return Object.entries(tree).flatMap(([k, v]) => {
    const here = [...at, k]
    const mine = { path: here.join('.'), last: k }
    return typeof v === 'string' ? [mine] : [mine, ...knownPaths(v, here)]
  })
}

/**
 * How far a typed key is from a known one, when close enough to be a typo of it (the rule of the
 * command and inventory-key suggestions, and never a whole word replaced); a case slip is nearly free.
 */
function near(typed: string, known: string, most = Math.max(2, Math.floor(typed.length / 3))): number | undefined {
  const d = typed.toLowerCase() === known.toLowerCase() ? 0.5 : distance(typed.toLowerCase(), known.toLowerCase())
  return d <= most && d < typed.length ? d : undefined
}

/**
 * The documented key an unknown one probably means: a sibling close to it (`auth.domian` →
 * `auth.domain`), else a key of that name (or close to it) elsewhere in the tree, for one put at the
 * wrong level (`domain` → `auth.domain`).
 */
function suggestionFor(key: string, at: PathSegment[], siblings: KeyTree, tree: KeyTree): string | undefined {
  const prefix = at.length ? `${dotted(at)}.` : ''
  let best: { name: string; d: number } | undefined
  for (const k of Object.keys(siblings)) {
    const d = near(key, k)
    if (d !== undefined && (!best || d < best.d)) best = { name: `${prefix}${k}`, d }
  }
  if (best) return best.name
  // Elsewhere in the tree only a near miss counts: one edit at most.
  for (const p of knownPaths(tree)) {
    const d = near(key, p.last, 1)
    if (d !== undefined && (!best || d < best.d)) best = { name: p.path, d }
  }
  return best?.name
}

/**
 * The keys of a parsed values file that the guide does not document, in file order. Below a
 * documented single value, a free-form key or an unknown key nothing more is reported (the unknown
 * key is the one to fix); aliases are followed, and YAML merge keys (`<<`) are left alone.
 */
export function unknownValuesKeys(p: ParsedYaml, tree: KeyTree = VENDOR_VALUES_KEYS): UnknownValuesKey[] {
  const out: UnknownValuesKey[] = []
  const walk = (node: unknown, known: KeyTree, at: PathSegment[]): void => {
    const map = isAlias(node) ? node.resolve(p.doc) : node
    if (!isMap(map)) return
    for (const pair of map.items) {
      if (!isPair(pair)) continue
      const key = keyName(pair.key)
      if (key === '<<') continue
      const below = known[key]
      if (below === undefined) {
        const suggestion = suggestionFor(key, at, known, tree)
        out.push({ file: p.file, line: lineOf(p, pair.key) || lineOf(p, pair.value), key: dotted([...at, key]), ...(suggestion ? { suggestion } : {}) })
      } else if (typeof below !== 'string') walk(pair.value as Node, below, [...at, key])
    }
  }
  walk(p.doc.contents, tree, [])
  return out
}
