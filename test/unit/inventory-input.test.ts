// Hostile input files on the workstation: alias bombs, FIFOs and devices, huge files, symbolic
// links out of the inventory's folder, remoteDirs the hash probe cannot read back, jump specs the
// connection would refuse, and two gateways sharing one host. Each is bad input (InputError with
// file, line and key), found before anything is read without bound or any host is contacted.
import { execFileSync } from 'node:child_process'
import { closeSync, ftruncateSync, openSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { InputError } from '../../src/errors.js'
import { SECRET_FILE_LIMIT, VALUES_LIMIT, readInputFile } from '../../src/inventory/input-file.js'
import { loadInventory } from '../../src/inventory/load.js'
import { RENDERED_LIMIT, renderValues } from '../../src/inventory/values.js'
import { MAX_ALIAS_EXPANSION, MAX_DEPTH } from '../../src/inventory/yaml-util.js'
import { parseJump } from '../../src/ssh/jump.js'
import { BASE, badGateway, expectLocated, rejection, tree } from './fixtures/inventory/helpers.js'


/** A folder with an inventory (lines), values/a.yaml and extra files; returns the inventory path. */
function inventory(lines: string[], extra: Record<string, string> = {}): string {
  const dir = tree({ 'inventory.yaml': lines.join('\n') + '\n', 'values/a.yaml': 'tenant: t\n', ...extra })
  return path.join(dir, 'inventory.yaml')
}

async function bad(file: string, line: number, key: string | undefined, ...snippets: (string | RegExp)[]): Promise<InputError> {
  const err = await rejection(loadInventory(file))
  expectLocated(err, file, line, key)
  for (const s of snippets) expect(err.message).toMatch(s)
  return err
}

/** Nine levels of nine aliases each: 10^9 nodes once expanded, a few hundred bytes written. */
function laughs(prefix: string, indent = ''): string[] {
  const out = [`${indent}${prefix}1: &${prefix}1 [lol, lol, lol, lol, lol, lol, lol, lol, lol]`]
  for (let i = 2; i <= 9; i++) out.push(`${indent}${prefix}${i}: &${prefix}${i} [${Array(9).fill(`*${prefix}${i - 1}`).join(', ')}]`)
  return out
}

function mkfifo(p: string): string {
  execFileSync('mkfifo', [p])
  return p
}

/** A sparse file of `size` bytes (no disk used): what a 214 MB values file looks like to stat. */
function sparse(p: string, size: number): string {
  const fd = openSync(p, 'w')
  ftruncateSync(fd, size)
  closeSync(fd)
  return p
}

describe('YAML aliases, nesting and keys', () => {
  it('a billion-laughs inventory names the line and key where the aliases pass the limit', async () => {
    // Added per level: 9 x 10, 9 x 91, 9 x 820, 9 x 7381 (74,718 so far); the first *l5 of l6 (line 7) passes 100,000.
    const f = inventory(['release: { dir: r, version: 1.5.0 }', ...laughs('l'), 'gateways: { a: { host: h, values: values/a.yaml } }'])
    const err = await bad(f, 7, 'l6[0]', 'aliases expand to more than', String(MAX_ALIAS_EXPANSION))
    expect(err.message).toContain('billion laughs')
  })

  it('a billion-laughs values file is refused the same way', async () => {
    const dir = tree({ 'values.yaml': ['tenant: t', 'extra:', ...laughs('v', '  ')].join('\n') + '\n' })
    const f = path.join(dir, 'values.yaml')
    const err = await rejection(renderValues(f, { env: {} }))
    expectLocated(err, f, 8, 'extra.v6[0]')
  })

  it('many gateways sharing one anchor are fine', async () => {
    const lines = ['release: { dir: r, version: 1.5.0 }', 'defaults:', '  labels: &eu { site: eu, tier: prod, ring: main }', 'gateways:']
    for (let i = 0; i < 1000; i++) lines.push(`  g${i}: { host: h${i}, values: values/a.yaml, labels: *eu }`)
    const inv = await loadInventory(inventory(lines))
    expect(inv.gateways).toHaveLength(1000)
    expect(inv.gateways[999]!.labels).toEqual({ site: 'eu', tier: 'prod', ring: 'main' })
  })

  it('an alias without an anchor before it', async () => {
    await bad(inventory([...BASE, '    labels: *nowhere']), 10, 'gateways.gw-a.labels', 'alias *nowhere has no anchor')
  })

  it('an alias inside the node it names (a loop)', async () => {
    await bad(inventory([...BASE, '    labels: &me { a: *me }']), 10, 'gateways.gw-a.labels.a', 'inside the node it names')
  })

  it('an anchor on a key can be aliased', async () => {
    const inv = await loadInventory(inventory([...BASE, '    labels: { &k ring: *k }']))
    expect(inv.gateways[0]!.labels).toEqual({ ring: 'ring' })
  })

  it('nesting deeper than the limit', async () => {
    const deep = `${'['.repeat(MAX_DEPTH + 5)}x${']'.repeat(MAX_DEPTH + 5)}`
    await bad(inventory([...BASE, `    labels: ${deep}`]), 10, undefined, `nested more than ${MAX_DEPTH} levels`)
  })

  it('a key that is a list', async () => {
    await bad(inventory([...BASE, '    labels:', '      ? [a, b]', '      : c']), 11, 'gateways.gw-a.labels', 'a key must be a plain value')
  })
})

describe('input files: regular files only, bounded, no link out of the inventory folder', () => {
  it("a values file that is a FIFO is refused as that gateway's own problem (never opened)", async () => {
    const f = inventory(BASE, { 'values/a.yaml': '' })
    const fifo = path.join(path.dirname(f), 'values', 'fifo.yaml')
    mkfifo(fifo)
    const lines = [...BASE]
    lines[8] = '    values: values/fifo.yaml'
    writeFileSync(f, lines.join('\n') + '\n')
    await badGateway(f, 9, 'gateways.gw-a.values', 'values file is a FIFO, not a regular file', fifo)
  })

  it('an inventory that is a FIFO or a directory', async () => {
    const dir = tree({})
    const fifo = mkfifo(path.join(dir, 'inv.yaml'))
    const err = await rejection(loadInventory(fifo))
    expect(err.location?.file).toBe(fifo)
    expect(err.message).toContain('is a FIFO, not a regular file')
    const err2 = await rejection(loadInventory(dir))
    expect(err2.message).toContain('is a directory, not a regular file')
  })

  it('a 214 MB values file is refused by its size, before reading', async () => {
    const f = inventory(BASE)
    sparse(path.join(path.dirname(f), 'values', 'a.yaml'), 214 * 1024 * 1024)
    await badGateway(f, 9, 'gateways.gw-a.values', 'values file is 214 MiB, over the 4 MiB limit')
    const err = await rejection(renderValues(path.join(path.dirname(f), 'values', 'a.yaml')))
    expect(err.message).toContain('over the 4 MiB limit')
  })

  it('an inventory over 4 MiB', async () => {
    const f = inventory(BASE)
    sparse(f, VALUES_LIMIT + 1)
    const err = await rejection(loadInventory(f))
    expect(err.message).toContain('inventory file is 4194305 bytes, over the 4 MiB limit')
  })

  it('a values file that is a symbolic link to /etc/shadow is refused, naming where it leads', async () => {
    const f = inventory(BASE)
    const link = path.join(path.dirname(f), 'values', 'shadow.yaml')
    symlinkSync('/etc/shadow', link)
    const lines = [...BASE]
    lines[8] = '    values: values/shadow.yaml'
    writeFileSync(f, lines.join('\n') + '\n')
    await badGateway(f, 9, 'gateways.gw-a.values', "leads out of the inventory's folder", 'to /etc/shadow', link)
  })

  it('a folder inside the tree that links out is refused too', async () => {
    const outside = tree({ 'a.yaml': 'tenant: t\n' })
    const f = inventory(BASE, { 'values/.keep': '' })
    symlinkSync(outside, path.join(path.dirname(f), 'shared'))
    const lines = [...BASE]
    lines[8] = '    values: shared/a.yaml'
    writeFileSync(f, lines.join('\n') + '\n')
    await badGateway(f, 9, 'gateways.gw-a.values', `to ${path.join(outside, 'a.yaml')}`)
  })

  it('links that stay inside the tree, and paths written outside it, are read', async () => {
    const outside = tree({ 'secret.txt': 'outside-secret\n' })
    const f = inventory(BASE, { 'common/a.yaml': `tenant: t\nhelmRepoPassword: \${file:${outside}/secret.txt}\nhelmRepoUsername: \${file:../s.txt}\n`, 's-real.txt': 'inside\n' })
    const dir = path.dirname(f)
    symlinkSync('../common/a.yaml', path.join(dir, 'values', 'linked.yaml'))
    symlinkSync('s-real.txt', path.join(dir, 's.txt'))
    const lines = [...BASE]
    lines[8] = '    values: values/linked.yaml'
    writeFileSync(f, lines.join('\n') + '\n')
    const inv = await loadInventory(f)
    const r = await renderValues(inv.gateways[0]!.valuesFile, { env: {}, inventory: f })
    expect(r.secrets.sort()).toEqual(['inside', 'outside-secret'])
  })

  it('a ${file:} secret linked out of the inventory folder is refused at its line and key', async () => {
    const f = inventory(BASE, { 'values/a.yaml': 'tenant: t\nauth:\n  orchestrator:\n    clientSecret: ${file:../key.txt}\n' })
    symlinkSync('/etc/shadow', path.join(path.dirname(f), 'key.txt'))
    const v = path.join(path.dirname(f), 'values', 'a.yaml')
    const err = await rejection(renderValues(v, { env: {}, inventory: f }))
    expectLocated(err, v, 4, 'auth.orchestrator.clientSecret')
    expect(err.message).toContain('${file:../key.txt}: secret file is a symbolic link')
    expect(err.message).toContain('to /etc/shadow')
  })

  it('a ${file:} FIFO or /dev/zero is refused without opening it (no hang)', async () => {
    const dir = tree({ 'values.yaml': 'tenant: t\nhelmRepoPassword: ${file:pipe}\nhelmRepoUsername: ${file:/dev/zero}\n' })
    mkfifo(path.join(dir, 'pipe'))
    const v = path.join(dir, 'values.yaml')
    const err = await rejection(renderValues(v, { env: {} }))
    expectLocated(err, v, 2, 'helmRepoPassword')
    expect(err.message).toContain('secret file is a FIFO, not a regular file')
    writeFileSync(v, 'tenant: t\nhelmRepoUsername: ${file:/dev/zero}\n')
    const err2 = await rejection(renderValues(v, { env: {} }))
    expectLocated(err2, v, 2, 'helmRepoUsername')
    expect(err2.message).toContain('secret file is a character device, not a regular file: /dev/zero')
  })

  it('a ${file:} secret over 1 MiB', async () => {
    const dir = tree({ 'values.yaml': 'tenant: t\nhelmRepoPassword: ${file:big}\n' })
    sparse(path.join(dir, 'big'), SECRET_FILE_LIMIT + 1)
    const v = path.join(dir, 'values.yaml')
    const err = await rejection(renderValues(v, { env: {} }))
    expectLocated(err, v, 2, 'helmRepoPassword')
    expect(err.message).toContain('over the 1 MiB limit')
  })

  it('many references to one large secret are bounded in total', async () => {
    const refs = Array.from({ length: 12 }, (_, i) => `k${i}: \${file:big}`)
    const dir = tree({ 'values.yaml': ['tenant: t', ...refs].join('\n') + '\n', big: 'x'.repeat(SECRET_FILE_LIMIT) })
    const v = path.join(dir, 'values.yaml')
    const err = await rejection(renderValues(v, { env: {} }))
    // The file's own bytes and 7 references fit in 8 MiB; the 8th (k7, line 9) passes it.
    expect(RENDERED_LIMIT).toBe(8 * 1024 * 1024)
    expectLocated(err, v, 9, 'k7')
    expect(err.message).toContain('larger than the 8 MiB limit')
  })

  it('readInputFile reads a regular file whole and says why it will not read others', () => {
    const dir = tree({ 'a.txt': 'hello\n' })
    expect(readInputFile(path.join(dir, 'a.txt'), { limit: 6 })).toEqual({ text: 'hello\n' })
    expect(readInputFile(path.join(dir, 'a.txt'), { limit: 5 })).toEqual({ why: 'is 6 bytes, over the 5 bytes limit' })
    expect(readInputFile(path.join(dir, 'none'), { limit: 5 })).toEqual({ why: 'not found' })
    expect(readInputFile('/dev/null', { limit: 5 })).toEqual({ why: 'is a character device, not a regular file' })
  })
})

describe('remoteDir the hash probe can read back', () => {
  it('a backslash is refused', async () => {
    await bad(inventory([...BASE, '    remoteDir: /opt/gw\\fleet']), 10, 'gateways.gw-a.remoteDir', 'backslash')
  })

  it('a newline is refused', async () => {
    await bad(inventory([...BASE, '    remoteDir: "/opt/gw\\nfleet"']), 10, 'gateways.gw-a.remoteDir', 'newlines')
  })

  it('a lone surrogate is refused', async () => {
    await bad(inventory([...BASE, '    remoteDir: "/opt/gw\\ud800"']), 10, 'gateways.gw-a.remoteDir', 'valid Unicode')
  })

  it('spaces, quotes and $ are kept (the scripts quote them)', async () => {
    const inv = await loadInventory(inventory([...BASE, `    remoteDir: "/opt/gw dir $(x) 'q'"`]))
    expect(inv.gateways[0]!.remoteDir).toBe("/opt/gw dir $(x) 'q'")
  })
})

describe('jump: the inventory accepts exactly what the connection parses', () => {
  const specs = [
    'bastion',
    'bast$ion',
    'ops@bastion.example:22',
    'a@one:1,two,three:3',
    '[::1]:22',
    'ssh://ops@bastion:2022',
    'ssh://host/path',
    'me@corp@bastion',
    'host;rm',
    'ho/st',
    'ops@',
    'a,,b',
    'host:99999',
    '-oProxyCommand=x',
    'ops@-host',
    '[::1',
    'bastion_1',
    'bastion-',
  ]
  it.each(specs)('%j', async (spec) => {
    let parsed = true
    try {
      parseJump(spec)
    } catch {
      parsed = false
    }
    const f = inventory([...BASE, `    jump: ${JSON.stringify(spec)}`])
    if (parsed) {
      expect((await loadInventory(f)).gateways[0]!.jump).toBe(spec)
    } else {
      await bad(f, 10, 'gateways.gw-a.jump', 'invalid jump')
    }
  })

  it('"bast$ion" is refused at load', async () => {
    await bad(inventory([...BASE, '    jump: "bast$ion"']), 10, 'gateways.gw-a.jump', 'bad host "bast$ion"')
  })
})

describe('two gateways on one host', () => {
  const two = (a: string[], b: string[]) =>
    inventory(['release: { dir: r, version: 1.5.0 }', 'defaults:', '  values: values/a.yaml', 'gateways:', '  one:', ...a, '  two:', ...b])

  it('the same host and port are refused, naming both gateways and lines', async () => {
    const f = two(['    host: 10.0.0.1'], ['    host: 10.0.0.1'])
    await bad(f, 8, 'gateways.two.host', 'gateways "one" (line 5) and "two" (line 7) both reach 10.0.0.1 port 22', 'one lock')
  })

  it('spelling differences do not hide it: case, a trailing dot, an explicit port 22, IPv6 forms', async () => {
    await bad(two(['    host: GW.example'], ['    host: gw.example.', '    port: 22']), 8, 'gateways.two.host', '"one"')
    await bad(two(['    host: "2001:db8::1"'], ['    host: "2001:0db8:0:0::1"']), 8, 'gateways.two.host', '"one"')
  })

  it('the same host through the same jump host', async () => {
    await bad(two(['    host: 10.0.0.1', '    jump: ops@b.example'], ['    host: 10.0.0.1', '    jump: b.example:22']), 9, 'gateways.two.host', 'via b.example:22')
  })

  it('other ports, other jump hosts or other remoteDirs are different places', async () => {
    const ok = [
      two(['    host: 10.0.0.1'], ['    host: 10.0.0.1', '    port: 2222']),
      two(['    host: 10.0.0.1', '    jump: b1'], ['    host: 10.0.0.1', '    jump: b2']),
      two(['    host: 10.0.0.1'], ['    host: 10.0.0.1', '    remoteDir: /opt/other']),
    ]
    for (const f of ok) expect((await loadInventory(f)).gateways.map((g) => g.name)).toEqual(['one', 'two'])
  })

  it('a third on the same host is reported too', async () => {
    const f = two(['    host: h'], ['    host: h'])
    writeFileSync(f, `${readFileSync(f, 'utf8')}  three:\n    host: h\n`)
    const err = await bad(f, 8, 'gateways.two.host')
    expect(err.message).toContain(':10 (gateways.three.host)')
  })
})
