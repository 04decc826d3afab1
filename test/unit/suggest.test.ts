// Unknown commands: gwfleet's own error, and the command the operator probably meant.
import {describe, expect, it} from 'vitest'

import {commandNames, distance, unknownCommand} from '../../src/cli/suggest.js'

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
