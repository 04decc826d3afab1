// Asking the operator on the terminal: hidden input, one question at a time, the progress view
// out of the way while the question is open. Answers are never echoed, logged or put in argv.
import {KeyFileError, LocalError} from './errors.js'

/** Runs `fn` with the progress view out of the way (see Reporter.suspend). */
export type Suspend = <T>(fn: () => Promise<T>) => Promise<T>

/** The operator gave no answer (Ctrl-C, Ctrl-D) or nobody can be asked. */
export class PromptCancelled extends LocalError {
  constructor(message: string) {
    super(message)
    this.name = 'PromptCancelled'
  }
}

/** Whether the operator can be asked: stdin is a terminal to read from and stderr one to ask on. */
export function canAsk(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY)
}

/**
 * Read one line from a terminal without echoing it (raw mode: nothing the operator types is shown).
 * Backspace and Ctrl-U edit; Ctrl-D on an empty line gives up; Ctrl-C gives up and is passed on to
 * the process as SIGINT, as the terminal would have done.
 */
export function readHidden(question: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WritableStream = process.stderr): Promise<string> {
  return new Promise((resolve, reject) => {
    const wasRaw = Boolean(input.isRaw)
    let answer = ''
    const finish = (err?: Error) => {
      input.off('data', onData)
      input.setRawMode?.(wasRaw)
      input.pause()
      output.write('\n')
      if (err) reject(err)
      else resolve(answer)
    }
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n') return finish()
        if (ch === '\u0003') {
          finish(new PromptCancelled('interrupted at the prompt'))
          process.kill(process.pid, 'SIGINT')
          return
        }
        if (ch === '\u0004') {
          if (answer === '') return finish(new PromptCancelled('no answer given'))
          continue
        }
        if (ch === '\u007f' || ch === '\b') answer = [...answer].slice(0, -1).join('')
        else if (ch === '\u0015') answer = ''
        else if (ch >= ' ') answer += ch
      }
    }
    output.write(question)
    input.setRawMode?.(true)
    input.on('data', onData)
    input.resume()
  })
}

/** One question to the operator, with its own way of reading the answer (tests pass their own). */
export type ReadAnswer = (question: string) => Promise<string>

/** The run's questions to the operator: one at a time, each with the progress view suspended. */
export class Prompter {
  private queue: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly suspend: Suspend,
    /** Whether anyone can be asked (a terminal on stdin and stderr). */
    readonly available: boolean = canAsk(),
    private readonly read: ReadAnswer = (q) => readHidden(q),
  ) {}

  /**
   * One turn at the terminal: `fn` may ask several questions (a retry after a wrong answer) while
   * other prompts wait for the turn to end.
   */
  turn<T>(fn: (ask: ReadAnswer) => Promise<T>): Promise<T> {
    if (!this.available) return Promise.reject(new PromptCancelled('no terminal to ask on'))
    const t = this.queue.then(() => this.suspend(() => fn(this.read)))
    this.queue = t.catch(() => undefined)
    return t
  }
}

/** Masks a secret in everything the run prints or writes (the run's Redactor). */
export interface SecretSink {
  add(values: Iterable<string>): void
}

const PASSPHRASE_TRIES = 3

/**
 * What only the operator knows, asked at most once per run: a key file's passphrase (per file) and
 * the sudo password (per login user). GWFLEET_BECOME_PASSWORD, when set, is the sudo password of
 * every user and nothing is asked.
 */
export class Credentials {
  private readonly become = new Map<string, Promise<string | undefined>>()

  constructor(
    readonly prompter: Prompter,
    private readonly secrets: SecretSink,
    private readonly envBecomePassword: string | undefined = process.env.GWFLEET_BECOME_PASSWORD || undefined,
  ) {
    if (envBecomePassword) secrets.add([envBecomePassword])
  }

  /** Where the sudo password of `user` came from, for error messages; undefined when none was given. */
  becomeSource(user: string): 'environment' | 'prompt' | undefined {
    if (this.become.has(user)) return 'prompt'
    return this.envBecomePassword ? 'environment' : undefined
  }

  /** The sudo password of `user` if one was given or is being asked for right now; never asks. */
  knownBecomePassword(user: string): Promise<string | undefined> | undefined {
    return this.become.get(user) ?? (this.envBecomePassword ? Promise.resolve(this.envBecomePassword) : undefined)
  }

  /**
   * The sudo password of `user`: from the environment, else asked on the terminal (once per user:
   * hosts that need it while the question is open wait for the same answer). Undefined when nobody
   * can be asked or the operator gave no answer (then for the rest of the run: nothing is asked twice).
   */
  becomePassword(user: string): Promise<string | undefined> {
    const known = this.knownBecomePassword(user)
    if (known) return known
    return this.askBecomePassword(user)
  }

  /** Ask for the sudo password of `user` now, whatever the environment holds (--ask-become-pass). */
  askBecomePassword(user: string): Promise<string | undefined> {
    const existing = this.become.get(user)
    if (existing) return existing
    const p = this.prompter
      .turn(async (ask) => {
        const pw = await ask(`[gwfleet] sudo password for ${user} on the gateway hosts: `)
        this.secrets.add([pw])
        return pw
      })
      .catch(() => undefined)
    this.become.set(user, p)
    return p
  }

  /**
   * Ask for a key file's passphrase until `unlocks` accepts it (three tries). Undefined when nobody
   * can be asked; a KeyFileError when the operator gave none or only wrong ones.
   */
  async passphrase(file: string, unlocks: (passphrase: string) => boolean): Promise<string | undefined> {
    if (!this.prompter.available) return undefined
    return this.prompter.turn(async (ask) => {
      for (let i = 0; i < PASSPHRASE_TRIES; i++) {
        let pp: string
        try {
          pp = await ask(i === 0 ? `Enter passphrase for key ${file}: ` : `Wrong passphrase, try again. Enter passphrase for key ${file}: `)
        } catch (e) {
          throw new KeyFileError('passphrase', file, `identity file ${file} is passphrase-protected and no passphrase was given (${(e as Error).message})`)
        }
        this.secrets.add([pp])
        if (unlocks(pp)) return pp
      }
      throw new KeyFileError('passphrase', file, `identity file ${file}: the passphrase was wrong ${PASSPHRASE_TRIES} times`)
    })
  }
}
