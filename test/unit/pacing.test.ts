import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

import ssh2 from 'ssh2'
import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

// @ts-expect-error plain JS lab module
import {generateEd25519} from '../lab/lab.js'
import {InputError, UnreachableError} from '../../src/errors.js'
import {Connection} from '../../src/ssh/connection.js'
import type {ConnectTarget} from '../../src/ssh/types.js'
import {HandshakeGate, LoadProbe, handshakeLimit, pacedHandshake, type ProbeMark, type SaturationProbe} from '../../src/ssh/pacing.js'

/** A probe that answers what the test says, and counts how it was asked. */
class ScriptedProbe implements SaturationProbe {
  holds = 0
  asked = 0
  constructor(public saturated: boolean) {}
  hold(): void {
    this.holds++
  }
  release(): void {
    this.holds--
  }
  mark(): ProbeMark {
    return {at: 0, saturatedMs: 0}
  }
  saturatedSince(): boolean {
    this.asked++
    return this.saturated
  }
}

/** A handshake the test finishes by hand. */
function deferred() {
  let resolve!: () => void
  let reject!: (e: unknown) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return {promise, resolve, reject}
}

const tick = () => new Promise((r) => setImmediate(r))
const timeoutError = () => Object.assign(new Error('Timed out while waiting for handshake'), {level: 'client-timeout'})
const policy = (fail: (err: unknown, saturated: number) => Error = (e) => e as Error) => ({
  retries: 2,
  dropped: (e: any) => e?.code === 'ECONNRESET',
  timedOut: (e: any) => e?.level === 'client-timeout',
  fail,
  backoffMs: () => 0,
})

describe('HandshakeGate', () => {
  it('never has more handshakes in flight than its run-wide limit, and runs every one', async () => {
    const gate = new HandshakeGate({limit: 3, probe: new ScriptedProbe(false)})
    const pending = Array.from({length: 20}, () => deferred())
    let inFlight = 0
    let most = 0
    const started: number[] = []
    const all = pending.map((d, i) =>
      gate.slot(`h${i}:22`, async () => {
        started.push(i)
        inFlight++
        most = Math.max(most, inFlight)
        await d.promise
        inFlight--
        return i
      }),
    )
    await tick()
    expect(started).toEqual([0, 1, 2])
    expect(gate.waiting).toBe(17)
    // Finish them out of order: each freed slot goes to the next in line.
    for (const i of [1, 0, 2, ...Array.from({length: 17}, (_, k) => k + 3)]) {
      pending[i].resolve()
      await tick()
      await tick()
    }
    expect(await Promise.all(all)).toEqual(Array.from({length: 20}, (_, i) => i))
    expect(most).toBe(3)
    expect(started).toEqual(Array.from({length: 20}, (_, i) => i))
    expect(gate.active).toBe(0)
  })

  it('limits one endpoint without holding run-wide slots for the ones waiting on it', async () => {
    const gate = new HandshakeGate({limit: 2, perEndpoint: 1, probe: new ScriptedProbe(false)})
    const a1 = deferred()
    const a2 = deferred()
    const b = deferred()
    const started: string[] = []
    const run = (name: string, endpoint: string, d: ReturnType<typeof deferred>) =>
      gate.slot(endpoint, async () => {
        started.push(name)
        await d.promise
      })
    const p = [run('a1', 'a:22', a1), run('a2', 'a:22', a2), run('b', 'b:22', b)]
    await tick()
    // a2 waits for its endpoint; b gets the second run-wide slot.
    expect(started).toEqual(['a1', 'b'])
    expect(gate.active).toBe(2)
    a1.resolve()
    await tick()
    await tick()
    expect(started).toEqual(['a1', 'b', 'a2'])
    a2.resolve()
    b.resolve()
    await Promise.all(p)
  })

  it('frees the slot when a handshake fails', async () => {
    const gate = new HandshakeGate({limit: 1, probe: new ScriptedProbe(false)})
    await expect(gate.slot('a:22', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(await gate.slot('a:22', async () => 'next')).toBe('next')
    expect(gate.active).toBe(0)
  })
})

describe('pacedHandshake', () => {
  it('tries a timeout again when the workstation was saturated during it', async () => {
    const probe = new ScriptedProbe(true)
    const gate = new HandshakeGate({limit: 4, probe})
    let attempts = 0
    const r = await pacedHandshake(gate, 'a:22', async () => {
      if (++attempts === 1) throw timeoutError()
      return 'connected'
    }, policy())
    expect(r).toBe('connected')
    expect(attempts).toBe(2)
    expect(probe.asked).toBe(1)
  })

  it('gives a timeout up at once when the workstation was not saturated', async () => {
    const gate = new HandshakeGate({limit: 4, probe: new ScriptedProbe(false)})
    let attempts = 0
    const seen: number[] = []
    await expect(
      pacedHandshake(gate, 'a:22', async () => {
        attempts++
        throw timeoutError()
      }, policy((e, n) => {
        seen.push(n)
        return new Error(`gave up after ${n}`)
      })),
    ).rejects.toThrow('gave up after 0')
    expect(attempts).toBe(1)
    expect(seen).toEqual([0])
  })

  it('stops retrying saturated timeouts after the gate\'s limit and says how many there were', async () => {
    const gate = new HandshakeGate({limit: 4, saturatedRetries: 3, probe: new ScriptedProbe(true)})
    let attempts = 0
    await expect(
      pacedHandshake(gate, 'a:22', async () => {
        attempts++
        throw timeoutError()
      }, policy((_e, n) => new Error(`saturated ${n}`))),
    ).rejects.toThrow('saturated 3')
    expect(attempts).toBe(4)
  })

  it('never retries other failures because of saturation, and retries drops up to `retries`', async () => {
    const gate = new HandshakeGate({limit: 4, probe: new ScriptedProbe(true)})
    let attempts = 0
    await expect(
      pacedHandshake(gate, 'a:22', async () => {
        attempts++
        throw Object.assign(new Error('refused'), {code: 'ECONNREFUSED'})
      }, policy()),
    ).rejects.toThrow('refused')
    expect(attempts).toBe(1)

    attempts = 0
    await expect(
      pacedHandshake(gate, 'a:22', async () => {
        attempts++
        throw Object.assign(new Error('reset'), {code: 'ECONNRESET'})
      }, policy()),
    ).rejects.toThrow('reset')
    expect(attempts).toBe(3)
  })

  it('starts each attempt only with a slot, so waiting in the queue is not part of an attempt', async () => {
    const probe = new ScriptedProbe(true)
    const gate = new HandshakeGate({limit: 1, probe})
    const first = deferred()
    const log: string[] = []
    const p1 = gate.slot('a:22', async () => {
      log.push('first starts')
      await first.promise
      log.push('first ends')
    })
    const p2 = pacedHandshake(gate, 'b:22', async () => {
      log.push('second starts')
      expect(probe.holds).toBe(1)
      return 'ok'
    }, policy())
    await tick()
    expect(log).toEqual(['first starts'])
    first.resolve()
    await p1
    expect(await p2).toBe('ok')
    expect(log).toEqual(['first starts', 'first ends', 'second starts'])
  })
})

describe('LoadProbe', () => {
  it('calls a blocked event loop saturated', async () => {
    const probe = new LoadProbe({intervalMs: 50})
    probe.hold()
    const m = probe.mark()
    const until = Date.now() + 600
    while (Date.now() < until) {
      // the workstation is busy: no timer or socket callback runs
    }
    expect(probe.saturatedSince(m)).toBe(true)
    probe.release()
  })

  it('calls an idle wait not saturated', async () => {
    // Its own timer and clock, on time: fake timers, as a real idle wait on a busy machine is late
    // (and then rightly called saturated), so a real one could not say "idle" whatever the load.
    vi.useFakeTimers({toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'performance']})
    try {
      // The clock is the faked performance.now() as this file sees it, passed in (the module's own
      // global may be another binding under the test runner).
      const probe = new LoadProbe({intervalMs: 50, now: () => performance.now()})
      probe.hold()
      const m = probe.mark()
      await vi.advanceTimersByTimeAsync(2000)
      expect(probe.saturatedSince(m)).toBe(false)
      probe.release()
    } finally {
      vi.useRealTimers()
    }
  })

  it("judges the last user's window when it lets go", () => {
    let t = 0
    const probe = new LoadProbe({intervalMs: 100, lagMs: 200, now: () => t})
    probe.hold()
    const m = probe.mark()
    t += 800 // the timer never ran: the loop was blocked, then the last handshake ended
    probe.release()
    expect(probe.mark().saturatedMs - m.saturatedMs).toBe(800)
  })

  it('needs a quarter of the window late, and forgets what came before the mark', () => {
    let t = 0
    const probe = new LoadProbe({intervalMs: 100, lagMs: 200, now: () => t})
    probe.hold()
    t += 1000 // one very late tick before the mark
    const m = probe.mark()
    for (let i = 0; i < 30; i++) {
      t += 100 // ticks on time
      probe.mark()
    }
    expect(probe.saturatedSince(m)).toBe(false)
    t += 600 // one tick 500 ms late: 600 of 3600 ms, under a quarter
    expect(probe.saturatedSince(m)).toBe(false)
    t += 700 // another: 1300 of 4300 ms
    expect(probe.saturatedSince(m)).toBe(true)
    probe.release()
  })
})

describe('handshakeLimit', () => {
  it('defaults to 64 and takes GWFLEET_MAX_HANDSHAKES', () => {
    expect(handshakeLimit({})).toBe(64)
    expect(handshakeLimit({GWFLEET_MAX_HANDSHAKES: '16'})).toBe(16)
  })
  it.each(['0', '-1', 'lots', '1.5', '1e3'])('refuses GWFLEET_MAX_HANDSHAKES=%j', (v) => {
    expect(() => handshakeLimit({GWFLEET_MAX_HANDSHAKES: v})).toThrow(InputError)
    expect(() => handshakeLimit({GWFLEET_MAX_HANDSHAKES: v})).toThrow(/GWFLEET_MAX_HANDSHAKES/)
  })
})

// A real ssh2 client against an in-process SSH server that serves one handshake at a time: a host
// (or a workstation) that can only keep up with so many handshakes at once.
describe('Connection.open through the gate', () => {
  const SERVE_MS = 600
  let dir: string
  let tcp: net.Server
  let port: number
  let swallowNext = 0
  let target: ConnectTarget

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-pacing-'))
    // ssh2's own generator drops a leading zero byte of about 1 in 256 ed25519 public keys, and
    // then cannot parse the key it made (ssh2 issues 1390, 1513): the lab's generator writes the
    // OpenSSH format from node's crypto and is always whole.
    const hostKey = generateEd25519('pacing-host')
    const clientKey = generateEd25519('pacing-client')
    fs.writeFileSync(path.join(dir, 'id'), clientKey.privateKey, {mode: 0o600})
    // Ends the handshake being served: its client logged in, or gave up.
    let finishCurrent: (() => void) | undefined
    const sshd = new ssh2.Server({hostKeys: [hostKey.privateKey]}, (client) => {
      client.on('authentication', (ctx) => ctx.accept())
      client.on('ready', () => finishCurrent?.())
      client.on('error', () => {})
    })
    const queue: net.Socket[] = []
    let serving = false
    const serveNext = () => {
      if (serving) return
      const sock = queue.shift()
      if (!sock) return
      if (sock.destroyed) return serveNext()
      serving = true
      setTimeout(() => {
        const done = () => {
          if (finishCurrent !== done) return
          finishCurrent = undefined
          serving = false
          serveNext()
        }
        finishCurrent = done
        sock.once('close', done)
        sshd.injectSocket(sock)
      }, SERVE_MS)
    }
    tcp = net.createServer((sock) => {
      sock.on('error', () => {})
      if (swallowNext > 0) {
        // accepts TCP and never speaks SSH: this attempt can only time out
        swallowNext--
        return
      }
      queue.push(sock)
      serveNext()
    })
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()))
    port = (tcp.address() as net.AddressInfo).port
    fs.writeFileSync(path.join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostKey.publicKey}\n`)
    target = {
      host: '127.0.0.1',
      port,
      user: 'gw',
      identityFiles: [path.join(dir, 'id')],
      knownHostsFiles: [path.join(dir, 'known_hosts')],
      recordKnownHostsFile: path.join(dir, 'known_hosts'),
      jump: [],
    }
  })

  afterAll(() => {
    tcp?.close()
    fs.rmSync(dir, {recursive: true, force: true})
  })

  const options = (gate: HandshakeGate, connectTimeoutMs: number) => ({acceptNewHostKeys: false, connectTimeoutMs, keepaliveIntervalMs: 0, retries: 0, handshakes: gate})

  async function openMany(gate: HandshakeGate, n: number, connectTimeoutMs: number) {
    const t0 = Date.now()
    const results = await Promise.allSettled(Array.from({length: n}, () => Connection.open(target, options(gate, connectTimeoutMs))))
    for (const r of results) if (r.status === 'fulfilled') r.value.close()
    return {ms: Date.now() - t0, ok: results.filter((r) => r.status === 'fulfilled').length, errors: results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []))}
  }

  it('loses handshakes that wait behind others when nothing bounds them (the failure being fixed)', async () => {
    const gate = new HandshakeGate({limit: 100, perEndpoint: 100, probe: new ScriptedProbe(false)})
    const r = await openMany(gate, 10, 4000)
    expect(r.errors.length).toBeGreaterThan(0)
    expect(r.errors.every((e) => e instanceof UnreachableError && e.kind === 'timeout')).toBe(true)
    expect(r.errors[0].message).toMatch(/no SSH handshake from 127\.0\.0\.1:\d+ within 4s$/)
  })

  it('connects every host when the gate holds the rest back, though the queue outlasts the timeout', async () => {
    const gate = new HandshakeGate({limit: 1, probe: new ScriptedProbe(false)})
    const r = await openMany(gate, 10, 4000)
    expect(r.errors.map((e) => e.message)).toEqual([])
    expect(r.ok).toBe(10)
    // by construction the last host waited ~9 x SERVE_MS, more than the 4 s timeout
    expect(r.ms).toBeGreaterThan(10 * SERVE_MS)
  })

  it('retries a timed-out handshake when the workstation was saturated, and names the retries when it gives up', async () => {
    swallowNext = 1
    const ok = await Connection.open(target, options(new HandshakeGate({limit: 4, probe: new ScriptedProbe(true)}), 1500))
    ok.close()

    swallowNext = 3
    const err = await Connection.open(target, options(new HandshakeGate({limit: 4, saturatedRetries: 2, probe: new ScriptedProbe(true)}), 1000)).catch((e) => e)
    expect(err).toBeInstanceOf(UnreachableError)
    expect(err.kind).toBe('timeout')
    expect(err.message).toBe(`no SSH handshake from 127.0.0.1:${port} within 1s (tried 3 times, 2 of them while this workstation was overloaded)`)

    swallowNext = 1
    const plain = await Connection.open(target, options(new HandshakeGate({limit: 4, probe: new ScriptedProbe(false)}), 1000)).catch((e) => e)
    expect(plain.message).toBe(`no SSH handshake from 127.0.0.1:${port} within 1s`)
    expect(swallowNext).toBe(0)
  })
})
