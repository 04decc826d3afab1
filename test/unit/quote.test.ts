import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { InputError } from '../../src/errors.js'
import { shJoin, shq } from '../../src/ssh/quote.js'

// Run a command line through a real POSIX shell and return what it printed.
function sh(cmd: string): string {
  return execFileSync('sh', ['-c', cmd], { encoding: 'utf8' })
}

const nasty = [
  '',
  'plain',
  'with space',
  '$(touch /tmp/gwfleet-pwned)',
  '`id`',
  '${HOME}',
  '$HOME',
  'a;b',
  'a && b || c',
  'a|b',
  "it's",
  "''",
  "'",
  '"double"',
  '\\backslash\\',
  'line1\nline2',
  '\n',
  'trailing newline\n',
  'tab\there',
  '*',
  '?',
  '[a-z]',
  '~',
  '~root',
  '{a,b}',
  '#comment',
  '-n',
  '-e',
  '%s%d',
  'FOO=bar',
  'a=b',
  '!',
  '>out <in',
  '&',
  'grüße ☃ 日本',
  '\u00a0nbsp',
  "mixed 'single' \"double\" $(x) `y` \\ ;",
]

describe('shq', () => {
  it('leaves safe strings unquoted', () => {
    expect(shq('abc')).toBe('abc')
    expect(shq('/opt/gwfleet/1.5.0/values.yaml')).toBe('/opt/gwfleet/1.5.0/values.yaml')
    expect(shq('ops@host.example:22')).toBe('ops@host.example:22')
    expect(shq('--helm-values-file-path')).toBe('--helm-values-file-path')
    expect(shq('a+b,c%d')).toBe('a+b,c%d')
  })

  it('quotes the empty string and everything unsafe', () => {
    expect(shq('')).toBe("''")
    expect(shq('a b')).toBe("'a b'")
    expect(shq("it's")).toBe("'it'\\''s'")
    expect(shq('$(x)')).toBe("'$(x)'")
    expect(shq('~')).toBe("'~'")
  })

  it('quotes words that a shell would read as an assignment', () => {
    expect(shq('FOO=bar')).toBe("'FOO=bar'")
    expect(sh(`${shq('FOO=bar')} 2>/dev/null; echo $?`).trim()).toBe('127')
    expect(shq('--opt=x')).toBe('--opt=x')
  })

  it('refuses NUL bytes', () => {
    expect(() => shq('a\0b')).toThrow(InputError)
  })

  it.each(nasty)('round-trips %j through sh', (x) => {
    expect(sh('printf %s ' + shq(x))).toBe(x)
  })
})

describe('shJoin', () => {
  it('joins quoted words', () => {
    expect(shJoin(['sudo', '-n', 'sh', '-c', 'echo hi'])).toBe("sudo -n sh -c 'echo hi'")
    expect(shJoin([])).toBe('')
  })

  it('round-trips a whole argv through sh', () => {
    const out = sh(shJoin(['printf', '%s\\0', ...nasty]))
    const parts = out.split('\0')
    expect(parts.pop()).toBe('')
    expect(parts).toEqual(nasty)
  })

  it('survives nested quoting (sh -c of a joined command)', () => {
    const inner = shJoin(['printf', '%s', "a 'b' $(c)"])
    expect(sh(shJoin(['sh', '-c', inner]))).toBe("a 'b' $(c)")
  })
})
