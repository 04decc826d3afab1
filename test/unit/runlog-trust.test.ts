// The run folder's home must be the running user's alone (issue 20): a GWFLEET_HOME another user owns,
// or that others may write, or that is a link, is refused before any log is written, since its owner
// could redirect the logs. Tests run as root and play the other user with chown.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {InputError} from '../../src/errors.js'
import {Redactor} from '../../src/runner/redact.js'
import {RunLog} from '../../src/runner/runlog.js'

let tmp: string
const saved = process.env.GWFLEET_HOME

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-home-'))
})
afterEach(() => {
  if (saved === undefined) delete process.env.GWFLEET_HOME
  else process.env.GWFLEET_HOME = saved
  fs.rmSync(tmp, {recursive: true, force: true})
})

const open = () => new RunLog('deploy', new Redactor())
const refusal = (): string => {
  try {
    open()
  } catch (e) {
    expect(e).toBeInstanceOf(InputError)
    return (e as Error).message
  }
  throw new Error('RunLog accepted the folder')
}

describe('GWFLEET_HOME and its runs folder', () => {
  it('refuses a home another user owns, one others may write, and a link; writes nothing there', () => {
    const home = path.join(tmp, 'home')
    fs.mkdirSync(home, {mode: 0o700})
    process.env.GWFLEET_HOME = home
    fs.chownSync(home, 65534, 65534)
    expect(refusal()).toMatch(/is owned by uid 65534, not by you/)
    fs.chownSync(home, process.getuid!(), process.getgid!())
    fs.chmodSync(home, 0o777)
    expect(refusal()).toMatch(/has mode 777: others may write it/)
    fs.chmodSync(home, 0o700)
    // The runs folder inside, made by the other user.
    fs.mkdirSync(path.join(home, 'runs'), {mode: 0o755})
    fs.chownSync(path.join(home, 'runs'), 65534, 65534)
    expect(refusal()).toMatch(/runs is owned by uid 65534/)
    expect(fs.readdirSync(path.join(home, 'runs'))).toEqual([])
    fs.rmSync(path.join(home, 'runs'), {recursive: true})
    // A link to a folder elsewhere.
    const elsewhere = path.join(tmp, 'elsewhere')
    fs.mkdirSync(elsewhere, {mode: 0o700})
    fs.symlinkSync(elsewhere, path.join(home, 'runs'))
    expect(refusal()).toMatch(/runs is a symbolic link/)
    expect(fs.readdirSync(elsewhere)).toEqual([])
  })

  it('makes a missing home 0700 and writes logs 0600 in a new folder of the run', async () => {
    process.env.GWFLEET_HOME = path.join(tmp, 'fresh', 'gw')
    const log = open()
    log.write('g1', 'hello')
    await log.writeJson('result.json', {ok: true})
    await log.writeJson('result.json', {ok: false})
    await log.close()
    expect(fs.statSync(process.env.GWFLEET_HOME).mode & 0o777).toBe(0o700)
    expect(fs.statSync(path.join(log.dir!, 'g1.log')).mode & 0o777).toBe(0o600)
    expect(fs.readFileSync(path.join(log.dir!, 'g1.log'), 'utf8')).toMatch(/hello/)
    expect(JSON.parse(fs.readFileSync(path.join(log.dir!, 'result.json'), 'utf8'))).toEqual({ok: false})
  })
})

describe('host text is stored inert (issue 20)', () => {
  it('a run log line holds no ESC, OSC 52 or CR, and a secret split by an escape is still masked', async () => {
    process.env.GWFLEET_HOME = path.join(tmp, 'h')
    const r = new Redactor()
    r.add(['s3cret-value'])
    const log = new RunLog('deploy', r)
    log.write('g1', `installer: \x1b]52;c;ZXZpbA==\x07copied \x1b[2Jcleared\rhidden s3cret-\x1b[0mvalue \x9b31m`)
    await log.close()
    const text = fs.readFileSync(path.join(log.dir!, 'g1.log'), 'latin1')
    expect(text).not.toMatch(/[\x1b\r\x07\x9b]/)
    expect(text).not.toContain('s3cret-value')
    expect(text).toContain('copied')
  })
})
