// A real terminal for end-to-end tests: runs a command in a tmux pane (a pseudo-terminal of a
// given size, with its own tmux server so runs never meet), sends keys (Ctrl-C reaches the
// foreground process group through the terminal, as it does for an operator), reads the screen as
// the operator sees it, waits for text, and reports how the process ended.
import {execFile} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {CLI} from './fleet.js'

/** How the command in the pane ended. */
export interface Ended {
  /** Exit status as a shell reports it (128+N when signal N ended the command); null when unknown. */
  code: number | null
  /** Set when the signal that ended the command ended the shell around it too (Ctrl-C on a command that does not handle it). */
  signal: number | null
}

export interface StartOptions {
  /** Terminal width and height (default 120 x 40). */
  cols?: number
  rows?: number
  /** The whole environment of the command (a terminal session has no CI and no GWFLEET_PLAIN unless given). */
  env?: NodeJS.ProcessEnv
  cwd?: string
}

let serial = 0

function tmuxRun(socket: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('tmux', ['-S', socket, ...args], {env: env ?? process.env, maxBuffer: 16 * 1024 * 1024}, (err, stdout, stderr) => {
      if (err) reject(new Error(`tmux ${args[0]}: ${stderr.trim() || err.message}`))
      else resolve(stdout)
    })
  })
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** One pseudo-terminal with one command in it. */
export class Terminal {
  private ended?: Ended
  private constructor(
    private readonly dir: string,
    private readonly socket: string,
    readonly cols: number,
    readonly rows: number,
  ) {}

  /** Start `argv` (program and arguments) in a fresh terminal. */
  static async start(argv: string[], opts: StartOptions = {}): Promise<Terminal> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gwfleet-tty-${process.pid}-${serial++}-`))
    const socket = path.join(dir, 'tmux.sock')
    const conf = path.join(dir, 'tmux.conf')
    // The pane is exactly cols x rows (no status line); it stays after the command ends so its last
    // screen and exit status can be read; nothing tmux draws on a dead pane is mistaken for output.
    fs.writeFileSync(conf, ['set -g status off', 'set -g remain-on-exit on', "set -g remain-on-exit-format ''", 'set -g history-limit 20000', 'set -g escape-time 0'].join('\n') + '\n')
    const cols = opts.cols ?? 120
    const rows = opts.rows ?? 40
    const env: NodeJS.ProcessEnv = {...(opts.env ?? process.env)}
    delete env.TMUX
    delete env.TMUX_PANE
    env.TERM = 'xterm-256color'
    const t = new Terminal(dir, socket, cols, rows)
    // A small shell in front of the command keeps its exit status in a file (tmux does not always
    // learn it). The shell and the command share the terminal's foreground process group, so a
    // Ctrl-C reaches the command as it would from an operator's shell; the shell then writes the
    // status of a command that handled the signal and exited on its own.
    const wrapped = ['/bin/bash', '-c', 'status=$1; shift; "$@"; echo $? > "$status"', 'terminal', t.statusFile, ...argv]
    await tmuxRun(socket, ['-f', conf, 'new-session', '-d', '-s', 'gw', '-x', String(cols), '-y', String(rows), ...(opts.cwd ? ['-c', opts.cwd] : []), '--', ...wrapped], env)
    return t
  }

  /** Start the gwfleet under test with its arguments. */
  static gwfleet(args: string[], opts: StartOptions = {}): Promise<Terminal> {
    return Terminal.start([process.execPath, CLI, ...args], opts)
  }

  /** Start a shell command line (`sh -c`), for pipes such as `gwfleet deploy ... | head -1`. */
  static shell(line: string, opts: StartOptions = {}): Promise<Terminal> {
    return Terminal.start(['/bin/sh', '-c', line], opts)
  }

  /** Type text, or send tmux key names ('C-c', 'Enter'). */
  async keys(...keys: string[]): Promise<void> {
    await tmuxRun(this.socket, ['send-keys', '-t', 'gw', ...keys])
  }

  /** Type literal text (no key names), then Enter when asked. */
  async type(text: string, enter = true): Promise<void> {
    await tmuxRun(this.socket, ['send-keys', '-t', 'gw', '-l', text])
    if (enter) await this.keys('Enter')
  }

  /** Ctrl-C, as the operator presses it: the terminal sends SIGINT to the foreground process group. */
  async ctrlC(): Promise<void> {
    await this.keys('C-c')
  }

  /** The visible screen, line by line, trailing blanks removed. */
  async screen(): Promise<string> {
    const out = await tmuxRun(this.socket, ['capture-pane', '-p', '-t', 'gw'])
    return out.replace(/\s+$/, '')
  }

  /** Everything the terminal showed that is still in its scrollback, plus the screen. */
  async scrollback(): Promise<string> {
    const out = await tmuxRun(this.socket, ['capture-pane', '-p', '-J', '-S', '-', '-t', 'gw'])
    return out.replace(/\s+$/, '')
  }

  private get statusFile(): string {
    return path.join(this.dir, 'status')
  }

  /** The pid of the command (gwfleet itself when started with gwfleet()). */
  async pid(): Promise<number> {
    const shell = Number((await tmuxRun(this.socket, ['display-message', '-p', '-t', 'gw', '#{pane_pid}'])).trim())
    for (let i = 0; i < 50; i++) {
      const kids = fs.readFileSync(`/proc/${shell}/task/${shell}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)
      if (kids.length) return Number(kids[0])
      await pause(20)
    }
    throw new Error('the command did not start')
  }

  /** How the command ended, or undefined while it runs. */
  async status(): Promise<Ended | undefined> {
    if (this.ended) return this.ended
    const text = fs.existsSync(this.statusFile) ? fs.readFileSync(this.statusFile, 'utf8').trim() : ''
    if (text !== '') {
      this.ended = {code: Number(text), signal: null}
      return this.ended
    }
    const out = (await tmuxRun(this.socket, ['display-message', '-p', '-t', 'gw', '#{pane_dead}|#{pane_dead_signal}'])).trim()
    const [dead, signal] = out.split('|')
    // The shell itself died of a signal (it does when its command did): no status file.
    if (dead === '1' && signal) this.ended = {code: null, signal: Number(signal)}
    return this.ended
  }

  /** Wait until the screen (or the scrollback, with `all`) matches; returns it. Throws with the screen after `timeoutMs`. */
  async waitFor(what: string | RegExp, opts: {timeoutMs?: number; all?: boolean} = {}): Promise<string> {
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000)
    const test = (s: string) => (typeof what === 'string' ? s.includes(what) : what.test(s))
    let last = ''
    for (;;) {
      last = opts.all ? await this.scrollback() : await this.screen()
      if (test(last)) return last
      if (Date.now() > deadline) throw new Error(`terminal never showed ${String(what)}; it shows:\n${last}`)
      await pause(100)
    }
  }

  /** Wait until `check` holds (polled), e.g. for something on a host. */
  static async until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await pause(50)
    }
  }

  /** Wait for the command to end; throws with the screen if it is still running after `timeoutMs`. */
  async exit(timeoutMs = 120_000): Promise<Ended> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const s = await this.status()
      if (s) return s
      if (Date.now() > deadline) {
        const pane = await tmuxRun(this.socket, ['display-message', '-p', '-t', 'gw', 'pid #{pane_pid}, dead #{pane_dead}, status #{pane_dead_status}'])
        throw new Error(`still running after ${timeoutMs} ms (${pane.trim()}); the terminal shows:\n${await this.screen()}`)
      }
      await pause(100)
    }
  }

  /** Close the terminal: its processes get SIGHUP, as when the operator closes the window. */
  async hangUp(): Promise<void> {
    await tmuxRun(this.socket, ['kill-server']).catch(() => undefined)
  }

  /** End the tmux server (and anything still in it) and remove its files. */
  async close(): Promise<void> {
    await tmuxRun(this.socket, ['kill-server']).catch(() => undefined)
    fs.rmSync(this.dir, {recursive: true, force: true})
  }
}

/** The environment of an operator's terminal session from a workspace's: no GWFLEET_PLAIN, no CI. */
export function terminalEnv(env: NodeJS.ProcessEnv, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const out = {...env, ...extra}
  if (!('GWFLEET_PLAIN' in extra)) delete out.GWFLEET_PLAIN
  delete out.CI
  return out
}
