// The phase manager: one host moves through small named phases, in order, on its own. A phase that
// takes hold of something (a connection, the host's lock) registers how to give it back; the
// manager gives everything back, newest first, exactly once, however the host ends: done, failed,
// nothing to do, skipped, interrupted, cut off, lock lost.

/** How a host's phases ended. */
export type Ending =
  /** Every phase ran. */
  | {kind: 'done'}
  /** A phase (or the manager) ended the host early without an error: nothing to do, refused, dry run, skipped. */
  | {kind: 'stopped'; status: 'unchanged' | 'refused' | 'planned' | 'skipped' | 'interrupted'; reason?: string}
  /** A phase threw. */
  | {kind: 'error'; error: unknown}

/** What a phase's run may ask of the manager. */
export interface PhaseControl {
  /** Register how to give back what was just taken; runs once when the host ends, newest first. */
  hold(what: string, release: (end: Ending) => Promise<void>): void
}

/** One named step of a host's work. Its run returns an Ending to end the host there without an error. */
export interface Phase<S> {
  name: string
  run(state: S, ctl: PhaseControl): Promise<Ending | void>
}

/** What the manager asks of the run around it. */
export interface PhaseWatch<S> {
  /** Checked before each phase: an Ending stops the host there (the operator's stop, a lost lock). */
  before?(state: S, phase: Phase<S>): Ending | null
  /** A release that threw: the host's end stands, the problem is only reported. */
  releaseFailed?(state: S, what: string, error: unknown): void
}

/** One host's run through its phases. */
export class HostRun<S> {
  private readonly held: {what: string; release: (end: Ending) => Promise<void>}[] = []
  private ending: Ending | null = null
  private finished: Promise<Ending> | null = null

  constructor(
    readonly state: S,
    private readonly watch: PhaseWatch<S> = {},
  ) {}

  /** How the host ended so far (null while it goes on). */
  get ended(): Ending | null {
    return this.ending
  }

  /** Run the phases in order; false once the host has ended (by a phase, an error or the watch). */
  async through(phases: Phase<S>[]): Promise<boolean> {
    const ctl: PhaseControl = {
      hold: (what, release) => {
        if (this.held.some((h) => h.what === what)) return
        this.held.push({what, release})
      },
    }
    for (const phase of phases) {
      // finish() sets the ending at once: no phase starts after it.
      if (this.ending) return false
      const stop = this.watch.before?.(this.state, phase) ?? null
      if (stop) {
        this.ending = stop
        return false
      }
      try {
        const end = await phase.run(this.state, ctl)
        if (end) {
          this.ending = end
          return false
        }
      } catch (error) {
        this.ending = {kind: 'error', error}
        return false
      }
    }
    return true
  }

  /**
   * End the host: `end` applies unless a phase already ended it. Every release runs once, newest
   * first, even when one of them fails; calling finish again returns the same ending.
   */
  finish(end: Ending = {kind: 'done'}): Promise<Ending> {
    this.finished ??= (async () => {
      this.ending ??= end
      const ending = this.ending
      for (const h of this.held.reverse()) {
        try {
          await h.release(ending)
        } catch (e) {
          this.watch.releaseFailed?.(this.state, h.what, e)
        }
      }
      this.held.length = 0
      return ending
    })()
    return this.finished
  }
}
