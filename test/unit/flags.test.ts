// The typed flags (src/cli/flags.ts): what each parser accepts and the exact words of a refusal;
// the values and defaults oclif hands a command; a refused value as exit 2 naming the flag.
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {Parser} from '@oclif/core'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import Audit from '../../commands/audit.js'
import Deploy from '../../commands/deploy.js'
import History from '../../commands/history.js'
import Logs from '../../commands/logs.js'
import Uninstall from '../../commands/uninstall.js'
import Upgrade from '../../commands/upgrade.js'
import {
  FlagValueError,
  parseBatchSizes,
  parseCount,
  parseDuration,
  parseFormat,
  parseMaxFail,
  parseTail,
  parseVersionFlag,
} from '../../src/cli/flags.js'
import {commandNames} from '../../src/cli/suggest.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The refusal a parser throws for `input`: its class and its words. */
function refusal(parse: () => unknown): string {
  try {
    parse()
  } catch (e) {
    expect(e).toBeInstanceOf(FlagValueError)
    return (e as FlagValueError).reason
  }
  throw new Error('the value was accepted')
}

describe('flag parsers', () => {
  it('counts: whole numbers from 1 to the maximum', () => {
    expect(parseCount('1', 10)).toBe(1)
    expect(parseCount('64', 10_000)).toBe(64)
    expect(parseCount('10', 10)).toBe(10)
    expect(refusal(() => parseCount('0', 10_000))).toBe('"0" must be a whole number from 1 to 10000')
    expect(refusal(() => parseCount('11', 10))).toBe('"11" must be a whole number from 1 to 10')
    for (const bad of ['many', '1.5', '-3', '', '2e3', '0x10'])
      expect(refusal(() => parseCount(bad, 100)), bad).toBe(`"${bad}" must be a whole number from 1 to 100`)
  })

  it('durations: seconds from h, m and s, or plain seconds', () => {
    expect(parseDuration('90s')).toBe(90)
    expect(parseDuration('30m')).toBe(1800)
    expect(parseDuration('1h')).toBe(3600)
    expect(parseDuration('1h30m')).toBe(5400)
    expect(parseDuration('2m5s')).toBe(125)
    expect(parseDuration('45')).toBe(45)
    for (const bad of ['5x', '0s', '0', '', 'soon', '1.5h', '30 m', 'm', '-5s', '1h-'])
      expect(refusal(() => parseDuration(bad)), bad).toBe(`"${bad}" is not a duration (e.g. 90s, 30m, 1h)`)
  })

  it('max-fail: a count (0 allowed) or a percentage up to 100%', () => {
    expect(parseMaxFail('0')).toEqual({count: 0})
    expect(parseMaxFail('3')).toEqual({count: 3})
    expect(parseMaxFail('10%')).toEqual({percent: 10})
    expect(parseMaxFail('100%')).toEqual({percent: 100})
    expect(refusal(() => parseMaxFail('lots'))).toBe('"lots" is not a count or a percentage (e.g. 0, 2, 10%)')
    expect(refusal(() => parseMaxFail('-1'))).toBe('"-1" is not a count or a percentage (e.g. 0, 2, 10%)')
    expect(refusal(() => parseMaxFail('2.5%'))).toBe('"2.5%" is not a count or a percentage (e.g. 0, 2, 10%)')
    expect(refusal(() => parseMaxFail('101%'))).toBe('percentage "101%" must be at most 100%')
  })

  it('batch lists: counts of at least 1 and percentages from 1% to 100%, in order', () => {
    expect(parseBatchSizes('1,25%')).toEqual([{count: 1}, {percent: 25}])
    expect(parseBatchSizes('2, 5 ,50%')).toEqual([{count: 2}, {count: 5}, {percent: 50}])
    expect(parseBatchSizes('100%')).toEqual([{percent: 100}])
    expect(refusal(() => parseBatchSizes('0'))).toBe('batch size "0" must be at least 1')
    expect(refusal(() => parseBatchSizes('1,,25%'))).toBe('empty entry in "1,,25%"')
    expect(refusal(() => parseBatchSizes(''))).toBe('empty entry in ""')
    expect(refusal(() => parseBatchSizes('1,'))).toBe('empty entry in "1,"')
    expect(refusal(() => parseBatchSizes('150%'))).toBe('percentage "150%" must be between 1% and 100%')
    expect(refusal(() => parseBatchSizes('0%'))).toBe('percentage "0%" must be between 1% and 100%')
    expect(refusal(() => parseBatchSizes('1,x'))).toBe('"x" is not a count or a percentage (e.g. 1,25%)')
    expect(refusal(() => parseBatchSizes('1.5'))).toBe('"1.5" is not a count or a percentage (e.g. 1,25%)')
    expect(refusal(() => parseBatchSizes('-1'))).toBe('"-1" is not a count or a percentage (e.g. 1,25%)')
  })

  it('versions, --tail and --output', () => {
    expect(parseVersionFlag('1.5.0')).toBe('1.5.0')
    expect(refusal(() => parseVersionFlag('1.5'))).toBe('"1.5" is not a version X.Y.Z')
    expect(refusal(() => parseVersionFlag('1.5.0-rc1'))).toBe('"1.5.0-rc1" is not a version X.Y.Z')
    expect(parseTail('all')).toBe('all')
    expect(parseTail('0')).toBe(0)
    expect(parseTail('200')).toBe(200)
    expect(refusal(() => parseTail('x'))).toBe('"x" must be a number of lines or "all"')
    expect(refusal(() => parseTail('ALL'))).toBe('"ALL" must be a number of lines or "all"')
    expect(parseFormat('csv')).toBe('csv')
    expect(refusal(() => parseFormat('xml'))).toBe('"xml" is not one of table, json, csv, prometheus')
  })
})

/** oclif's parse of a command's flags (after the command id). */
async function parse(C: {flags: any; args?: any}, argv: string[]): Promise<Record<string, unknown>> {
  const r = await Parser.parse(argv, {flags: C.flags, args: C.args ?? {}, strict: true, context: undefined} as any)
  return r.flags as Record<string, unknown>
}

describe('flags as oclif hands them to the commands', () => {
  let savedInventory: string | undefined
  beforeEach(() => {
    savedInventory = process.env.GWFLEET_INVENTORY
    delete process.env.GWFLEET_INVENTORY
  })
  afterEach(() => {
    if (savedInventory === undefined) delete process.env.GWFLEET_INVENTORY
    else process.env.GWFLEET_INVENTORY = savedInventory
  })

  it('gives typed values', async () => {
    const f = await parse(Deploy, ['-i', 'f.yaml', '-c', '8', '--timeout', '1h30m', '--connect-timeout', '5', '--max-fail', '10%', '--batch-size', '1,25%'])
    expect(f).toMatchObject({inventory: 'f.yaml', concurrency: 8, timeout: 5400, 'connect-timeout': 5, 'max-fail': {percent: 10}, 'batch-size': [{count: 1}, {percent: 25}]})
    expect(await parse(History, ['-n', '20'])).toMatchObject({last: 20})
    expect(await parse(Logs, ['g1', '--tail', '50'])).toMatchObject({tail: 50})
    expect(await parse(Audit, ['-o', 'csv'])).toMatchObject({output: 'csv'})
    expect(await parse(Upgrade, ['--to', '1.6.0'])).toMatchObject({to: '1.6.0'})
  })

  it('gives each default, typed, when the flag is absent', async () => {
    const deploy = await parse(Deploy, [])
    expect(deploy).toMatchObject({concurrency: 64, 'connect-timeout': 15, timeout: 1800, 'max-fail': {count: 0}})
    // deploy and upgrade share the canary default: one, then the rest.
    expect(deploy['batch-size']).toEqual([{count: 1}, {percent: 100}])
    // all: every gateway at once (no batches).
    expect((await parse(Deploy, ['--batch-size', 'all']))['batch-size']).toEqual([])
    expect((await parse(Uninstall, []))['batch-size']).toBeUndefined()
    expect(await parse(Upgrade, ['--to', '1.6.0'])).toMatchObject({'batch-size': [{count: 1}, {percent: 100}], timeout: 1800})
    expect(await parse(Audit, [])).toMatchObject({output: 'table', concurrency: 64, 'connect-timeout': 15})
    const logs = await parse(Logs, ['g1'])
    expect(logs.tail).toBeUndefined()
    // logs reads several gateways now (-l): at once up to -c, as the other fleet commands.
    expect(logs.concurrency).toBe(64)
    // --keep-releases has no default of its own: the inventory's rollout.keepReleases comes first.
    expect(deploy['keep-releases']).toBeUndefined()
    expect((await parse(Upgrade, ['--to', '1.6.0', '--keep-releases', '0']))['keep-releases']).toBe(0)
    expect((await parse(History, [])).last).toBeUndefined()
  })

  it('reads --inventory from GWFLEET_INVENTORY', async () => {
    process.env.GWFLEET_INVENTORY = 'env.yaml'
    expect(await parse(Audit, [])).toMatchObject({inventory: 'env.yaml'})
    expect(await parse(Audit, ['-i', 'f.yaml'])).toMatchObject({inventory: 'f.yaml'})
  })

  it('refuses a bad value with the flag named, long or short form', async () => {
    const cases: [any, string[], string, string][] = [
      [Audit, ['-c', 'many'], '--concurrency', '"many" must be a whole number from 1 to 10000'],
      [Deploy, ['--timeout=0s'], '--timeout', '"0s" is not a duration (e.g. 90s, 30m, 1h)'],
      [Audit, ['--connect-timeout', 'soon'], '--connect-timeout', '"soon" is not a duration (e.g. 90s, 30m, 1h)'],
      [Upgrade, ['--to', '1.6.0', '--max-fail', 'lots'], '--max-fail', '"lots" is not a count or a percentage (e.g. 0, 2, 10%)'],
      [Upgrade, ['--to', '1.6.0', '--batch-size', '150%'], '--batch-size', 'percentage "150%" must be between 1% and 100%'],
      [Upgrade, ['--to', '1.5'], '--to', '"1.5" is not a version X.Y.Z'],
      [History, ['-n', '0'], '--last', '"0" must be a whole number from 1 to 1000000'],
      [Audit, ['-o', 'xml'], '--output', '"xml" is not one of table, json, csv, prometheus'],
      [Deploy, ['--keep-releases', 'two'], '--keep-releases', '"two" must be a whole number from 0 (keep all) to 1000'],
      [Deploy, ['--keep-releases', '-1'], '--keep-releases', '"-1" must be a whole number from 0 (keep all) to 1000'],
    ]
    for (const [C, argv, flag, reason] of cases) {
      const err = await parse(C, argv).then(
        () => undefined,
        (e) => e,
      )
      expect(err, argv.join(' ')).toBeInstanceOf(FlagValueError)
      expect({flag: err.flag, reason: err.reason}, argv.join(' ')).toEqual({flag, reason})
    }
  })

  it('shows each default in --help as the operator would type it', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8'))
    const flags = (id: string) => manifest.commands[id].flags
    expect(flags('deploy').concurrency.default).toBe(64)
    expect(flags('deploy')['connect-timeout'].default).toBe('15s')
    expect(flags('deploy').timeout.default).toBe('30m')
    expect(flags('deploy')['max-fail'].default).toBe('0')
    expect(flags('deploy')['batch-size'].default).toBe('1,100%')
    expect(flags('uninstall')['batch-size'].default).toBeUndefined()
    expect(flags('upgrade')['batch-size'].default).toBe('1,100%')
    expect(flags('audit').output.default).toBe('table')
  })
})

describe('a refused value through the command: exit 2, the flag named', () => {
  let out: string[]
  let err: string[]
  beforeEach(() => {
    out = []
    err = []
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true))
    // oclif warns outside production that a command which failed to parse "did not parse its arguments".
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => (String(s).includes('[UnparsedCommand]') || err.push(String(s)), true))
  })
  afterEach(() => {
    vi.restoreAllMocks()
    process.exitCode = undefined
  })

  it('as words on stderr, and as one JSON document with --json', async () => {
    await Deploy.run(['-i', 'f.yaml', '--concurrency', '0'], ROOT)
    expect(process.exitCode).toBe(2)
    expect(out).toEqual([])
    expect(err.join('')).toBe('gwfleet: error: --concurrency: "0" must be a whole number from 1 to 10000\n')

    err.length = 0
    process.exitCode = undefined
    await Upgrade.run(['-i', 'f.yaml', '--to', '1.6.0', '--batch-size', '1,,2', '--json'], ROOT)
    expect(process.exitCode).toBe(2)
    expect(err).toEqual([])
    expect(JSON.parse(out.join(''))).toEqual({ok: false, error: '--batch-size: empty entry in "1,,2"'})
  })
})

describe('command names for the unknown-command check (bin/run.js)', () => {
  it('are the commands oclif finds, from the command folder', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8'))
    expect(commandNames().sort()).toEqual(Object.keys(manifest.commands).map((id) => id.replaceAll(':', ' ')).sort())
  })
})
