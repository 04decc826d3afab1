import { describe, expect, it } from 'vitest'
import { hasWildcard, wildcardMatch } from '../../src/util/glob.js'

describe('wildcardMatch', () => {
  it('matches the whole string, literally outside * and ?', () => {
    expect(wildcardMatch('gw1', 'gw1')).toBe(true)
    expect(wildcardMatch('gw10', 'gw1')).toBe(false)
    expect(wildcardMatch('xgw1', 'gw1')).toBe(false)
    expect(wildcardMatch('', '')).toBe(true)
    expect(wildcardMatch('a', '')).toBe(false)
  })

  it('* matches any run, also an empty one', () => {
    expect(wildcardMatch('eu-west', 'eu-*')).toBe(true)
    expect(wildcardMatch('eu-', 'eu-*')).toBe(true)
    expect(wildcardMatch('us-east', 'eu-*')).toBe(false)
    expect(wildcardMatch('', '*')).toBe(true)
    expect(wildcardMatch('a.b.example.com', '*.example.com')).toBe(true)
    expect(wildcardMatch('example.com', '*.example.com')).toBe(false)
    // Backtracking: the first `*` must give back what the rest needs.
    expect(wildcardMatch('abcbcd', 'a*bcd')).toBe(true)
    expect(wildcardMatch('abcbce', 'a*bcd')).toBe(false)
    expect(wildcardMatch('aXbYc', '*b*c')).toBe(true)
    expect(wildcardMatch('abc', '**c')).toBe(true)
  })

  it('? matches exactly one character', () => {
    expect(wildcardMatch('gw-1', 'gw-?')).toBe(true)
    expect(wildcardMatch('gw-', 'gw-?')).toBe(false)
    expect(wildcardMatch('gw-12', 'gw-?')).toBe(false)
    expect(wildcardMatch('[h]:2222', '[h]:222?')).toBe(true)
  })

  it('treats regex and bracket characters literally and is case-sensitive', () => {
    expect(wildcardMatch('a.b', 'a.b')).toBe(true)
    expect(wildcardMatch('axb', 'a.b')).toBe(false)
    expect(wildcardMatch('a', '[a]')).toBe(false)
    expect(wildcardMatch('(x)+$', '(x)+$')).toBe(true)
    expect(wildcardMatch('GW1', 'gw1')).toBe(false)
    expect(wildcardMatch('!gw1', '!gw1')).toBe(true)
    expect(wildcardMatch('gw1', '!gw1')).toBe(false)
  })

  it('* and ? also cross characters a regex dot would not', () => {
    expect(wildcardMatch('a\nb', 'a*b')).toBe(true)
    expect(wildcardMatch('a\nb', 'a?b')).toBe(true)
  })

  it('hasWildcard spots * and ? only', () => {
    expect(hasWildcard('eu-*')).toBe(true)
    expect(hasWildcard('gw?')).toBe(true)
    expect(hasWildcard('gw[1]')).toBe(false)
  })
})
