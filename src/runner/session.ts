// One host's connection for the whole run, with root execution (direct, sudo -n or sudo -S) and logging.
import {HostStepError} from '../errors.js'
import {Connection, rootCommand, sudoProblem, userCommand, type ExecOptions, type ExecResult, type RootMode} from '../ssh/connection.js'
import {resolveTarget} from '../ssh/target.js'
import type {Gateway} from '../types.js'
import type {RunContext} from './context.js'

/** A connected gateway host. */
export class HostSession {
  private constructor(
    readonly gw: Gateway,
    readonly conn: Connection,
    readonly rootMode: RootMode,
    private readonly ctx: RunContext,
  ) {}

  /** Connect to a gateway's host (through its jump hosts), with the run's options. */
  static async open(ctx: RunContext, gw: Gateway): Promise<HostSession> {
    const target = resolveTarget(gw, ctx.sshConfig)
    const conn = await Connection.open(target, ctx.connectOptions, ctx.bastions)
    let mode: RootMode
    if (target.user === 'root' || !gw.become) mode = {kind: 'root'}
    else if (ctx.becomePassword) mode = {kind: 'sudo-password', password: ctx.becomePassword}
    else mode = {kind: 'sudo'}
    ctx.log.write(gw.name, `connected to ${conn.describe}${target.jump.length ? ` via ${target.jump.map((j) => j.host).join(' -> ')}` : ''} (root via ${mode.kind})`)
    return new HostSession(gw, conn, mode, ctx)
  }

  /** Run a script as root; a sudo refusal becomes one clear error. */
  async root(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const {command, stdin} = rootCommand(script, this.rootMode)
    const res = await this.conn.exec(command, {...opts, stdin})
    if (res.code !== 0 && this.rootMode.kind !== 'root') {
      const problem = sudoProblem(res.stderr, this.conn.target.user)
      if (problem) throw new HostStepError(problem)
    }
    if (res.stderr.trim()) this.ctx.log.write(this.gw.name, `stderr: ${res.stderr.trim()}`)
    return res
  }

  /** Run a script as the login user (what can still be read when root is refused). */
  asLoginUser(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.conn.exec(userCommand(script), opts)
  }

  /** Upload bytes to a path over SFTP (callers stage, verify and move). */
  writeFile(remotePath: string, data: Buffer | string, mode: number): Promise<void> {
    return this.conn.writeFile(remotePath, data, mode)
  }

  /** Make a directory over SFTP (the upload stage's own folders). */
  mkdir(remotePath: string, mode: number): Promise<void> {
    return this.conn.mkdir(remotePath, mode)
  }

  close(): void {
    this.conn.close()
  }
}
