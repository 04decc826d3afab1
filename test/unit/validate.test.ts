// gwfleet validate's checks as functions: secret references (which resolve, never their values),
// the release zips a deploy may need, and the upgrade ways to each desired version.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {validate, validateTable, waysTo} from '../../src/cli/validate.js'
import {valuesKeyWarnings, valuesReferences} from '../../src/inventory/values.js'
import {unknownKeyText} from '../../src/inventory/vendor-keys.js'
import {writeZip} from './zip-writer.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-validate-'))
afterAll(() => fs.rmSync(tmp, {recursive: true, force: true}))

const SECRET_ENV = 'env-Secret-value-41'
const SECRET_FILE = 'file-Secret-value-97'

function workspace(name: string, versions: string[]) {
  const dir = path.join(tmp, name)
  fs.mkdirSync(path.join(dir, 'releases'), {recursive: true})
  fs.mkdirSync(path.join(dir, 'values'))
  fs.writeFileSync(path.join(dir, 'values', 'secret.txt'), `${SECRET_FILE}\n`)
  fs.writeFileSync(
    path.join(dir, 'values', 'a.yaml'),
    ['tenant: t-a', 'auth:', '  orchestrator:', '    clientSecret: ${env:V_SECRET}', 'helmRepoPassword: ${file:secret.txt}', 'helmRepoUsername: ${env:V_MISSING}', ''].join('\n'),
  )
  fs.writeFileSync(path.join(dir, 'values', 'b.yaml'), 'tenant: t-b\n')
  for (const v of versions) writeZip(path.join(dir, 'releases', `apheris-gateway-${v}.zip`), [{name: 'deploy_gateway', data: `#!/bin/bash\necho ${v}\n`}])
  const inv = path.join(dir, 'fleet.yaml')
  fs.writeFileSync(
    inv,
    ['release:', '  dir: releases', '  version: 1.5.0', 'gateways:', '  a:', '    host: a.example', '    values: values/a.yaml', '  b:', '    host: b.example', '    version: 1.4.1', '    values: values/b.yaml', ''].join('\n'),
  )
  return {dir, inv, zip: (v: string) => path.join(dir, 'releases', `apheris-gateway-${v}.zip`)}
}

describe('valuesReferences', () => {
  it('says which references resolve and why the others do not, never with a value', async () => {
    const w = workspace('refs', [])
    const refs = await valuesReferences(path.join(w.dir, 'values', 'a.yaml'), {env: {V_SECRET: SECRET_ENV}, inventory: w.inv})
    expect(refs).toEqual([
      {ref: '${env:V_SECRET}', line: 4, key: 'auth.orchestrator.clientSecret', resolvable: true},
      {ref: '${file:secret.txt}', line: 5, key: 'helmRepoPassword', resolvable: true},
      {ref: '${env:V_MISSING}', line: 6, key: 'helmRepoUsername', resolvable: false, problem: '${env:V_MISSING}: environment variable V_MISSING is not set'},
    ])
    expect(JSON.stringify(refs)).not.toContain(SECRET_ENV)
    expect(JSON.stringify(refs)).not.toContain(SECRET_FILE)
  })

  it('names a missing secret file', async () => {
    const w = workspace('refs-file', [])
    fs.rmSync(path.join(w.dir, 'values', 'secret.txt'))
    const refs = await valuesReferences(path.join(w.dir, 'values', 'a.yaml'), {env: {V_SECRET: SECRET_ENV, V_MISSING: 'x'}, inventory: w.inv})
    expect(refs.filter((r) => !r.resolvable)).toEqual([
      {ref: '${file:secret.txt}', line: 5, key: 'helmRepoPassword', resolvable: false, problem: `\${file:secret.txt}: secret file not found: ${path.join(w.dir, 'values', 'secret.txt')}`},
    ])
  })
})

describe('validate', () => {
  it('passes a complete workspace and lists what it checked', async () => {
    const w = workspace('ok', ['1.3.2', '1.4.0', '1.4.1', '1.5.0'])
    const {doc, secrets} = await validate({inventory: w.inv}, {V_SECRET: SECRET_ENV, V_MISSING: 'user'})
    expect(doc.problems).toEqual([])
    expect(doc.ok).toBe(true)
    expect(doc.values.map((v) => [v.gateways, v.ok])).toEqual([[['a'], true], [['b'], true]])
    // 1.5.0 for a, 1.4.1 (pinned) for b, and 1.3.2, a hop toward both; 1.4.0 is never installed.
    expect(doc.releases.map((r) => [r.version, r.role, r.ok])).toEqual([['1.3.2', 'hop', true], ['1.4.1', 'target', true], ['1.5.0', 'target', true]])
    expect(secrets).toEqual(expect.arrayContaining([SECRET_ENV, SECRET_FILE]))
    const shown = JSON.stringify(doc) + validateTable(doc)
    expect(shown).not.toContain(SECRET_ENV)
    expect(shown).not.toContain(SECRET_FILE)
  })

  it('collects every problem: unresolvable references, a missing target, a corrupt hop', async () => {
    const w = workspace('bad', ['1.3.2', '1.4.1'])
    const buf = fs.readFileSync(w.zip('1.3.2'))
    fs.writeFileSync(w.zip('1.3.2'), buf.subarray(0, buf.length - 10))
    const {doc} = await validate({inventory: w.inv}, {V_SECRET: SECRET_ENV})
    expect(doc.ok).toBe(false)
    expect(doc.problems).toEqual([
      expect.stringMatching(/a\.yaml:6 \(helmRepoUsername\): \$\{env:V_MISSING\}: environment variable V_MISSING is not set$/),
      expect.stringMatching(/fleet\.yaml:3 \(release\.version\): release 1\.5\.0 not found/),
      expect.stringContaining(`${w.zip('1.3.2')}: cannot read release zip`),
    ])
    expect(validateTable(doc).split('\n')[1]).toMatch(/^values\s+\S+a\.yaml\s+error/)
  })

  it('--limit narrows the values and releases checked', async () => {
    const w = workspace('limit', ['1.4.1'])
    const {doc} = await validate({inventory: w.inv, limit: 'b'}, {})
    expect(doc.ok).toBe(true)
    expect(doc.inventory).toMatchObject({gateways: 2, selected: 1})
    expect(doc.releases.map((r) => r.version)).toEqual(['1.4.1'])
  })
})

describe('values keys the vendor guide does not know', () => {
  const file = (name: string, lines: string[]) => {
    const f = path.join(tmp, name)
    fs.writeFileSync(f, `${lines.join('\n')}\n`)
    return f
  }

  it('names file, line and key, with the documented key probably meant', () => {
    const f = file('typos.yaml', ['tenant: t', 'auth:', '  domian: auth.example.net', '  orchestrator:', '    clientId: c', 'gpu:', '  enabeld: true', 'tennant: x', 'domain: y', 'frobnicate: 1'])
    const found = valuesKeyWarnings(f)
    expect(found).toEqual([
      {file: f, line: 3, key: 'auth.domian', suggestion: 'auth.domain'},
      {file: f, line: 7, key: 'gpu.enabeld', suggestion: 'gpu.enabled'},
      {file: f, line: 8, key: 'tennant', suggestion: 'tenant'},
      {file: f, line: 9, key: 'domain', suggestion: 'auth.domain'},
      {file: f, line: 10, key: 'frobnicate'},
    ])
    expect(unknownKeyText(found[0])).toBe(`${f}:3 (auth.domian): not a key of the vendor installation guide; did you mean auth.domain?`)
    expect(unknownKeyText(found[4])).toBe(`${f}:10 (frobnicate): not a key of the vendor installation guide`)
  })

  it("knows every key of the guide's example and optional sections; anything below proxy is free; aliases are followed", () => {
    const f = file('guide.yaml', [
      'cilium: {egressToHost: true, enabled: false}',
      'tenant: t',
      'gpu: {enabled: false}',
      'auth: &a',
      '  domain: auth.app.apheris.net',
      '  orchestrator: {clientId: c, clientSecret: s}',
      'dal:',
      '  sources:',
      '    files: {folder: /home/datastore}',
      '    s3: [b1, b2]',
      '  persistence: {enabled: true, local: {hostPath: /srv/dal}}',
      'helmRepoUsername: u',
      'helmRepoPassword: p',
      'proxy: {httpsProxy: "http://proxy:3128", noProxy: "localhost", anythingTheChartKnows: {deep: 1}}',
      'copy: *a',
    ])
    // copy is unknown; what is under it is not looked at.
    expect(valuesKeyWarnings(f)).toEqual([{file: f, line: 15, key: 'copy'}])
  })

  it('validate: warnings by default (a deploy would accept the input), problems with --strict (exit 2)', async () => {
    const w = workspace('keys', ['1.4.1'])
    const b = path.join(w.dir, 'values', 'b.yaml')
    fs.writeFileSync(b, 'tenant: t-b\nauth:\n  domian: auth.example.net\n')
    const loose = await validate({inventory: w.inv, limit: 'b'}, {})
    expect(loose.doc.ok).toBe(true)
    expect(loose.doc.warnings).toEqual([`${b}:3 (auth.domian): not a key of the vendor installation guide; did you mean auth.domain?`])
    expect(loose.doc.values[0].unknownKeys).toEqual([{file: b, line: 3, key: 'auth.domian', suggestion: 'auth.domain'}])
    expect(validateTable(loose.doc)).toMatch(/^values key\s+auth\.domian \(line 3\)\s+warning\s+not in the vendor installation guide; did you mean auth\.domain\?$/m)
    const strict = await validate({inventory: w.inv, limit: 'b', strict: true}, {})
    expect(strict.doc.ok).toBe(false)
    expect(strict.doc.problems).toEqual([`${b}:3 (auth.domian): not a key of the vendor installation guide; did you mean auth.domain? (--strict)`])
    expect(validateTable(strict.doc).split('\n')[1]).toMatch(/^values key\s+auth\.domian \(line 3\)\s+error/)
  })
})

describe('waysTo', () => {
  it('plans from each older series in the folder; a gap is a refusal', () => {
    expect(waysTo('1.6.0', ['1.3.0', '1.3.5', '1.5.2', '1.6.0'])).toEqual([
      {to: '1.6.0', from: '1.5.x', hops: ['1.6.0'], refused: null},
      {to: '1.6.0', from: '1.3.x', hops: null, refused: 'no release of series 1.4 in the release folder (needed to go from 1.3.x to 1.6.0)'},
    ])
  })
})
