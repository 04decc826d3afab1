// The --limit selector: which gateways a command works on.
// Terms: name, glob on names (`eu-*`, `gw-?`), label=value (value may be a glob), `!term` excludes,
// and `@name` terms the caller resolves to a set of names (`@failed`: from the run history).

import { InputError } from '../errors.js'
import type { Gateway } from '../types.js'
import { hasWildcard, wildcardMatch } from '../util/glob.js'
import { closest } from '../util/distance.js'

const LIMIT = { file: '--limit' }

type Matcher = (gw: Gateway) => boolean

interface Term {
  exclude: boolean
  text: string
  match: Matcher
  /** A plain name must name a gateway; globs and labels may match none. */
  plainName?: string
}

/** Resolves an `@...` term to the gateway names it stands for; throws an InputError when it cannot. */
export type SetLookup = (term: string) => Set<string>

function parseTerm(raw: string, lookup: SetLookup | undefined, WHERE: { file: string }): Term {
  const term = raw.trim()
  const exclude = term.startsWith('!')
  const body = exclude ? term.slice(1).trim() : term
  if (body === '') throw new InputError(`empty term in "${raw}"`, WHERE)
  if (body.startsWith('@')) {
    if (!lookup) throw new InputError(`"${body}" is not a selector this command knows`, WHERE)
    const names = lookup(body)
    return { exclude, text: term, match: (gw) => names.has(gw.name) }
  }
  const eq = body.indexOf('=')
  if (eq >= 0) {
    const key = body.slice(0, eq).trim()
    const value = body.slice(eq + 1).trim()
    if (key === '' || value === '') throw new InputError(`malformed label term "${term}": expected name=value`, WHERE)
    return { exclude, text: term, match: (gw) => gw.labels[key] !== undefined && wildcardMatch(gw.labels[key], value) }
  }
  if (hasWildcard(body)) {
    return { exclude, text: term, match: (gw) => wildcardMatch(gw.name, body) }
  }
  return { exclude, text: term, match: (gw) => gw.name === body, plainName: body }
}

/**
 * Applies a --limit selector (names, globs, label=value, `!term` excludes) to the
 * inventory's gateways, keeping inventory order. Undefined selects all.
 */
export function selectGateways(gateways: Gateway[], limit: string | undefined, lookup?: SetLookup, WHERE: { file: string } = LIMIT): Gateway[] {
  if (limit === undefined) return [...gateways]
  if (limit.trim() === '') throw new InputError('selector is empty', WHERE)
  const terms = limit.split(',').map((t) => parseTerm(t, lookup, WHERE))
  for (const t of terms) {
    if (t.plainName !== undefined && !gateways.some(t.match)) {
      const hint = closest(
        t.plainName,
        gateways.map((g) => g.name),
      )
      throw new InputError(`no gateway named "${t.plainName}"${hint ? ` (did you mean "${hint}"?)` : ''}`, WHERE)
    }
  }
  const includes = terms.filter((t) => !t.exclude)
  const excludes = terms.filter((t) => t.exclude)
  const selected = gateways.filter(
    (gw) => (includes.length === 0 || includes.some((t) => t.match(gw))) && !excludes.some((t) => t.match(gw)),
  )
  if (selected.length === 0) throw new InputError(`"${limit}" selects no gateway`, WHERE)
  return selected
}

/**
 * --first (or the inventory's rollout.first): the names, among the selected gateways, that the
 * selector picks, in inventory order. The selector is checked against the whole inventory (a
 * mistyped name is an error), but it may pick none of the selected gateways.
 */
export function firstNames(all: Gateway[], selected: Gateway[], selector: string, where: { file: string }): string[] {
  const picked = new Set(selectGateways(all, selector, undefined, where).map((g) => g.name))
  return selected.filter((g) => picked.has(g.name)).map((g) => g.name)
}
