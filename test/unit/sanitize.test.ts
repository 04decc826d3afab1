// Host text made inert for display: terminal escape sequences and control characters never reach
// the screen through tables, status, logs or progress, and CSV cells never start a formula.
import {describe, expect, it, vi} from 'vitest'

import {auditCsv, auditTable, changeTable, table} from '../../src/render/output.js'
import {historyTable, prettyLogLine, statusText} from '../../src/render/ops-output.js'
import {makeReporter} from '../../src/render/progress.js'
import {csvText, displayLine, displayText, inertJsonLine, jsonForTerminal} from '../../src/render/sanitize.js'
import type {AuditResult} from '../../src/runner/audit.js'

/** An audit row in drift whose host-written fields the case sets. */
const auditRow = (over: Pick<AuditResult, 'reasons' | 'lastChange'>): AuditResult => ({
  name: 'gw-1',
  host: '10.0.0.1',
  status: 'drift',
  version: '1.4.0',
  desiredVersion: '1.5.0',
  valuesInSync: true,
  error: null,
  durationMs: 1,
  ...over,
})

const ESC = '\u001b'
/** Anything a terminal acts on: C0 controls but tab and newline, ESC, DEL, C1 (0x9b is CSI), bidi marks. */
const ACTIVE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/

const ATTACKS: [string, string][] = [
  [`${ESC}[31mred${ESC}[0m`, 'red'],
  [`${ESC}[2J${ESC}[Hcleared`, 'cleared'],
  [`${ESC}]0;pwned title\u0007after`, 'after'],
  [`${ESC}]8;;http://evil.example/${ESC}\\link${ESC}]8;;${ESC}\\`, 'link'],
  [`${ESC}P+q544e${ESC}\\dcs`, 'dcs'],
  [`\u009b31mc1-csi`, 'c1-csi'],
  [`\u009d0;c1 osc\u009cok`, 'ok'],
  [`${ESC}cfull reset`, 'full reset'],
  [`${ESC}(Bcharset`, 'charset'],
  [`ok\rFAILED`, 'okFAILED'],
  [`safe\u0008\u0008\u0008\u0008evil`, 'safeevil'],
  [`bell\u0007`, 'bell'],
  [`abc\u202edcba\u202c`, 'abcdcba'],
  [`unterminated ${ESC}]0;title`, 'unterminated '],
  [`dangling ${ESC}`, 'dangling '],
  [`partial ${ESC}[12`, 'partial '],
]

describe('displayText and displayLine', () => {
  it('remove escape sequences and control characters, keep the visible text', () => {
    for (const [attack, shown] of ATTACKS) {
      expect(displayText(attack), JSON.stringify(attack)).toBe(shown)
      expect(displayLine(attack)).not.toMatch(ACTIVE)
    }
  })

  it('end an unterminated string sequence at the end of its line: the lines after it stay visible', () => {
    expect(displayText(`a ${ESC}]0;title\nnext host\n`)).toBe('a \nnext host\n')
  })

  it('keep ordinary text, unicode, newlines and tabs (displayText) or make them spaces (displayLine)', () => {
    const text = 'Grüße ✓ 日本 [gateway] 50% {"a":1}\n\tat main.go:12'
    expect(displayText(text)).toBe(text)
    expect(displayLine(text)).toBe('Grüße ✓ 日本 [gateway] 50% {"a":1}  at main.go:12')
  })
})

describe('JSON on a terminal', () => {
  it('writes the characters JSON leaves raw as \\u escapes: the same data, nothing a terminal acts on', () => {
    const data = {msg: `c1 \u009b2J del \u007f rlo \u202e ls \u2028 esc ${ESC}[2J`}
    const out = jsonForTerminal(JSON.stringify(data))
    expect(out).not.toMatch(ACTIVE)
    expect(out).not.toMatch(/\u2028/)
    expect(JSON.parse(out)).toEqual(data)
  })
})

describe('a JSON line from a host (logs --json)', () => {
  it('strips escape sequences from its strings, keys too, also where the JSON wrote them as \\u escapes (jq -r would make them live)', () => {
    const line = '{"msg":"saved \\u001b]52;c;ZWNobyBwd25lZA==\\u0007ok","\\u001b[2Jlevel":"info","title":"\\u001b]0;owned\\u0007x"}'
    const out = inertJsonLine(line)
    expect(out).toBe('{"msg":"saved ok","level":"info","title":"x"}')
    expect(JSON.stringify(JSON.parse(out))).not.toMatch(/\\u001b|52;/)
  })

  it('drops a raw CR between tokens and raw C1 controls, DEL and bidi marks inside strings', () => {
    expect(inertJsonLine('{"a":\r"b",\t"c":1}\r')).toBe('{"a":"b","c":1}')
    const out = inertJsonLine(`{"m":"x\u009b31my \u007f\u202eevil"}`)
    expect(out).not.toMatch(ACTIVE)
    expect(JSON.parse(out)).toEqual({m: 'xy evil'})
  })

  it('keeps every other byte as written: numbers keep their digits, newlines stay escaped, U+2028 becomes an escape', () => {
    const plain = '{"time":"2026-11-28T11:47:02Z","level":"info","msg":"job 7 done","id":12345678901234567890,"lines":"a\\nb"}'
    expect(inertJsonLine(plain)).toBe(plain)
    expect(inertJsonLine('{"m":"a\u2028b"}')).toBe('{"m":"a\\u2028b"}')
  })
})

describe('CSV cells', () => {
  it('neutralise formula prefixes with a leading quote', () => {
    for (const cell of ['=HYPERLINK("http://evil.example","x")', '+1+1', '-2+3', '@SUM(A1)', '\t=1+1', '\r=1+1', ' =1', `${ESC}[0m=1`])
      expect(csvText(cell), JSON.stringify(cell)).toMatch(/^'\s*[=+\-@]/)
    for (const cell of ['drift', 'version 1.4.0, inventory wants 1.5.0', '2026-11-28T11:42:31Z', 'ops@ws', ''])
      expect(csvText(cell)).toBe(cell)
  })

  it('in the audit CSV a host-written operator and time cannot run as formulas', () => {
    const r = auditRow({reasons: [`-cmd|' /C calc'!A0 ${ESC}[2J`], lastChange: {time: '=1+1', operator: '@SUM(1,2)', version: '1.4.0'}})
    const csv = auditCsv([r])
    const row = csv.split('\r\n')[1]!
    expect(row).toBe(`gw-1,10.0.0.1,drift,1.4.0,1.5.0,true,"'=1+1","'@SUM(1,2)","'-cmd|' /C calc'!A0 "`)
    for (const line of csv.split('\r\n')) expect(line).not.toMatch(ACTIVE)
    expect(auditTable([r])).not.toMatch(ACTIVE)
  })
})

describe('CSV opened with another separator', () => {
  it('no part of any cell starts a formula, whichever of , ; tab | a spreadsheet splits on (issue 20)', () => {
    const r = auditRow({reasons: ['fine;=cmd|\' /C calc\'!A0', 'a| +1', 'b, @SUM(A1)', 'c\t-2'], lastChange: {time: 'x;=1+1', operator: 'ops;@evil|-x', version: '1.4.0'}})
    const csv = auditCsv([r])
    for (const sep of [',', ';', '\t', '|'])
      for (const line of csv.split('\r\n'))
        for (const part of line.split(sep)) expect(part, `split on ${JSON.stringify(sep)}: ${line}`).not.toMatch(/^\s*"?\s*[=+\-@]/)
    // Each cell that holds any separator is quoted as a whole (RFC 4180 readers get it back in one piece).
    expect(csv.split('\r\n')[1]).toContain(`"ops;'@evil|'-x"`)
  })
})

describe('host text in rendered output', () => {
  const hostile = `${ESC}]0;owned${ESC}\\${ESC}[2Jinstaller said ${ESC}[31mno${ESC}[0m\rok`

  it('tables (results, history) carry no escape sequence and stay one line per row', () => {
    const out = changeTable([
      {name: 'gw-1', host: 'h', status: 'failed', action: 'install', fromVersion: null, toVersion: '1.5.0', hops: ['1.5.0'], error: `${hostile}\nsecond line`, durationMs: 10},
    ])
    expect(out).not.toMatch(ACTIVE)
    expect(out.split('\n')).toHaveLength(2)
    expect(out).toContain('installer said no')
    const h = historyTable([{time: '2026-01-01T00:00:00Z', gateway: 'gw-1', host: 'h', operator: `${ESC}[8mhidden`, command: 'deploy', action: 'install', fromVersion: null, toVersion: '1.5.0', valuesSha256: null, result: 'failed', error: hostile}])
    expect(h).not.toMatch(ACTIVE)
    expect(table(['A'], [[`\u009b2Jx`]])).toBe('A\nx')
  })

  it('status keeps the pod names kubectl gives but none of their escape sequences', () => {
    const out = statusText([
      {
        name: 'gw-1',
        host: 'h',
        status: 'ok',
        error: null,
        durationMs: 1,
        gateway: {
          installed: 'yes',
          version: '1.5.0',
          versionNote: null,
          pods: [{namespace: 'apheris', name: `${ESC}[2J${ESC}[31magent-pod${ESC}[0m`, ready: '1/1', status: 'Running', restarts: 0, created: null}],
          podsError: null,
          computations: [],
          // A live install whose meta (written on the host) carries escapes too.
          job: {
            meta: {id: 'r/t/install-1.6.0', token: 't', run: 'r', kind: 'install', gateway: 'gw-1', version: '1.6.0', fromVersion: '1.5.0', action: 'upgrade', valuesSha256: 'v', operator: `${ESC}[2Jops@ws`, command: 'upgrade', started: 'T'},
            state: 'running',
            rc: null,
            pid: 4242,
            logBytes: 1234,
            ageSeconds: 90,
          },
        },
      },
    ])
    expect(out).not.toMatch(ACTIVE)
    expect(out).toMatch(/^apheris\s+agent-pod\s+1\/1\s+Running/m)
    expect(out).toMatch(/^the install of 1\.6\.0 by ops@ws \(run r, upgrade\) since T: running for 1m30s, pid 4242, 1234 bytes of output so far$/m)
  })

  it('an agent log line, JSON or not, is shown without escape sequences once displayText runs', () => {
    const json = JSON.stringify({level: 'info', ts: '2024-01-01T00:00:00Z', msg: `${ESC}]0;owned\u0007${ESC}[2Jhello`})
    expect(prettyLogLine(json)).toMatch(ACTIVE)
    expect(displayText(prettyLogLine(json))).toBe('2024-01-01T00:00:00Z  INFO   hello')
    expect(displayText(prettyLogLine(`plain ${ESC}[5mblink`))).toBe('plain blink')
  })

  it('progress lines are masked first, then made inert (the reporter gwfleet picks)', async () => {
    let written = ''
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: any) => ((written += String(s)), true))
    const before = process.env.GWFLEET_PLAIN
    process.env.GWFLEET_PLAIN = '1'
    try {
      const rep = await makeReporter({json: false, mask: (s) => s.replace('s3cret', '[redacted]')})
      rep.step('gw-1', `running ${hostile} s3cret`)
    } finally {
      spy.mockRestore()
      if (before === undefined) delete process.env.GWFLEET_PLAIN
      else process.env.GWFLEET_PLAIN = before
    }
    expect(written).toMatch(/gw-1: running installer said no/)
    expect(written).toMatch(/\[redacted\]/)
    expect(written).not.toMatch(/s3cret/)
    expect(written.slice(0, -1)).not.toMatch(ACTIVE)
  })
})
