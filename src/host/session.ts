// One host's connection for the whole run, with root execution (direct, sudo -n or sudo -S) and logging.
// Below the steps: it knows the connection and how root is reached, nothing of the run around it.
import {HostStepError, NotRootError} from '../errors.js'
import type {Credentials} from '../prompt.js'
import {BastionPool, Connection} from '../ssh/connection.js'
import type {ExecOptions, ExecResult} from '../ssh/exec.js'
import type {UploadFile} from '../ssh/sftp.js'
import {rootCommand, sudoProblem, sudoWantsPassword, userCommand, type RootMode} from '../ssh/sudo.js'
import type {SshConfig} from '../ssh/sshconfig.js'
import {resolveTarget} from '../ssh/target.js'
import type {ConnectOptions} from '../ssh/types.js'
import type {Gateway} from '../types.js'

/** Prints the effective uid: read by the shell from /proc (no process), else id(1). */
const UID_SCRIPT = 'gw_u=""; if [ -r /proc/self/status ]; then while read -r k r e rest; do if [ "$k" = Uid: ]; then gw_u=$e; break; fi; done < /proc/self/status; fi; [ -n "$gw_u" ] || gw_u=$(id -u 2>/dev/null); echo "gw.uid=$gw_u"'

/** What opening a session needs: how to connect, the sudo passwords, and the host's log. */
export interface SessionDeps {
  sshConfig: SshConfig
  connectOptions: ConnectOptions
  bastions: BastionPool
  credentials: Pick<Credentials, 'knownBecomePassword' | 'becomePassword' | 'becomeSource'>
  /** Write a line to this host's log. */
  log(line: string): void
}

/** A connected gateway host, as the steps use it (the seam unit tests fake). */
export interface Session {
  readonly gw: Gateway
  /** The user gwfleet logs in as. */
  readonly loginUser: string
  /** How root is reached on this host. */
  readonly rootMode: RootMode
  /** Run a script as root; a sudo refusal throws one clear error. */
  root(script: string, opts?: ExecOptions): Promise<ExecResult>
  /** Run a script as the login user. */
  asLoginUser(script: string, opts?: ExecOptions): Promise<ExecResult>
  /** Start opening the file transfer channel now, so a coming upload need not wait for it. */
  prepareUpload(): void
  /** Upload files over SFTP, streamed and pipelined (callers stage, verify and move). */
  writeFiles(files: UploadFile[]): Promise<void>
  close(): void
}

/** A connected gateway host over ssh2. */
export class HostSession implements Session {
  private constructor(
    readonly gw: Gateway,
    readonly conn: Connection,
    private mode: RootMode,
    private readonly deps: SessionDeps,
  ) {}

  /** Connect to a gateway's host (through its jump hosts), with the run's options. */
  static async open(gw: Gateway, deps: SessionDeps): Promise<HostSession> {
    const target = resolveTarget(gw, deps.sshConfig)
    const conn = await Connection.open(target, deps.connectOptions, deps.bastions)
    // Every root command starts as sudo -n, also when a password is known: the password goes only to
    // a host whose own sudo said it needs one (see root()), never to a NOPASSWD host, where a hostile
    // login account would be handed it for nothing.
    const mode: RootMode = target.user === 'root' || !gw.become ? {kind: 'root'} : {kind: 'sudo'}
    deps.log(`connected to ${conn.describe}${target.jump.length ? ` via ${target.jump.map((j) => j.host).join(' -> ')}` : ''} (root via ${mode.kind})`)
    return new HostSession(gw, conn, mode, deps)
  }

  get loginUser(): string {
    return this.conn.target.user
  }

  prepareUpload(): void {
    this.conn.sftp().catch(() => undefined)
  }

  /** How root is reached on this host (sudo becomes sudo-password once this host's sudo asked for a password and one was given). */
  get rootMode(): RootMode {
    return this.mode
  }

  /**
   * Run a script as root; a sudo refusal becomes one clear error. When sudo -n stops for a password
   * (sudo runs nothing then), the password (given, or asked on the terminal once per login user) is
   * sent to this host from then on, and the script runs again with it. A host whose sudo never asks
   * never gets it.
   */
  async root(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const user = this.conn.target.user
    // Without become, root is the login itself: a login that is not root gets one clear refusal
    // before anything runs, whichever command asked (a uid-0 account of another name passes).
    if (this.mode.kind === 'root' && user !== 'root') await (this.rootChecked ??= this.checkLoginIsRoot(user))
    let res = await this.asRoot(script, opts)
    if (res.code !== 0 && this.mode.kind === 'sudo' && sudoWantsPassword(res.stderr)) {
      const password = await this.deps.credentials.becomePassword(user)
      if (password !== undefined) {
        this.mode = {kind: 'sudo-password', password}
        this.deps.log(`root via sudo-password (${this.deps.credentials.becomeSource(user) === 'prompt' ? 'typed at the prompt' : 'from GWFLEET_BECOME_PASSWORD'}), after this host's sudo asked for one`)
        res = await this.asRoot(script, opts)
      }
    }
    if (res.code !== 0 && this.mode.kind !== 'root') {
      const problem = sudoProblem(res.stderr, user, this.deps.credentials.becomeSource(user))
      if (problem) throw new HostStepError(problem)
    }
    if (res.stderr.trim()) this.deps.log(`stderr: ${res.stderr.trim()}`)
    return res
  }

  private rootChecked?: Promise<void>

  /** Throws NotRootError when the login user's uid is known and is not 0 (one round trip, once per session). */
  private async checkLoginIsRoot(user: string): Promise<void> {
    const res = await this.conn.exec(userCommand(UID_SCRIPT), {timeoutMs: 30_000})
    const uid = /^gw\.uid=(\d+)$/m.exec(res.stdout)?.[1]
    if (uid !== undefined && uid !== '0') {
      this.deps.log(`the login user ${user} has uid ${uid} and the gateway has no become: true`)
      throw new NotRootError(user)
    }
  }

  private asRoot(script: string, opts: ExecOptions): Promise<ExecResult> {
    const {command, stdin} = rootCommand(script, this.mode, opts.stdin)
    return this.conn.exec(command, {...opts, stdin})
  }

  /** Run a script as the login user (what can still be read when root is refused). */
  asLoginUser(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.conn.exec(userCommand(script), opts)
  }

  writeFiles(files: UploadFile[]): Promise<void> {
    return this.conn.writeFiles(files)
  }

  close(): void {
    this.conn.close()
  }
}
