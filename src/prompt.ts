// Asking the operator on the terminal: hidden input, one question at a time, the progress view
// out of the way while the question is open. Answers are never echoed, logged or put in argv.
import {StringDecoder} from 'node:string_decoder'

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

/** What a key typed at a hidden prompt came to: nothing yet, Enter, Ctrl-C, or Ctrl-D on an empty line. */
export type HiddenInputEnd = 'enter' | 'interrupt' | 'eof'

/**
 * The keys typed at a hidden prompt, as a line: printable characters are kept; Backspace deletes
 * the last one, Ctrl-U clears the line, Enter ends it, Ctrl-C interrupts, Ctrl-D on an empty line
 * gives up. Everything else a key sends is dropped: escape sequences (arrows, Home, Delete, F-keys:
 * CSI and SS3, Alt+key, and OSC/DCS strings up to their terminator) and other control characters,
 * so `\x1b[Dpw\x1b[C` (Left, p, w, Right) is "pw". Pure: fed text, it keeps its state between
 * chunks (a sequence may arrive split).
 */
export class HiddenInput {
  private chars: string[] = []
  private state: 'text' | 'esc' | 'csi' | 'ss3' | 'string' | 'string-esc' = 'text'

  /** The line so far. */
  get value(): string {
    return this.chars.join('')
  }

  /** Take what the terminal sent; returns how the line ended, or undefined while it goes on. */
  feed(text: string): HiddenInputEnd | undefined {
    // A lone Esc key arrives alone: a chunk that does not go on with a sequence ends it.
    if (this.state === 'esc' && text !== '' && text[0] !== '[' && text[0] !== 'O') this.state = 'text'
    for (const ch of text) {
      const end = this.key(ch)
      if (end) return end
    }
    return undefined
  }

  private key(ch: string): HiddenInputEnd | undefined {
    const code = ch.codePointAt(0)!
    // Enter and Ctrl-C always count, whatever sequence they cut short (Alt+] starts a string no
    // terminal will end): the operator is never stuck at the prompt.
    if (ch === '\r' || ch === '\n' || ch === '\u0003') this.state = 'text'
    switch (this.state) {
      case 'esc':
        if (ch === '[') this.state = 'csi'
        else if (ch === 'O') this.state = 'ss3'
        else if (ch === ']' || ch === 'P' || ch === 'X' || ch === '^' || ch === '_') this.state = 'string'
        // ESC ESC: Alt with a key that sends a sequence of its own (Alt+Left).
        else if (ch !== '\x1b') this.state = 'text' // Alt+key
        return undefined
      case 'csi':
        // Parameter and intermediate bytes go on; a final byte ends the sequence. A control
        // character cuts it short and counts as itself (Enter still ends the line).
        if (code >= 0x20 && code <= 0x3f) return undefined
        this.state = 'text'
        if (code >= 0x40 && code <= 0x7e) return undefined
        break
      case 'ss3':
        this.state = 'text'
        return undefined
      case 'string':
        if (ch === '\x07') this.state = 'text'
        else if (ch === '\x1b') this.state = 'string-esc'
        return undefined
      case 'string-esc':
        this.state = 'text'
        return undefined
    }
    if (ch === '\r' || ch === '\n') return 'enter'
    if (ch === '\u0003') return 'interrupt'
    if (ch === '\u0004') return this.chars.length === 0 ? 'eof' : undefined
    if (ch === '\x1b') this.state = 'esc'
    else if (ch === '\u009b') this.state = 'csi'
    else if (ch === '\u008f') this.state = 'ss3'
    else if (ch === '\u007f' || ch === '\b') this.chars.pop()
    else if (ch === '\u0015') this.chars = []
    // Other C0 and C1 control characters are no part of a passphrase.
    else if (code >= 0x20 && !(code >= 0x7f && code <= 0x9f)) this.chars.push(ch)
    return undefined
  }
}

/**
 * Read one line from a terminal without echoing it (raw mode: nothing the operator types is shown),
 * keys handled as HiddenInput says; Ctrl-C gives up and is passed on to the process as SIGINT, as
 * the terminal would have done.
 */
export function readHidden(question: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WritableStream = process.stderr): Promise<string> {
  return new Promise((resolve, reject) => {
    const wasRaw = Boolean(input.isRaw)
    const line = new HiddenInput()
    // A character split between two reads is joined before it is looked at.
    const decoder = new StringDecoder('utf8')
    const finish = (err?: Error) => {
      input.off('data', onData)
      input.setRawMode?.(wasRaw)
      input.pause()
      output.write('\n')
      if (err) reject(err)
      else resolve(line.value)
    }
    const onData = (chunk: Buffer | string) => {
      const end = line.feed(typeof chunk === 'string' ? chunk : decoder.write(chunk))
      if (end === 'enter') finish()
      else if (end === 'eof') finish(new PromptCancelled('no answer given'))
      else if (end === 'interrupt') {
        finish(new PromptCancelled('interrupted at the prompt'))
        process.kill(process.pid, 'SIGINT')
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
