// The inventory's JSON Schema: generated from the zod schema, shipped as inventory.schema.json,
// accepting the example inventories and rejecting what the loader rejects for its shape.
//
// No JSON Schema validator is installed, so `check` below interprets the keywords the generated
// schema uses, and the first test pins that set: a keyword it does not know fails the test.
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {parse} from 'yaml'
import {describe, expect, it} from 'vitest'

import {inventoryJsonSchema, type JsonSchema} from '../../src/inventory/schema.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const schema = inventoryJsonSchema()
const KNOWN = new Set(['$schema', 'title', 'description', 'type', 'properties', 'required', 'additionalProperties', 'propertyNames', 'pattern', 'minLength', 'minimum', 'maximum', 'minProperties', 'anyOf', 'enum'])

/** The problems of `value` against `s`, each with its path (empty: valid). */
function check(s: JsonSchema, value: unknown, at = '$'): string[] {
  const out: string[] = []
  if (s.anyOf) {
    const each = (s.anyOf as JsonSchema[]).map((o) => check(o, value, at))
    return each.some((p) => p.length === 0) ? [] : [`${at}: matches none of its forms (${each.map((p) => p.join(', ')).join(' | ')})`]
  }
  const type = s.type as string | undefined
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value)
  if (type === 'object' && !isObject) return [`${at}: not an object`]
  if (type === 'string' && typeof value !== 'string') return [`${at}: not a string`]
  if (type === 'boolean' && typeof value !== 'boolean') return [`${at}: not a boolean`]
  if (type === 'integer' && !Number.isInteger(value)) return [`${at}: not an integer`]
  if (s.enum !== undefined && !(s.enum as unknown[]).includes(value)) return [`${at}: not one of ${(s.enum as unknown[]).join(', ')}`]
  if (typeof value === 'string') {
    if (s.pattern !== undefined && !new RegExp(s.pattern as string, 'u').test(value)) out.push(`${at}: does not match ${s.pattern}`)
    if (s.minLength !== undefined && [...value].length < (s.minLength as number)) out.push(`${at}: too short`)
  }
  if (typeof value === 'number') {
    if (s.minimum !== undefined && value < (s.minimum as number)) out.push(`${at}: below minimum`)
    if (s.maximum !== undefined && value > (s.maximum as number)) out.push(`${at}: above maximum`)
  }
  if (isObject) {
    const obj = value as Record<string, unknown>
    const props = (s.properties ?? {}) as Record<string, JsonSchema>
    for (const r of (s.required ?? []) as string[]) if (!(r in obj)) out.push(`${at}: missing ${r}`)
    if (s.minProperties !== undefined && Object.keys(obj).length < (s.minProperties as number)) out.push(`${at}: too few entries`)
    for (const [k, v] of Object.entries(obj)) {
      if (s.propertyNames) out.push(...check({type: 'string', ...(s.propertyNames as JsonSchema)}, k, `${at} key ${JSON.stringify(k)}`))
      if (k in props) out.push(...check(props[k]!, v, `${at}.${k}`))
      else if (s.additionalProperties === false) out.push(`${at}: unknown key ${k}`)
      else if (typeof s.additionalProperties === 'object') out.push(...check(s.additionalProperties as JsonSchema, v, `${at}.${k}`))
    }
  }
  return out
}

function keywords(s: unknown, into = new Set<string>()): Set<string> {
  if (typeof s !== 'object' || s === null) return into
  for (const [k, v] of Object.entries(s)) {
    into.add(k)
    if (k === 'properties') for (const p of Object.values(v as object)) keywords(p, into)
    else if (k === 'additionalProperties' || k === 'propertyNames') keywords(v, into)
    else if (k === 'anyOf') for (const o of v as object[]) keywords(o, into)
  }
  return into
}

const load = (file: string) => parse(fs.readFileSync(file, 'utf8'))
const good = () => load(path.join(ROOT, 'inventory', 'fleet.yaml'))

describe('inventory JSON Schema', () => {
  it('uses only keywords this test interprets', () => {
    expect([...keywords(schema)].filter((k) => !KNOWN.has(k))).toEqual([])
  })

  it('is what the package ships (npm run build writes inventory.schema.json)', () => {
    expect(JSON.parse(fs.readFileSync(path.join(ROOT, 'inventory.schema.json'), 'utf8'))).toEqual(schema)
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
    expect(pkg.files).toContain('inventory.schema.json')
  })

  it('accepts the example inventories, which point their editor at it', () => {
    for (const file of [path.join(ROOT, 'inventory', 'fleet.yaml'), path.join(ROOT, 'test/unit/fixtures/inventory/good/inventory.yaml')]) {
      expect(check(schema, load(file)), file).toEqual([])
    }
    expect(fs.readFileSync(path.join(ROOT, 'inventory', 'fleet.yaml'), 'utf8').split('\n')[0]).toBe('# yaml-language-server: $schema=../inventory.schema.json')
  })

  it('rejects what the loader rejects for its shape', () => {
    const bad: [string, (inv: any) => void, RegExp][] = [
      ['unknown key', (i) => (i.gateways['berlin-1'].hots = 'x'), /unknown key hots/],
      ['port as text', (i) => (i.defaults.port = '22'), /defaults\.port: not an integer/],
      ['port out of range', (i) => (i.defaults.port = 70000), /defaults\.port: above maximum/],
      ['short version', (i) => (i.release.version = '1.5'), /release\.version: does not match/],
      ['pre-release', (i) => (i.gateways['boston-1'].version = '1.5.0-rc1'), /version: does not match/],
      ['bad gateway name', (i) => (i.gateways['-bad name'] = {host: 'h'}), /key "-bad name": does not match/],
      ['unknown hook', (i) => (i.hooks = {'before-all': 'true'}), /unknown key before-all/],
      ['hook without a command', (i) => (i.hooks = {'after-run': {timeout: '5m'}}), /after-run: matches none of its forms/],
      ['no host', (i) => delete i.gateways['berlin-1'].host, /berlin-1: missing host/],
      ['no release dir', (i) => delete i.release.dir, /release: missing dir/],
      ['host in defaults', (i) => (i.defaults.host = 'h'), /defaults: unknown key host/],
      ['become as text', (i) => (i.defaults.become = 'yes'), /become: not a boolean/],
      ['unknown state', (i) => (i.gateways['berlin-1'].state = 'gone'), /state: not one of present, absent/],
      ['state in defaults', (i) => (i.defaults.state = 'absent'), /defaults: unknown key state/],
      ['unknown rollout key', (i) => (i.rollout = {frist: 'x'}), /rollout: unknown key frist/],
      ['no gateways', (i) => (i.gateways = {}), /gateways: too few entries/],
      ['empty values path', (i) => (i.gateways['berlin-1'].values = ''), /values: too short/],
    ]
    for (const [what, edit, why] of bad) {
      const inv = good()
      edit(inv)
      const problems = check(schema, inv)
      expect(problems.join('\n'), what).toMatch(why)
    }
  })
})
