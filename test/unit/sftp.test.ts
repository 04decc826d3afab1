// SFTP uploads (ssh/sftp.ts writeFiles) against a fake SFTP session whose answers the test releases
// by hand: a streamed source is read no faster than the host answers (at most the window of bytes in
// flight, per host and for all hosts together), files go 4 at a time, and a failure (the host's, a source's, the connection's) ends the
// batch with every opened handle closed. The real sshd side is test/e2e/sftp.test.ts.
import {EventEmitter} from 'node:events'

import type {SFTPWrapper} from 'ssh2'
import {describe, expect, it} from 'vitest'

import {HostStepError, UnreachableError} from '../../src/errors.js'
import type {Link} from '../../src/ssh/exec.js'
import {writeFiles, type UploadFile} from '../../src/ssh/sftp.js'

const KiB = 1024
const MiB = 1024 * KiB

type Answer = (err?: Error | null) => void

/** An SFTP session that answers nothing until told: requests wait in `pending`. */
class FakeSftp {
  pending: {what: string; path: string; answer: () => void}[] = []
  files = new Map<string, {chunks: Buffer[]; sent: number; mode?: number; closed: boolean}>()
  openHandles = 0
  maxOpen = 0
  inFlight = 0
  maxInFlight = 0
  failOpen = new Set<string>()
  private handles = new Map<string, string>()

  open(path: string, _flags: string, _attrs: unknown, cb: (err: Error | undefined, h: Buffer) => void): void {
    this.push('open', path, () => {
      if (this.failOpen.has(path)) return cb(Object.assign(new Error('Permission denied'), {code: 3}), Buffer.alloc(0))
      const h = Buffer.from(`h${this.handles.size}`)
      this.handles.set(h.toString(), path)
      this.files.set(path, {chunks: [], sent: 0, closed: false})
      this.openHandles++
      this.maxOpen = Math.max(this.maxOpen, this.openHandles)
      cb(undefined, h)
    })
  }
  write(h: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: Answer): void {
    const path = this.handles.get(h.toString())!
    const data = Buffer.from(buf.subarray(off, off + len)) // copied, as ssh2 does into its packet
    const f = this.files.get(path)!
    // Each write lands right after the one before it.
    expect(pos).toBe(f.sent)
    f.sent += len
    this.inFlight += len
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    this.push('write', path, () => {
      this.inFlight -= len
      f.chunks.push(data)
      cb()
    })
  }
  fchmod(h: Buffer, mode: number, cb: Answer): void {
    const path = this.handles.get(h.toString())!
    this.push('fchmod', path, () => {
      this.files.get(path)!.mode = mode
      cb()
    })
  }
  close(h: Buffer, cb: Answer): void {
    const path = this.handles.get(h.toString())!
    this.push('close', path, () => {
      this.files.get(path)!.closed = true
      this.openHandles--
      cb()
    })
  }
  private push(what: string, path: string, answer: () => void): void {
    this.pending.push({what, path, answer})
  }
  /** Answer every request waiting now (not those they lead to). */
  answerAll(): number {
    const now = this.pending.splice(0)
    for (const p of now) p.answer()
    return now.length
  }
  content(path: string): Buffer {
    return Buffer.concat(this.files.get(path)!.chunks)
  }
}

function fakeLink(): Link & {client: EventEmitter; closed: boolean} {
  const client = new EventEmitter()
  const link = {client, target: {host: 'fake'}, closed: false, get isClosed() {
    return link.closed
  }}
  return link as unknown as Link & {client: EventEmitter; closed: boolean}
}

/** Let every promise that can settle settle. */
const settle = () => new Promise((r) => setImmediate(r))

/** Answer the host's requests until the batch ends (or `rounds` runs out). */
async function serve(sftp: FakeSftp, done: () => boolean, rounds = 100_000): Promise<void> {
  for (let i = 0; i < rounds && !done(); i++) {
    await settle()
    sftp.answerAll()
  }
}

/** A source of `total` bytes (byte i = i mod 251) in `chunk`-byte pieces, counting what was taken from it. */
function counted(total: number, chunk: number) {
  const state = {taken: 0, finished: false, returned: false}
  const source = async function* () {
    try {
      for (let off = 0; off < total; off += chunk) {
        const n = Math.min(chunk, total - off)
        const b = Buffer.alloc(n)
        for (let i = 0; i < n; i++) b[i] = (off + i) % 251
        state.taken += n
        yield b
      }
      state.finished = true
    } finally {
      state.returned = true
    }
  }
  return {state, open: async () => source()}
}

const pattern = (total: number) => {
  const b = Buffer.alloc(total)
  for (let i = 0; i < total; i++) b[i] = i % 251
  return b
}

describe('writeFiles (streamed, bounded, against a fake SFTP session)', () => {
  it('reads a source no faster than the host answers: at most the 1 MiB window in flight, then on as answers come', async () => {
    const sftp = new FakeSftp()
    const src = counted(8 * MiB, 64 * KiB)
    let ended = false
    const p = writeFiles(fakeLink(), sftp as unknown as SFTPWrapper, [{path: '/s/a', mode: 0o600, data: src.open}]).finally(() => (ended = true))
    await settle()
    sftp.answerAll() // the open
    for (let i = 0; i < 20; i++) await settle()
    // Nothing answered: the writes stop at the window; the source is read one chunk ahead at most.
    expect(sftp.inFlight).toBe(1 * MiB)
    expect(src.state.taken).toBeLessThanOrEqual(1 * MiB + 64 * KiB)
    await serve(sftp, () => ended)
    await p
    expect(src.state.finished).toBe(true)
    expect(sftp.maxInFlight).toBeLessThanOrEqual(1 * MiB + 32 * KiB)
    expect(sftp.content('/s/a').equals(pattern(8 * MiB))).toBe(true)
    expect(sftp.files.get('/s/a')).toMatchObject({mode: 0o600, closed: true})
  })

  it('all connections together keep at most 8 MiB of writes in flight: 20 hosts, none answering, hold 8 MiB, not 20', async () => {
    const hosts = Array.from({length: 20}, () => ({sftp: new FakeSftp(), src: counted(4 * MiB, 64 * KiB), ended: false}))
    const runs = hosts.map((h) => writeFiles(fakeLink(), h.sftp as unknown as SFTPWrapper, [{path: '/s/a', mode: 0o600, data: h.src.open}]).finally(() => (h.ended = true)))
    await settle()
    for (const h of hosts) h.sftp.answerAll() // the opens
    for (let i = 0; i < 40; i++) await settle()
    const total = () => hosts.reduce((n, h) => n + h.sftp.inFlight, 0)
    expect(total()).toBe(8 * MiB)
    for (const h of hosts) expect(h.sftp.inFlight).toBeLessThanOrEqual(1 * MiB)
    // As answers come the others go on, until every file is whole.
    for (let i = 0; i < 100_000 && hosts.some((h) => !h.ended); i++) {
      await settle()
      for (const h of hosts) h.sftp.answerAll()
      expect(total()).toBeLessThanOrEqual(8 * MiB)
    }
    await Promise.all(runs)
    for (const h of hosts) expect(h.sftp.content('/s/a').equals(pattern(4 * MiB))).toBe(true)
  })

  it('opens 4 files at a time; every file arrives whole with its mode, Buffer, string and empty sources too', async () => {
    const sftp = new FakeSftp()
    const files: UploadFile[] = [
      ...Array.from({length: 9}, (_, i) => ({path: `/s/f${i}`, mode: 0o600, data: counted(100 * KiB + i, 7 * KiB).open})),
      {path: '/s/buf', mode: 0o640, data: pattern(70 * KiB)},
      {path: '/s/text', mode: 0o600, data: 'tenant: t1\n'},
      {path: '/s/empty', mode: 0o600, data: ''},
    ]
    let ended = false
    const p = writeFiles(fakeLink(), sftp as unknown as SFTPWrapper, files).finally(() => (ended = true))
    await serve(sftp, () => ended)
    await p
    expect(sftp.maxOpen).toBe(4)
    for (let i = 0; i < 9; i++) expect(sftp.content(`/s/f${i}`).equals(pattern(100 * KiB + i)), `f${i}`).toBe(true)
    expect(sftp.content('/s/buf').equals(pattern(70 * KiB))).toBe(true)
    expect(sftp.content('/s/text').toString()).toBe('tenant: t1\n')
    expect(sftp.content('/s/empty').length).toBe(0)
    expect([...sftp.files.values()].map((f) => [f.mode, f.closed])).toEqual([...files.map((f) => [f.mode, true])])
    expect(sftp.openHandles).toBe(0)
  })

  it("a source's own error fails the batch with it: the source stops, no more files start, every handle is closed", async () => {
    const sftp = new FakeSftp()
    const broken = async () =>
      (async function* () {
        yield Buffer.alloc(100 * KiB, 1)
        throw new HostStepError('release zip changed')
      })()
    const later = counted(1 * MiB, 64 * KiB)
    const files: UploadFile[] = [
      {path: '/s/ok', mode: 0o600, data: counted(2 * MiB, 64 * KiB).open},
      {path: '/s/broken', mode: 0o600, data: broken},
      ...Array.from({length: 6}, (_, i) => ({path: `/s/later${i}`, mode: 0o600, data: later.open})),
    ]
    let ended = false
    const p = writeFiles(fakeLink(), sftp as unknown as SFTPWrapper, files).catch((e: unknown) => e).finally(() => (ended = true))
    await serve(sftp, () => ended)
    expect(await p).toEqual(new HostStepError('release zip changed'))
    expect(sftp.openHandles).toBe(0)
    // Files 1-4 were open together; the batch failed before files 5-8 were started.
    expect([...sftp.files.keys()]).toEqual(['/s/ok', '/s/broken', '/s/later0', '/s/later1'])
  })

  it("the host's refusal of one file fails the batch naming it; the others are closed", async () => {
    const sftp = new FakeSftp()
    sftp.failOpen.add('/s/planted')
    const src = counted(4 * MiB, 64 * KiB)
    let ended = false
    const p = writeFiles(fakeLink(), sftp as unknown as SFTPWrapper, [
      {path: '/s/big', mode: 0o600, data: src.open},
      {path: '/s/planted', mode: 0o600, data: 'x'},
    ]).catch((e: unknown) => e).finally(() => (ended = true))
    // The big file is open and streaming (up to the window) when the host refuses the other.
    await settle()
    expect(sftp.pending.map((r) => [r.what, r.path])).toEqual([['open', '/s/big'], ['open', '/s/planted']])
    sftp.pending.shift()!.answer()
    for (let i = 0; i < 20; i++) await settle()
    expect(sftp.inFlight).toBe(1 * MiB)
    await serve(sftp, () => ended)
    expect(await p).toEqual(new HostStepError('upload to /s/planted failed: Permission denied'))
    expect(src.state.returned).toBe(true)
    expect(src.state.taken).toBeLessThan(4 * MiB)
    expect(sftp.openHandles).toBe(0)
  })

  it('a lost connection ends the batch at once as unreachable, though the host never answers', async () => {
    const sftp = new FakeSftp()
    const link = fakeLink()
    const src = counted(4 * MiB, 64 * KiB)
    const p = writeFiles(link, sftp as unknown as SFTPWrapper, [{path: '/s/a', mode: 0o600, data: src.open}]).catch((e: unknown) => e)
    await settle()
    sftp.answerAll()
    for (let i = 0; i < 10; i++) await settle()
    link.closed = true
    link.client.emit('close')
    expect(await p).toEqual(new UnreachableError('network', 'connection to fake was lost during an upload'))
    expect(link.client.listenerCount('close')).toBe(0)
    // The lost host's unanswered megabyte no longer counts: 8 other hosts still get 1 MiB each in flight.
    const others = Array.from({length: 8}, () => ({sftp: new FakeSftp(), src: counted(2 * MiB, 64 * KiB), ended: false}))
    const runs = others.map((h) => writeFiles(fakeLink(), h.sftp as unknown as SFTPWrapper, [{path: '/s/b', mode: 0o600, data: h.src.open}]).finally(() => (h.ended = true)))
    await settle()
    for (const h of others) h.sftp.answerAll()
    for (let i = 0; i < 40; i++) await settle()
    expect(others.map((h) => h.sftp.inFlight)).toEqual(others.map(() => 1 * MiB))
    // ssh2 answers a lost session's requests with an error: that changes nothing more.
    sftp.answerAll()
    for (let i = 0; i < 100_000 && others.some((h) => !h.ended); i++) {
      await settle()
      for (const h of others) h.sftp.answerAll()
    }
    await Promise.all(runs)
  })
})
