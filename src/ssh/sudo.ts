// How a script runs as the login user or as root (directly, sudo -n or sudo -S), and what sudo's
// complaints mean for the operator.
import {HostStepError} from '../errors.js'
import {shq} from './quote.js'

/** The remote command line that runs `script` as the login user, whatever their login shell. */
export function userCommand(script: string): string {
  return `sh -c ${shq(script)}`
}

/** How a root command is wrapped for this login: plain sh for root, sudo otherwise. */
export interface RootMode {
  kind: 'root' | 'sudo' | 'sudo-password' | 'none'
  password?: string
}

/**
 * Build the remote command line that runs `script` as root, and what its stdin carries: `input` for
 * the script, after the password line under sudo -S (sudo reads that line byte by byte and leaves the
 * rest to the script). The password never appears in the command line. A script reading `input`
 * must find its start itself (see stdinPayload): a sudo that did not ask leaves the password line there.
 */
export function rootCommand(script: string, mode: RootMode, input?: string): {command: string; stdin?: string} {
  const sh = userCommand(script)
  switch (mode.kind) {
    case 'root':
      return {command: sh, stdin: input}
    case 'sudo':
      return {command: `sudo -n -- ${sh}`, stdin: input}
    case 'sudo-password':
      return {command: `sudo -S -p '' -- ${sh}`, stdin: `${mode.password}\n${input ?? ''}`}
    default:
      throw new HostStepError('root is required: log in as root or set become: true')
  }
}

/** Whether sudo stopped because it wants a password (sudo -n), before running anything. */
export function sudoWantsPassword(stderr: string): boolean {
  return /^sudo: (a password is required|a terminal is required)/m.test(stderr)
}

/**
 * Turn sudo's own complaints into one clear line. `given` says where the password sudo refused came
 * from (the environment or the operator's answer at the prompt).
 */
export function sudoProblem(stderr: string, user: string, given: 'environment' | 'prompt' = 'environment'): string | undefined {
  if (/a password is required|a terminal is required/.test(stderr))
    return `sudo for ${user} wants a password: set GWFLEET_BECOME_PASSWORD, run gwfleet on a terminal (it asks; --ask-become-pass asks up front) or allow NOPASSWD for ${user}`
  if (/incorrect password|Sorry, try again/.test(stderr))
    return given === 'prompt' ? `sudo for ${user} refused the password typed at the prompt` : `sudo for ${user} refused the password in GWFLEET_BECOME_PASSWORD`
  if (/is not in the sudoers file|not allowed to execute|may not run sudo/.test(stderr)) return `${user} may not use sudo on this host`
  if (/sudo: (command )?not found|sudo: No such file/.test(stderr)) return `sudo is not installed on this host`
  return undefined
}
