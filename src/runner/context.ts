// What a run shares across hosts: options, the bastion pool, secrets to mask, the run folder,
// the progress view and the operator's interrupts.
import {setMaxListeners} from 'node:events'
import os from 'node:os'
import {randomBytes} from 'node:crypto'

import {BastionPool, type ConnectOptions} from '../ssh/connection.js'
import {loadUserSshConfig, type SshConfig} from '../ssh/sshconfig.js'
import type {LockOwner} from '../remote/lock-scripts.js'
import {machineIdentity} from '../steps/lock.js'
import {SilentReporter, type Reporter} from '../render/progress.js'
import {Credentials, Prompter} from '../prompt.js'
import type {Inventory} from '../types.js'
import {Redactor} from './redact.js'
import {RunLog} from './runlog.js'

/** The operator's Ctrl-C: the first stops new work, the second stops running installers. */
export class Interrupt {
  stopping = false
  readonly hard = new AbortController()
  private count = 0

  constructor() {
    // Every running installer listens on it (one per host): no "possible leak" warning past ten.
    setMaxListeners(0, this.hard.signal)
  }
  private listener?: () => void

  /** Listen for SIGINT/SIGTERM for the duration of a run. */
  install(notice: (msg: string) => void): void {
    this.listener = () => {
      this.count++
      if (this.count === 1) {
        this.stopping = true
        notice('Interrupted: no new host or hop will start; running installers are allowed to finish. Press Ctrl-C again to stop them.')
      } else if (this.count === 2) {
        notice('Stopping running installers on the hosts ...')
        this.hard.abort()
      } else {
        notice('Still cleaning up (releasing locks, writing results); please wait.')
      }
    }
    process.on('SIGINT', this.listener)
    process.on('SIGTERM', this.listener)
  }

  /** Stop listening. */
  uninstall(): void {
    if (!this.listener) return
    process.off('SIGINT', this.listener)
    process.off('SIGTERM', this.listener)
  }
}

/** The run folder's log for events of the whole run (`_` keeps it apart from gateway names). */
export const RUN_LOG = '_run'

/** Options common to the fleet commands. */
export interface RunOptions {
  command: string
  concurrency: number
  acceptNewHostKeys: boolean
  timeoutSeconds: number
  connectTimeoutSeconds: number
  dryRun: boolean
  /** Run the prerequisite checks before installing (deploy). */
  preflight: boolean
  /** Ask the sudo password on the terminal before the run starts (--ask-become-pass). */
  askBecomePass?: boolean
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
    this.log = new RunLog(options.command, this.redactor)
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
    }
    this.bastions = new BastionPool(this.connectOptions)
    let user = 'unknown'
    try {
      user = os.userInfo().username
    } catch {
      // no passwd entry (containers): keep "unknown"
    }
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

  /** Close bastions and the run folder's logs. */
  async close(): Promise<void> {
    await this.bastions.closeAll()
    await this.log.close()
  }
}
