// Release versions: strict X.Y.Z (no pre-release, no build metadata), series and ordering.

/** A parsed release version. */
export interface Version {
  major: number
  minor: number
  patch: number
}

/** A minor series (X.Y), the unit the upgrade policy hops between. */
export interface Series {
  major: number
  minor: number
}

// The one semver core: three numbers without leading zeros.
const CORE = '(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)'
const STRICT = new RegExp(`^${CORE}$`)
/** The JSON Schema (ECMA-262) pattern of a release version, for editors. */
export const VERSION_PATTERN = STRICT.source
// Same shape but with any pre-release/build suffix, only to word refusals better.
const SEMVER_WITH_SUFFIX = new RegExp(`^${CORE}[-+]`)
// The tag of an image reference as the cluster reports it (`repo/agent:1.5.0`); suffixes are kept so
// policy can refuse them by name.
const IMAGE_TAG = /:(\d+\.\d+\.\d+[^\s:@]*)\s*$/

/** Parses strict `X.Y.Z` (no leading zeros, no pre-release or build); anything else is null. */
export function parseVersion(s: string): Version | null {
  if (typeof s !== 'string') return null
  const m = STRICT.exec(s)
  if (!m) return null
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])]
  if (![major, minor, patch].every(Number.isSafeInteger)) return null
  return { major, minor, patch }
}

/** The version-like tag of an image reference (`quay.io/x/agent:1.5.0` -> `1.5.0`), or null when it has none. */
export function imageTagVersion(image: string): string | null {
  return IMAGE_TAG.exec(image)?.[1] ?? null
}

/** True when `s` looks like semver with a pre-release or build suffix (e.g. `1.5.0-rc1`). */
export function isPrereleaseLike(s: string): boolean {
  return typeof s === 'string' && SEMVER_WITH_SUFFIX.test(s)
}

/** Orders versions: negative when a < b, 0 when equal, positive when a > b. Strings must be valid X.Y.Z. */
export function compareVersions(a: Version | string, b: Version | string): number {
  const x = toVersion(a)
  const y = toVersion(b)
  return x.major - y.major || x.minor - y.minor || x.patch - y.patch
}

/** `X.Y.Z` text of a version. */
export function formatVersion(v: Version): string {
  return `${v.major}.${v.minor}.${v.patch}`
}

/** The minor series a version belongs to. */
export function seriesOf(v: Version): Series {
  return { major: v.major, minor: v.minor }
}

/** `X.Y` text of a series (accepts a version too). */
export function formatSeries(s: Series): string {
  return `${s.major}.${s.minor}`
}

/** Orders series like compareVersions orders versions. */
export function compareSeries(a: Series, b: Series): number {
  return a.major - b.major || a.minor - b.minor
}

/** True when both are in the same minor series. */
export function sameSeries(a: Series, b: Series): boolean {
  return a.major === b.major && a.minor === b.minor
}

function toVersion(v: Version | string): Version {
  if (typeof v !== 'string') return v
  const p = parseVersion(v)
  // Callers compare only versions they already validated; an invalid one here is a bug.
  if (!p) throw new TypeError(`not a release version (X.Y.Z): ${JSON.stringify(v)}`)
  return p
}
