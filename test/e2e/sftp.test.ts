// Pipelined, streamed SFTP uploads (Connection.writeFiles) on a real lab sshd (subnet 39, lab "sftp"),
// as the login user ops: contents (buffers or streamed sources) and modes arrive exactly, files are
// created new (an existing file or a planted link is refused, its target untouched), a failure (the
// host's or a source's) fails the batch and leaves no handle open.
import {createHash, randomBytes} from 'node:crypto'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {Connection} from '../../src/ssh/connection.js'
import type {ConnectTarget} from '../../src/ssh/types.js'
import {lab, type Lab} from './fleet.js'

let L: Lab
let conn: Connection
const dir = '/home/ops/sftp-e2e'

/** Run a command inside the host (not over SSH): owner, mode and size of each path. */
async function statOf(paths: string[]): Promise<string[]> {
  const r = await L.hosts[0].exec(`stat -c '%U %a %s' ${paths.map((p) => `'${p}'`).join(' ')}`)
  expect(r.code, r.stderr).toBe(0)
  return r.stdout.trim().split('\n')
}

beforeAll(async () => {
  L = await lab(1, 39, 'sftp')
  const h = L.hosts[0]
  const r = await h.exec(`install -d -o ops -g ops -m 700 ${dir}`)
  expect(r.code, r.stderr).toBe(0)
  const target: ConnectTarget = {
    host: h.address,
    port: 22,
    user: 'ops',
    identityFiles: [L.clientKey],
    knownHostsFiles: [L.knownHostsFile],
    recordKnownHostsFile: L.knownHostsFile,
    jump: [],
  }
  conn = await Connection.open(target, {acceptNewHostKeys: false, connectTimeoutMs: 20_000, keepaliveIntervalMs: 0, retries: 1})
}, 120_000)

afterAll(async () => {
  conn?.close()
  await L?.stop()
})

describe('Connection.writeFiles (lab subnet 39)', () => {
  it('uploads many files at once, bigger than the write window too, each with exactly its contents and mode', async () => {
    const big = randomBytes(3 * 1024 * 1024 + 12345) // > WRITE_WINDOW: writes wait for room
    const files = [
      {path: `${dir}/big`, data: big, mode: 0o600},
      {path: `${dir}/empty`, data: '', mode: 0o600},
      {path: `${dir}/text`, data: 'tenant: t1\n', mode: 0o640},
      ...Array.from({length: 20}, (_, i) => ({path: `${dir}/small-${i}`, data: randomBytes(1000 + i), mode: 0o600})),
    ]
    await conn.writeFiles(files)
    const h = L.hosts[0]
    const sums = await h.exec(`cd ${dir} && sha256sum ${files.map((f) => path.basename(f.path)).join(' ')}`)
    expect(sums.code, sums.stderr).toBe(0)
    const want = files.map((f) => `${createHash('sha256').update(f.data).digest('hex')}  ${path.basename(f.path)}`).join('\n')
    expect(sums.stdout.trim()).toBe(want)
    expect(await statOf(files.map((f) => f.path))).toEqual(files.map((f) => `ops ${f.mode.toString(8)} ${Buffer.byteLength(f.data)}`))
  })

  it('sets the mode itself, whatever umask sftp-server runs with', async () => {
    // a umask of 0277 would leave 0400 of a 0600 open(2): the upload must still end 0600
    const h = L.hosts[0]
    const rc = await h.exec(`printf 'umask 0277\\n' > /home/ops/.gwumask && chown ops /home/ops/.gwumask && sed -i '1i . ~/.gwumask 2>/dev/null' /home/ops/.bashrc`)
    expect(rc.code, rc.stderr).toBe(0)
    const c2 = await Connection.open(conn.target, {acceptNewHostKeys: false, connectTimeoutMs: 20_000, keepaliveIntervalMs: 0, retries: 1})
    try {
      // the shells (and so sftp-server) of this connection do run with that umask
      expect((await c2.exec('umask')).stdout.trim()).toBe('0277')
      await c2.writeFiles([{path: `${dir}/masked`, data: 'x', mode: 0o600}])
    } finally {
      c2.close()
      await h.exec(`sed -i '1d' /home/ops/.bashrc && rm -f /home/ops/.gwumask`)
    }
    expect(await statOf([`${dir}/masked`])).toEqual(['ops 600 1'])
  })

  it('refuses a name that exists or is a planted link, and writes nothing through the link', async () => {
    const h = L.hosts[0]
    const r = await h.exec(`echo victim > /home/ops/victim && chown ops /home/ops/victim && ln -s /home/ops/victim ${dir}/planted && chown -h ops ${dir}/planted`)
    expect(r.code, r.stderr).toBe(0)
    const err = await conn.writeFiles([
      {path: `${dir}/fresh-a`, data: 'a', mode: 0o600},
      {path: `${dir}/planted`, data: 'attacker-controlled write', mode: 0o600},
      {path: `${dir}/fresh-b`, data: 'b', mode: 0o600},
    ]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Error)
    expect(String((err as Error).message)).toMatch(new RegExp(`upload to ${dir}/planted failed`))
    expect(await h.readFile('/home/ops/victim')).toBe('victim\n')
    const again = await conn.writeFiles([{path: `${dir}/text`, data: 'replaced', mode: 0o600}]).catch((e: unknown) => e)
    expect(again).toBeInstanceOf(Error)
    expect(await h.readFile(`${dir}/text`)).toBe('tenant: t1\n')
  })

  it('streams files from their sources as the host takes them, byte for byte; a source that fails midway fails the batch with its own error and leaves no handle open', async () => {
    const h = L.hosts[0]
    const big = randomBytes(5 * 1024 * 1024 + 333)
    // Odd chunk sizes, so writes straddle the sources' chunks.
    const chunks = async function* (data: Buffer, size: number) {
      for (let off = 0; off < data.length; off += size) yield data.subarray(off, off + size)
    }
    await conn.writeFiles([
      {path: `${dir}/streamed`, mode: 0o600, data: async () => chunks(big, 70_001)},
      {path: `${dir}/streamed-empty`, mode: 0o600, data: async () => chunks(Buffer.alloc(0), 1)},
    ])
    const sums = await h.exec(`sha256sum ${dir}/streamed ${dir}/streamed-empty`)
    expect(sums.stdout).toBe(`${createHash('sha256').update(big).digest('hex')}  ${dir}/streamed\n${createHash('sha256').update('').digest('hex')}  ${dir}/streamed-empty\n`)
    expect(await statOf([`${dir}/streamed`])).toEqual([`ops 600 ${big.length}`])

    const failing = async () =>
      (async function* () {
        yield randomBytes(300_000)
        throw new Error('the release zip changed under the upload')
      })()
    const err = await conn.writeFiles([{path: `${dir}/half`, mode: 0o600, data: failing}]).catch((e: unknown) => e)
    expect((err as Error).message).toBe('the release zip changed under the upload')
    const open = await h.exec(`for p in $(pgrep -u ops sftp-server); do ls -l /proc/$p/fd; done`)
    expect(open.stdout).not.toContain(`${dir}/half`)
  })

  it('leaves no handle open after a failed batch: the connection still uploads, sftp-server holds no open upload', async () => {
    const h = L.hosts[0]
    const err = await conn.writeFiles([
      {path: `${dir}/no-such-dir/x`, data: 'x', mode: 0o600},
      {path: `${dir}/after-failure`, data: randomBytes(200_000), mode: 0o600},
    ]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Error)
    await conn.writeFiles([{path: `${dir}/later`, data: 'later', mode: 0o600}])
    expect(await h.readFile(`${dir}/later`)).toBe('later')
    // every file sftp-server has open shows in /proc; none may be under the upload folder
    const open = await h.exec(`for p in $(pgrep -u ops sftp-server); do ls -l /proc/$p/fd; done`)
    expect(open.code, open.stderr).toBe(0)
    expect(open.stdout).toMatch(/socket|pipe|null/)
    expect(open.stdout).not.toContain(dir)
  })
})
