// The upgrade policy (SPEC section 3) as a pure function: installed, desired and available versions in, a hop plan out.

import {
  compareVersions,
  formatSeries,
  formatVersion,
  isPrereleaseLike,
  parseVersion,
  seriesOf,
  type Series,
  type Version,
} from './version.js'

/** What it takes to bring one host to its desired version; each hop is one full run of that release's installer. */
export type HopPlan =
  | { kind: 'install'; hops: [string] }
  | { kind: 'none'; hops: [] }
  | { kind: 'upgrade'; hops: string[] }
  | { kind: 'refused'; reason: string }

// Past this many, missing series are counted rather than listed.
const MAX_LISTED_MISSING = 20

/** True when one installer run may go straight from `from` to `to` (same series, next minor, or next major's X.0). */
export function allowedHop(from: string, to: string): boolean {
  const a = parseVersion(from)
  const b = parseVersion(to)
  if (!a || !b || compareVersions(b, a) <= 0) return false
  if (b.major === a.major) return b.minor === a.minor || b.minor === a.minor + 1
  return b.major === a.major + 1 && b.minor === 0
}

/** Plans the hops from `installed` (null: no gateway) to `desired` through the releases in `available`. */
export function planHops(installed: string | null, desired: string, available: string[]): HopPlan {
  const want = parseVersion(desired)
  if (!want) return refused(`desired version ${describeInvalid(desired)}`)

  // Highest patch per series, from the parsable entries only.
  const present = new Set<string>()
  const highest = new Map<string, Version>()
  for (const s of available) {
    const v = parseVersion(s)
    if (!v) continue
    present.add(formatVersion(v))
    const key = formatSeries(v)
    const cur = highest.get(key)
    if (!cur || compareVersions(v, cur) > 0) highest.set(key, v)
  }
  const notFound = `release ${desired} not found in the release folder`

  if (installed === null) {
    return present.has(desired) ? { kind: 'install', hops: [desired] } : refused(notFound)
  }

  const from = parseVersion(installed)
  if (!from) return refused(`installed version ${describeInvalid(installed)}; cannot plan an upgrade from it`)

  const order = compareVersions(want, from)
  if (order === 0) return { kind: 'none', hops: [] }
  if (order < 0) return refused(`downgrade from ${installed} to ${desired} is not allowed`)

  const path = seriesOnPath(seriesOf(from), seriesOf(want))
  let presentOnPath = 0
  for (const top of highest.values()) if (path.contains(top)) presentOnPath++
  const missingCount = path.count - presentOnPath

  const hops: string[] = []
  const missing: Series[] = []
  // Bounded even for absurd versions: with nothing missing the path is no longer than the
  // number of series present; otherwise we stop once the missing series to name are found.
  for (let i = 0; i < path.count && missing.length < MAX_LISTED_MISSING; i++) {
    const s = path.at(i)
    const top = highest.get(formatSeries(s))
    if (top) hops.push(formatVersion(top))
    else missing.push(s)
    if (missingCount > 0 && missing.length === missingCount) break
  }

  const reasons: string[] = []
  if (!present.has(desired)) reasons.push(notFound)
  if (missingCount > 0) {
    let names = missing.map(formatSeries).join(', ')
    if (missingCount > missing.length) names += `, and ${missingCount - missing.length} more`
    reasons.push(
      `no release of series ${names} in the release folder (needed to go from ${installed} to ${desired})`,
    )
  }
  if (reasons.length > 0) return refused(reasons.join('; '))

  hops.push(desired)
  return { kind: 'upgrade', hops }
}

/**
 * Every release of `available` that planHops may run on the way to `desired`, whatever version a
 * host has installed (including none), ascending. The installed version only decides the series
 * the way starts from, so one installed version just below each series present covers every way
 * the policy does not refuse. Empty when `desired` is not a release version.
 */
export function hopsToward(desired: string, available: string[]): string[] {
  const want = parseVersion(desired)
  if (!want) return []
  const out = new Set<string>()
  const add = (installed: string | null): void => {
    const plan = planHops(installed, desired, available)
    if (plan.kind === 'install' || plan.kind === 'upgrade') for (const h of plan.hops) out.add(h)
  }
  add(null)
  for (const s of available) {
    const v = parseVersion(s)
    if (!v || compareVersions(v, want) > 0) continue
    // A version in the series just before v's: a way from there starts with v's series.
    if (v.minor > 0) add(formatVersion({ major: v.major, minor: v.minor - 1, patch: 0 }))
    else if (v.major > 0) add(formatVersion({ major: v.major - 1, minor: 0, patch: 0 }))
  }
  return [...out].sort(compareVersions)
}

function refused(reason: string): HopPlan {
  return { kind: 'refused', reason }
}

function describeInvalid(s: string): string {
  const shown = JSON.stringify(s)
  if (isPrereleaseLike(s)) return `${shown} is a pre-release or build version; only release versions X.Y.Z are supported`
  return `${shown} is not a release version X.Y.Z`
}

/**
 * The series strictly between `a` and `d` that a hop-by-hop upgrade must pass:
 * the remaining minors of a's major (only when d is in the same major),
 * X.0 of every major in between, then d's major from .0 up to d's minor.
 */
function seriesOnPath(a: Series, d: Series): { count: number; at(i: number): Series; contains(s: Series): boolean } {
  const sameMajor = a.major === d.major
  const between = d.major - a.major - 1
  const count = sameMajor ? Math.max(0, d.minor - a.minor - 1) : between + d.minor
  return {
    count,
    at(i: number): Series {
      if (sameMajor) return { major: a.major, minor: a.minor + 1 + i }
      if (i < between) return { major: a.major + 1 + i, minor: 0 }
      return { major: d.major, minor: i - between }
    },
    contains(s: Series): boolean {
      if (sameMajor) return s.major === a.major && s.minor > a.minor && s.minor < d.minor
      if (s.major > a.major && s.major < d.major) return s.minor === 0
      return s.major === d.major && s.minor < d.minor
    },
  }
}
