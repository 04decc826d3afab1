import {execFileSync, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {preflightBody} from '../../src/remote/ops-scripts.js'
import {
  commitFilesScript,
  installerScript,
  layout,
  lockAndProbeScript,
  parseKv,
  parseProbe,
  payloadMarker,
  probeScript,
  RECORDED,
  recordScript,
  writeByRootScript,
} from '../../src/remote/scripts.js'
import {lockClearScript, lockRefreshScript, unlockScript} from '../../src/remote/lock-scripts.js'
import {Redactor} from '../../src/runner/redact.js'
import {rootCommand, sudoProblem} from '../../src/ssh/sudo.js'
import {verifyInstallerOutput} from '../../src/steps/install.js'
import type {JobMeta} from '../../src/types.js'

/** The meta of a job for the scripts below. */
const jobMeta = (id: string): JobMeta => ({id, token: 'tok', run: 'r', kind: 'install', gateway: 'gw', version: '1.5.0', fromVersion: null, action: 'install', valuesSha256: 'ab', operator: 'o@w', command: 'deploy', started: 't'})

describe('remote commands are exact strings with every value quoted', () => {
  it('builds the layout under remoteDir', () => {
    expect(layout('/opt/gwfleet/', 'berlin-1')).toMatchObject({
      values: '/opt/gwfleet/values/berlin-1.yaml',
      lock: '/opt/gwfleet/state/lock',
      record: '/opt/gwfleet/state/berlin-1.json',
    })
  })

  it('refreshes and clears locks with quoted paths', () => {
    expect(lockRefreshScript('/opt/gw fleet', 'a', 'tok')).toContain(`if [ -f '/opt/gw fleet/state/lock' ]; then IFS= read -r gw_l < '/opt/gw fleet/state/lock'; case "$gw_l" in *'"token":"tok"'*) touch -c '/opt/gw fleet/state/lock'; gw_s=mine;;`)
    expect(lockClearScript('/opt/x', 'a')).toContain('if [ -f /opt/x/state/lock ]; then rm -f /opt/x/state/lock && echo gw.cleared=1; fi; } 2>/dev/null 9</opt/x/state; echo gw.end=1')
    expect(unlockScript("/srv/it's", 'a', 'tok')).toContain("IFS= read -r gw_l < '/srv/it'\\''s/state/lock'; case \"$gw_l\" in *'\"token\":\"tok\"'*) mine=1;")
    // the stage is cleaned only with the lock: it may hold another run's uploads otherwise
    expect(unlockScript("/srv/it's", 'a', 'tok')).toContain("mine=1; rm -rf -- '/srv/it'\\''s/.stage'/* '/srv/it'\\''s/state/lock';; esac")
  })

  it('keeps shell text in paths as data', () => {
    const evil = '/opt/$(touch /tmp/gwfleet-pwned);x'
    const script = commitFilesScript({remoteDir: evil, gateway: 'g', files: [{name: 'a', target: `${evil}/releases/1.5.0/deploy_gateway`, sha256: 'ab'.repeat(32), mode: 0o755, size: 3}]})
    expect(script).toContain("'/opt/$(touch /tmp/gwfleet-pwned);x/.stage/upload/a'")
    // Run it for real: there is no stage folder, so it stops, and nothing is executed from the path.
    let out = ''
    try {
      execFileSync('sh', ['-c', script], {encoding: 'utf8'})
    } catch (e: any) {
      out = String(e.stdout)
    }
    expect(out).toContain('gw.commit=failed')
    expect(() => execFileSync('test', ['-e', '/tmp/gwfleet-pwned'])).toThrow()
  })

  it('writes records and history as quoted JSON lines', () => {
    const s = recordScript({remoteDir: '/opt/g', gateway: 'a', record: null, history: [{time: 't', gateway: 'a', operator: "o'k", command: 'deploy', action: 'install', fromVersion: null, toVersion: '1.5.0', valuesSha256: null, result: 'ok'}]})
    expect(s).toContain(`printf "%s\\n" '{"time":"t","gateway":"a","operator":"o'\\''k"`)
  })
})

describe('root execution', () => {
  it('never puts the sudo password on the command line', () => {
    const r = rootCommand('id -u', {kind: 'sudo-password', password: 'pw-s3cret'})
    expect(r.command).toBe("sudo -S -p '' -- sh -c 'id -u'")
    expect(r.command).not.toContain('pw-s3cret')
    expect(r.stdin).toBe('pw-s3cret\n')
    expect(rootCommand('id -u', {kind: 'sudo'}).command).toBe("sudo -n -- sh -c 'id -u'")
    expect(rootCommand('id -u', {kind: 'root'}).command).toBe("sh -c 'id -u'")
  })
  it('puts the password line before the script\'s own stdin under sudo -S, and nothing of it otherwise', () => {
    expect(rootCommand('cat', {kind: 'sudo-password', password: 'pw'}, 'payload').stdin).toBe('pw\npayload')
    expect(rootCommand('cat', {kind: 'sudo'}, 'payload').stdin).toBe('payload')
    expect(rootCommand('cat', {kind: 'root'}, 'payload').stdin).toBe('payload')
  })
  it('explains sudo refusals', () => {
    expect(sudoProblem('sudo: a password is required\n', 'ops')).toMatch(/GWFLEET_BECOME_PASSWORD/)
    expect(sudoProblem('bash: sudo: command not found', 'ops')).toMatch(/not installed/)
    expect(sudoProblem('ops is not in the sudoers file.', 'ops')).toMatch(/may not use sudo/)
  })
})

describe('probe parsing', () => {
  it('reads version, record, values hash, files and lock', () => {
    const f = parseProbe([
      'gw.uid=0',
      'gw.kubectl_rc=0',
      'gw.kubectl_out=quay.io/apheris/gateway-agent:1.5.0 ',
      'gw.record={"gateway":"a","version":"1.5.0","valuesSha256":"abc","deployedAt":"t","operator":"o","command":"deploy"}',
      `${'a'.repeat(64)}  /opt/gwfleet/values/a.yaml`,
      `${'1'.repeat(64)}  /opt/gwfleet/releases/1.5.0/deploy_gateway`,
      `${'2'.repeat(64)}  /opt/gwfleet/releases/1.5.0/charts/agent.tgz`,
      `${'3'.repeat(64)}  /opt/gwfleet/releases-old/1.5.0/x`,
      'gw.lock={"owner":"x"}',
      'gw.lock_age=12',
      'gw.end=1',
    ].join('\n'), layout('/opt/gwfleet', 'a'))
    expect(f.version).toBe('1.5.0')
    expect(f.record?.valuesSha256).toBe('abc')
    expect(f.valuesSha256).toBe('a'.repeat(64))
    expect(f.releaseFiles.get('1.5.0')).toEqual(new Map([['deploy_gateway', '1'.repeat(64)], ['charts/agent.tgz', '2'.repeat(64)]]))
    expect([...f.releaseFiles.keys()]).toEqual(['1.5.0'])
    expect(f.lock).toEqual({holder: '{"owner":"x"}', ageSeconds: 12})
  })
  it('says why no version was found', () => {
    expect(parseProbe('gw.uid=0\ngw.kubectl=missing').versionNote).toMatch(/no kubectl/)
    expect(parseProbe('gw.uid=0\ngw.kubectl_rc=1\ngw.kubectl_out=The connection to the server 127.0.0.1:6443 was refused').versionNote).toMatch(/does not answer/)
    expect(parseProbe('gw.uid=0\ngw.kubectl_rc=1\ngw.kubectl_out=error: template: output:1:10: executing "output" at <index .items 0>: error calling index: index out of range: 0').versionNote).toMatch(/no agent deployment/)
    expect(parseProbe('gw.uid=0\ngw.kubectl_rc=0\ngw.kubectl_out=').versionNote).toMatch(/no agent deployment/)
  })
})

describe('installer verdict', () => {
  const good = ['pulling', 'Deployed versions:', '------------------', 'agent: 1.5.0', '------------------', 'All services are ready.']
  it('accepts both markers with the right version', () => {
    expect(verifyInstallerOutput(good, 0, '1.5.0', 60)).toEqual({ok: true, version: '1.5.0'})
  })
  it('refuses each way an install can go wrong', () => {
    expect(verifyInstallerOutput(['boom'], 3, '1.5.0', 60)).toEqual({ok: false, error: 'installer 1.5.0 exited with code 3: boom'})
    expect(verifyInstallerOutput(good, 124, '1.5.0', 60)).toMatchObject({ok: false, error: expect.stringMatching(/within 60s/)})
    expect(verifyInstallerOutput(good.slice(0, 5), 0, '1.5.0', 60)).toMatchObject({error: expect.stringMatching(/All services are ready/)})
    expect(verifyInstallerOutput(['All services are ready.'], 0, '1.5.0', 60)).toMatchObject({error: expect.stringMatching(/never reported the deployed versions/)})
    expect(verifyInstallerOutput(good.map((l) => l.replace('1.5.0', '9.9.9')), 0, '1.5.0', 60)).toMatchObject({error: 'installer reported agent 9.9.9, expected 1.5.0'})
  })
})

describe('redaction', () => {
  it('masks every secret, longest first', () => {
    const r = new Redactor()
    r.add(['abc-secret', 'abc-secret-longer', 'x'])
    expect(r.redact('a abc-secret-longer b abc-secret c x')).toBe('a [redacted] b [redacted] c x')
  })
})

describe('hostile paths stay data in every script', () => {
  it('locks, probes, commits, records and unlocks under a remoteDir full of shell text', async () => {
    const fs = await import('node:fs')
    const os = await import('node:os')
    const path = await import('node:path')
    const {lockAndProbeScript, installerScript, followScript, recordScript: record, forgetScript, freeSpaceScript} = await import('../../src/remote/scripts.js')
    const {stopJobScript} = await import('../../src/remote/job-scripts.js')
    const unlock = unlockScript
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-hostile-'))
    const marker = path.join(base, 'pwned')
    const remoteDir = `${base}/a"b'c $(touch ${marker});d\`touch ${marker}\``
    const owner = {owner: 'o@w', pid: 1, command: 'deploy', started: 't', token: 'tok-123'}
    const run = (script: string) => {
      try {
        return execFileSync('sh', ['-c', script], {encoding: 'utf8'})
      } catch (e: any) {
        return String(e.stdout)
      }
    }
    const out = run(lockAndProbeScript({remoteDir, gateway: 'gw', releaseVersions: ['1.5.0'], owner, ttlSeconds: 120, loginUser: 'root'}))
    expect(out).toContain('gw.lock_result=acquired')
    expect(fs.existsSync(`${remoteDir}/state/lock`)).toBe(true)
    // The release folder under the hostile path does not exist: the installer script looks for it there and says so.
    expect(run(installerScript({remoteDir, gateway: 'gw', version: '1.5.0', timeoutSeconds: 5, commit: [], token: 'tok-123', meta: jobMeta('r/tok-123/install-1.5.0')}))).toContain('gw.installer=missing release directory')
    expect(run(followScript({remoteDir, id: 'r/tok-123/install-1.5.0', offset: 0}))).toContain('gw.job_state=none')
    run(record({remoteDir, gateway: 'gw', record: null, history: [], archiveJob: 'r/tok-123/install-1.5.0'}))
    run(stopJobScript(remoteDir))
    run(forgetScript(remoteDir, 'gw'))
    run(freeSpaceScript(remoteDir))
    expect(run(unlock(remoteDir, 'gw', 'tok-123'))).toContain('gw.unlocked=1')
    expect(fs.existsSync(`${remoteDir}/state/lock`)).toBe(false)
    expect(fs.existsSync(marker)).toBe(false)
    fs.rmSync(base, {recursive: true, force: true})
  })
})

describe('scripts run for real in a temp dir', () => {
  const sha = (s: string) => createHash('sha256').update(s).digest('hex')
  const sh = (script: string, input = '') => {
    try {
      return execFileSync('sh', ['-c', script], {encoding: 'utf8', input})
    } catch (e: any) {
      return `${e.stdout}exit=${e.status}`
    }
  }

  it('commits root-owned copies of the uploads, only after their hashes match, never through a link or a FIFO', () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'gwfleet-commit-'))
    const up = `${base}/.stage/upload`
    const ver = `${base}/.stage/verified`
    const fresh = () => {
      rmSync(`${base}/.stage`, {recursive: true, force: true})
      mkdirSync(up, {recursive: true})
      mkdirSync(ver, {recursive: true})
    }
    fresh()
    writeFileSync(`${up}/a1`, 'installer')
    writeFileSync(`${up}/a2`, '1.5.0')
    writeFileSync(`${up}/a3`, 'tenant: t')
    const file = (name: string, target: string, data: string, mode: number) => ({name, target, sha256: sha(data), mode, size: Buffer.byteLength(data)})
    const files = [
      file('a1', `${base}/releases/1.5.0/deploy_gateway`, 'installer', 0o775),
      file('a2', `${base}/releases/1.5.0/VERSION`, '1.5.0', 0o644),
      file('a3', `${base}/values/gw.yaml`, 'tenant: t', 0o600),
    ]
    const commit = (f: typeof files) => sh(commitFilesScript({remoteDir: base, gateway: 'gw', files: f}))
    expect(commit(files)).toContain('gw.commit=ok')
    expect(readFileSync(`${base}/releases/1.5.0/deploy_gateway`, 'utf8')).toBe('installer')
    expect(readFileSync(`${base}/releases/1.5.0/VERSION`, 'utf8')).toBe('1.5.0')
    expect(readFileSync(`${base}/values/gw.yaml`, 'utf8')).toBe('tenant: t')
    // the zip's group-write bit is dropped; the values stay private
    expect(statSync(`${base}/releases/1.5.0/deploy_gateway`).mode & 0o777).toBe(0o755)
    expect(statSync(`${base}/values/gw.yaml`).mode & 0o777).toBe(0o600)
    // the uploads themselves were copied, not moved: the user's files never become root's
    expect(existsSync(`${up}/a1`)).toBe(true)

    // an upload changed after it was sent is never moved into place
    fresh()
    writeFileSync(`${up}/b1`, 'tampered')
    expect(commit([file('b1', `${base}/releases/1.6.0/VERSION`, '1.6.0', 0o644)])).toContain('gw.commit=checksum-mismatch')
    // nor one that grew: only the expected size plus one byte is read
    fresh()
    writeFileSync(`${up}/b2`, '1.6.0 and more')
    expect(commit([file('b2', `${base}/releases/1.6.0/VERSION`, '1.6.0', 0o644)])).toContain('gw.commit=checksum-mismatch')
    // a symbolic link to a file with the right bytes is not followed
    fresh()
    writeFileSync(`${base}/elsewhere`, '1.6.0')
    symlinkSync(`${base}/elsewhere`, `${up}/b3`)
    expect(commit([file('b3', `${base}/releases/1.6.0/VERSION`, '1.6.0', 0o644)])).toContain('gw.commit=failed')
    // a FIFO does not block the commit
    fresh()
    execFileSync('mkfifo', [`${up}/b4`])
    expect(commit([file('b4', `${base}/releases/1.6.0/VERSION`, '1.6.0', 0o644)])).toMatch(/gw\.commit=(failed|checksum-mismatch)/)
    expect(existsSync(`${base}/releases/1.6.0`)).toBe(false)
    // a directory where a file should go is an error, not a place to move into
    fresh()
    mkdirSync(`${base}/releases/1.7.0/VERSION`, {recursive: true})
    writeFileSync(`${up}/b5`, '1.7.0')
    expect(commit([file('b5', `${base}/releases/1.7.0/VERSION`, '1.7.0', 0o644)])).toContain('gw.commit=failed')
    expect(existsSync(`${base}/releases/1.7.0/VERSION/0`)).toBe(false)
    rmSync(base, {recursive: true, force: true})
  })

  it('runs the installer and reads the cluster in one round trip, and reads nothing from stdin', () => {
    const remoteDir = mkdtempSync(path.join(os.tmpdir(), 'gwfleet-inst-'))
    const owner = {owner: 'o@w', pid: 1, command: 'deploy', started: 't', token: 'tok-9'}
    expect(sh(lockAndProbeScript({remoteDir, gateway: 'gw', releaseVersions: ['1.5.0'], owner, ttlSeconds: 120, loginUser: 'root'}))).toContain('gw.lock_result=acquired')
    mkdirSync(`${remoteDir}/releases/1.5.0`, {recursive: true})
    // a stand-in installer that would swallow stdin if it could read it, and leaves half a line behind
    writeFileSync(`${remoteDir}/releases/1.5.0/deploy_gateway`, '#!/bin/sh\ncat\necho "agent: 1.5.0"\necho "All services are ready."\nprintf "half a line"\n', {mode: 0o644})
    const pwned = path.join(remoteDir, 'pwned')
    // what a sudo -S round trip's stdin holds: a password, here one full of shell text
    const password = `pw"$(touch ${pwned});x>${pwned}2 'q`
    const id = 'r/tok-9/install-1.5.0'
    const res = spawnSync('sh', ['-c', installerScript({remoteDir, gateway: 'gw', version: '1.5.0', timeoutSeconds: 10, commit: [], token: 'tok-9', meta: jobMeta(id)})], {encoding: 'utf8', input: `${password}\n`})
    // the script's own lines on stdout; the installer's log, from where the follow starts, on stderr
    expect(res.stdout.split('\n')).toEqual(expect.arrayContaining([`gw.job_started=${id}`, 'gw.follow=0', 'gw.job_state=ended', 'gw.installer_rc=0']))
    expect(res.stdout).not.toContain('agent: 1.5.0')
    expect(res.stderr).toBe('agent: 1.5.0\nAll services are ready.\nhalf a line')
    expect(res.stdout + res.stderr).not.toContain('pw"')
    expect(existsSync(pwned)).toBe(false)
    expect(existsSync(`${pwned}2`)).toBe(false)
    // the job is judged but not yet recorded: the probe still reports it, ended with its code
    const job = parseProbe(sh(probeScript({remoteDir, gateway: 'gw', releaseVersions: []}))).job
    expect(job).toMatchObject({meta: {id}, state: 'ended', rc: 0, pid: null, logBytes: res.stderr.length})
    // record and unlock are their own round trip; the recorded job leaves the job folder
    const record = {gateway: 'gw', version: '1.5.0', valuesSha256: 'ab', deployedAt: 't', operator: 'o', command: 'deploy'}
    const done = sh(`${recordScript({remoteDir, gateway: 'gw', record, history: [], archiveJob: id})}\n${unlockScript(remoteDir, 'gw', 'tok-9')}`)
    expect(done).toContain('gw.job_archived=1')
    expect(parseProbe(sh(probeScript({remoteDir, gateway: 'gw', releaseVersions: []}))).job).toBeNull()
    // Its meta and exit status stay for a look; its log (which may hold what the installer printed) goes.
    expect(readFileSync(`${remoteDir}/state/job.last/rc`, 'utf8')).toMatch(/^0 \d+\n$/)
    expect(existsSync(`${remoteDir}/state/job.last/log`)).toBe(false)
    expect(done).toContain(RECORDED)
    expect(done).toContain('gw.unlocked=1')
    expect(JSON.parse(readFileSync(`${remoteDir}/state/gw.json`, 'utf8'))).toEqual(record)
    expect(existsSync(`${remoteDir}/state/lock`)).toBe(false)
    rmSync(remoteDir, {recursive: true, force: true})
  })

  it('names the user and checks the datasets folder with the shell itself', () => {
    const out = sh(preflightBody({remoteDir: '/opt/gwfleet', datasetsFolder: os.tmpdir()}, 'gw.'))
    const kv = parseKv(out)
    expect(kv.get('cpus')?.[0]).toBe(execFileSync('nproc', {encoding: 'utf8'}).trim())
    expect(kv.get('user')?.[0]).toBe(execFileSync('id', ['-un'], {encoding: 'utf8'}).trim())
    expect(kv.get('datasets')?.[0]).toBe('ok')
    expect(['proc', 'ss']).toContain(kv.get('port_tool')?.[0])
  })
})

describe('values written by root from its stdin', () => {
  // Runs the real script with sh in a private folder (the current user plays root: the checks are
  // about the folder being the runner's own and private).
  const setup = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gw-write-'))
    const L = layout(dir, 'gw')
    mkdirSync(L.verified, {recursive: true, mode: 0o700})
    return {dir, L}
  }
  const text = 'tenant: t\nauth:\n  orchestrator:\n    clientSecret: "s3cr#t"\n'
  const sha = createHash('sha256').update(text).digest('hex')
  // stdin from a file: a script that ends before reading it must not fail the test with EPIPE.
  const run = (dir: string, stdin: string) => {
    const input = path.join(dir, 'stdin')
    writeFileSync(input, stdin)
    const script = writeByRootScript({remoteDir: dir, gateway: 'gw', name: 'abc', size: Buffer.byteLength(text), sha256: sha, nonce: 'n1'})
    return execFileSync('sh', ['-c', 'exec sh -c "$1" < "$2"', 'sh', script, input], {encoding: 'utf8'})
  }

  it('writes exactly the payload after the marker, 0600, skipping a password line sudo left unread', () => {
    for (const before of ['', 'a-sudo-password\n']) {
      const {dir, L} = setup()
      const out = run(dir, `${before}${payloadMarker('n1')}\n${text}`)
      expect(parseKv(out).get('write')).toEqual(['ok'])
      expect(readFileSync(path.join(L.verified, 'abc'), 'utf8')).toBe(text)
      expect(statSync(path.join(L.verified, 'abc')).mode & 0o777).toBe(0o600)
      expect(out).not.toContain('a-sudo-password')
      rmSync(dir, {recursive: true})
    }
  })

  it('writes nothing without the marker, with other bytes, or into a folder others may enter', () => {
    const {dir, L} = setup()
    expect(parseKv(run(dir, `pw\n${text}`)).get('write')?.[0]).toMatch(/^failed no payload/)
    expect(parseKv(run(dir, `${payloadMarker('n1')}\n${text.replace('s3cr', 'evil')}`)).get('write')?.[0]).toBe('failed checksum-mismatch')
    expect(existsSync(path.join(L.verified, 'abc'))).toBe(false)
    execFileSync('chmod', ['755', L.verified])
    expect(parseKv(run(dir, `${payloadMarker('n1')}\n${text}`)).get('write')?.[0]).toMatch(/not root's own/)
    rmSync(dir, {recursive: true})
  })

  it('commitFilesScript renames root\'s own file instead of copying it out of the upload folder', () => {
    const s = commitFilesScript({remoteDir: '/opt/g', gateway: 'a', files: [{name: 'abc', target: '/opt/g/values/a.yaml', sha256: sha, mode: 0o600, size: 10, byRoot: true}]})
    expect(s).toContain('mv -fT abc 0 ||')
    expect(s).not.toContain('/opt/g/.stage/upload/abc')
  })
})
