// Values compared as data: the canonical rendering (what is uploaded, hashed, recorded and audited)
// is the same for every text of the same data and differs when a value does.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {canonicalValues, keyPath, renderValues} from '../../src/inventory/values.js'

const BASE = [
  '# the vendor template',
  'tenant: acme',
  'auth:',
  '  domain: auth.example   # where tokens come from',
  '  orchestrator:',
  '    clientId: client-1',
  '    clientSecret: ${env:GW_SECRET}',
  'gpu:',
  '  enabled: false',
  'dal:',
  '  sources:',
  '    s3: [s3://a, s3://b]',
  'limits: {cpu: 2, big: 12345678901234567890}',
  'mode: "on"',
  '',
].join('\n')

/** The same data written differently: comments, quoting, key order, flow/block style, whitespace. */
const SAME_DATA = [
  'limits:',
  '  big: 12345678901234567890',
  '  cpu: 2',
  "mode: 'on'",
  'dal: {sources: {s3: ["s3://a", \'s3://b\']}}',
  'gpu:',
  '    enabled:    false',
  'auth:',
  '  orchestrator:',
  '    clientSecret: "${env:GW_SECRET}"   # moved',
  '    clientId: "client-1"',
  '  domain: auth.example',
  '',
  '',
  'tenant: "acme"',
].join('\n')

const env = {GW_SECRET: 's3cr3t: "q" \\ #x', HOME: '/nonexistent'}

function write(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-canon-'))
  const f = path.join(dir, 'values.yaml')
  fs.writeFileSync(f, text)
  return f
}

describe('canonical values', () => {
  it('gives the same text and sha256 for a comment, quoting, key order or whitespace edit', async () => {
    const a = await renderValues(write(BASE), {env})
    const b = await renderValues(write(SAME_DATA), {env})
    expect(b.legacySha256).not.toBe(a.legacySha256)
    expect(b.text).toBe(a.text)
    expect(b.sha256).toBe(a.sha256)
    const c = await renderValues(write(BASE.replace('# the vendor template', '# edited comment').replace('   # where', ' # there')), {env})
    expect(c.sha256).toBe(a.sha256)
  })

  it('gives another sha256 when a value, a secret, a type or a key changes', async () => {
    const a = await renderValues(write(BASE), {env})
    const edits = [
      BASE.replace('tenant: acme', 'tenant: acme2'),
      BASE.replace('cpu: 2', 'cpu: 3'),
      BASE.replace('cpu: 2', 'cpu: "2"'),
      BASE.replace('enabled: false', 'enabled: true'),
      BASE.replace('[s3://a, s3://b]', '[s3://b, s3://a]'),
      BASE.replace('tenant: acme', 'tenant2: acme'),
      BASE.replace('12345678901234567890', '12345678901234567891'),
    ]
    for (const [i, e] of edits.entries()) expect((await renderValues(write(e), {env})).sha256, `edit #${i}`).not.toBe(a.sha256)
    expect((await renderValues(write(BASE), {env: {...env, GW_SECRET: 'other'}})).sha256).not.toBe(a.sha256)
  })

  it('uploads the same data: strings stay strings for a YAML 1.1 reader, integers stay exact, secrets round-trip', async () => {
    const a = await renderValues(write(BASE), {env})
    expect(a.text).not.toContain('# where')
    expect(a.text).not.toContain('vendor template')
    expect(a.text).toContain('mode: "on"')
    expect(a.text).toContain('big: 12345678901234567890')
    const back = parse(a.text, {intAsBigInt: true})
    expect(back.auth.orchestrator.clientSecret).toBe(env.GW_SECRET)
    expect(back.mode).toBe('on')
    expect(back.limits.big).toBe(12345678901234567890n)
    expect(parse(a.text, {version: '1.1'}).mode).toBe('on')
    // The canonical text is a fixed point: rendering it again changes nothing.
    expect(canonicalValues(a.text).text).toBe(a.text)
    expect(a.secretKeys).toEqual(['auth.orchestrator.clientSecret'])
  })

  it('round-trips multi-line and odd strings', () => {
    const odd = ['line1\nline2\n', '  leading', 'trailing  ', 'a: b # c', '"\'\\', '', '~', 'null', '0777', '1:20', 'y', '\t\u00e9\u2028x']
    const c = canonicalValues(`list:\n${odd.map((s) => `  - ${JSON.stringify(s)}`).join('\n')}\n`)
    expect(parse(c.text).list).toEqual(odd)
    expect(parse(c.text, {version: '1.1'}).list).toEqual(odd)
  })

  it('says a text is not YAML without quoting it', () => {
    expect(() => canonicalValues('a: "s3cr3t\nb: [')).toThrow(/^not valid YAML$/)
  })

  it('names key paths as the diff shows them', () => {
    expect(keyPath(['auth', 'orchestrator', 'clientSecret'])).toBe('auth.orchestrator.clientSecret')
    expect(keyPath(['dal', 'sources', 's3', 0])).toBe('dal.sources.s3[0]')
    expect(keyPath(['labels', 'a.b'])).toBe('labels["a.b"]')
  })
})
