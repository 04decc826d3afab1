// The lock scripts run for real with sh in temp directories: races for one lock, clocks that went
// back, a full disk, the heartbeat's view of a lost lock, and who counts as a dead local holder.
import {execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {lockBody, lockClearScript, lockRefreshScript, lockShowScript, unlockScript} from '../../src/remote/lock-scripts.js'
import {parseKv} from '../../src/remote/scripts.js'
import {parseLock} from '../../src/runner/ops.js'
import {locksTable} from '../../src/render/ops-output.js'
import {describeHolder, isDeadLocalHolder, lockLostReason} from '../../src/steps/lock.js'
import {machineIdentity} from '../../src/util/local.js'
import type {LockOwner} from '../../src/types.js'

const dirs: string[] = []
const mounts: string[] = []
afterAll(() => {
  for (const m of mounts) execFileSync('umount', [m])
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

/** A remoteDir with its state directory, as prepareDirsBody leaves it. */
function remoteDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'gwfleet-lock-'))
  dirs.push(d)
  mkdirSync(path.join(d, 'state'))
  return d
}

function ownerOf(i: number, extra: Partial<LockOwner> = {}): LockOwner {
  return {owner: `op${i}@ws`, pid: 1000 + i, command: 'deploy', started: '2026-01-01T00:00:00.000Z', token: `tok${i}x`, ...extra}
}

/** Run a script with sh; never throws (the output is what is checked). */
function sh(script: string): string {
  try {
    return execFileSync('sh', ['-c', script], {encoding: 'utf8'})
  } catch (e: any) {
    return String(e.stdout)
  }
}

/** Run one script per contender, all started at once, and collect their outputs. */
function race(scripts: string[]): Promise<string[]> {
  return Promise.all(
    scripts.map(
      (s) =>
        new Promise<string>((resolve) => {
          const p = spawn('sh', ['-c', s])
          let out = ''
          p.stdout.on('data', (b) => (out += b))
          p.on('close', () => resolve(out))
        }),
    ),
  )
}

const take = (dir: string, owner: LockOwner, ttlSeconds = 120, staleHolder?: string) => sh(lockBody({remoteDir: dir, owner, ttlSeconds, staleHolder}))
const lockFile = (dir: string) => path.join(dir, 'state', 'lock')
const result = (out: string) => parseKv(out).get('lock_result')?.[0]

/** Leave a lock of `owner` with its mtime moved by `touchDate` (touch -d). */
function plant(dir: string, owner: LockOwner, touchDate: string): void {
  writeFileSync(lockFile(dir), `${JSON.stringify(owner)}\n`)
  execFileSync('touch', ['-d', touchDate, lockFile(dir)])
}

describe('taking the lock', () => {
  it('creates it whole, then reports it held to the next run with its holder and age', () => {
    const dir = remoteDir()
    expect(result(take(dir, ownerOf(1)))).toBe('acquired')
    expect(readFileSync(lockFile(dir), 'utf8')).toBe(`${JSON.stringify(ownerOf(1))}\n`)
    const second = parseKv(take(dir, ownerOf(2)))
    expect(second.get('lock_result')).toEqual(['held'])
    expect(second.get('lock_holder')).toEqual([JSON.stringify(ownerOf(1))])
    expect(Number(second.get('lock_age')?.[0])).toBeLessThan(5)
    expect(readdirSync(path.join(dir, 'state'))).toEqual(['lock'])
  })

  for (const [what, setup] of [
    ['a free lock', (_dir: string) => undefined],
    ['an expired lock', (dir: string) => plant(dir, ownerOf(99), '-10 minutes')],
  ] as const) {
    it(`ten runs racing for ${what}: exactly one wins and every run reads the winner back`, async () => {
      for (let round = 0; round < 5; round++) {
        const dir = remoteDir()
        setup(dir)
        const owners = Array.from({length: 10}, (_, i) => ownerOf(i))
        const outs = await race(owners.map((o) => lockBody({remoteDir: dir, owner: o, ttlSeconds: 120})))
        const winners = outs.map((o, i) => [i, result(o)] as const).filter(([, r]) => r === 'acquired' || r === 'takeover')
        expect(winners, outs.join('\n---\n')).toHaveLength(1)
        const [w] = winners[0]
        const winner = JSON.stringify(owners[w])
        // the lock holds the winner's own line; each loser names the winner as the holder
        expect(readFileSync(lockFile(dir), 'utf8')).toBe(`${winner}\n`)
        for (const [i, out] of outs.entries()) {
          if (i === w) continue
          expect(result(out)).toBe('held')
          expect(parseKv(out).get('lock_holder')).toEqual([winner])
        }
        if (what === 'an expired lock') expect(parseKv(outs[w]).get('lock_prev')).toEqual([JSON.stringify(ownerOf(99))])
        // no temp file is left behind
        expect(readdirSync(path.join(dir, 'state'))).toEqual(['lock'])
      }
    })
  }

  it('takes over exactly the lock of a run known to be dead, not another', () => {
    const dir = remoteDir()
    plant(dir, ownerOf(1), '-5 seconds')
    expect(result(take(dir, ownerOf(2), 120, JSON.stringify(ownerOf(3))))).toBe('held')
    expect(result(take(dir, ownerOf(2), 120, JSON.stringify(ownerOf(1))))).toBe('takeover')
    expect(readFileSync(lockFile(dir), 'utf8')).toBe(`${JSON.stringify(ownerOf(2))}\n`)
  })

  it('a lock stamped an hour in the future expires by the heartbeat rule, unless its run refreshes it', async () => {
    const dir = remoteDir()
    plant(dir, ownerOf(1), '+1 hour')
    // a TTL of 1s stands for the 120s: the lock is held now, and its clock restarts
    const first = parseKv(take(dir, ownerOf(2), 1))
    expect(first.get('lock_result')).toEqual(['held'])
    expect(Number(first.get('lock_age')?.[0])).toBeLessThanOrEqual(-3590)
    expect(statSync(lockFile(dir)).mtimeMs).toBeLessThanOrEqual(Date.now() + 1000)
    // its live run refreshes it: still held after the TTL
    plant(dir, ownerOf(1), '+1 hour')
    take(dir, ownerOf(2), 1)
    await new Promise((r) => setTimeout(r, 1500))
    expect(parseKv(sh(lockRefreshScript(dir, 'gw', ownerOf(1).token))).get('lock_state')).toEqual(['mine'])
    expect(result(take(dir, ownerOf(2), 1))).toBe('held')
    // nobody refreshes it: taken over once the TTL has passed since the restamp
    await new Promise((r) => setTimeout(r, 2500))
    const later = parseKv(take(dir, ownerOf(2), 1))
    expect(later.get('lock_result')).toEqual(['takeover'])
    expect(readFileSync(lockFile(dir), 'utf8')).toBe(`${JSON.stringify(ownerOf(2))}\n`)
  })

  it.skipIf(process.getuid?.() !== 0)('on a full disk: says so and leaves no lock file, empty or partial', () => {
    const dir = remoteDir()
    const state = path.join(dir, 'state')
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', state])
    mounts.push(state)
    // fill it up (dd ends with "No space left on device")
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${path.join(state, 'fill')}`, 'bs=4k', 'count=64'], {stdio: 'ignore'})
    } catch {
      // expected: the disk is full
    }
    const out = take(dir, ownerOf(1))
    expect(parseKv(out).get('lock')).toEqual([`error cannot write the lock file ${lockFile(dir)}: printf: write error: No space left on device`])
    expect(result(out)).toBeUndefined()
    expect(readdirSync(state)).toEqual(['fill'])
  })

  it.skipIf(process.getuid?.() !== 0)('on a read-only file system: names the write error, leaves nothing', () => {
    const dir = remoteDir()
    const state = path.join(dir, 'state')
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=16k', 'tmpfs', state])
    mounts.push(state)
    const out = take(dir, ownerOf(1))
    expect(parseKv(out).get('lock')?.[0]).toMatch(/^error cannot write the lock file .*\/state\/lock: cannot create .*\/state\/lock\.new: Read-only file system$/)
    expect(readdirSync(state)).toEqual([])
  })

  it('without its state directory: says so, takes nothing', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gwfleet-lock-nodir-'))
    dirs.push(dir)
    expect(parseKv(take(dir, ownerOf(1))).get('lock')).toEqual([`error cannot open the state directory ${dir}/state`])
  })

  it('keeps every value in the owner as data', () => {
    const dir = remoteDir()
    const marker = path.join(dir, 'pwned')
    const evil = ownerOf(1, {command: `x'$(touch ${marker})"\`touch ${marker}\``})
    expect(result(take(dir, evil))).toBe('acquired')
    expect(JSON.parse(readFileSync(lockFile(dir), 'utf8'))).toEqual(evil)
    expect(existsSync(marker)).toBe(false)
  })
})

describe('refresh, release and clear', () => {
  it('the refresh says mine, held by another run, or removed', () => {
    const dir = remoteDir()
    take(dir, ownerOf(1))
    execFileSync('touch', ['-d', '-100 seconds', lockFile(dir)])
    const aged = statSync(lockFile(dir)).mtimeMs
    const mine = sh(lockRefreshScript(dir, 'gw', ownerOf(1).token))
    expect(lockLostReason(mine)).toBeNull()
    expect(parseKv(mine).get('lock_state')).toEqual(['mine'])
    // refreshed: stamped anew, later than the 100 s old stamp
    expect(statSync(lockFile(dir)).mtimeMs).toBeGreaterThan(aged)
    // another run took it over
    plant(dir, ownerOf(2), '-1 seconds')
    const theirs = statSync(lockFile(dir)).mtimeMs
    const held = sh(lockRefreshScript(dir, 'gw', ownerOf(1).token))
    expect(lockLostReason(held)).toBe('now held by op2@ws pid 1002 (deploy) since 2026-01-01T00:00:00.000Z')
    // and the refresh did not touch that run's lock
    expect(statSync(lockFile(dir)).mtimeMs).toBe(theirs)
    // an operator cleared it
    expect(sh(lockClearScript(dir, 'gw'))).toBe('gw.cleared=1\ngw.end=1\n')
    expect(lockLostReason(sh(lockRefreshScript(dir, 'gw', ownerOf(1).token)))).toMatch(/^removed/)
  })

  it('a token inside another field is not ownership', () => {
    const dir = remoteDir()
    plant(dir, ownerOf(2, {command: `deploy tok1x`}), '-1 seconds')
    expect(parseKv(sh(lockRefreshScript(dir, 'gw', 'tok1x'))).get('lock_state')).toEqual(['held'])
    expect(sh(unlockScript(dir, 'gw', 'tok1x'))).not.toContain('gw.unlocked=1')
    expect(existsSync(lockFile(dir))).toBe(true)
  })

  it('releases only its own lock; each line of the release is a whole command (it also runs line by line)', () => {
    const dir = remoteDir()
    take(dir, ownerOf(1))
    const script = unlockScript(dir, 'gw', ownerOf(1).token)
    for (const line of script.split('\n')) execFileSync('sh', ['-n', '-c', line])
    expect(sh(unlockScript(dir, 'gw', ownerOf(2).token))).toBe('')
    expect(sh(script)).toBe('gw.unlocked=1\n')
    expect(existsSync(lockFile(dir))).toBe(false)
  })

  it('works without a state directory (nothing to refresh, release or clear)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gwfleet-lock-none-'))
    dirs.push(dir)
    expect(sh(lockRefreshScript(dir, 'gw', 't'))).toBe('gw.lock_state=removed\ngw.end=1\n')
    expect(sh(unlockScript(dir, 'gw', 't'))).toBe('')
    expect(sh(lockClearScript(dir, 'gw'))).toBe('gw.end=1\n')
  })
})

describe('showing a lock', () => {
  it('a lock stamped in the future is listed as such, held, not expired', () => {
    const dir = remoteDir()
    plant(dir, ownerOf(1), '+1 hour')
    const {lock} = parseLock(sh(lockShowScript(dir, 'gw')))
    expect(lock?.ageSeconds).toBeLessThanOrEqual(-3590)
    expect(lock?.expired).toBe(false)
    const table = locksTable([{name: 'g1', host: 'h', status: 'ok', lock, cleared: false, error: null, durationMs: 1}], false)
    expect(table).toMatch(/^g1\s+h\s+held\s+stamped 3[56]\d\ds in the future\s+op1@ws pid 1001/m)
  })

  it('an empty lock file (left by an older version on a full disk) is shown, not hidden', () => {
    const dir = remoteDir()
    writeFileSync(lockFile(dir), '')
    const {lock} = parseLock(sh(lockShowScript(dir, 'gw')))
    expect(lock?.holder).toBe('an empty lock file (left by a run that could not write it)')
    expect(describeHolder('')).toBe(lock?.holder)
  })
})

describe('a dead local holder', () => {
  const me = {owner: 'ana@ws-7', machine: 'm-here'}
  // a pid that does not run here: past the kernel's pid limit
  const gone = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1
  const lockOf = (o: object) => JSON.stringify({command: 'deploy', started: 't', token: 'x', ...o})

  it('is the same user@host on the same machine whose pid is gone', () => {
    expect(isDeadLocalHolder(lockOf({owner: me.owner, pid: gone, machine: 'm-here'}), me)).toBe(true)
    // still running (this very test runner's parent)
    expect(isDeadLocalHolder(lockOf({owner: me.owner, pid: process.ppid, machine: 'm-here'}), me)).toBe(false)
  })

  it('is never a run on another machine with the same user@hostname, nor an old lock without a machine', () => {
    expect(isDeadLocalHolder(lockOf({owner: me.owner, pid: gone, machine: 'm-elsewhere'}), me)).toBe(false)
    expect(isDeadLocalHolder(lockOf({owner: me.owner, pid: gone}), me)).toBe(false)
    expect(isDeadLocalHolder(lockOf({owner: me.owner, pid: gone, machine: 'm-here'}), {owner: me.owner})).toBe(false)
  })

  it('the machine identity is a stable hash, never the raw id', () => {
    const dir = remoteDir()
    const idFile = path.join(dir, 'machine-id')
    writeFileSync(idFile, '0123456789abcdef0123456789abcdef\n')
    const id = machineIdentity([path.join(dir, 'missing'), idFile])
    expect(id).toMatch(/^[0-9a-f]{32}$/)
    expect(id).not.toContain('0123456789abcdef')
    expect(machineIdentity([idFile])).toBe(id)
    writeFileSync(idFile, 'fedcba9876543210fedcba9876543210\n')
    expect(machineIdentity([idFile])).not.toBe(id)
    expect(machineIdentity([path.join(dir, 'missing')])).toBeUndefined()
  })
})

describe('a host without flock(1)', () => {
  it('refuses to take the lock (with the package to install), and still releases', () => {
    const dir = remoteDir()
    // a PATH with the tools the scripts use, but no flock
    const bin = path.join(dir, 'bin')
    mkdirSync(bin)
    for (const t of ['env', 'printf', 'rm', 'ln', 'stat', 'date', 'touch', 'mv', 'tr']) execFileSync('ln', ['-s', execFileSync('sh', ['-c', `command -v ${t}`], {encoding: 'utf8'}).trim(), path.join(bin, t)])
    const noFlock = (script: string) => sh(`PATH=${bin}\n${script}`)
    expect(parseKv(noFlock(lockBody({remoteDir: dir, owner: ownerOf(1), ttlSeconds: 120}))).get('lock')).toEqual(['error flock(1) is not installed on the host (package util-linux)'])
    expect(existsSync(lockFile(dir))).toBe(false)
    take(dir, ownerOf(1))
    expect(noFlock(unlockScript(dir, 'gw', ownerOf(1).token))).toBe('gw.unlocked=1\n')
  })
})

describe('the heartbeat', () => {
  it('refreshes while the lock is ours, calls onLost once when it is not, and ignores failed refreshes', async () => {
    const {heartbeat} = await import('../../src/steps/lock.js')
    const answers: (string | Error)[] = ['gw.lock_state=mine\ngw.end=1\n', new Error('channel closed'), 'gw.lock_state=mine\ngw.end=1\n', 'gw.lock_state=removed\ngw.end=1\n']
    const scripts: string[] = []
    const logged: string[] = []
    const session = {
      gw: {remoteDir: '/opt/gw', name: 'g1'},
      root: async (script: string) => {
        scripts.push(script)
        const a = answers.shift() ?? 'gw.lock_state=removed\ngw.end=1\n'
        if (a instanceof Error) throw a
        return {stdout: a, stderr: '', code: 0}
      },
    }
    const ctx = {lockOwner: {token: 'tok1x'}, log: (l: string) => logged.push(l)}
    const lost: string[] = []
    heartbeat(ctx as any, session as any, (why) => lost.push(why), 5)
    for (let i = 0; i < 200 && scripts.length < 6; i++) await new Promise((r) => setTimeout(r, 5))
    expect(lost).toEqual(['removed (the lock file is gone: cleared by an operator or removed by hand)'])
    // it stopped refreshing once the lock was lost
    expect(scripts).toHaveLength(4)
    expect(scripts[0]).toBe(lockRefreshScript('/opt/gw', 'g1', 'tok1x'))
    expect(logged).toEqual(['lock lost: removed (the lock file is gone: cleared by an operator or removed by hand)'])
  })

  it('stops without a word when the run stops it', async () => {
    const {heartbeat} = await import('../../src/steps/lock.js')
    let calls = 0
    const session = {gw: {remoteDir: '/opt/gw', name: 'g1'}, root: async () => (calls++, {stdout: 'gw.lock_state=removed\ngw.end=1\n', stderr: '', code: 0})}
    const lost: string[] = []
    const stop = heartbeat({lockOwner: {token: 't'}, log: () => undefined} as any, session as any, (why) => lost.push(why), 5)
    stop()
    await new Promise((r) => setTimeout(r, 50))
    expect(calls).toBe(0)
    expect(lost).toEqual([])
  })
})
