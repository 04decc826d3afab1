// The one wildcard matcher: ssh_config Host patterns, known_hosts patterns, Include paths and --limit globs.

/**
 * Whole-string match of `pattern` against `s`: `*` matches any run (also empty), `?` exactly one
 * character, everything else itself. Case-sensitive; negation and case folding are the caller's.
 */
export function wildcardMatch(s: string, pattern: string): boolean {
  let si = 0
  let pi = 0
  // Where the last `*` was, and how much of `s` it has swallowed so far: on a mismatch it takes one more.
  let starP = -1
  let starS = 0
  while (si < s.length) {
    const pc = pattern[pi]
    if (pc === '*') {
      starP = pi++
      starS = si
    } else if (pc !== undefined && (pc === '?' || pc === s[si])) {
      pi++
      si++
    } else if (starP >= 0) {
      pi = starP + 1
      si = ++starS
    } else {
      return false
    }
  }
  while (pattern[pi] === '*') pi++
  return pi === pattern.length
}

/** True when `s` has a wildcard (`*` or `?`) in it. */
export function hasWildcard(s: string): boolean {
  return /[*?]/.test(s)
}
