import { describe, expect, it } from 'vitest'
import { InputError } from '../../src/errors.js'
import { jumpProblem, parseJump } from '../../src/ssh/jump.js'

describe('parseJump', () => {
  it('parses a bare host', () => {
    expect(parseJump('bastion')).toEqual([{ host: 'bastion' }])
  })

  it('parses user, host and port', () => {
    expect(parseJump('ops@bastion.example:22')).toEqual([{ user: 'ops', host: 'bastion.example', port: 22 }])
    expect(parseJump('ops@bastion.example')).toEqual([{ user: 'ops', host: 'bastion.example' }])
    expect(parseJump('bastion.example:2222')).toEqual([{ host: 'bastion.example', port: 2222 }])
    expect(parseJump('10.0.0.1:65535')).toEqual([{ host: '10.0.0.1', port: 65535 }])
  })

  it('parses a comma chain in order', () => {
    expect(parseJump('a@one:1,two,three:3')).toEqual([
      { user: 'a', host: 'one', port: 1 },
      { host: 'two' },
      { host: 'three', port: 3 },
    ])
  })

  it('parses bracketed IPv6', () => {
    expect(parseJump('[::1]:22')).toEqual([{ host: '::1', port: 22 }])
    expect(parseJump('root@[2001:db8::5]')).toEqual([{ user: 'root', host: '2001:db8::5' }])
    expect(parseJump('[fe80::1%eth0]:2200')).toEqual([{ host: 'fe80::1%eth0', port: 2200 }])
    expect(parseJump('[bastion]:2222')).toEqual([{ host: 'bastion', port: 2222 }])
  })

  it('parses ssh:// URIs, alone and in chains', () => {
    expect(parseJump('ssh://ops@bastion:2022')).toEqual([{ user: 'ops', host: 'bastion', port: 2022 }])
    expect(parseJump('ssh://bastion/')).toEqual([{ host: 'bastion' }])
    expect(parseJump('ssh://[::1]:22,gw@inner')).toEqual([
      { host: '::1', port: 22 },
      { user: 'gw', host: 'inner' },
    ])
  })

  it('takes the last "@" as the user/host separator', () => {
    expect(parseJump('me@corp@bastion')).toEqual([{ user: 'me@corp', host: 'bastion' }])
  })

  const bad = [
    '',
    'ops@',
    '@host',
    ':22',
    'host:',
    'host:port:x',
    '::1',
    'host:0',
    'host:65536',
    'host:99999',
    'host:-1',
    'host:22a',
    'a,,b',
    ',a',
    'a,',
    'ops @host',
    'host ',
    ' host',
    'a,\tb',
    '-oProxyCommand=x',
    'ops@-host',
    '-ops@host',
    '[::1',
    '[]:22',
    '[::1]x',
    '[::1]:',
    'ssh://host/path',
    'ssh://',
    'ho$t',
    'host;rm',
    'ho/st',
  ]
  it.each(bad)('rejects %j with an InputError naming "jump"', (spec) => {
    let err: unknown
    try {
      parseJump(spec)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(InputError)
    expect((err as InputError).location?.file).toBe('jump')
    expect((err as InputError).message).toMatch(/^jump: invalid jump/)
  })

  it.each(bad)('jumpProblem gives the same reason for %j (what the inventory reports)', (spec) => {
    const problem = jumpProblem(spec)
    expect(problem).toMatch(/^invalid jump /)
    expect(() => parseJump(spec, { file: 'inv.yaml', line: 3 })).toThrow(`inv.yaml:3: ${problem}`)
  })

  it('jumpProblem accepts what parseJump accepts', () => {
    for (const spec of ['bastion', 'a@one:1,two,three:3', '[fe80::1%eth0]:2200', 'ssh://[::1]:22,gw@inner']) expect(jumpProblem(spec)).toBeUndefined()
  })

  it('reports the caller-supplied location', () => {
    expect(() => parseJump('ops@', { file: 'inv.yaml', line: 7, key: 'gateways.b.jump' })).toThrow(
      /^inv\.yaml:7 \(gateways\.b\.jump\): invalid jump "ops@": hop 1: empty host/,
    )
  })
})
