import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { loadInventory } from '../../src/inventory/load.js'
import { BASE, badGateway, expectLocated, rejection, tree } from './fixtures/inventory/helpers.js'

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'inventory')


/** Writes an inventory (lines) plus a values file and the id key; returns the inventory path. */
function inventory(lines: string[], extra: Record<string, string> = {}): string {
  const dir = tree({
    'inventory.yaml': lines.join('\n') + '\n',
    'values/a.yaml': 'tenant: t\n',
    'keys/id': 'key\n',
    ...extra,
  })
  return path.join(dir, 'inventory.yaml')
}

/** Base inventory with lines appended to gateway gw-a (first one at line 10). */
function withGw(...more: string[]): string {
  return inventory([...BASE, ...more])
}

async function bad(file: string, line: number, key: string | undefined, ...snippets: string[]) {
  const err = await rejection(loadInventory(file))
  expectLocated(err, file, line, key)
  for (const s of snippets) expect(err.message).toContain(s)
  return err
}

describe('rollout.first', () => {
  it('is the default selector of --first', async () => {
    const inv = await loadInventory(inventory([...BASE, '    labels: {ring: canary}', 'rollout:', '  first: ring=canary']))
    expect(inv.rolloutFirst).toBe('ring=canary')
    expect(inv.lines?.['rollout.first']).toBe(12)
  })

  it('a selector that names no gateway is refused with file, line and key', async () => {
    await bad(inventory([...BASE, 'rollout:', '  first: gw-b']), 11, 'rollout.first', 'no gateway named "gw-b"')
    await bad(inventory([...BASE, 'rollout:', '  first: ring=']), 11, 'rollout.first', 'malformed label term')
    await bad(inventory([...BASE, 'rollout:', '  frist: gw-a']), 11, 'rollout.frist', 'did you mean "first"')
  })
})

describe('rollout.keepReleases', () => {
  it('is the default of --keep-releases; 0 keeps all', async () => {
    expect((await loadInventory(inventory([...BASE, 'rollout:', '  keepReleases: 3']))).keepReleases).toBe(3)
    expect((await loadInventory(inventory([...BASE, 'rollout:', '  keepReleases: 0']))).keepReleases).toBe(0)
    expect((await loadInventory(inventory(BASE))).keepReleases).toBeUndefined()
  })

  it('anything but a whole number from 0 is refused with file, line and key', async () => {
    await bad(inventory([...BASE, 'rollout:', '  keepReleases: -1']), 11, 'rollout.keepReleases', 'keepReleases must be 0 (keep all) or more')
    await bad(inventory([...BASE, 'rollout:', '  keepReleases: 1.5']), 11, 'rollout.keepReleases', 'expected an integer')
    await bad(inventory([...BASE, 'rollout:', '  keepReleases: two']), 11, 'rollout.keepReleases', 'expected a number')
    await bad(inventory([...BASE, 'rollout:', '  keepRelease: 2']), 11, 'rollout.keepRelease', 'did you mean "keepReleases"')
  })
})

describe('loadInventory: good input', () => {
  it('merges defaults, resolves paths and keeps file order', async () => {
    const file = path.join(FIXTURES, 'good', 'inventory.yaml')
    const inv = await loadInventory(file)
    const dir = path.dirname(file)
    expect(inv.file).toBe(file)
    expect(inv.releaseDir).toBe(path.join(FIXTURES, 'releases'))
    expect(inv.releaseVersion).toBe('1.5.0')
    expect(inv.gateways.map((g) => g.name)).toEqual(['berlin-1', 'boston-1', 'eu-paris'])
    expect(inv.gateways[0]).toEqual({
      name: 'berlin-1',
      host: '203.0.113.10',
      port: 22,
      user: 'root',
      knownHosts: path.join(dir, 'known_hosts'),
      become: false,
      remoteDir: '/opt/gwfleet',
      version: '1.5.0',
      pinned: false,
      valuesFile: path.join(dir, 'values', 'berlin-1.yaml'),
      labels: { site: 'berlin', tier: 'prod', ring: 'canary' },
      source: { file, line: 12 },
    })
    expect(inv.gateways[1]).toEqual({
      name: 'boston-1',
      host: 'gw.boston.example',
      port: 2222,
      user: 'ops',
      knownHosts: path.join(dir, 'known_hosts'),
      become: true,
      jump: 'ops@bastion.example:22,[2001:db8::1]:2200',
      remoteDir: '/srv/gw',
      version: '1.4.2',
      pinned: true,
      valuesFile: path.join(dir, 'values', 'boston-1.yaml'),
      labels: { site: 'default', tier: 'prod' },
      source: { file, line: 16 },
    })
    expect(inv.gateways[2]!.host).toBe('2001:db8::5')
    expect(inv.gateways[2]!.labels).toEqual({ site: 'default', tier: 'prod', ring: 'main' })
  })

  it('expands ~ against HOME and resolves relative paths against the inventory dir', async () => {
    const home = tree({ '.ssh/id_test': 'k\n' })
    const file = withGw('    identityFile: ~/.ssh/id_test', '    knownHosts: sub/kh')
    const inv = await loadInventory(file, { env: { HOME: home } })
    const gw = inv.gateways[0]!
    expect(gw.identityFile).toBe(path.join(home, '.ssh', 'id_test'))
    expect(gw.knownHosts).toBe(path.join(path.dirname(file), 'sub', 'kh'))
    expect(gw.valuesFile).toBe(path.join(path.dirname(file), 'values', 'a.yaml'))
    expect(inv.releaseDir).toBe(path.resolve(path.dirname(file), '..', 'releases'))
    expect(gw.become).toBe(false)
    expect(gw.remoteDir).toBe('/opt/gwfleet')
    expect(gw.port).toBeUndefined()
    expect('port' in gw).toBe(false)
  })

  it('takes values from defaults when a gateway has none', async () => {
    const file = inventory([
      'release: { dir: rel, version: 2.0.0 }',
      'defaults:',
      '  values: values/a.yaml',
      '  identityFile: keys/id',
      'gateways:',
      '  "1": { host: h1 }',
      '  zz: { host: h2, version: 1.9.9 }',
    ])
    const inv = await loadInventory(file)
    expect(inv.gateways.map((g) => [g.name, g.version, g.source.line])).toEqual([
      ['1', '2.0.0', 6],
      ['zz', '1.9.9', 7],
    ])
    expect(inv.gateways[0]!.identityFile).toBe(path.join(path.dirname(file), 'keys', 'id'))
  })

  it('accepts jump chains with bracketed IPv6 and users', async () => {
    const inv = await loadInventory(withGw('    jump: a@b.example,[::1],c:2200,u@[fe80::1%eth0]:22'))
    expect(inv.gateways[0]!.jump).toBe('a@b.example,[::1],c:2200,u@[fe80::1%eth0]:22')
  })
})

describe('loadInventory: bad input names file, line and key', () => {
  it('missing inventory file', async () => {
    const err = await rejection(loadInventory('/nonexistent/inv.yaml'))
    expect(err.message).toContain('/nonexistent/inv.yaml')
    expect(err.message).toContain('not found')
  })

  it('YAML syntax error', async () => {
    const f = withGw('    user: [ops, x', '    port: 22')
    const err = await rejection(loadInventory(f))
    expect(err.message).toContain('YAML syntax error')
    expect(err.location?.file).toBe(f)
    expect(err.location?.line).toBeGreaterThanOrEqual(10)
    expect(err.message).toContain(`${f}:${err.location?.line}`)
  })

  it('YAML syntax error: bad indentation', async () => {
    const f = inventory(['release:', '  dir: x', ' version: 1.5.0', 'gateways: {}'])
    const err = await rejection(loadInventory(f))
    expectLocated(err, f, 3)
  })

  it('unknown key', async () => {
    await bad(withGw('    colour: red'), 10, 'gateways.gw-a.colour', 'unknown key "colour"')
  })

  it('misspelt key gets a suggestion', async () => {
    await bad(
      withGw('    identityfile: ~/.ssh/id'),
      10,
      'gateways.gw-a.identityfile',
      'unknown key "identityfile" (did you mean "identityFile"?)',
    )
  })

  it('misspelt key in defaults', async () => {
    const f = inventory(['release: { dir: r, version: 1.5.0 }', 'defaults:', '  becom: true', 'gateways:', '  a: { host: h, values: values/a.yaml }'])
    await bad(f, 3, 'defaults.becom', 'did you mean "become"?')
  })

  it('misspelt top-level key wins over the missing one it explains', async () => {
    const f = inventory(['release: { dir: r, version: 1.5.0 }', 'gatways:', '  a: { host: h, values: values/a.yaml }'])
    await bad(f, 2, 'gatways', 'did you mean "gateways"?')
  })

  it('misspelt release key', async () => {
    const f = inventory(['release:', '  dir: r', '  verison: 1.5.0', 'gateways:', '  a: { host: h, values: values/a.yaml }'])
    await bad(f, 3, 'release.verison', 'did you mean "version"?')
  })

  it('port "abc"', async () => {
    await bad(withGw('    port: abc'), 10, 'gateways.gw-a.port', 'expected a number, got a string')
  })

  it('port 70000', async () => {
    await bad(withGw('    port: 70000'), 10, 'gateways.gw-a.port', '1-65535')
  })

  it('port 22.5', async () => {
    await bad(withGw('    port: 22.5'), 10, 'gateways.gw-a.port', 'integer')
  })

  it('become "yes"', async () => {
    await bad(withGw('    become: "yes"'), 10, 'gateways.gw-a.become', 'expected true or false')
  })

  it('missing host', async () => {
    const lines = BASE.filter((l) => !l.includes('host:'))
    await bad(inventory(lines), 7, 'gateways.gw-a.host', 'missing required key "host"')
  })

  it('host in defaults is refused', async () => {
    const f = inventory(['release: { dir: r, version: 1.5.0 }', 'defaults:', '  host: h', 'gateways:', '  a: { host: h, values: values/a.yaml }'])
    await bad(f, 3, 'defaults.host', 'each gateway names its own host')
  })

  it('missing values key', async () => {
    const lines = BASE.filter((l) => !l.includes('values:'))
    await bad(inventory(lines), 7, 'gateways.gw-a.values', 'missing required key "values"')
  })

  it('missing values file names the inventory line of values', async () => {
    const f = inventory([...BASE.slice(0, 8), '    values: values/nope.yaml'])
    await badGateway(f, 9, 'gateways.gw-a.values', 'values file not found', path.join(path.dirname(f), 'values', 'nope.yaml'))
  })

  it('missing values file from defaults names the defaults line', async () => {
    const f = inventory(['release: { dir: r, version: 1.5.0 }', 'defaults:', '  values: gone.yaml', 'gateways:', '  a: { host: h }'])
    await badGateway(f, 3, 'defaults.values', 'values file not found')
  })

  it('missing identity file', async () => {
    await bad(withGw('    identityFile: keys/none'), 10, 'gateways.gw-a.identityFile', 'identity file not found')
  })

  it('duplicate gateway name names both lines', async () => {
    const f = withGw('  gw-a:', '    host: 10.0.0.2', '    values: values/a.yaml')
    await bad(f, 10, 'gateways.gw-a', 'duplicate gateway name "gw-a" (lines 7 and 10)')
  })

  it('duplicate ordinary key names both lines', async () => {
    await bad(withGw('    host: 10.0.0.9'), 10, 'gateways.gw-a.host', 'duplicate key "host" (lines 8 and 10)')
  })

  it('bad gateway name', async () => {
    const f = withGw('  "a;rm -rf /":', '    host: h', '    values: values/a.yaml')
    await bad(f, 10, 'gateways.a;rm -rf /', 'invalid gateway name')
  })

  it('gateway name starting with a dot', async () => {
    const f = withGw('  .hidden: { host: h, values: values/a.yaml }')
    await bad(f, 10, 'gateways..hidden', 'invalid gateway name')
  })

  it('relative remoteDir', async () => {
    await bad(withGw('    remoteDir: opt/gwfleet'), 10, 'gateways.gw-a.remoteDir', 'absolute path')
  })

  it('remoteDir with ..', async () => {
    await bad(withGw('    remoteDir: /opt/../etc'), 10, 'gateways.gw-a.remoteDir', "'..'")
  })

  it('version 1.5', async () => {
    await bad(withGw('    version: 1.5'), 10, 'gateways.gw-a.version', 'expected a version X.Y.Z, got a number')
  })

  it('version "1.5" (quoted)', async () => {
    await bad(withGw('    version: "1.5"'), 10, 'gateways.gw-a.version', 'X.Y.Z')
  })

  it('version 1.5.0-rc1', async () => {
    await bad(withGw('    version: 1.5.0-rc1'), 10, 'gateways.gw-a.version', 'no pre-release')
  })

  it('release.version bad', async () => {
    const lines = [...BASE]
    lines[2] = '  version: v1.5.0'
    await bad(inventory(lines), 3, 'release.version', 'X.Y.Z')
  })

  it('release.version missing', async () => {
    const lines = BASE.filter((l) => !l.includes('version:'))
    await bad(inventory(lines), 1, 'release.version', 'missing required key "version"')
  })

  it('release missing', async () => {
    const lines = BASE.slice(3)
    await bad(inventory(lines), 1, 'release', 'missing required key "release"')
  })

  it('jump "ops@"', async () => {
    await bad(withGw('    jump: ops@'), 10, 'gateways.gw-a.jump', 'empty host')
  })

  it('jump "host:port:x"', async () => {
    await bad(withGw('    jump: host:22:x'), 10, 'gateways.gw-a.jump', 'too many ":"')
  })

  it('jump with bad port', async () => {
    await bad(withGw('    jump: ops@bastion:99999'), 10, 'gateways.gw-a.jump', 'out of range')
  })

  it('jump with an empty hop', async () => {
    await bad(withGw('    jump: a,,b'), 10, 'gateways.gw-a.jump', 'hop 2: empty element')
  })

  it('jump with unclosed IPv6 bracket', async () => {
    await bad(withGw('    jump: "[::1:22"'), 10, 'gateways.gw-a.jump', 'missing "]"')
  })

  it('host with whitespace', async () => {
    await bad(withGw('    port: 22', '    host2: x'), 11, 'gateways.gw-a.host2', 'did you mean "host"?')
    const lines = [...BASE]
    lines[7] = '    host: "gw 1"'
    await bad(inventory(lines), 8, 'gateways.gw-a.host', 'whitespace')
  })

  it('host with a leading dash', async () => {
    const lines = [...BASE]
    lines[7] = '    host: -oProxyCommand=touch'
    await bad(inventory(lines), 8, 'gateways.gw-a.host', "must not start with '-'")
  })

  it('user with a leading dash', async () => {
    await bad(withGw('    user: -x'), 10, 'gateways.gw-a.user', "must not start with '-'")
  })

  it('label value that is not a string', async () => {
    await bad(withGw('    labels: { tier: 1 }'), 10, 'gateways.gw-a.labels.tier', 'quote it')
  })

  it('gateway that is not a mapping', async () => {
    await bad(withGw('  gw-b: 10.0.0.3'), 10, 'gateways.gw-b', 'expected a mapping')
  })

  it('empty gateways map', async () => {
    await bad(inventory([...BASE.slice(0, 5), 'gateways: {}']), 6, 'gateways', 'gateways map is empty')
  })

  it('gateways with nothing under it', async () => {
    await bad(inventory([...BASE.slice(0, 5), 'gateways:']), 6, 'gateways', 'gateways map is empty')
  })

  it('an inventory that is not a mapping', async () => {
    const f = inventory(['- a', '- b'])
    const err = await rejection(loadInventory(f))
    expectLocated(err, f, 1)
  })

  it('reports several problems at once, first by line', async () => {
    const err = await bad(withGw('    port: 0', '    become: 1'), 10, 'gateways.gw-a.port')
    expect(err.message).toContain(':11 (gateways.gw-a.become)')
  })
})
