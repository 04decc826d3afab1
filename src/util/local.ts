// The operator's workstation: its home directory, `~` in local paths, who is running gwfleet, and
// which machine this is.
import {createHmac} from 'node:crypto'
import {readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** The home directory: $HOME when set, else the passwd entry's (what OpenSSH uses too). */
export function homeDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.HOME || os.homedir()
}

/** The directory gwfleet keeps its run folders and cache in ($GWFLEET_HOME or ~/.gwfleet). */
export function gwfleetHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.GWFLEET_HOME || path.join(homeDir(env), '.gwfleet')
}

/** Expands a leading `~` or `~/` to `home`; anything else (including `~user`) comes back unchanged. */
export function expandHome(p: string, home: string = homeDir()): string {
  if (p === '~') return home
  if (p.startsWith('~/')) return path.join(home, p.slice(2))
  return p
}

/**
 * The local user name (default SSH login user, lock owner, ssh_config `%u`). Containers may have no
 * passwd entry, where userInfo() throws: then $USER or $LOGNAME, else "unknown" (never a guess like root).
 */
export function localUserName(env: NodeJS.ProcessEnv = process.env): string {
  try {
    return os.userInfo().username
  } catch {
    return env.USER || env.LOGNAME || 'unknown'
  }
}

/**
 * This workstation's identity for lock owners: a keyed hash of /etc/machine-id (else of the boot
 * id), so two workstations with the same user@hostname are told apart without disclosing the id.
 */
export function machineIdentity(files = ['/etc/machine-id', '/proc/sys/kernel/random/boot_id']): string | undefined {
  for (const f of files) {
    try {
      const id = readFileSync(f, 'utf8').trim()
      if (id) return createHmac('sha256', id).update('gwfleet lock owner').digest('hex').slice(0, 32)
    } catch {
      // not there (containers, other systems): try the next
    }
  }
  return undefined
}
