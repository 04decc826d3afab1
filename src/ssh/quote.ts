// POSIX shell quoting: the one place where data becomes shell text.
import { InputError } from '../errors.js'

// Characters that carry no meaning to a POSIX shell in any position of a word.
const SAFE = /^[A-Za-z0-9_./:=@%+,-]+$/
// `NAME=...` in command position would be taken as a variable assignment, so such words get quoted.
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/

/** Quote one argument so a POSIX shell reads it back as exactly this string. */
export function shq(s: string): string {
  if (s.includes('\0')) throw new InputError('a shell argument cannot contain a NUL byte', { file: 'quote' })
  if (SAFE.test(s) && !ASSIGNMENT.test(s)) return s
  return `'${s.replace(/'/g, `'\\''`)}'`
}

/** Quote every element of argv and join them with spaces into one shell command line. */
export function shJoin(argv: string[]): string {
  return argv.map(shq).join(' ')
}
