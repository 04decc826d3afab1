import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InputError } from '../../src/errors.js'
import { loadSshConfigFile, loadUserSshConfig, parseSshConfig, resolveSshConfig } from '../../src/ssh/sshconfig.js'

const env = { home: '/home/op', localUser: 'op' }
const resolve = (text: string, host: string) => resolveSshConfig(parseSshConfig(text, 'cfg'), host, env)

describe('parseSshConfig + resolveSshConfig', () => {
  it('applies a matching Host block', () => {
    const text = `
# my hosts
Host bastion
  HostName 198.51.100.7
  User ops
  Port 2022
  IdentityFile ~/.ssh/bastion
  ProxyJump jump@edge:22
`
    expect(resolve(text, 'bastion')).toEqual({
      hostName: '198.51.100.7',
      user: 'ops',
      port: 2022,
      identityFiles: ['/home/op/.ssh/bastion'],
      proxyJump: 'jump@edge:22',
    })
    expect(resolve(text, 'other')).toEqual({ identityFiles: [] })
  })

  it('first obtained value wins; IdentityFile accumulates in order', () => {
    const text = `
Host gw-1
  User first
  IdentityFile ~/.ssh/one
Host gw-*
  User second
  Port 2200
  IdentityFile ~/.ssh/two
Host *
  User third
  Port 22
  IdentityFile ~/.ssh/three
`
    expect(resolve(text, 'gw-1')).toEqual({
      user: 'first',
      port: 2200,
      identityFiles: ['/home/op/.ssh/one', '/home/op/.ssh/two', '/home/op/.ssh/three'],
    })
    expect(resolve(text, 'db')).toEqual({ user: 'third', port: 22, identityFiles: ['/home/op/.ssh/three'] })
  })

  it('options before any Host apply to every host', () => {
    expect(resolve('User global\nHost x\n  User x', 'x').user).toBe('global')
  })

  it('multiple patterns, wildcards and negation', () => {
    const text = `
Host db.example *.gw.example !bad.gw.example gw-?
  User fleet
`
    expect(resolve(text, 'db.example').user).toBe('fleet')
    expect(resolve(text, 'a.gw.example').user).toBe('fleet')
    expect(resolve(text, 'BAD.gw.example').user).toBeUndefined()
    expect(resolve(text, 'bad.gw.example').user).toBeUndefined()
    expect(resolve(text, 'gw-7').user).toBe('fleet')
    expect(resolve(text, 'gw-77').user).toBeUndefined()
    expect(resolve('Host !only-negated\n  User x', 'anything').user).toBeUndefined()
  })

  it('host matching is case-insensitive', () => {
    expect(resolve('Host GW.Example\n  User x', 'gw.example').user).toBe('x')
  })

  it('keys are case-insensitive; Key=value, Key = value and quoted values', () => {
    const text = `
HOST gw
  hostname=10.0.0.9
  USER = "ops team"
  port	2222
  identityfile "/keys/with space/id"
  IdentityFile '/keys/single quoted'
  IdentityFile /keys/escaped\\ space # trailing comment
`
    expect(resolve(text, 'gw')).toEqual({
      hostName: '10.0.0.9',
      user: 'ops team',
      port: 2222,
      identityFiles: ['/keys/with space/id', '/keys/single quoted', '/keys/escaped space'],
    })
  })

  it('quoted Host patterns', () => {
    expect(resolve('Host "gw" other\n  User q', 'gw').user).toBe('q')
  })

  it('expands %h, %n, %%, %p, %r, %u, %d and ~ in IdentityFile (%h is the resolved HostName, as OpenSSH does)', () => {
    const text = `
Host gw
  HostName real-%h.example
  User ops
  IdentityFile ~/.ssh/%h_%n_%p_%r_%u_100%%
  IdentityFile %d/k
  IdentityFile ~
Host plain
  IdentityFile ~/.ssh/%h
`
    expect(resolve(text, 'gw').hostName).toBe('real-gw.example')
    expect(resolve(text, 'gw').identityFiles).toEqual([
      '/home/op/.ssh/real-gw.example_gw_22_ops_op_100%',
      '/home/op/k',
      '/home/op',
    ])
    expect(resolve(text, 'plain').identityFiles).toEqual(['/home/op/.ssh/plain'])
  })

  it('ProxyJump none stops later ProxyJump values', () => {
    const text = 'Host inner\n  ProxyJump none\nHost *\n  ProxyJump bastion'
    expect(resolve(text, 'inner').proxyJump).toBeUndefined()
    expect(resolve(text, 'outer').proxyJump).toBe('bastion')
  })

  it('Match blocks are skipped entirely, never executed', () => {
    const text = `
Match exec "touch /tmp/gwfleet-should-not-exist"
  User from-match
  Port 1
Match all
  IdentityFile /never
Host gw
  User from-host
`
    expect(resolve(text, 'gw')).toEqual({ user: 'from-host', identityFiles: [] })
    expect(resolve(text, 'other')).toEqual({ identityFiles: [] })
  })

  it('ignores options it does not use and keeps their lines', () => {
    const cfg = parseSshConfig('Host gw\n  ForwardAgent yes\n  User x\n', 'f')
    expect(cfg.directives.map((d) => [d.key, d.line])).toEqual([
      ['forwardagent', 2],
      ['user', 3],
    ])
    expect(resolveSshConfig(cfg, 'gw', env)).toEqual({ user: 'x', identityFiles: [] })
  })

  it('handles CRLF line endings', () => {
    expect(resolve('Host gw\r\n  User x\r\n', 'gw').user).toBe('x')
  })

  it('bad input is an InputError naming file and line', () => {
    const bad: Array<[string, RegExp]> = [
      ['Host gw\n  User "unterminated', /^cfg:2: unterminated quote/],
      ['Host gw\n  User', /^cfg:2: User needs an argument/],
      ['Host', /^cfg:1: Host needs an argument/],
      ['Host gw\n  Port 70000', /^cfg:2 \(port\): bad port/],
      ['Host gw\n  Port ssh', /^cfg:2 \(port\): bad port/],
      ['Host gw\n  IdentityFile ~/.ssh/%Q', /^cfg:2 \(identityfile\): unsupported token %Q/],
      ['Host gw\n  IdentityFile ~other/key', /^cfg:2 \(identityfile\): ~user paths/],
      ['= value', /^cfg:1: cannot read/],
    ]
    for (const [text, re] of bad) {
      let err: unknown
      try {
        resolve(text, 'gw')
      } catch (e) {
        err = e
      }
      expect(err, text).toBeInstanceOf(InputError)
      expect((err as Error).message).toMatch(re)
    }
  })

  it('an error in a block that does not apply is not raised at resolve time', () => {
    expect(resolve('Host other\n  Port 0\n', 'gw')).toEqual({ identityFiles: [] })
  })
})

describe('loadUserSshConfig and Include', () => {
  let home: string
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'gwfleet-sshcfg-'))
    mkdirSync(join(home, '.ssh', 'conf.d'), { recursive: true })
    mkdirSync(join(home, 'abs'))
    writeFileSync(
      join(home, '.ssh', 'config'),
      [
        'Include conf.d/*.conf',
        `Include ${join(home, 'abs', 'extra')} missing-file nope/*.conf`,
        'Host gw-a',
        '  Include gw-a.inc',
        'Match all',
        '  Include conf.d/matchonly',
        'Host *',
        '  User fallback',
        '  IdentityFile ~/.ssh/id_fallback',
      ].join('\n'),
    )
    writeFileSync(join(home, '.ssh', 'conf.d', '20-b.conf'), 'Host gw-b\n  User from-20\nHost gw-c\n  Port 2020\n')
    writeFileSync(join(home, '.ssh', 'conf.d', '10-b.conf'), 'Host gw-b\n  User from-10\n  Port 1010\n')
    writeFileSync(join(home, '.ssh', 'conf.d', '.hidden.conf'), 'Host *\n  User hidden\n')
    writeFileSync(join(home, '.ssh', 'conf.d', 'skip.txt'), 'Host *\n  User txt\n')
    writeFileSync(join(home, '.ssh', 'conf.d', 'matchonly'), 'Host *\n  User match-include\n')
    // Inside `Host gw-a`: applies only when gw-a matches, and its own Host lines narrow further.
    writeFileSync(join(home, '.ssh', 'gw-a.inc'), 'User inc-a\nHost gw-b\n  Port 9999\nHost *\n  Port 4444\n')
    writeFileSync(join(home, 'abs', 'extra'), 'Host gw-abs\n  HostName abs.example\n')
  })
  afterAll(() => rmSync(home, { recursive: true, force: true }))

  it('follows Includes in place, sorted, relative to ~/.ssh, skipping dot files', async () => {
    const cfg = await loadUserSshConfig({ home, localUser: 'op' })
    expect(resolveSshConfig(cfg, 'gw-b', { home })).toEqual({
      user: 'from-10',
      port: 1010,
      identityFiles: [join(home, '.ssh', 'id_fallback')],
    })
    expect(resolveSshConfig(cfg, 'gw-c', { home }).port).toBe(2020)
    expect(resolveSshConfig(cfg, 'gw-abs', { home }).hostName).toBe('abs.example')
    expect(resolveSshConfig(cfg, 'zzz', { home }).user).toBe('fallback')
    const where = cfg.directives.find((d) => d.key === 'user' && d.args[0] === 'from-20')
    expect(where).toMatchObject({ file: join(home, '.ssh', 'conf.d', '20-b.conf'), line: 2 })
  })

  it('an Include inside a Host block applies only to that host', async () => {
    const cfg = await loadUserSshConfig({ home })
    expect(resolveSshConfig(cfg, 'gw-a', { home })).toMatchObject({ user: 'inc-a', port: 4444 })
    expect(resolveSshConfig(cfg, 'gw-x', { home }).port).toBeUndefined()
  })

  it('an Include inside a Match block is never read', async () => {
    const cfg = await loadUserSshConfig({ home })
    expect(cfg.directives.some((d) => d.args[0] === 'match-include')).toBe(false)
  })

  it('no config file means an empty config', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'gwfleet-sshcfg-empty-'))
    try {
      expect(await loadUserSshConfig({ home: empty })).toEqual({ directives: [] })
      expect(resolveSshConfig(await loadUserSshConfig({ home: empty }), 'x')).toEqual({ identityFiles: [] })
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })

  it('refuses Include loops', async () => {
    const loop = join(home, '.ssh', 'loop')
    writeFileSync(loop, 'Include loop\n')
    await expect(loadSshConfigFile(loop, { home })).rejects.toThrow(/Include nested too deeply/)
  })
})
