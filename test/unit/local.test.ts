import os from 'node:os'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { expandHome, gwfleetHome, homeDir, localUserName } from '../../src/util/local.js'

describe('workstation helpers', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('expands ~ and ~/ only', () => {
    expect(expandHome('~', '/home/op')).toBe('/home/op')
    expect(expandHome('~/.ssh/id_ed25519', '/home/op')).toBe('/home/op/.ssh/id_ed25519')
    expect(expandHome('~other/x', '/home/op')).toBe('~other/x')
    expect(expandHome('/abs/~/x', '/home/op')).toBe('/abs/~/x')
    expect(expandHome('rel/x', '/home/op')).toBe('rel/x')
  })

  it('home is $HOME when set, else the passwd entry', () => {
    expect(homeDir({ HOME: '/home/elsewhere' })).toBe('/home/elsewhere')
    expect(homeDir({})).toBe(os.homedir())
    expect(expandHome('~/x')).toBe(`${homeDir()}/x`)
  })

  it('user name comes from the passwd entry first', () => {
    expect(localUserName({ USER: 'not-me', LOGNAME: 'not-me' })).toBe(os.userInfo().username)
  })

  it('without a passwd entry: $USER, then $LOGNAME, then "unknown"', () => {
    vi.spyOn(os, 'userInfo').mockImplementation(() => {
      throw Object.assign(new Error('ENOENT: no such file or directory, uv_os_get_passwd'), { code: 'ENOENT' })
    })
    expect(localUserName({ USER: 'alice', LOGNAME: 'bob' })).toBe('alice')
    expect(localUserName({ LOGNAME: 'bob' })).toBe('bob')
    expect(localUserName({ USER: '' })).toBe('unknown')
    expect(localUserName({})).toBe('unknown')
  })
})

describe('gwfleetHome', () => {
  it('is $GWFLEET_HOME when set, else ~/.gwfleet', () => {
    expect(gwfleetHome({ GWFLEET_HOME: '/srv/gw', HOME: '/home/op' })).toBe('/srv/gw')
    expect(gwfleetHome({ HOME: '/home/op' })).toBe('/home/op/.gwfleet')
  })
})
