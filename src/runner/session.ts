// One host's connection for the whole run, with root execution (direct, sudo -n or sudo -S) and logging.
import {HostStepError, InputError} from '../errors.js'
import {Connection, prepareAuth, rootCommand, sudoProblem, sudoWantsPassword, userCommand, type ExecOptions, type ExecResult, type RootMode} from '../ssh/connection.js'
import {resolveTarget} from '../ssh/target.js'
import type {Gateway} from '../types.js'
import type {RunContext} from './context.js'

/** A connected gateway host. */
export class HostSession {
  private constructor(
    readonly gw: Gateway,
    readonly conn: Connection,
    private mode: RootMode,
    private readonly ctx: RunContext,
  ) {}

  /** Connect to a gateway's host (through its jump hosts), with the run's options. */
  static async open(ctx: RunContext, gw: Gateway): Promise<HostSession> {
    const target = resolveTarget(gw, ctx.sshConfig)
    const conn = await Connection.open(target, ctx.connectOptions, ctx.bastions)
    let mode: RootMode
    if (target.user === 'root' || !gw.become) mode = {kind: 'root'}
    else {
      // A password given (environment, --ask-become-pass) or being asked for right now by another host.
      const password = await ctx.credentials.knownBecomePassword(target.user)
      mode = password !== undefined ? {kind: 'sudo-password', password} : {kind: 'sudo'}
    }
    ctx.log.write(gw.name, `connected to ${conn.describe}${target.jump.length ? ` via ${target.jump.map((j) => j.host).join(' -> ')}` : ''} (root via ${mode.kind})`)
    return new HostSession(gw, conn, mode, ctx)
  }

  /** How root is reached on this host (it becomes sudo-password once the operator typed one). */
  get rootMode(): RootMode {
    return this.mode
  }

  /**
   * Run a script as root; a sudo refusal becomes one clear error. When sudo -n stops for a password
   * (sudo runs nothing then), the password is asked on the terminal, once per login user, and the
   * script runs again with it.
   */
  async root(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const user = this.conn.target.user
    let res = await this.asRoot(script, opts)
    if (res.code !== 0 && this.mode.kind === 'sudo' && sudoWantsPassword(res.stderr)) {
      const password = await this.ctx.credentials.becomePassword(user)
      if (password !== undefined) {
        this.mode = {kind: 'sudo-password', password}
        this.ctx.log.write(this.gw.name, 'root via sudo-password (typed at the prompt)')
        res = await this.asRoot(script, opts)
      }
    }
    if (res.code !== 0 && this.mode.kind !== 'root') {
      const problem = sudoProblem(res.stderr, user, this.ctx.credentials.becomeSource(user))
      if (problem) throw new HostStepError(problem)
    }
    if (res.stderr.trim()) this.ctx.log.write(this.gw.name, `stderr: ${res.stderr.trim()}`)
    return res
  }

  private asRoot(script: string, opts: ExecOptions): Promise<ExecResult> {
    const {command, stdin} = rootCommand(script, this.mode)
    return this.conn.exec(command, {...opts, stdin})
  }

  /** Run a script as the login user (what can still be read when root is refused). */
  asLoginUser(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.conn.exec(userCommand(script), opts)
  }

  /** Upload files over SFTP, all requests in flight together (callers stage, verify and move). */
  writeFiles(files: {path: string; data: Buffer | string; mode: number}[]): Promise<void> {
    return this.conn.writeFiles(files)
  }

  close(): void {
    this.conn.close()
  }
}

/**
 * Before the progress view starts: with --ask-become-pass, ask the sudo password of each login
 * user that needs one (a clear input error without a terminal); then open every identity file
 * the hosts will use, so key passphrases are asked now rather than in the middle of the run.
 */
export async function prepareCredentials(ctx: RunContext, gateways: Gateway[]): Promise<void> {
  const targets = gateways.map((gw) => ({gw, target: resolveTarget(gw, ctx.sshConfig)}))
  if (ctx.options.askBecomePass) {
    const users = [...new Set(targets.filter(({gw, target}) => gw.become && target.user !== 'root').map(({target}) => target.user))]
    if (users.length > 0 && !ctx.credentials.prompter.available)
      throw new InputError('--ask-become-pass needs a terminal to ask on; without one, set GWFLEET_BECOME_PASSWORD', {file: '--ask-become-pass'})
    for (const user of users)
      if ((await ctx.credentials.askBecomePassword(user)) === undefined) throw new InputError(`no sudo password given for ${user}`, {file: '--ask-become-pass'})
  }
  await prepareAuth(
    targets.map(({target}) => target),
    ctx.connectOptions,
  )
}
