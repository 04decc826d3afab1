// The detached job's host side, run for real with sh in a temporary remoteDir (the scripts need
// root's view only through the files they make): at most one start, the log read from any byte
// offset, a job that outlives the shell that started it, a lost job, the stop, the archive, and
// the lock that does not expire while a job lives. Then the byte offsets of the workstation side.
import {spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {followJobBody, jobProbeBody, startJobBody, stopJobScript} from '../../src/remote/job-scripts.js'
import {lockBody} from '../../src/remote/lock-scripts.js'
import {parseJob, parseKv, recordScript} from '../../src/remote/scripts.js'
import {shq} from '../../src/ssh/quote.js'
import {JobLog} from '../../src/steps/install.js'

let base: string
let remoteDir: string
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-job-'))
  // remoteDir is data to every script: spaces, quotes, $(...) and ; included.
  remoteDir = `${base}/gw dir $(touch ${base}/pwned);'q"`
  fs.mkdirSync(path.join(remoteDir, 'state'), {recursive: true, mode: 0o700})
})
afterEach(() => {
  // Nothing a test started may outlive it, and no path ran as shell text.
  sh(stopJobScript(remoteDir))
  expect(fs.existsSync(path.join(base, 'pwned'))).toBe(false)
  // A wrapper that was just stopped may still be writing its status.
  fs.rmSync(base, {recursive: true, force: true, maxRetries: 10, retryDelay: 100})
})

function sh(script: string): {stdout: string; stderr: string; code: number | null} {
  const r = spawnSync('sh', ['-c', script], {encoding: 'utf8', timeout: 60_000})
  return {stdout: r.stdout, stderr: r.stderr, code: r.status}
}

const meta = (id: string) => JSON.stringify({id, token: 't', run: 'r', kind: 'install', gateway: 'gw', version: '1.5.0', fromVersion: null, action: 'install', valuesSha256: 'ab', operator: 'o@w', command: 'deploy', started: 'now'})
const start = (id: string, program: string, timeoutSeconds = 30) => startJobBody({remoteDir, id, meta: meta(id), timeoutSeconds, program})
const follow = (id: string, offset = 0) => followJobBody({remoteDir, id, offset})
const probe = () => parseJob(parseKv(sh(jobProbeBody(remoteDir)).stdout))
const starts = () => (fs.existsSync(path.join(remoteDir, 'starts')) ? fs.readFileSync(path.join(remoteDir, 'starts'), 'utf8').split('\n').filter(Boolean).length : 0)
// A program that counts its starts in the remoteDir, then prints.
const talker = (lines: number, pause = 0) => `sh -c ${shq(`echo x >> ${shq(`${remoteDir}/starts`)}; i=1; while [ $i -le ${lines} ]; do echo "line $i"; sleep ${pause}; i=$((i+1)); done`)}`

describe('a detached job on the host', () => {
  it('starts at most once: a second start, of this id or another, starts nothing and names the job that is there', () => {
    const first = sh(`${start('run1/hop-1.5.0', talker(2))}\n${follow('run1/hop-1.5.0')}`)
    expect(first.stdout.split('\n')).toEqual(expect.arrayContaining(['gw.job_started=run1/hop-1.5.0', 'gw.follow=0', 'gw.job_state=ended', 'gw.installer_rc=0']))
    expect(first.stderr).toBe('line 1\nline 2\n')
    for (const id of ['run1/hop-1.5.0', 'run2/hop-1.5.0']) {
      const again = sh(start(id, talker(2)))
      expect(again.stdout).toContain(`gw.job_other=${meta('run1/hop-1.5.0')}`)
      expect(again.stdout).not.toContain('gw.job_started')
    }
    expect(starts()).toBe(1)
    // Once recorded (moved to job.last), the next job may start.
    expect(sh(recordScript({remoteDir, gateway: 'gw', record: null, history: [], archiveJob: 'run1/hop-1.5.0'})).stdout).toContain('gw.job_archived=1')
    expect(sh(`${start('run2/hop-1.5.0', talker(1))}\n${follow('run2/hop-1.5.0')}`).stdout).toContain('gw.job_started=run2/hop-1.5.0')
    expect(fs.readFileSync(path.join(remoteDir, 'state/job.last/meta'), 'utf8')).toBe(`${meta('run1/hop-1.5.0')}\n`)
    expect(fs.existsSync(path.join(remoteDir, 'state/job.last/log'))).toBe(false)
  })

  it('is read from any byte offset, and only under its own execution id', () => {
    sh(`${start('a', talker(3))}\n${follow('a')}`)
    const rest = sh(follow('a', 'line 1\n'.length))
    expect(rest.stdout).toContain('gw.follow=7')
    expect(rest.stderr).toBe('line 2\nline 3\n')
    const other = sh(follow('b'))
    expect(other.stdout).toContain('gw.job_other=')
    expect(other.stderr).toBe('')
  })

  it('outlives the shell that started it (a cut SSH session), and a later follow reads every line and the exit code', async () => {
    const id = 'cut/hop-1.5.0'
    // The starting round trip, killed with its whole process group once the job has started.
    // It talks only once the test opens its gate: it still runs when probed, however slow the machine.
    const gate = `${remoteDir}/go`
    const gated = `sh -c ${shq(`while [ ! -e ${shq(gate)} ]; do sleep 0.05; done; exec ${talker(6)}`)}`
    const child = spawn('sh', ['-c', `${start(id, gated)}\n${follow(id)}`], {detached: true, stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    while (!out.includes('gw.follow=0')) await sleep(20)
    process.kill(-child.pid!, 'SIGKILL')
    expect(probe()).toMatchObject({state: 'running', meta: {id}})
    fs.writeFileSync(gate, '')
    const later = sh(follow(id))
    expect(later.stderr).toBe('line 1\nline 2\nline 3\nline 4\nline 5\nline 6\n')
    expect(later.stdout).toContain('gw.installer_rc=0')
    expect(starts()).toBe(1)
  })

  it('a job whose processes vanished without an exit status (the host rebooted) is lost, never ended', async () => {
    sh(start('boot/hop', 'sleep 30'))
    while (!fs.existsSync(path.join(remoteDir, 'state/job/pid'))) await sleep(20)
    const [wrapper, , timeoutPid] = fs.readFileSync(path.join(remoteDir, 'state/job/pid'), 'utf8').trim().split(' ').map(Number)
    // The wrapper first: killed after its job, it would still write the job's exit code.
    process.kill(wrapper, 'SIGKILL')
    // timeout(1) makes its own process group once it runs; on a busy machine it may not have yet.
    for (const target of [-timeoutPid, timeoutPid]) {
      try {
        process.kill(target, 'SIGKILL')
      } catch {
        // not (yet) a group, or gone
      }
    }
    // Killed processes leave /proc when they are reaped: wait for that, not for a fixed time.
    for (const t0 = Date.now(); probe()?.state === 'running' && Date.now() - t0 < 30_000; ) await sleep(20)
    expect(probe()).toMatchObject({state: 'lost', rc: null})
    const f = sh(follow('boot/hop'))
    expect(f.stdout).toContain('gw.job_state=lost')
    expect(f.stdout).not.toContain('gw.installer_rc')
  })

  it('is stopped whole by the stop script, and its end is then recorded by its wrapper', () => {
    sh(start('stop/hop', `sh -c ${shq('sleep 30 & wait')}`))
    expect(probe()?.state).toBe('running')
    sh(stopJobScript(remoteDir))
    const f = sh(follow('stop/hop'))
    expect(f.stdout).toMatch(/gw\.installer_rc=(124|143)/)
    expect(probe()).toMatchObject({state: 'ended'})
  })

  it('never signals a process group its pid file cannot name: pid 1, 0 or not a number is no job to stop', () => {
    const J = path.join(remoteDir, 'state', 'job')
    fs.mkdirSync(J)
    fs.writeFileSync(path.join(J, 'meta'), meta('odd/hop'))
    // timeout(1)'s pid and start time: pid 1 with its own start time, 0, not a number, none, and a
    // pid that is gone with no start time (an empty start time matches a gone process).
    for (const t of ['1 $(st 1)', '0 $(st 1)', 'x $(st 1)', ' $(st 1)', '999999999 ']) {
      const script = [
        // kill only says what it was asked (a pid file naming 1 must never reach kill -- -1).
        'kill() { echo "kill $*"; }',
        'st() { read -r l < /proc/$1/stat; set -- ${l##*) }; shift 19; echo "$1"; }',
        // The wrapper is this shell (running).
        `echo "$$ $(st $$) ${t}" > ${shq(J)}/pid`,
        stopJobScript(remoteDir),
      ].join('\n')
      expect(sh(script).stdout, `timeout's pid and start: ${JSON.stringify(t)}`).toBe('')
    }
    // A pid file naming a live process group of the job's own is acted on (the check above can fail).
    const live = sh([
      'kill() { echo "kill $*"; }',
      'st() { read -r l < /proc/$1/stat; set -- ${l##*) }; shift 19; echo "$1"; }',
      `sleep 30 & echo "$$ $(st $$) $! $(st $!)" > ${shq(J)}/pid`,
      stopJobScript(remoteDir),
      'command kill $! 2>/dev/null; true',
    ].join('\n'))
    expect(live.stdout).toMatch(/^kill -TERM \d+\n/)
    fs.rmSync(J, {recursive: true})
  })

  it("stops a job that has just started: the stop waits for the pid file the job's wrapper has not yet written", () => {
    const J = path.join(remoteDir, 'state', 'job')
    fs.mkdirSync(J)
    fs.writeFileSync(path.join(J, 'meta'), meta('young/hop'))
    const r = sh([
      'kill() { echo "kill $*"; }',
      'st() { read -r l < /proc/$1/stat; set -- ${l##*) }; shift 19; echo "$1"; }',
      'sleep 30 & gw_job_pid=$!',
      // The pid file appears while the stop waits for it (at its first pause), never before it looked.
      `sleep() { if [ ! -f ${shq(J)}/pid ]; then echo "$$ $(st $$) $gw_job_pid $(st $gw_job_pid)" > ${shq(J)}/pid; echo waited; fi; command sleep "$@"; }`,
      stopJobScript(remoteDir),
      'command kill $gw_job_pid 2>/dev/null; true',
    ].join('\n'))
    expect(r.stdout).toMatch(/^waited\nkill -TERM \d+\n/)
    fs.rmSync(J, {recursive: true})
  })

  it('ends when its program ends, though a daemon the program left behind still holds the log open', () => {
    const f = sh(`${start('daemon/hop', `sh -c ${shq('sleep 31.25 >/dev/null 2>&1 & echo started; sleep 37.5 & echo also')}`)}\n${follow('daemon/hop')}`)
    spawnSync('pkill', ['-f', 'sleep 31.25|sleep 37.5'])
    expect(f.stderr).toBe('started\nalso\n')
    expect(f.stdout).toContain('gw.installer_rc=0')
  })

  it('is bounded by its timeout on the host', () => {
    const f = sh(`${start('slow/hop', 'sleep 30', 1)}\n${follow('slow/hop')}`)
    expect(f.stdout).toContain('gw.installer_rc=124')
  })

  it('is archived only once it no longer runs, and only under its own id', async () => {
    sh(start('live/hop', 'sleep 30'))
    const archive = (id: string) => sh(recordScript({remoteDir, gateway: 'gw', record: null, history: [], archiveJob: id})).stdout
    expect(archive('live/hop')).not.toContain('gw.job_archived')
    sh(stopJobScript(remoteDir))
    sh(follow('live/hop'))
    expect(archive('other/hop')).not.toContain('gw.job_archived')
    expect(archive('live/hop')).toContain('gw.job_archived=1')
    expect(probe()).toBeNull()
  })

  it('keeps its run\'s lock from expiring while it lives; a run known dead is still taken over', () => {
    const owner = (token: string) => ({owner: 'o@w', pid: 1, command: 'deploy', started: 't', token})
    const take = (token: string, staleHolder?: string) => parseKv(sh(lockBody({remoteDir, owner: owner(token), ttlSeconds: 120, staleHolder})).stdout)
    expect(take('first').get('lock_result')).toEqual(['acquired'])
    sh(start('first/hop', 'sleep 30'))
    // The first run's lock is old: expired, were it not for the job.
    spawnSync('touch', ['-d', '10 minutes ago', path.join(remoteDir, 'state/lock')])
    const held = take('second')
    expect(held.get('lock_result')).toEqual(['held'])
    expect(held.get('lock_job')).toEqual(['running'])
    sh(stopJobScript(remoteDir))
    sh(follow('first/hop'))
    expect(take('second').get('lock_result')).toEqual(['takeover'])
    // A job lives again; the holder is known to be dead: taken over all the same (the taker follows the job).
    sh(recordScript({remoteDir, gateway: 'gw', record: null, history: [], archiveJob: 'first/hop'}))
    sh(start('second/hop', 'sleep 30'))
    const lockText = fs.readFileSync(path.join(remoteDir, 'state/lock'), 'utf8').trim()
    expect(take('third', lockText).get('lock_result')).toEqual(['takeover'])
  })
})

describe('JobLog: the byte offset a follow resumes at', () => {
  it('counts whole lines only; a cut drops the part of a line, which comes again whole', () => {
    const lines: string[] = []
    const log = new JobLog((l) => lines.push(l))
    log.push(Buffer.from('one\ntw'))
    expect(log.offset).toBe(4)
    log.push(Buffer.from('o\nthr'))
    expect(log.offset).toBe(8)
    log.cut()
    // The follow from byte 8 sends "three" whole.
    log.push(Buffer.from('three\nfour'))
    log.end()
    expect(lines).toEqual(['one', 'two', 'three', 'four'])
    expect(log.offset).toBe(Buffer.byteLength('one\ntwo\nthree\nfour'))
  })

  it('counts bytes, not characters, and a character split between chunks stays whole', () => {
    const lines: string[] = []
    const log = new JobLog((l) => lines.push(l), 10)
    const text = Buffer.from('grüße\nbye\n')
    log.push(text.subarray(0, 3))
    log.push(text.subarray(3))
    expect(lines).toEqual(['grüße', 'bye'])
    expect(log.offset).toBe(10 + text.length)
  })
})
