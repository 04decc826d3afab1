// The live progress view's state and lines, and tables fitted to a terminal, without a terminal.
import {describe, expect, it} from 'vitest'

import {fit, ProgressBoard} from '../../src/render/live.js'
import {liveTerminal} from '../../src/render/progress.js'
import {changeTable, table, wrap} from '../../src/render/output.js'
import type {HostResult} from '../../src/runner/result.js'

const hosts = (...names: string[]) => names.map((name) => ({name}))

describe('ProgressBoard', () => {
  it('keeps a result whatever order results and steps come in', () => {
    const b = new ProgressBoard(hosts('a', 'b'))
    // b fails before it ever reported a step; a late step after its result changes nothing.
    b.result('b', 'failed', 'unreachable - connection refused')
    b.step('b', 'connecting')
    b.line('b', 'noise')
    b.step('a', 'reading the host')
    expect(b.complete).toBe(false)
    b.result('a', 'ok', 'in-sync')
    expect(b.complete).toBe(true)
    expect(b.lines(80, 10)).toEqual(['✔ a: in-sync', '✖ b: unreachable - connection refused'])
  })

  it('shows a spinner only for hosts still working, and · for hosts not started', () => {
    const b = new ProgressBoard(hosts('a', 'b', 'c'), () => 0)
    b.step('a', 'running installer 1.5.0')
    b.line('a', '  Installing k3s...  ')
    b.result('c', 'skipped', 'skipped - interrupted by the operator')
    expect(b.lines(80, 10, 0)).toEqual(['⠋ a: running installer 1.5.0 · 0s · last output 0s ago  Installing k3s...', '· b: waiting', '↓ c: skipped - interrupted by the operator'])
  })

  it('never draws a line wider than the terminal or with control characters', () => {
    const b = new ProgressBoard(hosts('a'))
    b.step('a', 'running installer 1.5.0')
    b.line('a', `\x1b[2J\x1b[Hclear screen\r\nand more ${'x'.repeat(200)}`)
    const [line] = b.lines(40, 10)
    expect([...line].length).toBeLessThanOrEqual(40)
    expect(line).not.toMatch(/[\x00-\x1f\x7f]/)
    expect(line.endsWith('…')).toBe(true)
  })

  it('on a window shorter than the fleet: working hosts and problems first, the rest counted', () => {
    const b = new ProgressBoard(hosts('h1', 'h2', 'h3', 'h4', 'h5', 'h6'), () => 0)
    b.result('h1', 'ok', 'ok')
    b.result('h2', 'ok', 'ok')
    b.result('h3', 'failed', 'failed - boom')
    b.step('h6', 'uploading 1.5.0')
    const lines = b.lines(80, 4)
    expect(lines).toHaveLength(4)
    expect(lines.slice(0, 3)).toEqual(['⠋ h6: uploading 1.5.0 · 0s', '✖ h3: failed - boom', '· h4: waiting'])
    expect(lines[3]).toBe('  … 3 more: 1 waiting, 2 ok')
  })

  it('colours icons only when asked', () => {
    const b = new ProgressBoard(hosts('a'))
    b.result('a', 'ok', 'ok')
    expect(b.lines(80, 5, 0, true)[0]).toBe('\x1b[32m✔\x1b[0m a: ok')
  })
})

describe('fit', () => {
  it('cuts by characters, not bytes, and marks the cut', () => {
    expect(fit('ééééé', 5)).toBe('ééééé')
    expect(fit('éééééé', 5)).toBe('éééé…')
  })
})

describe('liveTerminal', () => {
  const tty = {isTTY: true, columns: 120}
  it('is used on a terminal unless plain output is asked for', () => {
    expect(liveTerminal({}, tty)).toBe(true)
    expect(liveTerminal({GWFLEET_PLAIN: '1'}, tty)).toBe(false)
    expect(liveTerminal({CI: 'true'}, tty)).toBe(false)
    expect(liveTerminal({TERM: 'dumb'}, tty)).toBe(false)
    expect(liveTerminal({}, {isTTY: false, columns: 120})).toBe(false)
    expect(liveTerminal({}, {isTTY: true, columns: 30})).toBe(false)
  })
})

describe('table fitted to a terminal', () => {
  const result = (name: string, error: string | null): HostResult => ({
    name,
    host: '203.0.113.10',
    status: error ? 'failed' : 'ok',
    action: 'upgrade',
    fromVersion: '1.4.0',
    toVersion: '1.6.0',
    hops: ['1.5.1', '1.6.0'],
    error,
    durationMs: 41_200,
  })
  const long = `installer 1.5.1 exited with code 3: ${'a long reason '.repeat(10)}the end`

  it('keeps every column and the whole DETAIL without a width (pipes, files)', () => {
    const out = changeTable([result('berlin-1', long)])
    expect(out).toContain(long)
    expect(out.split('\n')[0]).toMatch(/^GATEWAY\s+HOST\s+STATUS\s+ACTION\s+FROM\s+TO\s+HOPS\s+TIME\s+DETAIL$/)
  })

  it('drops optional columns, then writes a DETAIL too long for its room whole below its row, wrapped, to fit 80 and 70 columns', () => {
    for (const width of [80, 70]) {
      const out = changeTable([result('berlin-1', long), result('paris-1', null), result('rome-1', 'lock held')], {width})
      const lines = out.split('\n')
      for (const line of lines) expect([...line].length, `${width}: ${line}`).toBeLessThanOrEqual(width)
      expect(lines[0]).toMatch(/^GATEWAY\s+.*STATUS\s+ACTION\s+FROM\s+TO\s+.*DETAIL$/)
      // Failures first; the long reason whole on the indented lines below its row, a short one on its row.
      expect(lines[1]).toMatch(/^berlin-1\s+.*failed\s+upgrade\s+1\.4\.0\s+1\.6\.0(\s+\S+)*$/)
      const reason = lines.slice(2).filter((l) => l.startsWith('  '))
      expect(reason.length).toBeGreaterThan(1)
      expect(reason.map((l) => l.slice(2)).join(' ')).toBe(long)
      expect(lines[2 + reason.length]).toMatch(/^rome-1\s+.*failed\s+upgrade\s+.*\slock held$/)
      expect(lines[3 + reason.length]).toMatch(/^paris-1\s+.*ok\s+upgrade/)
      expect(out).not.toContain('…')
    }
    expect(changeTable([result('berlin-1', long)], {width: 80}).split('\n')[0]).not.toContain('HOPS')
  })

  it('puts every DETAIL below its row, whole, when a very narrow terminal leaves it no room', () => {
    const out = changeTable([result('berlin-1', long), result('paris-1', null), result('rome-1', 'lock held')], {width: 45})
    const lines = out.split('\n')
    for (const line of lines) expect([...line].length, line).toBeLessThanOrEqual(45)
    expect(lines[0]).not.toContain('DETAIL')
    expect(lines[1]).toMatch(/^berlin-1\s+failed\s+upgrade/)
    const reason = lines.slice(2, lines.findIndex((l) => l.startsWith('rome-1')))
    expect(reason.every((l) => l.startsWith('  '))).toBe(true)
    expect(reason.map((l) => l.slice(2)).join(' ')).toBe(long)
    expect(lines.slice(2 + reason.length)).toEqual([expect.stringMatching(/^rome-1\s+failed\s+upgrade/), '  lock held', expect.stringMatching(/^paris-1\s+ok\s+upgrade/)])
  })

  it('wraps at spaces and splits a word longer than the line', () => {
    expect(wrap('aa bb  cc dddddddddd e', 5)).toEqual(['aa bb', 'cc', 'ddddd', 'ddddd', 'e'])
    expect(wrap('', 5)).toEqual([])
  })

  it('masks before it fits, so a wrap never splits a secret away from the mask', () => {
    const secret = 'hp-9fK$secret-value'
    const out = table(['GATEWAY', 'DETAIL'], [['a', `x ${secret} ${'y'.repeat(50)}`]], {width: 30, mask: (s) => s.replaceAll(secret, '***')})
    expect(out).not.toContain('hp-9fK')
    expect(out).toContain('***')
  })
})

describe('dry-run progress lines read as the plan', () => {
  it('says "would install", like the table, and the status otherwise', async () => {
    const {PassThrough} = await import('node:stream')
    const out = new PassThrough()
    let text = ''
    out.on('data', (d) => (text += d))
    const {PlainReporter} = await import('../../src/render/progress.js')
    const p = new PlainReporter((s) => s, out)
    const r = {name: 'a', host: 'a', status: 'ok' as const, action: 'install' as const, fromVersion: null, toVersion: '1.5.0', hops: ['1.5.0'], error: null, durationMs: 1}
    p.done(r, true)
    p.done({...r, name: 'b'})
    expect(text).toMatch(/ a: would install\n/)
    expect(text).toMatch(/ b: ok\n/)
  })
})
