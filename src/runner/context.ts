// What a run shares across hosts: options, the bastion pool, secrets to mask, the run folder,
// the progress view and the operator's interrupts.
import {setMaxListeners} from 'node:events'
import os from 'node:os'
import {randomBytes} from 'node:crypto'

import {BastionPool, type ConnectOptions} from '../ssh/connection.js'
import {HandshakeGate, handshakeLimit} from '../ssh/pacing.js'
import {loadUserSshConfig, type SshConfig} from '../ssh/sshconfig.js'
import type {LockOwner} from '../remote/lock-scripts.js'
import type {Reporter} from '../render/progress.js'
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
}

/** Everything a host's work needs from the run. */
export class RunContext {
  readonly redactor = new Redactor()
  readonly log: RunLog
  readonly bastions: BastionPool
  readonly connectOptions: ConnectOptions
  readonly interrupt = new Interrupt()
  readonly lockOwner: LockOwner
  readonly becomePassword?: string

  private constructor(
    readonly inventory: Inventory,
    readonly options: RunOptions,
    readonly reporter: Reporter,
    readonly sshConfig: SshConfig,
  ) {
    this.becomePassword = process.env.GWFLEET_BECOME_PASSWORD || undefined
    if (this.becomePassword) this.redactor.add([this.becomePassword])
    this.log = new RunLog(options.command, this.redactor)
    this.connectOptions = {
      acceptNewHostKeys: options.acceptNewHostKeys,
      connectTimeoutMs: options.connectTimeoutSeconds * 1000,
      keepaliveIntervalMs: 15_000,
      retries: 6,
      handshakes: new HandshakeGate({limit: handshakeLimit()}),
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
