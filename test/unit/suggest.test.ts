// Unknown commands: gwfleet's own error, and the command the operator probably meant.
import {describe, expect, it} from 'vitest'

import {commandNames, distance, suggestFlag, unknownCommand, unknownFlagsMessage} from '../../src/cli/suggest.js'

describe('unknownCommand', () => {
  it('knows every command, topics alone and flags alone', () => {
    expect(commandNames()).toEqual(expect.arrayContaining(['deploy', 'upgrade', 'audit', 'locks list', 'locks clear']))
    for (const argv of [['deploy', '-i', 'f.yaml'], ['locks', 'list'], ['locks'], ['locks', '--help'], ['--help'], ['--version'], [], ['status', 'gw1']])
      expect(unknownCommand(argv), argv.join(' ')).toBeUndefined()
  })

  it('suggests the closest command for a typo, in one word or two', () => {
    expect(unknownCommand(['deplyo', '-i', 'f.yaml'])).toEqual({typed: 'deplyo', suggestion: 'deploy'})
    expect(unknownCommand(['lock', 'list'])).toEqual({typed: 'lock list', suggestion: 'locks list'})
    expect(unknownCommand(['locks', 'lsit'])).toEqual({typed: 'locks lsit', suggestion: 'locks list'})
    expect(unknownCommand(['Audit'])).toEqual({typed: 'Audit', suggestion: 'audit'})
    expect(unknownCommand(['upgarde', '--to', '1.5.0'])).toEqual({typed: 'upgarde', suggestion: 'upgrade'})
  })

  it('suggests nothing when nothing is close', () => {
    expect(unknownCommand(['frobnicate'])).toEqual({typed: 'frobnicate'})
    expect(unknownCommand(['help'])).toEqual({typed: 'help'})
  })
})

describe('distance', () => {
  it('counts a swap of neighbours as one edit', () => {
    expect(distance('deplyo', 'deploy')).toBe(1)
    expect(distance('lock list', 'locks list')).toBe(1)
    expect(distance('', 'abc')).toBe(3)
    expect(distance('same', 'same')).toBe(0)
  })
})

describe('unknown flags', () => {
  const deployFlags = {'dry-run': {}, limit: {char: 'l'}, inventory: {char: 'i'}, yes: {char: 'y'}, 'max-fail': {}, 'keep-releases': {}, secret: {hidden: true}}

  it('suggests the closest flag of the command: a dash left out, a swap, a case slip', () => {
    expect(suggestFlag('--dryrun', deployFlags)).toBe('--dry-run')
    expect(suggestFlag('--dry_run', deployFlags)).toBe('--dry-run')
    expect(suggestFlag('--limt', deployFlags)).toBe('--limit')
    expect(suggestFlag('--Limit', deployFlags)).toBe('--limit')
    expect(suggestFlag('--maxfail=2', deployFlags)).toBe('--max-fail')
    expect(suggestFlag('--keep-release', deployFlags)).toBe('--keep-releases')
  })

  it('suggests nothing far off, nothing hidden, nothing for a single dash', () => {
    expect(suggestFlag('--frobnicate', deployFlags)).toBeUndefined()
    expect(suggestFlag('--secrt', deployFlags)).toBeUndefined()
    expect(suggestFlag('-x', deployFlags)).toBeUndefined()
  })

  it('names each unknown flag without its value, with the suggestion when there is one', () => {
    expect(unknownFlagsMessage(['--dryrun'], deployFlags)).toBe('Unknown flag --dryrun. Did you mean --dry-run?')
    expect(unknownFlagsMessage(['--dryrun=Pa55-word', '--frobnicate'], deployFlags)).toBe('Unknown flag --dryrun. Did you mean --dry-run? Unknown flag --frobnicate.')
  })
})
