// What a run shares across hosts: options, the bastion pool, secrets to mask, the run folder,
// the progress view and the operator's interrupts.
import {setMaxListeners} from 'node:events'
import os from 'node:os'
import {randomBytes} from 'node:crypto'

import {InputError} from '../errors.js'
import {HostSession, type SessionDeps} from '../host/session.js'
import {prepareAuth} from '../ssh/auth.js'
import {BastionPool} from '../ssh/connection.js'
import type {ConnectOptions} from '../ssh/types.js'
import {HandshakeGate, handshakeLimit} from '../ssh/pacing.js'
import {loadUserSshConfig, type SshConfig} from '../ssh/sshconfig.js'
import {SilentReporter} from '../render/progress.js'
import type {Reporter} from '../render/reporter.js'
import {Credentials, Prompter} from '../prompt.js'
import {resolveTarget} from '../ssh/target.js'
import type {Gateway, HostEnv, Inventory, LockOwner} from '../types.js'
import {localUserName, machineIdentity} from '../util/local.js'
import {Redactor} from './redact.js'
import {RunLog} from './runlog.js'

/** A signal that interrupts a run: Ctrl-C, `kill`, or the terminal going away. */
export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP'

const SIGNALS: StopSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP']

/**
 * The operator's interrupts, gwfleet's alone while a run works on hosts: the first Ctrl-C (or a
 * SIGTERM, or SIGHUP when the terminal closes) starts nothing new and lets running installers
 * finish; a second Ctrl-C stops running installers on the hosts. The run still writes its results
 * and releases its locks; the command then exits 130.
 */
export class Interrupt {
  /** No new host or hop may start. */
  stopping = false
  /** A signal arrived during the run: the exit code is 130. */
  interrupted = false
  readonly hard = new AbortController()
  private depth = 0
  private notice: (msg: string) => void = () => undefined
  private readonly listener = (sig: NodeJS.Signals) => this.signal(sig as StopSignal)

  constructor() {
    // Every running installer listens on it (one per host): no "possible leak" warning past ten.
    setMaxListeners(0, this.hard.signal)
  }

  /**
   * Take SIGINT, SIGTERM and SIGHUP until the matching uninstall(); nested calls (the command
   * around the whole run, the runner around its hosts) share one set of listeners.
   */
  install(notice: (msg: string) => void): void {
    this.notice = notice
    if (this.depth++ > 0) return
    for (const s of SIGNALS) process.on(s, this.listener)
  }

  /** Stop listening (when the outermost install is undone). */
  uninstall(): void {
    if (this.depth === 0 || --this.depth > 0) return
    for (const s of SIGNALS) process.off(s, this.listener)
  }

  /** What a signal does to the run. */
  signal(sig: StopSignal): void {
    this.interrupted = true
    if (!this.stopping) {
      this.stopping = true
      const why = sig === 'SIGINT' ? 'Interrupted' : `${sig} received`
      this.notice(`${why}: no new host or hop will start; installers already running finish on their hosts, even if gwfleet exits now. Press Ctrl-C again to stop them on the hosts.`)
    } else if (sig === 'SIGINT' && !this.hard.signal.aborted) {
      this.notice('Stopping running installers on the hosts ...')
      this.hard.abort()
    } else {
      this.notice('Still cleaning up (releasing locks, writing results); please wait.')
    }
  }
}

/** The run folder's log for events of the whole run (`_` keeps it apart from gateway names). */
export const RUN_LOG = '_run'

/** What the operator's stop says (first Ctrl-C, second, a signal): on the screen, and in the run folder's run log. */
export function stopNotice(ctx: Pick<RunContext, 'log' | 'reporter'>): (msg: string) => void {
  return (msg) => {
    ctx.log.write(RUN_LOG, msg)
    ctx.reporter.notice(msg)
  }
}

/** Options common to the fleet commands. */
export interface RunOptions {
  command: string
  concurrency: number
  acceptNewHostKeys: boolean
  timeoutSeconds: number
  connectTimeoutSeconds: number
  dryRun: boolean
  /** How long to keep reaching a host again after a cut while its installer runs (--reconnect-window). */
  reconnectWindowSeconds?: number
  /** How long to wait for another run's lock on a host (0: fail that host at once). */
  lockWaitSeconds?: number
  /** Run the prerequisite checks before installing (deploy). */
  preflight: boolean
  /** Ask the sudo password on the terminal before the run starts (--ask-become-pass). */
  askBecomePass?: boolean
  /** Keep a run folder (default true; read-only commands keep one only with --save). */
  keepRunFolder?: boolean
  /** Releases each host keeps after a successful hop (deploy, upgrade); 0 or none: old releases are not removed. */
  keepReleases?: number
}

/** Everything a host's work needs from the run. */
export class RunContext {
  readonly redactor = new Redactor()
  readonly log: RunLog
  readonly bastions: BastionPool
  readonly connectOptions: ConnectOptions
  readonly interrupt = new Interrupt()
  readonly lockOwner: LockOwner
  /** Key passphrases and sudo passwords: from the environment or asked once on the terminal. */
  readonly credentials: Credentials

  private constructor(
    readonly inventory: Inventory,
    readonly options: RunOptions,
    readonly reporter: Reporter,
    readonly sshConfig: SshConfig,
  ) {
    this.credentials = new Credentials(new Prompter((fn) => this.reporter.suspend(fn)), this.redactor)
    this.log = new RunLog(options.command, this.redactor, options.keepRunFolder ?? true)
    this.connectOptions = {
      acceptNewHostKeys: options.acceptNewHostKeys,
      connectTimeoutMs: options.connectTimeoutSeconds * 1000,
      keepaliveIntervalMs: 15_000,
      retries: 6,
      askPassphrase: (file, unlocks) => this.credentials.passphrase(file, unlocks),
      onHostKeyRecorded: (k) => {
        const text = `recorded the host key of ${k.host}: ${k.keyType} ${k.fingerprint} in ${k.file}`
        this.log.write(RUN_LOG, text)
        // Even with --json (a silent reporter) a trust decision is shown, on stderr; stdout keeps the document.
        if (reporter instanceof SilentReporter) process.stderr.write(`${text}\n`)
        else reporter.notice(text)
      },
      handshakes: new HandshakeGate({limit: handshakeLimit()}),
    }
    this.bastions = new BastionPool(this.connectOptions)
    const user = localUserName()
    this.lockOwner = {
      owner: `${user}@${os.hostname()}`,
      pid: process.pid,
      command: options.command,
      started: new Date().toISOString(),
      token: randomBytes(12).toString('hex'),
      machine: machineIdentity(),
    }
  }

  /** Create the context (reads ~/.ssh/config once). */
  static async create(inventory: Inventory, options: RunOptions, reporter: Reporter): Promise<RunContext> {
    return new RunContext(inventory, options, reporter, await loadUserSshConfig())
  }

  /** "user@workstation" for records and history. */
  get operator(): string {
    return this.lockOwner.owner
  }

  /** Log a line for a host (redacted) and show it as the host's current step. */
  step(host: string, text: string): void {
    this.log.write(host, `== ${text}`)
    this.reporter.step(host, text)
  }

  /** What a step on this gateway's host may use of the run. */
  hostEnv(name: string): HostEnv {
    return {
      log: (line) => this.log.write(name, line),
      step: (text) => this.step(name, text),
      output: (line) => this.reporter.line(name, this.redactor.redact(line)),
      redact: (text) => this.redactor.redact(text),
      stop: this.interrupt.hard.signal,
      timeoutSeconds: this.options.timeoutSeconds,
      lockOwner: this.lockOwner,
    }
  }

  /** Connect to a gateway's host with the run's options, bastions and sudo passwords. */
  openSession(gw: Gateway): Promise<HostSession> {
    const deps: SessionDeps = {
      sshConfig: this.sshConfig,
      connectOptions: this.connectOptions,
      bastions: this.bastions,
      credentials: this.credentials,
      log: (line) => this.log.write(gw.name, line),
    }
    return HostSession.open(gw, deps)
  }

  /** Close bastions and the run folder's logs. */
  async close(): Promise<void> {
    await this.bastions.closeAll()
    await this.log.close()
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
