// What the runner tells the operator while hosts work; the progress views implement it.
import type {HostResult} from '../runner/result.js'

/** What the runner tells the operator while hosts work. */
export interface Reporter {
  begin(hosts: {name: string; host: string}[], title: string): void
  /** A host moved to a new step. */
  step(name: string, text: string): void
  /** The last output line of a host's installer. */
  line(name: string, text: string): void
  /** A host finished a changing command; `planned`: a dry run's plan (it reads `would install` ...). */
  done(result: HostResult, planned?: boolean): void
  /** A host finished a read-only command: a label (in-sync, drift ...) and whether it is fine. */
  verdict(name: string, label: string, ok: boolean): void
  /** A message for the whole run (interrupts, batches). */
  notice(text: string): void
  /**
   * Run `fn` (a question to the operator) with the progress view out of its way: nothing is drawn
   * while it runs, then the view carries on. Callers ask one question at a time.
   */
  suspend<T>(fn: () => Promise<T>): Promise<T>
  end(): Promise<void>
}

/** Masks secrets in everything a reporter prints. */
export type Mask = (s: string) => string
