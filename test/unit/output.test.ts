// Bounded output: the line splitter, the collected-output limits of exec (through a scripted fake
// SSH channel), the installer's incremental verdict and the cap on each host's run log.
import {EventEmitter} from 'node:events'
import {PassThrough} from 'node:stream'
import {describe, expect, it} from 'vitest'

import {DEFAULT_LOG_CAP, HostLog} from '../../src/runner/runlog.js'
import {Connection} from '../../src/ssh/connection.js'
import {BoundedBytes, LineSplitter, MAX_COLLECTED_STDOUT, MAX_KEPT_STDERR, MAX_LINE} from '../../src/ssh/output.js'
import {InstallerOutput, verifyInstallerOutput} from '../../src/steps/install.js'

function split(chunks: (string | Buffer)[], max?: number): string[] {
  const lines: string[] = []
  const s = new LineSplitter((l) => lines.push(l), max)
  for (const c of chunks) s.push(typeof c === 'string' ? Buffer.from(c) : c)
  s.flush()
  return lines
}

describe('LineSplitter', () => {
  it('splits across chunk borders, drops \\r and hands on a last line without newline', () => {
    expect(split(['a', 'b\nc', 'd\r\n\n', 'e'])).toEqual(['ab', 'cd', '', 'e'])
    expect(split(['x\n'])).toEqual(['x'])
    expect(split([])).toEqual([])
  })

  it('keeps a character whose UTF-8 bytes are split between chunks', () => {
    const bytes = Buffer.from('grüße €\n')
    const parts = [...bytes].map((b) => Buffer.from([b]))
    expect(split(parts)).toEqual(['grüße €'])
  })

  it('cuts an overlong line, says how much was dropped, and goes on with the next line', () => {
    const lines = split(['x'.repeat(25), 'y'.repeat(10), '\nnext\n'], 20)
    expect(lines).toEqual([`${'x'.repeat(20)} [gwfleet: 15 more characters of this line cut]`, 'next'])
  })

  it('holds no more than one line of MAX_LINE characters while a line without newline streams in', () => {
    const lines: string[] = []
    const s = new LineSplitter((l) => lines.push(l))
    const chunk = Buffer.alloc(64 * 1024, 'z')
    let held = 0
    for (let i = 0; i < 800; i++) {
      s.push(chunk) // 50 MiB, no newline
      held = Math.max(held, s['rest'].length)
    }
    expect(held).toBe(MAX_LINE)
    expect(lines).toEqual([])
    s.push(Buffer.from('\nAll services are ready.\n'))
    expect(lines).toEqual([`${'z'.repeat(MAX_LINE)} [gwfleet: ${800 * 64 * 1024 - MAX_LINE} more characters of this line cut]`, 'All services are ready.'])
  })
})

describe('BoundedBytes', () => {
  it('keeps up to its limit, counts the rest and says it is over', () => {
    const b = new BoundedBytes(10)
    expect(b.push(Buffer.from('hello'))).toBe(true)
    expect(b.push(Buffer.from(' world!'))).toBe(false)
    expect(b.text()).toBe('hello worl')
    expect(b.dropped).toBe(2)
    expect(b.over).toBe(true)
  })
})

// ------------------------------------------------------------------ exec through a scripted channel

type Script = (ch: FakeChannel) => void

class FakeChannel extends EventEmitter {
  readonly stderr = new EventEmitter()
  closed = false
  stdin = ''
  write(s: string): void {
    this.stdin += s
  }
  end(s?: string): void {
    if (s) this.stdin += s
  }
  close(): void {
    if (this.closed) return
    this.closed = true
    setImmediate(() => this.emit('close'))
  }
}

/** A Connection whose client runs `script` on a fake channel for each exec. */
function fakeConnection(script: Script): Connection {
  const client = Object.assign(new EventEmitter(), {
    exec(_cmd: string, cb: (err: Error | undefined, ch: FakeChannel) => void) {
      const ch = new FakeChannel()
      cb(undefined, ch)
      setImmediate(() => script(ch))
    },
  })
  return new (Connection as any)(client, {host: 'fake', port: 22, user: 'root', identityFiles: [], knownHostsFiles: [], recordKnownHostsFile: '', jump: []})
}

/** Emit `total` bytes of `line\n` repeated, in chunks, then exit 0 and close (unless closed first). */
function flood(total: number, line = 'y'.repeat(1023)): Script {
  return (ch) => {
    const chunk = Buffer.from(`${line}\n`.repeat(Math.floor((256 * 1024) / (line.length + 1))))
    let sent = 0
    const step = () => {
      for (let i = 0; i < 8 && sent < total && !ch.closed; i++, sent += chunk.length) ch.emit('data', chunk)
      if (sent < total && !ch.closed) setImmediate(step)
      else if (!ch.closed) {
        ch.emit('data', Buffer.from('All services are ready.\n'))
        ch.emit('exit', 0)
        ch.close()
      }
    }
    step()
  }
}

describe('exec keeps what a command prints bounded', () => {
  it('collects a probe whole', async () => {
    const conn = fakeConnection((ch) => {
      ch.emit('data', Buffer.from('gw.uid=0\n'))
      ch.stderr.emit('data', Buffer.from('warn\n'))
      ch.emit('exit', 0)
      ch.close()
    })
    expect(await conn.exec('probe')).toEqual({code: 0, signal: undefined, stdout: 'gw.uid=0\n', stderr: 'warn\n'})
  })

  it('fails a collected command that prints more than the limit, and stops it', async () => {
    let channel: FakeChannel | undefined
    const conn = fakeConnection((ch) => {
      channel = ch
      flood(MAX_COLLECTED_STDOUT * 4)(ch)
    })
    await expect(conn.exec('probe')).rejects.toThrow(/printed more than 8\.0 MiB/)
    expect(channel?.closed).toBe(true)
  })

  it('streams a 200 MiB command line by line without keeping it (collect: false)', async () => {
    const conn = fakeConnection(flood(200 * 1024 * 1024))
    let n = 0
    let last = ''
    const before = process.memoryUsage().rss
    let peak = before
    const res = await conn.exec('install', {
      collect: false,
      onLine: (l) => {
        n++
        last = l
        if (n % 20_000 === 0) peak = Math.max(peak, process.memoryUsage().rss)
      },
    })
    expect(res).toMatchObject({code: 0, stdout: '', stderr: ''})
    expect(n).toBeGreaterThan(200_000)
    expect(last).toBe('All services are ready.')
    // What it keeps is not the output: far less than the 200 MiB that went through.
    expect(peak - before).toBeLessThan(100 * 1024 * 1024)
  })

  it('keeps only the beginning of stderr, with a note of what was cut', async () => {
    const conn = fakeConnection((ch) => {
      ch.stderr.emit('data', Buffer.from('sudo: a password is required\n'))
      for (let i = 0; i < 100; i++) ch.stderr.emit('data', Buffer.alloc(10_000, 'e'))
      ch.emit('exit', 1)
      ch.close()
    })
    const res = await conn.exec('x')
    expect(res.stderr.startsWith('sudo: a password is required\n')).toBe(true)
    expect(res.stderr).toMatch(/\[gwfleet: \d+ KiB more of stderr cut\]$/)
    expect(res.stderr.length).toBeLessThan(MAX_KEPT_STDERR + 100)
  })
})

// ------------------------------------------------------------------ the installer's verdict

describe('InstallerOutput', () => {
  const good = ['Installing k3s...', '', 'Deployed versions:', '------------------', 'agent: 1.5.0', '------------------', 'All services are ready.']

  it('sees the markers that come after a flood, keeping nothing of the flood', () => {
    const out = new InstallerOutput()
    for (let i = 0; i < 300_000; i++) out.feed(`chatty ${i} ${'y'.repeat(100)}`)
    out.feed('gw.installer_rc=0')
    for (const l of good) out.feed(l)
    expect(out.verdict(0, '1.5.0', 60)).toEqual({ok: true, version: '1.5.0'})
    expect(JSON.stringify(out).length).toBeLessThan(2000)
  })

  it('says what the last line was when the installer fails after a flood', () => {
    const lines = [...Array.from({length: 5000}, (_, i) => `noise ${i}`), 'ERROR: disk full', '', '  ']
    expect(verifyInstallerOutput(lines, 3, '1.5.0', 60)).toEqual({ok: false, error: 'installer 1.5.0 exited with code 3: ERROR: disk full'})
  })

  it('keeps the first values of gwfleet\'s own keys and a bounded number of others', () => {
    const out = new InstallerOutput()
    out.feed('gw.commit=ok')
    out.feed('gw.commit=checksum-mismatch')
    for (let i = 0; i < 10_000; i++) out.feed(`gw.k${i}=${'v'.repeat(10_000)}`)
    expect(out.value('commit')).toBe('ok')
    expect(out.value('k1')).toBe('v'.repeat(4096))
    expect(out.value('k9999')).toBeUndefined()
    expect(out.kvText().length).toBeLessThan(64 * 4 * 4200)
  })
})

// ------------------------------------------------------------------ the run log cap

async function logOf(lines: string[], cap = {headBytes: 1000, tailBytes: 500}): Promise<{text: string; log: HostLog}> {
  const sink = new PassThrough()
  const parts: Buffer[] = []
  sink.on('data', (d) => parts.push(d))
  const log = new HostLog(sink, cap)
  for (const l of lines) log.write(l)
  await log.close()
  return {text: Buffer.concat(parts).toString('utf8'), log}
}

describe('HostLog', () => {
  it('writes a short log as it is', async () => {
    const {text} = await logOf(['one', 'two'])
    expect(text).toBe('one\ntwo\n')
  })

  it('keeps the first and the last part of a long log and says how much it cut', async () => {
    const lines = Array.from({length: 100_000}, (_, i) => `line ${String(i).padStart(6, '0')}`) // 12 bytes each
    const {text, log} = await logOf(lines, {headBytes: 120_000, tailBytes: 200_000})
    const out = text.split('\n')
    expect(out[0]).toBe('line 000000')
    expect(out[9999]).toBe('line 009999')
    const note = out[10000]
    expect(note).toMatch(/\[gwfleet: \d+ line\(s\), \d+ KiB, of this log cut here; it keeps its first 117 KiB and its last 195 KiB\]$/)
    expect(out.at(-2)).toBe('line 099999')
    // Whole lines, in order, from where the tail starts to the end.
    const firstKept = Number(out[10001].slice(5))
    expect(out.slice(10001, -1)).toEqual(lines.slice(firstKept))
    // Counted right: kept + cut = all.
    expect(10000 + log.cut.lines + (out.length - 10002)).toBe(100_000)
    expect(Number(/(\d+) line\(s\)/.exec(note)![1])).toBe(log.cut.lines)
    expect(text.length).toBeLessThan(120_000 + 200_000 + 200)
    expect(text.length).toBeGreaterThan(120_000 + 200_000 - 64 * 1024 - 1)
  })

  it('is capped by default at a few MiB whatever is written', async () => {
    const line = 'x'.repeat(1000)
    const {text} = await logOf(Array.from({length: 50_000}, () => line), DEFAULT_LOG_CAP)
    expect(text.length).toBeLessThan(DEFAULT_LOG_CAP.headBytes + DEFAULT_LOG_CAP.tailBytes + 200)
    expect(text).toMatch(/of this log cut here/)
  })
})
