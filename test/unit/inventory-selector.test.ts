import { describe, expect, it } from 'vitest'
import { InputError } from '../../src/errors.js'
import { selectGateways } from '../../src/inventory/selector.js'
import type { Gateway } from '../../src/types.js'

function gw(name: string, labels: Record<string, string> = {}): Gateway {
  return {
    name,
    host: `${name}.example`,
    become: false,
    remoteDir: '/opt/gwfleet',
    version: '1.5.0',
    valuesFile: `/v/${name}.yaml`,
    labels,
    source: { file: '/inv.yaml', line: 1 },
  }
}

const FLEET = [
  gw('eu-berlin', { ring: 'canary', site: 'berlin' }),
  gw('us-boston', { ring: 'main', site: 'boston' }),
  gw('eu-paris', { ring: 'main', site: 'paris' }),
  gw('eu-1', { ring: 'main' }),
  gw('eu-2'),
]

const names = (limit: string | undefined) => selectGateways(FLEET, limit).map((g) => g.name)

function limitError(limit: string): InputError {
  try {
    selectGateways(FLEET, limit)
  } catch (e) {
    expect(e).toBeInstanceOf(InputError)
    expect((e as InputError).location?.file).toBe('--limit')
    expect((e as InputError).message.startsWith('--limit: ')).toBe(true)
    return e as InputError
  }
  throw new Error(`expected --limit "${limit}" to fail`)
}

describe('selectGateways', () => {
  it('selects everything without a limit', () => {
    expect(names(undefined)).toEqual(FLEET.map((g) => g.name))
  })

  it('selects by name, keeping inventory order', () => {
    expect(names('eu-paris,eu-berlin')).toEqual(['eu-berlin', 'eu-paris'])
    expect(names(' us-boston ')).toEqual(['us-boston'])
  })

  it('selects by glob', () => {
    expect(names('eu-*')).toEqual(['eu-berlin', 'eu-paris', 'eu-1', 'eu-2'])
    expect(names('eu-?')).toEqual(['eu-1', 'eu-2'])
    expect(names('*-b*')).toEqual(['eu-berlin', 'us-boston'])
  })

  it('treats regex characters in globs literally', () => {
    expect(() => names('eu.*')).toThrow(/selects no gateway/)
  })

  it('selects by label', () => {
    expect(names('ring=canary')).toEqual(['eu-berlin'])
    expect(names('ring=main,site=berlin')).toEqual(['eu-berlin', 'us-boston', 'eu-paris', 'eu-1'])
    expect(names('site=b*')).toEqual(['eu-berlin', 'us-boston'])
    expect(names('site=*')).toEqual(['eu-berlin', 'us-boston', 'eu-paris'])
  })

  it('excludes by name, glob and label', () => {
    expect(names('eu-*,!eu-paris')).toEqual(['eu-berlin', 'eu-1', 'eu-2'])
    expect(names('eu-*,!eu-?')).toEqual(['eu-berlin', 'eu-paris'])
    expect(names('eu-*,!ring=main')).toEqual(['eu-berlin', 'eu-2'])
  })

  it('only excludes means all minus the excluded', () => {
    expect(names('!ring=canary')).toEqual(['us-boston', 'eu-paris', 'eu-1', 'eu-2'])
    expect(names('!eu-*,!eu-berlin')).toEqual(['us-boston'])
  })

  it('a plain name that matches nothing is an error, with a hint', () => {
    const e = limitError('eu-berln')
    expect(e.message).toBe('--limit: no gateway named "eu-berln" (did you mean "eu-berlin"?)')
    expect(limitError('nope').message).toContain('no gateway named "nope"')
    expect(limitError('!nope').message).toContain('no gateway named "nope"')
  })

  it('a glob or label matching nothing is fine when others match', () => {
    expect(names('eu-1,zz-*,ring=none')).toEqual(['eu-1'])
  })

  it('an empty result is an error', () => {
    expect(limitError('zz-*').message).toContain('selects no gateway')
    expect(limitError('ring=none').message).toContain('selects no gateway')
    expect(limitError('eu-1,!eu-1').message).toContain('selects no gateway')
  })

  it('malformed terms are errors', () => {
    expect(limitError('').message).toContain('empty')
    expect(limitError('eu-1,,eu-2').message).toContain('empty term')
    expect(limitError('eu-1,').message).toContain('empty term')
    expect(limitError('!').message).toContain('empty term')
    expect(limitError('=x').message).toContain('malformed label term')
    expect(limitError('x=').message).toContain('malformed label term')
    expect(limitError('!=x').message).toContain('malformed label term')
  })
})

describe('@ terms resolved by the caller (@failed)', () => {
  const gws = ['a-1', 'a-2', 'b-1'].map((name) => ({name, labels: {site: name[0]}}) as unknown as import('../../src/types.js').Gateway)
  const lookup = (term: string) => {
    if (term === '@failed') return new Set(['a-2', 'b-1', 'gone'])
    throw new Error(`unexpected ${term}`)
  }
  it('selects the names the lookup gives, combined with other terms', async () => {
    const {selectGateways} = await import('../../src/inventory/selector.js')
    expect(selectGateways(gws, '@failed', lookup).map((g) => g.name)).toEqual(['a-2', 'b-1'])
    expect(selectGateways(gws, '@failed,!site=b', lookup).map((g) => g.name)).toEqual(['a-2'])
    expect(selectGateways(gws, 'a-1,@failed', lookup).map((g) => g.name)).toEqual(['a-1', 'a-2', 'b-1'])
  })
  it('is bad input where the command has no lookup', async () => {
    const {selectGateways} = await import('../../src/inventory/selector.js')
    expect(() => selectGateways(gws, '@failed')).toThrow(/"@failed" is not a selector this command knows/)
  })
})
