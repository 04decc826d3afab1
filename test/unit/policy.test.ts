import { describe, expect, it } from 'vitest'

import { allowedHop, planHops, type HopPlan } from '../../src/release/policy.js'
import { compareVersions, formatSeries, parseVersion } from '../../src/release/version.js'

// ---------- an oracle written independently of policy.ts ----------

type V = [number, number, number]
const v = (s: string): V => s.split('.').map(Number) as V
const cmp = (a: string, b: string): number => {
  const [x, y] = [v(a), v(b)]
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]
}
const series = (s: string): string => s.split('.').slice(0, 2).join('.')

// SPEC 3: B > A and B in A's series, A's next minor, or the next major's .0 series.
function oracleAllowed(a: string, b: string): boolean {
  if (cmp(b, a) <= 0) return false
  const [A, B] = [v(a), v(b)]
  if (A[0] === B[0]) return B[1] - A[1] <= 1
  return B[0] === A[0] + 1 && B[1] === 0
}

// Shortest chain of allowed hops through `set` from `a` to `b`, by breadth-first search; null when none.
function shortestChainLength(a: string, b: string, set: string[]): number | null {
  const dist = new Map<string, number>([[a, 0]])
  const queue = [a]
  while (queue.length) {
    const cur = queue.shift()!
    if (cur === b) return dist.get(cur)!
    for (const n of set) {
      if (!dist.has(n) && oracleAllowed(cur, n)) {
        dist.set(n, dist.get(cur)! + 1)
        queue.push(n)
      }
    }
  }
  return null
}

const FULL = ['1.3.0', '1.3.1', '1.4.0', '1.4.1', '1.4.2', '1.5.0', '1.5.1', '1.6.0', '1.7.0', '2.0.0', '2.0.1', '2.1.0']

// Deterministic pseudo-random subsets (mulberry32) so failures reproduce.
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const random = rng(20240611)
const SETS: Record<string, string[]> = {
  full: FULL,
  'without 1.5': FULL.filter((x) => series(x) !== '1.5'),
  'without 2.0': FULL.filter((x) => series(x) !== '2.0'),
  'without 1.4 and 1.6': FULL.filter((x) => !['1.4', '1.6'].includes(series(x))),
  'only .0 patches': FULL.filter((x) => x.endsWith('.0')),
  'with junk': [...FULL, 'latest', '1.8.0-rc1', '01.2.3', 'v2.2.0', ''],
}
for (let i = 0; i < 12; i++) SETS[`random #${i}`] = FULL.filter(() => random() < 0.6)

function checkAgainstOracle(installed: string, desired: string, available: string[], plan: HopPlan): void {
  const avail = available.filter((x) => parseVersion(x) !== null)
  const ctx = `${installed} -> ${desired} with [${avail.join(',')}]: ${JSON.stringify(plan)}`
  const order = cmp(desired, installed)
  if (order === 0) {
    expect(plan, ctx).toEqual({ kind: 'none', hops: [] })
    return
  }
  if (order < 0) {
    expect(plan, ctx).toEqual({ kind: 'refused', reason: `downgrade from ${installed} to ${desired} is not allowed` })
    return
  }
  // A chain exists iff desired is present and every series the walk must cross holds a release.
  const reachable = avail.includes(desired) && shortestChainLength(installed, desired, avail) !== null
  if (!reachable) {
    expect(plan.kind, ctx).toBe('refused')
    if (plan.kind !== 'refused') return
    if (!avail.includes(desired)) expect(plan.reason, ctx).toContain(`release ${desired} not found in the release folder`)
    // Series the oracle knows must be crossed and are absent are each named.
    const needed = neededSeries(installed, desired)
    const missing = needed.filter((s) => !avail.some((x) => series(x) === s))
    if (missing.length) {
      expect(plan.reason, ctx).toContain('in the release folder (needed to go from')
      for (const s of missing) expect(plan.reason, ctx).toMatch(new RegExp(`series [0-9., ]*\\b${s.replace('.', '\\.')}\\b`))
    } else {
      expect(plan.reason, ctx).not.toContain('no release of series')
    }
    return
  }
  expect(plan.kind, ctx).toBe('upgrade')
  if (plan.kind !== 'upgrade') return
  expect(plan.hops.at(-1), ctx).toBe(desired)
  let prev = installed
  for (const h of plan.hops) {
    expect(avail, ctx).toContain(h)
    expect(cmp(h, prev), ctx).toBeGreaterThan(0)
    expect(oracleAllowed(prev, h), ctx).toBe(true)
    expect(allowedHop(prev, h), ctx).toBe(true)
    prev = h
  }
  // No wasted installer runs: as short as any chain, and intermediate hops take their series' highest patch.
  expect(plan.hops.length, ctx).toBe(shortestChainLength(installed, desired, avail))
  for (const h of plan.hops.slice(0, -1)) {
    const top = avail.filter((x) => series(x) === series(h)).sort(cmp).at(-1)
    expect(h, ctx).toBe(top)
  }
}

// The series strictly between installed's and desired's that any chain must touch (oracle's own derivation).
function neededSeries(a: string, b: string): string[] {
  const [A, B] = [v(a), v(b)]
  const out: string[] = []
  if (A[0] === B[0]) for (let m = A[1] + 1; m < B[1]; m++) out.push(`${A[0]}.${m}`)
  else {
    for (let M = A[0] + 1; M < B[0]; M++) out.push(`${M}.0`)
    for (let m = 0; m < B[1]; m++) out.push(`${B[0]}.${m}`)
  }
  return out
}

describe('planHops against the oracle, every ordered pair', () => {
  for (const [name, available] of Object.entries(SETS)) {
    it(`release set: ${name}`, () => {
      let checked = 0
      for (const installed of FULL) {
        for (const desired of FULL) {
          checkAgainstOracle(installed, desired, available, planHops(installed, desired, available))
          checked++
        }
      }
      expect(checked).toBe(FULL.length * FULL.length)
    })
  }

  it('no gateway installed: install directly when present, else refused', () => {
    for (const [, available] of Object.entries(SETS)) {
      for (const desired of FULL) {
        const expected: HopPlan = available.includes(desired)
          ? { kind: 'install', hops: [desired] }
          : { kind: 'refused', reason: `release ${desired} not found in the release folder` }
        expect(planHops(null, desired, available)).toEqual(expected)
      }
    }
  })

  it('the full realistic set never refuses an upgrade', () => {
    for (const a of FULL) for (const b of FULL) {
      if (cmp(b, a) > 0) expect(planHops(a, b, FULL).kind).toBe('upgrade')
    }
  })
})

describe('planHops table', () => {
  const cases: { name: string; installed: string | null; desired: string; available: string[]; expected: HopPlan }[] = [
    {
      name: 'series by series, highest patch of the series in between',
      installed: '1.4.0', desired: '1.6.0', available: ['1.5.0', '1.5.1', '1.6.0'],
      expected: { kind: 'upgrade', hops: ['1.5.1', '1.6.0'] },
    },
    {
      name: 'patch within the series is one hop',
      installed: '1.4.0', desired: '1.4.2', available: ['1.4.1', '1.4.2'],
      expected: { kind: 'upgrade', hops: ['1.4.2'] },
    },
    {
      name: 'next minor is one hop',
      installed: '1.4.2', desired: '1.5.0', available: ['1.5.0'],
      expected: { kind: 'upgrade', hops: ['1.5.0'] },
    },
    {
      name: 'missing series in between is refused, naming it',
      installed: '1.4.0', desired: '1.6.0', available: ['1.4.0', '1.6.0'],
      expected: { kind: 'refused', reason: 'no release of series 1.5 in the release folder (needed to go from 1.4.0 to 1.6.0)' },
    },
    {
      name: 'every missing series is named',
      installed: '1.3.0', desired: '1.7.0', available: ['1.5.0', '1.7.0'],
      expected: { kind: 'refused', reason: 'no release of series 1.4, 1.6 in the release folder (needed to go from 1.3.0 to 1.7.0)' },
    },
    {
      name: 'crossing a major from any minor goes through X+1.0',
      installed: '1.7.2', desired: '2.1.0', available: ['1.8.0', '2.0.0', '2.0.3', '2.1.0'],
      expected: { kind: 'upgrade', hops: ['2.0.3', '2.1.0'] },
    },
    {
      name: 'crossing two majors touches each X.0',
      installed: '1.2.3', desired: '3.1.0', available: ['2.0.0', '2.5.0', '3.0.1', '3.1.0'],
      expected: { kind: 'upgrade', hops: ['2.0.0', '3.0.1', '3.1.0'] },
    },
    {
      name: 'missing X+1.0 is refused',
      installed: '1.9.0', desired: '2.1.0', available: ['1.9.1', '2.1.0'],
      expected: { kind: 'refused', reason: 'no release of series 2.0 in the release folder (needed to go from 1.9.0 to 2.1.0)' },
    },
    {
      name: 'desired missing and a series missing: both said',
      installed: '1.4.0', desired: '1.6.0', available: ['1.4.0'],
      expected: {
        kind: 'refused',
        reason: 'release 1.6.0 not found in the release folder; no release of series 1.5 in the release folder (needed to go from 1.4.0 to 1.6.0)',
      },
    },
    {
      name: 'downgrade',
      installed: '1.5.0', desired: '1.4.2', available: FULL,
      expected: { kind: 'refused', reason: 'downgrade from 1.5.0 to 1.4.2 is not allowed' },
    },
    {
      name: 'same version: nothing to do, even without its zip',
      installed: '1.5.0', desired: '1.5.0', available: [],
      expected: { kind: 'none', hops: [] },
    },
    {
      name: 'not installed: install the desired version directly',
      installed: null, desired: '2.1.0', available: FULL,
      expected: { kind: 'install', hops: ['2.1.0'] },
    },
    {
      name: 'not installed, desired absent',
      installed: null, desired: '1.8.0', available: FULL,
      expected: { kind: 'refused', reason: 'release 1.8.0 not found in the release folder' },
    },
    {
      name: 'empty available list, upgrade',
      installed: '1.4.0', desired: '1.4.1', available: [],
      expected: { kind: 'refused', reason: 'release 1.4.1 not found in the release folder' },
    },
    {
      name: 'empty available list, install',
      installed: null, desired: '1.4.1', available: [],
      expected: { kind: 'refused', reason: 'release 1.4.1 not found in the release folder' },
    },
    {
      name: 'pre-release installed',
      installed: '1.5.0-rc1', desired: '1.5.0', available: FULL,
      expected: {
        kind: 'refused',
        reason: 'installed version "1.5.0-rc1" is a pre-release or build version; only release versions X.Y.Z are supported; cannot plan an upgrade from it',
      },
    },
    {
      name: 'malformed installed',
      installed: 'latest', desired: '1.5.0', available: FULL,
      expected: { kind: 'refused', reason: 'installed version "latest" is not a release version X.Y.Z; cannot plan an upgrade from it' },
    },
    {
      name: 'pre-release desired',
      installed: '1.4.0', desired: '1.5.0+build.7', available: FULL,
      expected: { kind: 'refused', reason: 'desired version "1.5.0+build.7" is a pre-release or build version; only release versions X.Y.Z are supported' },
    },
    {
      name: 'malformed desired (leading zero)',
      installed: null, desired: '1.05.0', available: FULL,
      expected: { kind: 'refused', reason: 'desired version "1.05.0" is not a release version X.Y.Z' },
    },
    {
      name: 'unparsable available entries are ignored',
      installed: '1.4.0', desired: '1.6.0', available: ['1.5.0', '1.5.9-rc1', 'v1.5.5', '1.6.0'],
      expected: { kind: 'upgrade', hops: ['1.5.0', '1.6.0'] },
    },
    {
      name: 'installed zip need not be present; duplicates harmless',
      installed: '1.4.0', desired: '1.5.1', available: ['1.5.1', '1.5.1', '1.5.0'],
      expected: { kind: 'upgrade', hops: ['1.5.1'] },
    },
  ]
  for (const c of cases) {
    it(c.name, () => expect(planHops(c.installed, c.desired, c.available)).toEqual(c.expected))
  }

  // Walking the 900 million minors between them would outlast the test's own limit: no clock is read here.
  it('absurd version gaps stay cheap and are summarised', () => {
    const plan = planHops('1.0.0', '1.900000000.0', ['1.900000000.0'])
    expect(plan.kind).toBe('refused')
    if (plan.kind === 'refused') {
      expect(plan.reason).toMatch(/^no release of series 1\.1, 1\.2, .*1\.20, and 899999979 more in the release folder/)
    }
  })
})

describe('allowedHop', () => {
  const table: [string, string, boolean][] = [
    ['1.4.0', '1.4.1', true],
    ['1.4.0', '1.5.3', true],
    ['1.4.0', '1.6.0', false],
    ['1.7.2', '2.0.0', true],
    ['1.7.2', '2.1.0', false],
    ['1.7.2', '3.0.0', false],
    ['1.4.1', '1.4.1', false],
    ['1.4.1', '1.4.0', false],
    ['2.0.0', '1.9.0', false],
    ['1.4.0', '1.5.0-rc1', false],
    ['latest', '1.5.0', false],
  ]
  for (const [a, b, ok] of table) it(`${a} -> ${b}: ${ok}`, () => expect(allowedHop(a, b)).toBe(ok))

  it('agrees with the oracle on every pair', () => {
    for (const a of FULL) for (const b of FULL) expect(allowedHop(a, b), `${a}->${b}`).toBe(oracleAllowed(a, b))
  })
})

describe('version', () => {
  it('parses strict X.Y.Z only', () => {
    expect(parseVersion('1.2.3')).toEqual({ major: 1, minor: 2, patch: 3 })
    expect(parseVersion('0.0.0')).toEqual({ major: 0, minor: 0, patch: 0 })
    expect(parseVersion('10.20.30')).toEqual({ major: 10, minor: 20, patch: 30 })
    for (const bad of ['01.2.3', '1.02.3', '1.2.03', '1.2', '1.2.3.4', 'v1.2.3', '1.2.3-rc1', '1.2.3+b', ' 1.2.3', '1.2.3\n', '', 'latest', '99999999999999999999.0.0']) {
      expect(parseVersion(bad), bad).toBeNull()
    }
  })
  it('orders numerically, not lexically', () => {
    expect(compareVersions('1.10.0', '1.9.9')).toBeGreaterThan(0)
    expect(compareVersions('1.2.3', '1.2.3')).toBe(0)
    expect(compareVersions('2.0.0', '10.0.0')).toBeLessThan(0)
    expect(() => compareVersions('x', '1.0.0')).toThrow(TypeError)
    expect(formatSeries({ major: 1, minor: 5 })).toBe('1.5')
  })
})
