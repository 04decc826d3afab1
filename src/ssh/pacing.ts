// Pacing of SSH handshakes: how many are in flight (per endpoint and for the whole run), when a
// failed one is tried again, and whether a timeout was the network's fault or this workstation's.
import {performance} from 'node:perf_hooks'

import {InputError} from '../errors.js'

/** Handshakes in flight for the whole run unless GWFLEET_MAX_HANDSHAKES says otherwise. */
export const DEFAULT_MAX_HANDSHAKES = 64
/** Per endpoint, at most this many handshakes in flight: sshd's MaxStartups starts dropping at 10. */
export const HANDSHAKES_PER_ENDPOINT = 8
/** Extra attempts for a handshake that timed out while this workstation was saturated. */
export const SATURATED_RETRIES = 3

/** The run-wide handshake limit: GWFLEET_MAX_HANDSHAKES (a positive integer) or the default. */
export function handshakeLimit(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.GWFLEET_MAX_HANDSHAKES
  if (raw === undefined || raw === '') return DEFAULT_MAX_HANDSHAKES
  const n = Number(raw)
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < 1)
    throw new InputError(`GWFLEET_MAX_HANDSHAKES must be a positive integer, got ${JSON.stringify(raw)}`)
  return n
}

/** Where a saturation window starts: a time and the saturated milliseconds counted until then. */
export interface ProbeMark {
  at: number
  saturatedMs: number
}

/** Tells whether the workstation was too busy to drive a handshake since a mark. */
export interface SaturationProbe {
  /** Start watching (one call per handshake in flight). */
  hold(): void
  /** Stop watching for one handshake. */
  release(): void
  mark(): ProbeMark
  /** True when at least a quarter of the time since the mark was saturated. */
  saturatedSince(m: ProbeMark): boolean
}

/**
 * Samples the event loop's lag while handshakes are in flight. A window counts as saturated when
 * this process's timers ran late: it could not read the bytes that had arrived, or run the
 * handshake's crypto, in time. (A busy CPU alone is not enough: a shared machine is often at 100%
 * and still drives a handshake in milliseconds, and a silent host must not be retried for it.)
 */
export class LoadProbe implements SaturationProbe {
  private saturatedMs = 0
  private users = 0
  private timer?: NodeJS.Timeout
  private lastAt = 0

  constructor(private readonly o: {intervalMs?: number; lagMs?: number; now?: () => number} = {}) {}

  private get interval(): number {
    return this.o.intervalMs ?? 250
  }

  private now(): number {
    return this.o.now ? this.o.now() : performance.now()
  }

  hold(): void {
    if (this.users++ > 0) return
    this.lastAt = this.now()
    this.timer = setInterval(() => this.sample(), this.interval)
    // A probe never keeps the process alive on its own.
    this.timer.unref()
  }

  release(): void {
    if (this.users === 0) return
    // The last user's window is judged while it still counts (sample() skips an idle probe).
    if (this.users === 1) this.sample()
    if (--this.users > 0) return
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** Account the time since the last sample as saturated (the timer came late) or not. */
  private sample(): void {
    const now = this.now()
    const elapsed = now - this.lastAt
    // Not yet time for a tick: nothing to judge (the window is folded into the next one).
    if (this.users === 0 || elapsed < this.interval) return
    if (elapsed - this.interval >= (this.o.lagMs ?? 200)) this.saturatedMs += elapsed
    this.lastAt = now
  }

  mark(): ProbeMark {
    this.sample()
    return {at: this.now(), saturatedMs: this.saturatedMs}
  }

  saturatedSince(m: ProbeMark): boolean {
    this.sample()
    const span = this.now() - m.at
    return span > 0 && this.saturatedMs - m.saturatedMs >= span / 4
  }
}

interface Slots {
  active: number
  queue: (() => void)[]
}

/** Wait for a free slot of `s` (first come, first served). */
async function take(s: Slots, limit: number): Promise<void> {
  if (s.active < limit) {
    s.active++
    return
  }
  // The slot is handed over by give(): nobody can take it between the release and the wake-up.
  await new Promise<void>((r) => s.queue.push(r))
}

function give(s: Slots): void {
  const next = s.queue.shift()
  if (next) next()
  else s.active--
}

/**
 * Bounds the SSH handshakes in flight: per endpoint (so sshd's MaxStartups does not drop them)
 * and for the whole run (so the workstation drives each one fast enough), whatever `-c` is.
 */
export class HandshakeGate {
  readonly limit: number
  readonly perEndpoint: number
  readonly saturatedRetries: number
  readonly probe: SaturationProbe
  private readonly all: Slots = {active: 0, queue: []}
  private readonly endpoints = new Map<string, Slots>()

  constructor(o: {limit?: number; perEndpoint?: number; saturatedRetries?: number; probe?: SaturationProbe} = {}) {
    this.limit = o.limit ?? DEFAULT_MAX_HANDSHAKES
    this.perEndpoint = o.perEndpoint ?? HANDSHAKES_PER_ENDPOINT
    this.saturatedRetries = o.saturatedRetries ?? SATURATED_RETRIES
    this.probe = o.probe ?? new LoadProbe()
  }

  /** Handshakes in flight now. */
  get active(): number {
    return this.all.active
  }

  /** Handshakes waiting for a run-wide slot. */
  get waiting(): number {
    return this.all.queue.length
  }

  /**
   * Run `fn` (one handshake) once both slots are free; it starts its own timeout, so the wait
   * here never counts against it.
   */
  async slot<T>(endpoint: string, fn: () => Promise<T>): Promise<T> {
    let ep = this.endpoints.get(endpoint)
    if (!ep) {
      ep = {active: 0, queue: []}
      this.endpoints.set(endpoint, ep)
    }
    const mine = ep
    // The endpoint's slot first: a run-wide slot is never held while waiting for one endpoint.
    await take(mine, this.perEndpoint)
    try {
      await take(this.all, this.limit)
      this.probe.hold()
      try {
        return await fn()
      } finally {
        this.probe.release()
        give(this.all)
      }
    } finally {
      give(mine)
      if (mine.active === 0 && mine.queue.length === 0) this.endpoints.delete(endpoint)
    }
  }
}

/** How one host's handshake attempts are judged. */
export interface HandshakePolicy {
  /** Attempts after sshd dropped the connection before the handshake (MaxStartups). */
  retries: number
  /** sshd dropped the connection before the handshake: try again after a pause. */
  dropped: (err: unknown) => boolean
  /** No handshake within the connect timeout. */
  timedOut: (err: unknown) => boolean
  /** The error to give up with; `saturated` counts the timeouts retried because this workstation was saturated. */
  fail: (err: unknown, saturated: number) => Error
  /** Pause before the n-th retry of a dropped connection (default: exponential with jitter). */
  backoffMs?: (n: number) => number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const backoff = (n: number) => Math.min(4000, 150 * 2 ** n) * (0.5 + Math.random())

/**
 * One host's handshake through the gate. A timeout counts as the host's only when the workstation
 * was not saturated during that attempt; otherwise it is tried again (up to the gate's limit),
 * queued behind the others like a new one.
 */
export async function pacedHandshake<T>(gate: HandshakeGate, endpoint: string, attempt: () => Promise<T>, p: HandshakePolicy): Promise<T> {
  let drops = 0
  let saturated = 0
  for (;;) {
    let mark: ProbeMark | undefined
    try {
      return await gate.slot(endpoint, () => {
        mark = gate.probe.mark()
        return attempt()
      })
    } catch (err) {
      if (p.dropped(err) && drops < p.retries) {
        drops++
        await sleep((p.backoffMs ?? backoff)(drops))
        continue
      }
      if (mark && p.timedOut(err) && saturated < gate.saturatedRetries && gate.probe.saturatedSince(mark)) {
        saturated++
        continue
      }
      throw p.fail(err, saturated)
    }
  }
}
