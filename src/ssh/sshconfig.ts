// A small reader for the user's ~/.ssh/config: the few options gwfleet honours, with OpenSSH's precedence,
// and what it cannot honour safely (a ProxyCommand, a Match block) found so a caller can refuse it.
import { readdir, readFile, stat } from 'node:fs/promises'
import { isAbsolute, join } from 'node:path'
import { InputError } from '../errors.js'
import { hasWildcard, wildcardMatch } from '../util/glob.js'
import { expandHome, homeDir, localUserName } from '../util/local.js'

/**
 * The block a directive sits in: a `Host` pattern list, or a `Match` block. A Match block is never
 * evaluated (its `exec` would run commands), so its settings never apply; matchBlocksFor tells
 * whether one could apply to a host.
 */
export type SshConfigCondition = { kind: 'host'; patterns: string[] } | { kind: 'match'; criteria: string[]; file: string; line: number }

/** One `Key value` line, with every enclosing block condition (outer Include context first) that must hold. */
export interface SshConfigDirective {
  key: string
  args: string[]
  file: string
  line: number
  when: SshConfigCondition[]
}

/** A parsed ssh_config: directives in file order (first obtained value wins). */
export interface SshConfig {
  directives: SshConfigDirective[]
}

/** What gwfleet takes from ssh_config for one host; absent fields were not set there. */
export interface ResolvedSshConfig {
  hostName?: string
  user?: string
  port?: number
  identityFiles: string[]
  proxyJump?: string
  /** Where a ProxyCommand (other than `none`) sets this host's route; OpenSSH would use it, gwfleet cannot. */
  proxyCommand?: { file: string; line: number }
}

/** Options for resolving: the home directory and local user name used in `~` and `%` expansion. */
export interface SshConfigEnv {
  home?: string
  localUser?: string
}

// OpenSSH's own limit on nested Include.
const MAX_INCLUDE_DEPTH = 16

// Options whose value OpenSSH takes as the rest of the line, unsplit (a command line of its own).
const RAW_VALUE = new Set(['proxycommand', 'localcommand', 'remotecommand', 'knownhostscommand'])

/** Parse ssh_config text; `Include` stays an unresolved directive here (see loadSshConfigFile). */
export function parseSshConfig(text: string, file: string, outer: SshConfigCondition[] = []): SshConfig {
  const directives: SshConfigDirective[] = []
  let block: SshConfigCondition | undefined
  text.split('\n').forEach((raw, i) => {
    const line = i + 1
    const where = { file, line }
    const body = raw.replace(/\r$/, '').trim()
    if (body === '' || body.startsWith('#')) return
    const m = /^([A-Za-z][A-Za-z0-9]*)(?:[ \t]*=[ \t]*|[ \t]+|$)(.*)$/.exec(body)
    if (!m) throw new InputError(`cannot read ssh_config line ${JSON.stringify(body)}`, where)
    const key = m[1]!.toLowerCase()
    const args = RAW_VALUE.has(key) ? (m[2]!.trim() ? [m[2]!.trim()] : []) : splitArgs(m[2]!, where)
    if (key === 'match') {
      if (args.length === 0) throw new InputError('Match needs criteria', where)
      block = { kind: 'match', criteria: args, file, line }
      return
    }
    if (args.length === 0) throw new InputError(`${m[1]} needs an argument`, where)
    if (key === 'host') {
      block = { kind: 'host', patterns: args }
      return
    }
    directives.push({ key, args, file, line, when: block ? [...outer, block] : [...outer] })
  })
  return { directives }
}

// Words as OpenSSH's argv_split reads them: whitespace-separated, '…' or "…" quoting, a few backslash escapes, # comments.
function splitArgs(s: string, where: { file: string; line: number }): string[] {
  const args: string[] = []
  let i = 0
  while (i < s.length) {
    while (s[i] === ' ' || s[i] === '\t') i++
    if (i >= s.length || s[i] === '#') break
    let arg = ''
    let quote: string | undefined
    for (; i < s.length; i++) {
      const c = s[i]!
      if (!quote && (c === ' ' || c === '\t')) break
      if (c === '\\') {
        const n = s[i + 1]
        if (n === "'" || n === '"' || n === '\\' || (!quote && n === ' ')) {
          arg += n
          i++
          continue
        }
        arg += c
      } else if (quote && c === quote) {
        quote = undefined
      } else if (!quote && (c === '"' || c === "'")) {
        quote = c
      } else {
        arg += c
      }
    }
    if (quote) throw new InputError('unterminated quote in ssh_config', where)
    args.push(arg)
  }
  return args
}

// OpenSSH Host matching (and Match host's pattern lists): some positive pattern matches and no negated one does (case-insensitive).
function hostMatches(patterns: string[], host: string): boolean {
  const h = host.toLowerCase()
  let positive = false
  for (const p of patterns) {
    const negated = p.startsWith('!')
    if (wildcardMatch(h, (negated ? p.slice(1) : p).toLowerCase())) {
      if (negated) return false
      positive = true
    }
  }
  return positive
}

function applies(d: SshConfigDirective, host: string): boolean {
  return d.when.every((c) => c.kind === 'host' && hostMatches(c.patterns, host))
}

/**
 * Settings for `host` (as written in the inventory): first obtained value wins, IdentityFile accumulates.
 * `%h` is the resolved HostName (the host itself when none is set), `%n` the host as given, as in OpenSSH.
 */
export function resolveSshConfig(cfg: SshConfig, host: string, env: SshConfigEnv = {}): ResolvedSshConfig {
  const out: ResolvedSshConfig = { identityFiles: [] }
  const identity: SshConfigDirective[] = []
  let jumpSeen = false
  for (const d of cfg.directives) {
    if (!applies(d, host)) continue
    const value = d.args[0]!
    const where = { file: d.file, line: d.line, key: d.key }
    switch (d.key) {
      case 'hostname':
        out.hostName ??= expandTokens(value, { h: host, n: host }, where)
        break
      case 'user':
        out.user ??= value
        break
      case 'port':
        if (out.port === undefined) {
          if (!/^[0-9]{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
            throw new InputError(`bad port ${JSON.stringify(value)}`, where)
          }
          out.port = Number(value)
        }
        break
      case 'identityfile':
        identity.push(d)
        break
      // ProxyJump and ProxyCommand exclude each other: the first obtained of the two wins, as in OpenSSH.
      case 'proxyjump':
      case 'proxycommand':
        if (!jumpSeen) {
          jumpSeen = true
          if (value.toLowerCase() === 'none') break
          if (d.key === 'proxyjump') out.proxyJump = value
          else out.proxyCommand = { file: d.file, line: d.line }
        }
        break
    }
  }
  const home = env.home ?? homeDir()
  const tokens = {
    h: out.hostName ?? host,
    n: host,
    p: String(out.port ?? 22),
    r: out.user ?? env.localUser ?? localUserName(),
    u: env.localUser ?? localUserName(),
    d: home,
  }
  for (const d of identity) {
    const where = { file: d.file, line: d.line, key: d.key }
    if (d.args[0]!.toLowerCase() === 'none') continue
    out.identityFiles.push(expandTilde(expandTokens(d.args[0]!, tokens, where), home, where))
  }
  return out
}

/** The options that decide where and as whom gwfleet connects, as ssh_config spells them. */
const ROUTE_KEYS: Record<string, string> = {
  hostname: 'HostName',
  user: 'User',
  port: 'Port',
  identityfile: 'IdentityFile',
  proxyjump: 'ProxyJump',
  proxycommand: 'ProxyCommand',
}

/** A Match block that could apply to a host and sets how it is reached: where it is, and those settings. */
export interface UnsureMatch {
  file: string
  line: number
  /** The route settings inside it (HostName, User, Port, IdentityFile, ProxyJump, ProxyCommand), in file order. */
  settings: { key: string; name: string; file: string; line: number }[]
}

/**
 * The Match blocks that could apply to `host` (as written in the inventory; `hostName` is the HostName
 * it resolves to) and set how it is reached. gwfleet never evaluates Match (exec, user, canonical
 * ...): a block is left out only when its host or originalhost criterion cannot be true for this
 * host, or when an enclosing Host block does not match it.
 */
export function matchBlocksFor(cfg: SshConfig, host: string, hostName?: string): UnsureMatch[] {
  const out = new Map<SshConfigCondition, UnsureMatch>()
  for (const d of cfg.directives) {
    const name = ROUTE_KEYS[d.key]
    if (!name) continue
    const matches = d.when.filter((c) => c.kind === 'match')
    if (matches.length === 0) continue
    const possible = d.when.every((c) => (c.kind === 'host' ? hostMatches(c.patterns, host) : mayMatch(c.criteria, host, hostName)))
    if (!possible) continue
    // Named by the innermost Match block (an Include inside a Match block keeps the outer one in `when`).
    const block = matches[matches.length - 1]! as Extract<SshConfigCondition, { kind: 'match' }>
    let m = out.get(block)
    if (!m) out.set(block, (m = { file: block.file, line: block.line, settings: [] }))
    m.settings.push({ key: d.key, name, file: d.file, line: d.line })
  }
  return [...out.values()]
}

// False only when the criteria certainly fail for this host: a host/originalhost pattern list that no
// name of the host can satisfy (negation with "!" honoured), or `!all`. Anything else may be true.
function mayMatch(criteria: string[], host: string, hostName: string | undefined): boolean {
  for (let i = 0; i < criteria.length; i++) {
    const word = criteria[i]!
    const negated = word.startsWith('!')
    const name = (negated ? word.slice(1) : word).toLowerCase()
    if (name === 'all') {
      if (negated) return false
      continue
    }
    if (name === 'canonical' || name === 'final') continue
    const arg = criteria[++i]
    if (arg === undefined) return true
    if (name !== 'host' && name !== 'originalhost') continue
    const names = name === 'host' && hostName !== undefined ? [host, hostName] : [host]
    if (!names.some((n) => hostMatches(arg.split(','), n) !== negated)) return false
  }
  return true
}

function expandTokens(s: string, tokens: Record<string, string>, where: { file: string; line: number; key?: string }): string {
  return s.replace(/%(.?)/g, (_, t: string) => {
    if (t === '%') return '%'
    const v = tokens[t]
    if (v === undefined) throw new InputError(`unsupported token %${t} in ${JSON.stringify(s)}`, where)
    return v
  })
}

function expandTilde(p: string, home: string, where: { file: string; line: number; key?: string }): string {
  if (/^~[^/]/.test(p)) throw new InputError(`~user paths are not supported: ${JSON.stringify(p)}`, where)
  return expandHome(p, home)
}

/** Read one ssh_config file and splice in its `Include`s (relative to ~/.ssh, `*`/`?` globs); missing = empty. */
export async function loadSshConfigFile(file: string, env: SshConfigEnv = {}): Promise<SshConfig> {
  const home = env.home ?? homeDir()
  const text = await readIfFile(file)
  if (text === undefined) return { directives: [] }
  return { directives: await expandIncludes(parseSshConfig(text, file).directives, home, 0) }
}

/** The user's ~/.ssh/config with Includes followed; empty when there is none. */
export async function loadUserSshConfig(env: SshConfigEnv = {}): Promise<SshConfig> {
  const home = env.home ?? homeDir()
  return loadSshConfigFile(join(home, '.ssh', 'config'), { ...env, home })
}

async function expandIncludes(directives: SshConfigDirective[], home: string, depth: number): Promise<SshConfigDirective[]> {
  const out: SshConfigDirective[] = []
  for (const d of directives) {
    if (d.key !== 'include') {
      out.push(d)
      continue
    }
    // An Include inside a Match block is read as OpenSSH reads it; what it sets keeps the Match
    // condition, so it never applies (matchBlocksFor finds it).
    if (depth >= MAX_INCLUDE_DEPTH) {
      throw new InputError('Include nested too deeply', { file: d.file, line: d.line })
    }
    for (const arg of d.args) {
      const pattern = expandTilde(arg, home, { file: d.file, line: d.line })
      const abs = isAbsolute(pattern) ? pattern : join(home, '.ssh', pattern)
      for (const f of await glob(abs)) {
        const text = await readIfFile(f)
        if (text === undefined) continue
        out.push(...(await expandIncludes(parseSshConfig(text, f, d.when).directives, home, depth + 1)))
      }
    }
  }
  return out
}

// Expand `*` and `?` in any path component, sorted like glob(3); dot files only match patterns starting with a dot.
async function glob(abs: string): Promise<string[]> {
  const parts = abs.split('/').filter((p) => p !== '')
  let paths = ['/']
  for (const part of parts) {
    const next: string[] = []
    for (const base of paths) {
      if (!hasWildcard(part)) {
        next.push(join(base, part))
        continue
      }
      let names: string[]
      try {
        names = await readdir(base)
      } catch {
        continue
      }
      for (const name of names.sort()) {
        if (name.startsWith('.') && !part.startsWith('.')) continue
        if (wildcardMatch(name, part)) next.push(join(base, name))
      }
    }
    paths = next
  }
  return paths
}

async function readIfFile(file: string): Promise<string | undefined> {
  try {
    if (!(await stat(file)).isFile()) return undefined
    return await readFile(file, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
    throw e
  }
}
