// Where to connect for a gateway: the inventory's own settings first, then ~/.ssh/config, then defaults.
import path from 'node:path'

import type {Gateway} from '../types.js'
import type {ConnectTarget} from './types.js'
import {homeDir, localUserName} from '../util/local.js'
import {parseJump} from './jump.js'
import {resolveSshConfig, type SshConfig} from './sshconfig.js'

/** The user's own known_hosts, always checked. */
export function userKnownHosts(): string {
  return path.join(homeDir(), '.ssh', 'known_hosts')
}

/** Resolve a gateway's connection (jump chain included) against ~/.ssh/config. */
export function resolveTarget(gw: Gateway, cfg: SshConfig): ConnectTarget {
  const c = resolveSshConfig(cfg, gw.host)
  const knownHostsFiles = [userKnownHosts(), ...(gw.knownHosts ? [gw.knownHosts] : [])]
  const recordKnownHostsFile = gw.knownHosts ?? userKnownHosts()
  const identityFiles = gw.identityFile ? [gw.identityFile] : c.identityFiles
  const jumpSpec = gw.jump ?? (c.proxyJump && c.proxyJump.toLowerCase() !== 'none' ? c.proxyJump : undefined)
  const jump: ConnectTarget[] = jumpSpec
    ? parseJump(jumpSpec, {file: gw.source.file, line: gw.source.line, key: `gateways.${gw.name}.jump`}).map((hop) => {
        const hc = resolveSshConfig(cfg, hop.host)
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
    : []
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
