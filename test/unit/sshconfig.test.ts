import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InputError } from '../../src/errors.js'
import { loadSshConfigFile, loadUserSshConfig, matchBlocksFor, parseSshConfig, resolveSshConfig } from '../../src/ssh/sshconfig.js'
import { resolveTarget } from '../../src/ssh/target.js'
import type { Gateway } from '../../src/types.js'

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

  it('an Include inside a Match block is read, but what it sets keeps the Match condition: it never applies, and matchBlocksFor names it', async () => {
    const cfg = await loadUserSshConfig({ home })
    const d = cfg.directives.find((x) => x.args[0] === 'match-include')
    expect(d?.when.some((c) => c.kind === 'match')).toBe(true)
    expect(resolveSshConfig(cfg, 'zzz', { home }).user).toBe('fallback')
    expect(matchBlocksFor(cfg, 'zzz')).toEqual([
      { file: join(home, '.ssh', 'config'), line: 5, settings: [{ key: 'user', name: 'User', file: join(home, '.ssh', 'conf.d', 'matchonly'), line: 2 }] },
    ])
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

describe('ProxyCommand and Match: found, so a host they route is refused rather than reached directly', () => {
  it('ProxyCommand is found with its file and line; the first of ProxyJump and ProxyCommand wins; none is no route', () => {
    const text = `
Host via-cmd
  ProxyCommand ssh -W %h:%p bastion
Host jump-first
  ProxyJump edge
Host none-first
  ProxyCommand none
Host *
  ProxyCommand nc %h %p
  ProxyJump never
`
    expect(resolve(text, 'via-cmd')).toEqual({ identityFiles: [], proxyCommand: { file: 'cfg', line: 3 } })
    expect(resolve(text, 'jump-first')).toEqual({ identityFiles: [], proxyJump: 'edge' })
    expect(resolve(text, 'none-first')).toEqual({ identityFiles: [] })
    expect(resolve(text, 'other')).toEqual({ identityFiles: [], proxyCommand: { file: 'cfg', line: 9 } })
  })

  it("a ProxyCommand is the rest of its line, as OpenSSH reads it (an odd quote in the command is no parse error)", () => {
    const cfg = parseSshConfig(`Host gw\n  ProxyCommand sh -c "echo it's %h" # not a comment here\n`, 'cfg')
    expect(cfg.directives[0]).toMatchObject({ key: 'proxycommand', args: [`sh -c "echo it's %h" # not a comment here`] })
  })

  it('a Match block that may apply and sets a route setting is found, named by its own line; one that cannot apply is not', () => {
    const text = `
Match exec "touch /tmp/gwfleet-should-not-exist"
  User from-exec
  ServerAliveInterval 30
Match host other.example,*.corp,!gw.corp
  Port 2222
Match originalhost gw
  IdentityFile ~/.ssh/only-gw
Match !host gw
  ProxyCommand nc %h %p
Match host real.example
  HostName also-real.example
Match all
  Compression yes
Host gw
  HostName real.example
`
    const cfg = parseSshConfig(text, 'cfg')
    const found = matchBlocksFor(cfg, 'gw', resolveSshConfig(cfg, 'gw', env).hostName)
    expect(found.map((m) => [m.line, m.settings.map((s) => s.name)])).toEqual([
      [2, ['User']],
      [7, ['IdentityFile']],
      // Match host is tested against the HostName the host resolves to as well: "!host gw" may hold for real.example.
      [9, ['ProxyCommand']],
      [11, ['HostName']],
    ])
    // Without a HostName, "!host gw" cannot hold for gw, and "host real.example" cannot either.
    expect(matchBlocksFor(cfg, 'gw').map((m) => m.line)).toEqual([2, 7])
    expect(matchBlocksFor(cfg, 'a.corp').map((m) => m.line)).toEqual([2, 5, 9])
    expect(matchBlocksFor(cfg, 'gw.corp').map((m) => m.line)).toEqual([2, 9])
    expect(() => parseSshConfig('Match\n  User x', 'cfg')).toThrow(/^cfg:1: Match needs criteria/)
  })

  it('a Match inside a Host block counts only for hosts that block matches', () => {
    const cfg = parseSshConfig('Host gw-*\n  Include nothing\nMatch exec true\n  User m', 'cfg')
    expect(matchBlocksFor(cfg, 'x').map((m) => m.line)).toEqual([3])
  })
})

describe('resolveTarget refuses what ssh_config routes and gwfleet cannot follow', () => {
  const gw = (extra: Partial<Gateway> = {}): Gateway => ({
    name: 'berlin-1', host: 'gw1.example', become: false, remoteDir: '/opt/gwfleet', version: '1.5.0', valuesFile: '/v.yaml', labels: {}, source: { file: '/inv/fleet.yaml', line: 9 }, ...extra,
  })
  const target = (text: string, g: Gateway) => resolveTarget(g, parseSshConfig(text, '/home/op/.ssh/config'))
  const refusal = (text: string, g: Gateway): string => {
    try {
      target(text, g)
    } catch (e) {
      expect(e).toBeInstanceOf(InputError)
      return (e as Error).message
    }
    throw new Error('not refused')
  }

  it('a ProxyCommand for the gateway host: refused, naming the ssh_config line, the gateway and the way out', () => {
    const text = 'Host *.example\n  User ops\n  ProxyCommand cloudflared access ssh --hostname %h\n'
    expect(refusal(text, gw())).toBe(
      '/home/op/.ssh/config:3 (ProxyCommand): gateway berlin-1 (host gw1.example): ssh_config reaches this host through a ProxyCommand, which gwfleet does not run ' +
        '(it would connect directly instead); set jump (the bastion to go through) for the gateway in the inventory (/inv/fleet.yaml:9), or leave this host out of that ProxyCommand',
    )
    // The inventory says how to reach it: its jump is used, the ProxyCommand is not.
    expect(target(text, gw({ jump: 'ops@bastion.net' })).jump.map((j) => `${j.user}@${j.host}`)).toEqual(['ops@bastion.net'])
    // ProxyCommand none, or a ProxyJump before it: nothing to refuse.
    expect(target('Host gw1.example\n  ProxyCommand none\nHost *\n  ProxyCommand nc %h %p\n', gw()).jump).toEqual([])
    expect(target('Host gw1.example\n  ProxyJump edge\n  ProxyCommand nc %h %p\n', gw()).jump.map((j) => j.host)).toEqual(['edge'])
  })

  it("a jump host's own ProxyCommand: refused for the first hop; a later hop is reached through the one before it", () => {
    const text = 'Host edge\n  ProxyCommand nc %h %p\n'
    expect(refusal(text, gw({ jump: 'edge' }))).toMatch(
      /^\/home\/op\/.ssh\/config:2 \(ProxyCommand\): jump host edge of gateway berlin-1: .*put the host it is reached through before it in the gateway's jump chain \(\/inv\/fleet.yaml:9\)/,
    )
    expect(target(text, gw({ jump: 'outer,edge' })).jump.map((j) => j.host)).toEqual(['outer', 'edge'])
  })

  it('a Match block that may apply: refused, naming the Match line and its settings, unless the inventory decides each of them', () => {
    const text = 'Host *\n  ServerAliveInterval 30\nMatch originalhost gw1.example exec "test -e /tmp/vpn-up"\n  User vpn\n  ProxyJump vpn-gw\n'
    expect(refusal(text, gw())).toBe(
      '/home/op/.ssh/config:3 (Match): gateway berlin-1 (host gw1.example): a Match block may apply to this host and sets User, ProxyJump (line 4, line 5); ' +
        'gwfleet does not evaluate Match blocks and will not guess how OpenSSH would reach the host: narrow the block with "Match host" or "Match originalhost" patterns ' +
        'that leave this host out, move those settings into a Host block, or set user, jump for the gateway in the inventory (/inv/fleet.yaml:9)',
    )
    expect(refusal(text, gw({ user: 'root' }))).toMatch(/sets ProxyJump \(line 5\)/)
    expect(target(text, gw({ user: 'root', jump: 'bastion' })).user).toBe('root')
    // A Match block that cannot apply to this host, or sets nothing of the route: no refusal.
    expect(target('Match host db.example\n  User db\nMatch all\n  ForwardAgent no\n', gw()).host).toBe('gw1.example')
    // HostName cannot be decided by the inventory: refused whatever it sets.
    expect(refusal('Match originalhost gw1.example\n  HostName 10.0.0.1\n', gw({ user: 'u', port: 22, identityFile: '/k', jump: 'b' }))).toMatch(
      /sets HostName \(line 2\).* or move those settings into a Host block$/,
    )
  })
})
