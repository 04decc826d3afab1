// Old releases after a successful hop: which go (a pure choice), and the host side run for real with
// sh in a temporary remoteDir full of shell text, as root: only real release folders under a safe
// remoteDir, never one in use, never anything else; a failure is a note, never an error.
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import type {Session} from '../../src/host/session.js'
import {pruneReleasesScript, releasesListScript} from '../../src/remote/prune-scripts.js'
import {parseKv} from '../../src/remote/scripts.js'
import {pruneReleases, releasesToPrune} from '../../src/steps/prune.js'

describe('releasesToPrune', () => {
  const on = ['1.3.0', '1.3.1', '1.4.0', '1.5.0', '1.6.0', 'notes', '1.7.0-rc1', '01.2.0']

  it('keeps the current one and the one before by default, and every version above the current', () => {
    expect(releasesToPrune(on, {current: '1.5.0', keep: 2})).toEqual(['1.3.0', '1.3.1'])
    expect(releasesToPrune(on, {current: '1.6.0', keep: 2})).toEqual(['1.3.0', '1.3.1', '1.4.0'])
  })

  it('keep N counts the current one; 1 keeps only it; 0 keeps everything', () => {
    expect(releasesToPrune(on, {current: '1.6.0', keep: 3})).toEqual(['1.3.0', '1.3.1'])
    expect(releasesToPrune(on, {current: '1.6.0', keep: 1})).toEqual(['1.3.0', '1.3.1', '1.4.0', '1.5.0'])
    expect(releasesToPrune(on, {current: '1.6.0', keep: 0})).toEqual([])
    expect(releasesToPrune(on, {current: '1.6.0', keep: 100})).toEqual([])
  })

  it('never a version in use (another gateway on the host, a job), never a name that is not X.Y.Z', () => {
    expect(releasesToPrune(on, {current: '1.6.0', keep: 1, inUse: ['1.3.1', '1.5.0']})).toEqual(['1.3.0', '1.4.0'])
    expect(releasesToPrune(['notes', '1.7.0-rc1', '01.2.0', '..'], {current: '1.6.0', keep: 1})).toEqual([])
  })
})

describe('the host side, run with sh', () => {
  let base: string
  let remoteDir: string
  const releases = () => path.join(remoteDir, 'releases')
  const sh = (script: string) => spawnSync('sh', ['-c', script], {encoding: 'utf8', timeout: 60_000})
  const onHost = () => fs.readdirSync(releases()).sort()
  const release = (v: string) => {
    fs.mkdirSync(path.join(releases(), v, 'charts'), {recursive: true})
    fs.writeFileSync(path.join(releases(), v, 'deploy_gateway'), `#!/bin/sh\necho ${v}\n`, {mode: 0o755})
  }
  /** A session whose root runs the script here, with sh. */
  const session = (): Session => ({gw: {remoteDir}, root: async (script: string) => ({...sh(script), code: 0})}) as unknown as Session
  const env = () => {
    const log: string[] = []
    return {log, env: {log: (l: string) => log.push(l), redact: (t: string) => t}}
  }

  beforeEach(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-prune-'))
    // remoteDir is data to every script: spaces, quotes, $(...) and ; included.
    remoteDir = `${base}/gw dir $(touch ${base}/pwned);'q"`
    fs.mkdirSync(path.join(remoteDir, 'state'), {recursive: true, mode: 0o700})
    for (const v of ['1.3.0', '1.4.0', '1.5.0', '1.6.0', '1.7.0']) release(v)
    fs.mkdirSync(path.join(releases(), 'notes'))
  })
  afterEach(() => {
    expect(fs.existsSync(path.join(base, 'pwned'))).toBe(false)
    fs.rmSync(base, {recursive: true, force: true})
  })

  it('lists the release folders and the versions in use: records of every gateway and a job not yet judged', () => {
    fs.writeFileSync(path.join(remoteDir, 'state', 'gw-a.json'), `${JSON.stringify({gateway: 'gw-a', operator: '"version":"9.9.9"', version: '1.4.0'})}\n`)
    fs.writeFileSync(path.join(remoteDir, 'state', 'gw-b.json'), JSON.stringify({gateway: 'gw-b', version: '1.6.0'}))
    fs.mkdirSync(path.join(remoteDir, 'state', 'job'), {mode: 0o700})
    fs.writeFileSync(path.join(remoteDir, 'state', 'job', 'meta'), `${JSON.stringify({id: 'r/t/install-1.3.0', version: '1.3.0'})}\n`)
    const kv = parseKv(sh(releasesListScript(remoteDir)).stdout)
    expect(kv.get('release')?.sort()).toEqual(['1.3.0', '1.4.0', '1.5.0', '1.6.0', '1.7.0', 'notes'])
    expect(kv.get('in_use')?.sort()).toEqual(['1.3.0', '1.4.0', '1.6.0'])
    expect(kv.get('end')).toEqual(['1'])
  })

  it('after a hop to 1.6.0: removes what is older than 1.5.0, keeps the rest, touches nothing else', async () => {
    fs.writeFileSync(path.join(remoteDir, 'state', 'gw.json'), JSON.stringify({gateway: 'gw', version: '1.6.0'}))
    const {log, env: e} = env()
    const notes: string[] = []
    await pruneReleases(e, session(), {current: '1.6.0', keep: 2}, (w) => notes.push(w))
    expect(notes).toEqual([])
    expect(onHost()).toEqual(['1.5.0', '1.6.0', '1.7.0', 'notes'])
    expect(fs.readFileSync(path.join(releases(), '1.5.0', 'deploy_gateway'), 'utf8')).toBe('#!/bin/sh\necho 1.5.0\n')
    expect(log).toEqual([`removed old releases 1.3.0, 1.4.0 from ${remoteDir}/releases (keeping 2, 1.6.0 included)`])
  })

  it('keeps the release of a job that runs, even when asked to remove it', () => {
    fs.mkdirSync(path.join(remoteDir, 'state', 'job'), {mode: 0o700})
    // A job folder with its meta and no pid file yet counts as starting (running).
    fs.writeFileSync(path.join(remoteDir, 'state', 'job', 'meta'), `${JSON.stringify({id: 'r/t/install-1.3.0', version: '1.3.0'})}\n`)
    const kv = parseKv(sh(pruneReleasesScript(remoteDir, ['1.3.0', '1.4.0'])).stdout)
    expect(kv.get('kept')).toEqual(['1.3.0'])
    expect(kv.get('pruned')).toEqual(['1.4.0'])
    expect(onHost()).toEqual(['1.3.0', '1.5.0', '1.6.0', '1.7.0', 'notes'])
  })

  it('under an unsafe remoteDir (a link in releases) removes nothing and follows nothing: a note names why', async () => {
    const outside = path.join(base, 'outside')
    fs.mkdirSync(outside)
    fs.writeFileSync(path.join(outside, 'keep-me'), 'x')
    fs.symlinkSync(outside, path.join(releases(), '1.2.0'))
    const notes: string[] = []
    await pruneReleases(env().env, session(), {current: '1.6.0', keep: 1}, (w) => notes.push(w))
    expect(notes).toEqual([expect.stringMatching(new RegExp(`^old releases not removed from .*releases: remoteDir .* is not safe for root to use, nothing under it was read: .*1\\.2\\.0 is symbolic link`))])
    expect(onHost()).toEqual(['1.2.0', '1.3.0', '1.4.0', '1.5.0', '1.6.0', '1.7.0', 'notes'])
    expect(fs.readdirSync(outside)).toEqual(['keep-me'])
    // The script itself refuses the same way, whatever it is asked.
    expect(sh(pruneReleasesScript(remoteDir, ['1.2.0', '1.3.0'])).stdout).toContain('gw.not_read=unsafe')
    expect(onHost()).toContain('1.3.0')
  })

  it('a host that cannot be reached or refuses is a note, never an error; keep 0 asks the host nothing', async () => {
    const notes: string[] = []
    const broken = {gw: {remoteDir}, root: async () => Promise.reject(new Error('connection lost'))} as unknown as Session
    await pruneReleases(env().env, broken, {current: '1.6.0', keep: 2}, (w) => notes.push(w))
    expect(notes).toEqual([`old releases not removed from ${remoteDir}/releases: connection lost`])
    let asked = 0
    const counting = {gw: {remoteDir}, root: async () => (asked++, {stdout: '', stderr: '', code: 0})} as unknown as Session
    await pruneReleases(env().env, counting, {current: '1.6.0', keep: 0}, () => undefined)
    await pruneReleases(env().env, counting, {current: '1.6.0'}, () => undefined)
    expect(asked).toBe(0)
  })

  it('refuses to build a removal of anything but a version', () => {
    expect(() => pruneReleasesScript(remoteDir, ['../state'])).toThrow(/not a release version/)
    expect(() => pruneReleasesScript(remoteDir, ['1.5.0; rm -rf /'])).toThrow(/not a release version/)
  })
})
