// ProxyJump specs (`[user@]host[:port]`, comma chains, `ssh://` URIs) parsed into hops.
import { InputError, type InputLocation } from '../errors.js'

/** One jump host on the way to a gateway; port and user left out mean "the default". */
export interface Hop {
  user?: string
  host: string
  port?: number
}

const HOSTNAME = /^[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$/
// Inside brackets: IPv6 (optionally with a zone) or anything a hostname may be.
const BRACKETED = /^[A-Za-z0-9._:%-]+$/
// Users are data handed to ssh2, never to a shell; refuse only what breaks the syntax or reads as an option.
const USER = /^[^\s@:/[\],\x00-\x1f\x7f-][^\s:/[\],\x00-\x1f\x7f]*$/

/** Parse a ProxyJump value (comma chain of `[user@]host[:port]` or `ssh://[user@]host[:port]`) into hops, first hop first. */
export function parseJump(spec: string, where: InputLocation = { file: 'jump' }): Hop[] {
  const hops = hopsOrProblem(spec)
  if (typeof hops === 'string') throw new InputError(hops, where)
  return hops
}

/** Why parseJump would refuse a ProxyJump value, or undefined when it accepts it (the inventory's check). */
export function jumpProblem(spec: string): string | undefined {
  const hops = hopsOrProblem(spec)
  return typeof hops === 'string' ? hops : undefined
}

// Thrown inside the parser only; it never leaves this module.
class JumpSyntax extends Error {}

function hopsOrProblem(spec: string): Hop[] | string {
  const fail = (why: string): never => {
    throw new JumpSyntax(`invalid jump ${JSON.stringify(spec)}: ${why}`)
  }
  try {
    if (spec === '') fail('empty')
    if (/\s/.test(spec)) fail('whitespace is not allowed')
    return spec.split(',').map((el, i) => parseHop(el, (why) => fail(`hop ${i + 1}: ${why}`)))
  } catch (e) {
    if (e instanceof JumpSyntax) return e.message
    throw e
  }
}

function parseHop(el: string, fail: (why: string) => never): Hop {
  if (el === '') fail('empty element')
  let rest = el
  if (/^ssh:\/\//i.test(rest)) {
    rest = rest.slice('ssh://'.length)
    if (rest.endsWith('/')) rest = rest.slice(0, -1)
    if (rest.includes('/')) fail('an ssh:// URI takes no path')
  }
  let user: string | undefined
  const at = rest.lastIndexOf('@')
  if (at >= 0) {
    user = rest.slice(0, at)
    rest = rest.slice(at + 1)
    if (user === '') fail('empty user before "@"')
    if (!USER.test(user)) fail(`bad user ${JSON.stringify(user)}`)
  }
  let host: string
  let portText: string | undefined
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']')
    if (close < 0) fail('missing "]"')
    host = rest.slice(1, close)
    const after = rest.slice(close + 1)
    if (after !== '') {
      if (!after.startsWith(':')) fail(`unexpected ${JSON.stringify(after)} after "]"`)
      portText = after.slice(1)
    }
    if (host === '') fail('empty host')
    if (!BRACKETED.test(host) || host.startsWith('-')) fail(`bad host ${JSON.stringify(host)}`)
  } else {
    const parts = rest.split(':')
    if (parts.length > 2) fail('too many ":" (write IPv6 addresses as [addr]:port)')
    host = parts[0]!
    portText = parts[1]
    if (host === '') fail('empty host')
    if (host.startsWith('-')) fail('a host must not start with "-"')
    if (!HOSTNAME.test(host)) fail(`bad host ${JSON.stringify(host)}`)
  }
  const hop: Hop = { host }
  if (user !== undefined) hop.user = user
  if (portText !== undefined) hop.port = parsePort(portText, fail)
  return hop
}

function parsePort(text: string, fail: (why: string) => never): number {
  if (!/^[0-9]{1,5}$/.test(text)) fail(`bad port ${JSON.stringify(text)}`)
  const port = Number(text)
  if (port < 1 || port > 65535) fail(`port ${port} out of range 1-65535`)
  return port
}
