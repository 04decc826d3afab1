import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { renderValues } from '../../src/inventory/values.js'
import { expectLocated, rejection, tree } from './fixtures/inventory/helpers.js'

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'inventory')

const SECRET = `s3cr3t: #'"x\\y {z} - [a] & *b`
const FILE_SECRET = 'file-s3cr3t: #"quoted"'

/** Writes a values file (lines) plus extra files; returns its path. */
function values(lines: string[], extra: Record<string, string> = {}): string {
  const dir = tree({ 'values.yaml': lines.join('\n') + '\n', ...extra })
  return path.join(dir, 'values.yaml')
}

async function bad(file: string, line: number, key: string, env: NodeJS.ProcessEnv, ...snippets: string[]) {
  const err = await rejection(renderValues(file, { env }))
  expectLocated(err, file, line, key)
  for (const s of snippets) expect(err.message).toContain(s)
  expect(err.message).not.toContain(SECRET)
  expect(err.message).not.toContain('s3cr3t')
  return err
}

describe('renderValues: good input', () => {
  const env = { GW_TEST_SECRET: SECRET, HOME: '/nonexistent-home' }

  it('resolves env and file references with correct quoting', async () => {
    const file = path.join(FIXTURES, 'good', 'values', 'berlin-1.yaml')
    const r = await renderValues(file, { env })
    expect(r.file).toBe(file)
    const data = parse(r.text)
    expect(data.auth.orchestrator.clientSecret).toBe(SECRET)
    expect(data.helmRepoPassword).toBe('helm-pass: #x') // trailing newline stripped
    expect(data.extra).toEqual({ untouched: [1, 2, 3], url: 'https://x.example/${notaref}' })
    expect(data.dal.sources.s3).toEqual(['s3://bucket/a'])
    expect(r.secrets.sort()).toEqual(['helm-pass: #x', SECRET].sort())
    // The upload is the canonical rendering: the data only, no comments.
    expect(r.text).not.toContain('# vendor values for berlin-1')
    expect(r.text).not.toContain('# resolved at run time')
    expect(r.text).not.toContain('${env:')
    expect(r.secretKeys).toEqual(['auth.orchestrator.clientSecret', 'helmRepoPassword'])
    expect(r.ciliumEnabled).toBe(false)
    expect(r.datasetsFolder).toBe('/data/datasets')
    expect(r.dalStoragePath).toBe('/var/lib/dal')
    expect(r.sha256).toBe(createHash('sha256').update(r.text, 'utf8').digest('hex'))
  })

  it('sha256 is stable across renders and changes with the secret', async () => {
    const file = path.join(FIXTURES, 'good', 'values', 'berlin-1.yaml')
    const a = await renderValues(file, { env })
    const b = await renderValues(file, { env })
    expect(b.sha256).toBe(a.sha256)
    expect(b.text).toBe(a.text)
    const c = await renderValues(file, { env: { ...env, GW_TEST_SECRET: 'other' } })
    expect(c.sha256).not.toBe(a.sha256)
  })

  it('keeps the byte hash hosts deployed by earlier versions hold (legacySha256), so they migrate without a reinstall', async () => {
    const berlin = await renderValues(path.join(FIXTURES, 'good', 'values', 'berlin-1.yaml'), { env })
    const sha = (t: string) => createHash('sha256').update(t, 'utf8').digest('hex')
    expect(berlin.legacySha256).toBe(
      sha([
        '# vendor values for berlin-1',
        'tenant: acme-tenant',
        'auth:',
        '  domain: auth.example',
        '  orchestrator:',
        '    clientId: client-123',
        `    clientSecret: "s3cr3t: #'\\"x\\\\y {z} - [a] & *b" # resolved at run time`,
        'helmRepoUsername: robot',
        'helmRepoPassword: "helm-pass: #x"',
        'dal:',
        '  sources:',
        '    files:',
        '      folder: /data/datasets',
        '    s3:',
        '      - s3://bucket/a',
        '  persistence:',
        '    enabled: true',
        '    local:',
        '      hostPath: /var/lib/dal',
        'cilium:',
        '  enabled: false',
        '  egressToHost: true',
        'gpu:',
        '  enabled: false',
        'extra:',
        '  untouched: [ 1, 2, 3 ]',
        '  url: "https://x.example/${notaref}"',
        '',
      ].join('\n')),
    )
    expect(berlin.legacySha256).toBe('4dd1c2ccf28a1068994b6241840905c29236cfa69514482fd4eecc27988e6822')
    const boston = await renderValues(path.join(FIXTURES, 'good', 'values', 'boston-1.yaml'), { env })
    expect(boston.legacySha256).toBe('b57931cf66193a51e24f267833a6f5702c36c2ed01a85b353f937de520649233')
    // The canonical rendering is another text, with the same data.
    expect(berlin.sha256).not.toBe(berlin.legacySha256)
  })

  it('passes a file without references through unchanged in meaning', async () => {
    const file = path.join(FIXTURES, 'good', 'values', 'boston-1.yaml')
    const r = await renderValues(file, { env: {} })
    expect(r.secrets).toEqual([])
    expect(parse(r.text)).toEqual({ tenant: 'boston', auth: { orchestrator: { clientId: 'c', clientSecret: 'plain-not-a-ref' } } })
    expect(r.ciliumEnabled).toBe(true)
    expect(r.datasetsFolder).toBeUndefined()
    expect(r.dalStoragePath).toBeUndefined()
  })

  it('resolves references inside longer strings, ~ paths and multi-line secrets', async () => {
    const home = tree({ 'sec/ml.txt': 'line1\nline2: #x\n' })
    const file = values(
      [
        'tenant: t',
        'url: "https://${env:U}@repo.example/${env:P}"',
        'helmRepoPassword: ${file:~/sec/ml.txt}',
        'helmRepoUsername: ${file:sec.txt}',
        'empty: ${env:EMPTY}',
        'number: ${env:NUM}',
      ],
      { 'sec.txt': FILE_SECRET + '\r\n' },
    )
    const r = await renderValues(file, { env: { U: 'user', P: SECRET, HOME: home, EMPTY: '', NUM: '123' } })
    const data = parse(r.text)
    expect(data.url).toBe(`https://user@repo.example/${SECRET}`)
    expect(data.helmRepoPassword).toBe('line1\nline2: #x')
    expect(data.helmRepoUsername).toBe(FILE_SECRET)
    expect(data.empty).toBe('')
    expect(data.number).toBe('123') // stays a string
    expect(r.secrets).toContain(SECRET)
    expect(r.secrets).toContain('user')
    expect(r.secrets).toContain(FILE_SECRET)
    expect(r.secrets).toContain('line1\nline2: #x')
    expect(r.secrets).not.toContain('')
  })

  it('cilium.enabled true or absent means enabled', async () => {
    const r = await renderValues(values(['cilium:', '  enabled: true']), { env: {} })
    expect(r.ciliumEnabled).toBe(true)
  })
})

describe('renderValues: bad input names file, line and key, never the secret', () => {
  const env = { GW_TEST_SECRET: SECRET }

  it('missing values file', async () => {
    const err = await rejection(renderValues('/nonexistent/v.yaml'))
    expect(err.message).toContain('/nonexistent/v.yaml')
  })

  it('YAML syntax error does not echo the line', async () => {
    const f = values(['tenant: t', 'auth:', '  orchestrator:', '    clientSecret: "s3cr3t-literal', 'x: 1'])
    const err = await rejection(renderValues(f, { env }))
    expect(err.message).toContain('YAML syntax error')
    expect(err.message).toContain(`${f}:`)
    expect(err.location?.line).toBeGreaterThanOrEqual(4)
    expect(err.message).not.toContain('s3cr3t')
  })

  it('placeholder REDACTED', async () => {
    const f = values(['tenant: t', 'auth:', '  orchestrator:', '    clientId: id', '    clientSecret: REDACTED'])
    await bad(f, 5, 'auth.orchestrator.clientSecret', env, 'vendor placeholder REDACTED')
  })

  it('placeholder tenant', async () => {
    await bad(values(['tenant: APHERIS_PROVIDED_TENANT_ID']), 1, 'tenant', env, 'APHERIS_PROVIDED_TENANT_ID')
  })

  it('placeholder inside a list', async () => {
    const f = values(['dal:', '  sources:', '    s3:', '      - s3://ok', '      - s3://REDACTED/x'])
    await bad(f, 5, 'dal.sources.s3[1]', env, 'REDACTED')
  })

  it('placeholder arriving through a reference is refused without echoing the value', async () => {
    const f = values(['helmRepoPassword: ${env:P}'])
    const err = await bad(f, 1, 'helmRepoPassword', { P: 's3cr3t-REDACTED' }, 'placeholder')
    expect(err.message).not.toContain('s3cr3t')
  })

  it('unresolvable env', async () => {
    const f = values(['tenant: t', 'helmRepoPassword: ${env:GW_NOT_SET}'])
    await bad(f, 2, 'helmRepoPassword', env, 'GW_NOT_SET', 'not set')
  })

  it('bad env name', async () => {
    await bad(values(['tenant: ${env:1X}']), 1, 'tenant', env, 'not a valid environment variable name')
  })

  it('unresolvable file', async () => {
    const f = values(['tenant: t', 'auth:', '  orchestrator:', '    clientSecret: ${file:secrets/missing.txt}'])
    await bad(f, 4, 'auth.orchestrator.clientSecret', env, 'file not found', path.join(path.dirname(f), 'secrets', 'missing.txt'))
  })

  it('relative datasets folder', async () => {
    const f = values(['dal:', '  sources:', '    files:', '      folder: data/sets'])
    await bad(f, 4, 'dal.sources.files.folder', env, 'absolute path')
  })

  it('relative datasets folder from a reference', async () => {
    const f = values(['dal:', '  sources:', '    files:', '      folder: ${env:GW_TEST_SECRET}'])
    await bad(f, 4, 'dal.sources.files.folder', env, 'absolute path')
  })

  it('relative DAL storage path', async () => {
    const f = values(['dal:', '  persistence:', '    enabled: true', '    local:', '      hostPath: rel'])
    await bad(f, 5, 'dal.persistence.local.hostPath', env, 'absolute path')
  })

  it('dal.persistence.enabled not a bool', async () => {
    await bad(values(['dal:', '  persistence:', '    enabled: "no"']), 3, 'dal.persistence.enabled', env, 'true or false')
  })

  it('s3 not a list', async () => {
    const f = values(['dal:', '  sources:', '    s3: s3://bucket'])
    await bad(f, 3, 'dal.sources.s3', env, 'expected a list, got a string')
  })

  it('s3 list with a non-string', async () => {
    await bad(values(['dal:', '  sources:', '    s3: [s3://a, 3]']), 3, 'dal.sources.s3[1]', env, 'expected a string')
  })

  it('gpu.enabled "true" string', async () => {
    await bad(values(['tenant: t', 'gpu:', '  enabled: "true"']), 3, 'gpu.enabled', env, 'expected true or false, got a string')
  })

  it('cilium.egressToHost not a bool', async () => {
    await bad(values(['cilium:', '  enabled: true', '  egressToHost: 1']), 3, 'cilium.egressToHost', env, 'true or false')
  })

  it('tenant not a string', async () => {
    await bad(values(['tenant: 42']), 1, 'tenant', env, 'expected a string, got a number')
  })

  it('auth.orchestrator not a mapping', async () => {
    await bad(values(['auth:', '  orchestrator: [a]']), 2, 'auth.orchestrator', env, 'expected a mapping')
  })

  it('duplicate key', async () => {
    await bad(values(['tenant: a', 'x: 1', 'tenant: b']), 3, 'tenant', env, 'lines 1 and 3')
  })

  it('type error after a resolved secret does not leak it', async () => {
    const f = values(['auth:', '  orchestrator:', '    clientSecret: ${env:GW_TEST_SECRET}', 'gpu:', '  enabled: yes'])
    await bad(f, 5, 'gpu.enabled', env, 'true or false')
  })

  it('values file that is not a mapping', async () => {
    const f = values(['- a'])
    const err = await rejection(renderValues(f, { env }))
    expectLocated(err, f, 1)
  })
})

describe('renderValues: every run reads and checks the file anew', () => {
  const plain = ['tenant: t-1', 'auth:', '  domain: a.example', 'dal:', '  sources:', '    files:', '      folder: /srv/data', 'cilium:', '  enabled: false', '']

  it('the same bytes give the same values; a changed file is checked again', async () => {
    const file = values(plain)
    const first = await renderValues(file)
    const again = await renderValues(file)
    expect(again).toEqual(first)
    expect(again).toMatchObject({ secrets: [], ciliumEnabled: false, datasetsFolder: '/srv/data' })
    writeFileSync(file, ['tenant: REDACTED', ''].join('\n'))
    await expect(renderValues(file)).rejects.toThrow(/vendor placeholder REDACTED/)
  })

  it('a reference renders what it refers to now, also when written with a YAML escape', async () => {
    const withRef = values(['tenant: t', 'helmRepoPassword: "${env:GW_TEST_SECRET}"', ''])
    const a = await renderValues(withRef, { env: { GW_TEST_SECRET: 'one' } })
    const b = await renderValues(withRef, { env: { GW_TEST_SECRET: 'two' } })
    expect(b.sha256).not.toBe(a.sha256)
    expect(b.secrets).toEqual(['two'])
    const escaped = values(['tenant: t', 'helmRepoPassword: "\\x24{env:GW_EMPTY}"', ''])
    const r = await renderValues(escaped, { env: { GW_EMPTY: '' } })
    expect(r.text).toContain('helmRepoPassword: ""')
  })
})
