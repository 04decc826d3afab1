// The lab's own key generation (test/lab/lab.js): every host key and client key of the e2e suite.
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

// @ts-expect-error plain JS lab module
import {generateEd25519} from '../lab/lab.js'

describe('lab keys', () => {
  it('are OpenSSH ed25519 keys whose private half signs what the public half verifies', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-labkeys-'))
    try {
      const keys = Array.from({length: 3}, (_, i) => generateEd25519(`k${i}`) as {privateKey: string; publicKey: string})
      expect(new Set(keys.map((k) => k.publicKey)).size).toBe(3)
      keys.forEach((k, i) => {
        const key = path.join(dir, `k${i}`)
        fs.writeFileSync(key, k.privateKey, {mode: 0o600})
        // ssh-keygen derives the same public key from the private file.
        expect(execFileSync('ssh-keygen', ['-y', '-f', key], {encoding: 'utf8'}).trim().split(' ').slice(0, 2)).toEqual(k.publicKey.split(' ').slice(0, 2))
        fs.writeFileSync(path.join(dir, 'msg'), `message ${i}\n`)
        execFileSync('ssh-keygen', ['-Y', 'sign', '-f', key, '-n', 'file', path.join(dir, 'msg')], {stdio: 'ignore'})
        fs.writeFileSync(path.join(dir, 'allowed'), `k${i} ${k.publicKey.split(' ').slice(0, 2).join(' ')}\n`)
        const ok = execFileSync('ssh-keygen', ['-Y', 'verify', '-f', path.join(dir, 'allowed'), '-I', `k${i}`, '-n', 'file', '-s', path.join(dir, 'msg.sig')], {input: `message ${i}\n`, encoding: 'utf8'})
        expect(ok).toMatch(/^Good "file" signature/)
        fs.rmSync(path.join(dir, 'msg.sig'))
      })
    } finally {
      fs.rmSync(dir, {recursive: true, force: true})
    }
  })
})
