// Where to connect for a gateway: the inventory's own settings first, then ~/.ssh/config, then defaults.
// What ssh_config says that gwfleet cannot honour (a ProxyCommand, a Match block that may apply) is
// refused here, before any host is contacted, unless the inventory itself says how to reach the host.
import path from 'node:path'

import {InputError} from '../errors.js'
import type {Gateway} from '../types.js'
import type {ConnectTarget} from './types.js'
import {homeDir, localUserName} from '../util/local.js'
import {parseJump, type Hop} from './jump.js'
import {matchBlocksFor, resolveSshConfig, type ResolvedSshConfig, type SshConfig} from './sshconfig.js'

/** The user's own known_hosts, always checked. */
export function userKnownHosts(): string {
  return path.join(homeDir(), '.ssh', 'known_hosts')
}

/** Resolve a gateway's connection (jump chain included) against ~/.ssh/config. */
export function resolveTarget(gw: Gateway, cfg: SshConfig): ConnectTarget {
  const c = resolveSshConfig(cfg, gw.host)
  const where = `${gw.source.file}:${gw.source.line}`
  refuseUnhonoured(cfg, c, {
    host: gw.host,
    who: `gateway ${gw.name} (host ${gw.host})`,
    route: `set jump (the bastion to go through) for the gateway in the inventory (${where})`,
    inventoryAt: where,
    decided: {user: gw.user !== undefined, port: gw.port !== undefined, identityfile: gw.identityFile !== undefined, route: gw.jump !== undefined},
  })
  const knownHostsFiles = [userKnownHosts(), ...(gw.knownHosts ? [gw.knownHosts] : [])]
  const recordKnownHostsFile = gw.knownHosts ?? userKnownHosts()
  const identityFiles = gw.identityFile ? [gw.identityFile] : c.identityFiles
  const jumpSpec = gw.jump ?? (c.proxyJump && c.proxyJump.toLowerCase() !== 'none' ? c.proxyJump : undefined)
  const hops: Hop[] = jumpSpec ? parseJump(jumpSpec, {file: gw.source.file, line: gw.source.line, key: `gateways.${gw.name}.jump`}) : []
  const jump: ConnectTarget[] = hops.map((hop, i) => {
    const hc = resolveSshConfig(cfg, hop.host)
    // The chain says how every hop after the first is reached; the first one is reached as ssh_config says.
    refuseUnhonoured(cfg, hc, {
      host: hop.host,
      who: `jump host ${hop.host} of gateway ${gw.name}`,
      route: `put the host it is reached through before it in the gateway's jump chain (${where})`,
      decided: {user: hop.user !== undefined, port: hop.port !== undefined, identityfile: false, route: i > 0},
    })
    return {
      host: hc.hostName ?? hop.host,
      port: hop.port ?? hc.port ?? 22,
      user: hop.user ?? hc.user ?? localUserName(),
      identityFiles: hc.identityFiles.length > 0 ? hc.identityFiles : identityFiles,
      knownHostsFiles,
      recordKnownHostsFile,
      jump: [],
    }
  })
  return {
    host: c.hostName ?? gw.host,
    port: gw.port ?? c.port ?? 22,
    user: gw.user ?? c.user ?? localUserName(),
    identityFiles,
    knownHostsFiles,
    recordKnownHostsFile,
    jump,
  }
}

/** A host to check: who it is (for the words), how the inventory could decide its route, and what it decides already. */
interface Checked {
  host: string
  who: string
  /** The remedy that says how to reach the host from the inventory. */
  route: string
  /** Where the gateway is declared, when the inventory can also set user, port and identityFile for it. */
  inventoryAt?: string
  /** What the inventory (or the jump chain) already decides for the host: ssh_config's word on it does not count. */
  decided: {user: boolean; port: boolean; identityfile: boolean; route: boolean}
}

// The inventory key that decides each route setting for a gateway, for the remedy.
const INVENTORY_KEY: Record<string, string> = {user: 'user', port: 'port', identityfile: 'identityFile', proxyjump: 'jump', proxycommand: 'jump'}

/**
 * Refuse a host that OpenSSH would reach another way than gwfleet: through a ProxyCommand (gwfleet
 * runs no local commands to connect, and would go direct), or with settings of a Match block that
 * may apply (gwfleet cannot evaluate Match without running its exec). Nothing is refused that the
 * inventory decides itself.
 */
function refuseUnhonoured(cfg: SshConfig, c: ResolvedSshConfig, h: Checked): void {
  if (c.proxyCommand && !h.decided.route) {
    throw new InputError(
      `${h.who}: ssh_config reaches this host through a ProxyCommand, which gwfleet does not run (it would connect directly instead); ` +
        `${h.route}, or leave this host out of that ProxyCommand`,
      {file: c.proxyCommand.file, line: c.proxyCommand.line, key: 'ProxyCommand'},
    )
  }
  const decided = (key: string) => {
    if (key === 'proxyjump' || key === 'proxycommand') return h.decided.route
    return key === 'user' || key === 'port' || key === 'identityfile' ? h.decided[key] : false
  }
  for (const m of matchBlocksFor(cfg, h.host, c.hostName)) {
    const open = m.settings.filter((s) => !decided(s.key))
    if (open.length === 0) continue
    const names = [...new Set(open.map((s) => s.name))]
    const lines = open.map((s) => (s.file === m.file ? `line ${s.line}` : `${s.file}:${s.line}`)).join(', ')
    const keys = [...new Set(open.map((s) => INVENTORY_KEY[s.key]).filter((k): k is string => k !== undefined))]
    const ways = ['narrow the block with "Match host" or "Match originalhost" patterns that leave this host out', 'move those settings into a Host block']
    if (keys.length && h.inventoryAt) ways.push(`set ${keys.join(', ')} for the gateway in the inventory (${h.inventoryAt})`)
    throw new InputError(
      `${h.who}: a Match block may apply to this host and sets ${names.join(', ')} (${lines}); gwfleet does not evaluate Match blocks and will not guess how OpenSSH would reach the host: ` +
        (ways.length > 2 ? `${ways.slice(0, -1).join(', ')}, or ${ways[ways.length - 1]}` : ways.join(' or ')),
      {file: m.file, line: m.line, key: 'Match'},
    )
  }
}
