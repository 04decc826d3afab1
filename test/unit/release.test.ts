import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as zlib from 'node:zlib'

import { afterAll, beforeEach, describe, expect, it } from 'vitest'

import { InputError, LocalError } from '../../src/errors.js'
import { hopsToward, planHops } from '../../src/release/policy.js'
import { checkRelease, findRelease, listReleases, openReleaseFile, readRelease } from '../../src/release/releases.js'
import { forgetRunState } from '../../src/util/per-run.js'
import { compareVersions } from '../../src/release/version.js'
import { crc32, entryStream, portableCrc32, readZipDirectory, ZIP_LIMITS, ZipFormatError, ZipLimitError, type ZipEntry } from '../../src/release/zip.js'
import type { ReleaseContent, ReleaseFile, ReleaseRef } from '../../src/types.js'
import { buildZip, writeZip, zeroBomb, type ZipInput } from './zip-writer.js'

const tmp = mkdtempSync(join(tmpdir(), 'gwfleet-release-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
beforeEach(() => forgetRunState())

let n = 0
const freshDir = (): string => {
  const d = join(tmp, `d${++n}`)
  mkdirSync(d, { recursive: true })
  return d
}
const sha = (s: string | Uint8Array): string => createHash('sha256').update(s).digest('hex')

const INSTALLER = '#!/bin/bash\necho "Deployed versions:"\n'
const VALUES = 'tenant: APHERIS_PROVIDED_TENANT_ID\n'.repeat(50) // repetitive: the zip CLI deflates it

/** Builds a zip with the Info-ZIP CLI from a tree of {path: [content, mode]}; `top` puts everything under one folder. */
function zipCli(out: string, tree: Record<string, [string, number]>, top?: string): string {
  const src = freshDir()
  const base = top ? join(src, top) : src
  for (const [p, [content, mode]] of Object.entries(tree)) {
    const f = join(base, p)
    mkdirSync(join(f, '..'), { recursive: true })
    writeFileSync(f, content)
    chmodSync(f, mode)
  }
  rmSync(out, { force: true }) // zip would otherwise try to update an existing file
  execFileSync('/usr/bin/zip', ['-q', '-r', '-y', out, '.'], { cwd: src })
  return out
}

/** Builds a zip with the test writer (names verbatim, so unsafe names are possible); `[name, data]` pairs deflated. */
function zipOf(out: string, files: (ZipInput | [string, string])[]): string {
  return writeZip(out, files.map((f) => (Array.isArray(f) ? { name: f[0], data: f[1] } : f)))
}

/** A release file's bytes, streamed from its zip as an upload reads them. */
async function bytesOf(c: ReleaseContent, f: ReleaseFile): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const chunk of await openReleaseFile(c, f)) parts.push(chunk)
  return Buffer.concat(parts)
}

/** Each file of a release as {path, data, mode, sha256}, its data streamed from the zip. */
async function contents(c: ReleaseContent) {
  return Promise.all(c.files.map(async (f) => ({ path: f.path, data: await bytesOf(c, f), mode: f.mode, sha256: f.sha256 })))
}

async function inputError(p: Promise<unknown>): Promise<InputError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(InputError)
  return err as InputError
}

const ref = (path: string, version = '1.5.0'): ReleaseRef => ({ version, path })
const byPath = (c: ReleaseContent) => Object.fromEntries(c.files.map((f) => [f.path, f]))

describe('listReleases', () => {
  it('finds strict-semver release zips, ignores everything else, sorts by version', async () => {
    const dir = freshDir()
    for (const name of [
      'apheris-gateway-1.10.0.zip',
      'apheris-gateway-1.9.0.zip',
      'apheris-gateway-1.4.2.zip',
      'apheris-gateway-2.0.0.zip',
      'apheris-gateway-1.5.0-rc1.zip',
      'apheris-gateway-01.2.3.zip',
      'apheris-gateway-latest.zip',
      'apheris-gateway-1.6.0.tar.gz',
      'apheris-gateway-1.6.0.zip.part',
      'other-1.2.3.zip',
      'README.md',
    ]) writeFileSync(join(dir, name), 'x')
    mkdirSync(join(dir, 'apheris-gateway-3.0.0.zip')) // a directory is not a release
    symlinkSync(join(dir, 'nowhere'), join(dir, 'apheris-gateway-3.1.0.zip')) // dangling link neither
    symlinkSync(join(dir, 'apheris-gateway-2.0.0.zip'), join(dir, 'apheris-gateway-2.0.1.zip')) // a link to a file is

    const got = await listReleases(dir)
    expect(got).toEqual([
      { version: '1.4.2', path: join(dir, 'apheris-gateway-1.4.2.zip') },
      { version: '1.9.0', path: join(dir, 'apheris-gateway-1.9.0.zip') },
      { version: '1.10.0', path: join(dir, 'apheris-gateway-1.10.0.zip') },
      { version: '2.0.0', path: join(dir, 'apheris-gateway-2.0.0.zip') },
      { version: '2.0.1', path: join(dir, 'apheris-gateway-2.0.1.zip') },
    ])
    expect(findRelease(got, '1.9.0')).toEqual({ version: '1.9.0', path: join(dir, 'apheris-gateway-1.9.0.zip') })
    expect(findRelease(got, '1.9')).toBeUndefined()
    expect(findRelease(got, '3.0.0')).toBeUndefined()
  })

  it('an empty folder has no releases', async () => {
    expect(await listReleases(freshDir())).toEqual([])
  })

  it('a missing folder is bad input naming the folder', async () => {
    const dir = join(tmp, 'does-not-exist')
    const err = await inputError(listReleases(dir))
    expect(err.location).toEqual({ file: dir })
    expect(err.message).toBe(`${dir}: cannot read the release folder: no such file or directory`)
  })

  it('a file where the folder should be is bad input', async () => {
    const f = join(freshDir(), 'file')
    writeFileSync(f, '')
    const err = await inputError(listReleases(f))
    expect(err.message).toBe(`${f}: cannot read the release folder: not a directory`)
  })
})

describe('readRelease', () => {
  it('reads a flat zip made by the zip CLI: paths, data, sha256, unix modes', async () => {
    const zip = zipCli(join(freshDir(), 'apheris-gateway-1.5.0.zip'), {
      deploy_gateway: [INSTALLER, 0o755],
      'values.yaml': [VALUES, 0o644],
      'charts/agent.tgz': ['binary\0data', 0o644],
      'scripts/helper.sh': ['#!/bin/sh\n', 0o750],
    })
    const got = await readRelease(ref(zip))
    expect(got.version).toBe('1.5.0')
    expect(got.zip.path).toBe(zip)
    expect(await contents(got)).toEqual([
      { path: 'charts/agent.tgz', data: Buffer.from('binary\0data'), mode: 0o644, sha256: sha('binary\0data') },
      { path: 'deploy_gateway', data: Buffer.from(INSTALLER), mode: 0o755, sha256: sha(INSTALLER) },
      { path: 'scripts/helper.sh', data: Buffer.from('#!/bin/sh\n'), mode: 0o755, sha256: sha('#!/bin/sh\n') },
      { path: 'values.yaml', data: Buffer.from(VALUES), mode: 0o644, sha256: sha(VALUES) },
    ])
    // The zip CLI deflates values.yaml and stores what it cannot shrink: both kinds stream.
    expect(byPath(got)['values.yaml']!.entry.method).toBe(8)
    expect(got.files.some((f) => f.entry.method === 0)).toBe(true)
    expect(got.files.map((f) => f.size)).toEqual(got.files.map((f) => f.entry.size))
  })

  it('strips one top folder (and ignores macOS litter beside it)', async () => {
    const dir = freshDir()
    const zip = zipCli(join(dir, 'apheris-gateway-1.5.0.zip'), {
      'apheris-gateway-1.5.0/deploy_gateway': [INSTALLER, 0o755],
      'apheris-gateway-1.5.0/values.yaml': [VALUES, 0o644],
      '__MACOSX/apheris-gateway-1.5.0/._deploy_gateway': ['junk', 0o644],
    })
    const got = await readRelease(ref(zip))
    expect(got.files.map((f) => [f.path, f.mode])).toEqual([
      ['deploy_gateway', 0o755],
      ['values.yaml', 0o644],
    ])
  })

  it('the shallowest deploy_gateway marks the root; files beside the root are not part of the release', async () => {
    const zip = zipOf(join(freshDir(), 'r.zip'), [
      ['release/deploy_gateway', INSTALLER],
      ['release/tools/deploy_gateway', 'nested copy'],
      ['release/values.yaml', VALUES],
      ['NOTES.txt', 'outside'],
    ])
    const got = await readRelease(ref(zip))
    expect(got.files.map((f) => f.path)).toEqual(['deploy_gateway', 'tools/deploy_gateway', 'values.yaml'])
  })

  it('two installers at the same depth are ambiguous', async () => {
    const zip = zipOf(join(freshDir(), 'r.zip'), [
      ['a/deploy_gateway', INSTALLER],
      ['b/deploy_gateway', INSTALLER],
    ])
    const err = await inputError(readRelease(ref(zip)))
    expect(err.message).toContain('more than one deploy_gateway')
  })

  it('without unix attributes: deploy_gateway 0755, everything else 0644', async () => {
    const zip = zipOf(join(freshDir(), 'r.zip'), [
      ['apheris-gateway-1.5.0/deploy_gateway', INSTALLER],
      ['apheris-gateway-1.5.0/values.yaml', VALUES],
      { name: 'apheris-gateway-1.5.0/run.sh', data: '#!/bin/sh\n', method: 0 },
    ])
    const got = await readRelease(ref(zip))
    expect(got.files.map((f) => [f.path, f.mode])).toEqual([
      ['deploy_gateway', 0o755],
      ['run.sh', 0o644],
      ['values.yaml', 0o644],
    ])
    expect((await bytesOf(got, byPath(got)['values.yaml']!)).toString()).toBe(VALUES)
    expect((await bytesOf(got, byPath(got)['run.sh']!)).toString()).toBe('#!/bin/sh\n')
  })

  it('unix mode bits: executables become 0755, the rest 0644, deploy_gateway always 0755', async () => {
    const unix = (name: string, data: string, mode: number): ZipInput => ({ name, data, unixMode: 0o100000 | mode })
    const zip = zipOf(join(freshDir(), 'r.zip'), [
      unix('deploy_gateway', INSTALLER, 0o644),
      unix('values.yaml', VALUES, 0o600),
      unix('world.sh', 'x', 0o777),
      unix('owner-exec', 'x', 0o700),
      unix('plain', 'x', 0o664),
    ])
    const modes = Object.fromEntries((await readRelease(ref(zip))).files.map((f) => [f.path, f.mode]))
    expect(modes).toEqual({ deploy_gateway: 0o755, 'values.yaml': 0o644, 'world.sh': 0o755, 'owner-exec': 0o755, plain: 0o644 })
  })

  it('a zip without deploy_gateway is bad input naming the zip', async () => {
    const zip = zipCli(join(freshDir(), 'apheris-gateway-1.5.0.zip'), { 'values.yaml': [VALUES, 0o644] })
    const err = await inputError(readRelease(ref(zip)))
    expect(err.location).toEqual({ file: zip })
    expect(err.message).toBe(`${zip}: release zip holds no deploy_gateway`)
  })

  it('a directory named deploy_gateway is not the installer', async () => {
    const zip = zipOf(join(freshDir(), 'r.zip'), [{ name: 'deploy_gateway/' }, ['values.yaml', VALUES]])
    await inputError(readRelease(ref(zip)))
  })

  it.each([
    ['../evil', '../evil'],
    ['dir/../../evil', 'dir/../../evil'],
    ['/etc/cron.d/evil', '/etc/cron.d/evil'],
    ['C:/evil', 'C:/evil'],
    ['..\\evil', '..\\evil'],
  ])('zip-slip entry %s is refused', async (name) => {
    const zip = zipOf(join(freshDir(), 'r.zip'), [['deploy_gateway', INSTALLER], [name, 'x']])
    const err = await inputError(readRelease(ref(zip)))
    expect(err.location).toEqual({ file: zip })
    expect(err.message).toContain(`unsafe path "${name}"`)
  })

  it('a symbolic link inside the zip is refused', async () => {
    const src = freshDir()
    writeFileSync(join(src, 'deploy_gateway'), INSTALLER)
    symlinkSync('/etc/shadow', join(src, 'values.yaml'))
    const zip = join(freshDir(), 'r.zip')
    execFileSync('/usr/bin/zip', ['-q', '-y', zip, 'deploy_gateway', 'values.yaml'], { cwd: src })
    const err = await inputError(readRelease(ref(zip)))
    expect(err.message).toContain('"values.yaml" is a symbolic link')
  })

  describe('corrupt zips are bad input naming the zip', () => {
    const good = (): Buffer => {
      const zip = zipCli(join(freshDir(), 'g.zip'), { deploy_gateway: [INSTALLER, 0o755], 'values.yaml': [VALUES, 0o644] })
      return readFileSync(zip)
    }
    const cases: [string, () => Buffer][] = [
      ['not a zip at all', () => Buffer.from('this is not a zip file, just text\n'.repeat(10))],
      ['empty file', () => Buffer.alloc(0)],
      ['truncated', () => good().subarray(0, 120)],
      ['cut in the middle', () => {
        const b = good()
        return Buffer.concat([b.subarray(0, 40), b.subarray(80)])
      }],
      ['flipped byte in stored data (CRC)', () => {
        const src = freshDir()
        writeFileSync(join(src, 'deploy_gateway'), INSTALLER)
        const zip = join(freshDir(), 's.zip')
        execFileSync('/usr/bin/zip', ['-q', '-0', zip, 'deploy_gateway'], { cwd: src })
        const b = readFileSync(zip)
        b[b.indexOf('Deployed')] ^= 0x20
        return b
      }],
      ['flipped byte in deflated data', () => {
        const b = good()
        const name = b.indexOf('values.yaml') // first hit: the local header's name
        const dataStart = name + 'values.yaml'.length + b.readUInt16LE(name - 30 + 28)
        b[dataStart + 5] ^= 0xff
        return b
      }],
    ]
    it.each(cases)('%s', async (_name, make) => {
      const f = join(freshDir(), 'apheris-gateway-1.5.0.zip')
      writeFileSync(f, make())
      const err = await inputError(readRelease(ref(f)))
      expect(err.location).toEqual({ file: f })
      expect(err.message.startsWith(`${f}: `)).toBe(true)
    })

    it('a zip that does not exist', async () => {
      const f = join(tmp, 'gone', 'apheris-gateway-1.5.0.zip')
      const err = await inputError(readRelease(ref(f)))
      expect(err.message).toBe(`${f}: cannot read release zip: no such file or directory`)
    })
  })

  it('encrypted entries are refused', async () => {
    const src = freshDir()
    writeFileSync(join(src, 'deploy_gateway'), INSTALLER)
    const zip = join(freshDir(), 'r.zip')
    execFileSync('/usr/bin/zip', ['-q', '-P', 'secret', zip, 'deploy_gateway'], { cwd: src })
    const err = await inputError(readRelease(ref(zip)))
    expect(err.message).toContain('encrypted')
  })

  it('reads zip64 archives', async () => {
    const src = freshDir()
    writeFileSync(join(src, 'deploy_gateway'), INSTALLER)
    chmodSync(join(src, 'deploy_gateway'), 0o755)
    const zip = join(freshDir(), 'r.zip')
    execFileSync('/usr/bin/zip', ['-q', '-fz', zip, 'deploy_gateway'], { cwd: src })
    const got = await readRelease(ref(zip))
    expect(await contents(got)).toEqual([{ path: 'deploy_gateway', data: Buffer.from(INSTALLER), mode: 0o755, sha256: sha(INSTALLER) }])
  })

  it('reads each zip once per process; a failed read is retried', async () => {
    const zip = join(freshDir(), 'apheris-gateway-1.5.0.zip')
    writeFileSync(zip, 'garbage')
    await inputError(readRelease(ref(zip)))
    zipCli(zip, { deploy_gateway: [INSTALLER, 0o755] }) // the operator fixes the file
    const a = await readRelease(ref(zip))
    expect(a.files.map((f) => f.path)).toEqual(['deploy_gateway'])

    rmSync(zip) // cached: no second read
    const [b, c] = await Promise.all([readRelease(ref(zip)), readRelease(ref(zip))])
    expect(b).toBe(a)
    expect(c).toBe(a)

    forgetRunState()
    await inputError(readRelease(ref(zip)))
  })
})

/** The entries of the zip at `file`, as the reader lists them (with `limits` instead of ZIP_LIMITS). */
async function entriesOf(file: string, limits?: typeof ZIP_LIMITS): Promise<ZipEntry[]> {
  const fh = await open(file, 'r')
  try {
    return await readZipDirectory(fh, (await fh.stat()).size, limits)
  } finally {
    await fh.close()
  }
}

/** An entry's bytes through entryStream, and how many bytes of the file it read to get them. */
async function streamEntry(file: string, name: string): Promise<{ data: Buffer; fileBytesRead: number }> {
  const fh = await open(file, 'r')
  let fileBytesRead = 0
  // The reader sees the file through this handle only: count what it reads.
  const counting = {
    read: async (...args: Parameters<FileHandle['read']>) => {
      const r = await (fh.read as (...a: unknown[]) => Promise<{ bytesRead: number; buffer: Buffer }>)(...args)
      fileBytesRead += r.bytesRead
      return r
    },
  } as unknown as FileHandle
  try {
    const e = (await readZipDirectory(fh, (await fh.stat()).size)).find((x) => x.name === name)!
    const parts: Buffer[] = []
    try {
      for await (const chunk of entryStream(counting, e)) parts.push(chunk as Buffer)
    } catch (err) {
      throw Object.assign(err as Error, { fileBytesRead })
    }
    return { data: Buffer.concat(parts), fileBytesRead }
  } finally {
    await fh.close()
  }
}

async function zipError(p: Promise<unknown>): Promise<ZipFormatError & { fileBytesRead?: number }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ZipFormatError)
  return err as ZipFormatError
}

describe('the zip reader (readZipDirectory, entryStream)', () => {
  it('reports unix modes and directories from a zip CLI archive', async () => {
    const zip = zipCli(join(freshDir(), 'r.zip'), { 'd/x': ['x', 0o640] })
    const entries = await entriesOf(zip)
    const d = entries.find((e) => e.name === 'd/')!
    const x = entries.find((e) => e.name === 'd/x')!
    expect(d.isDirectory).toBe(true)
    expect(x.isDirectory).toBe(false)
    expect(x.unixMode).toBe(0o100640)
    expect((await streamEntry(zip, 'd/x')).data.toString()).toBe('x')
  })

  it('streams stored and deflated entries, large and empty, byte for byte', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17)
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 12)) & 0xff
    const zip = zipOf(join(freshDir(), 'r.zip'), [
      { name: 'stored', data: big, method: 0 },
      { name: 'deflated', data: big },
      { name: 'empty-stored', data: '', method: 0 },
      { name: 'empty-deflated', data: '' },
    ])
    const entries = await entriesOf(zip)
    expect(entries.map((e) => [e.name, e.method])).toEqual([['stored', 0], ['deflated', 8], ['empty-stored', 0], ['empty-deflated', 8]])
    for (const name of ['stored', 'deflated']) expect((await streamEntry(zip, name)).data.equals(big), name).toBe(true)
    for (const name of ['empty-stored', 'empty-deflated']) expect((await streamEntry(zip, name)).data.length, name).toBe(0)
  })

  it('crc32 matches the standard check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926)
  })

  it('follows zip64 extra fields when the 32-bit slots are saturated (stored and deflated)', async () => {
    const zip = writeZip(
      join(freshDir(), 'z64.zip'),
      [
        { name: 'deploy_gateway', data: INSTALLER, method: 0, unixMode: 0o100700 },
        { name: 'values.yaml', data: VALUES },
      ],
      { zip64: true },
    )
    const entries = await entriesOf(zip)
    expect(entries.map((e) => [e.name, e.unixMode, e.size])).toEqual([
      ['deploy_gateway', 0o100700, INSTALLER.length],
      ['values.yaml', undefined, VALUES.length],
    ])
    expect((await streamEntry(zip, 'deploy_gateway')).data.toString()).toBe(INSTALLER)
    expect((await streamEntry(zip, 'values.yaml')).data.toString()).toBe(VALUES)
  })

  it('a CRC mismatch is found at the end of the stream', async () => {
    const zip = zipOf(join(freshDir(), 'r.zip'), [{ name: 'deflated', data: VALUES, crc: crc32(Buffer.from(VALUES)) ^ 1 }])
    expect((await zipError(streamEntry(zip, 'deflated'))).message).toBe('deflated: CRC mismatch (corrupt data)')
  })

  it('an entry that declares more than its data holds ends short: a size mismatch', async () => {
    const zip = zipOf(join(freshDir(), 'r.zip'), [
      { name: 'stored', data: 'abc', method: 0, size: 4 },
      { name: 'deflated', data: VALUES, size: VALUES.length + 1 },
    ])
    // A stored entry's two sizes differ: refused from the directory alone.
    expect((await zipError(entriesOf(zip))).message).toBe('stored: size mismatch (a stored entry of 4 bytes takes 3)')
    const ok = zipOf(join(freshDir(), 'r.zip'), [{ name: 'deflated', data: VALUES, size: VALUES.length + 1 }])
    expect((await zipError(streamEntry(ok, 'deflated'))).message).toMatch(/^deflated: size mismatch \(\d+ bytes, the zip declares \d+; truncated\?\)$/)
  })

  it('a lying header (1.5 GiB of zeros declared as 4 KiB) is stopped once it passes 4 KiB, having read little of the zip', async () => {
    const bomb = zeroBomb(1536)
    const zip = zipOf(join(freshDir(), 'lying.zip'), [{ name: 'payload.bin', raw: bomb.raw, size: 4096, crc: bomb.crc }])
    const err = await zipError(streamEntry(zip, 'payload.bin'))
    expect(err.message).toMatch(/^payload\.bin: size mismatch \(the data inflates past the 4096 bytes the zip declares for it: a lying header or a zip bomb; stopped there\)$/)
    // 1.5 MB of deflate data behind the header; what was read before the stop is a few chunks of it.
    expect(bomb.raw.length).toBeGreaterThan(1_500_000)
    expect(err.fileBytesRead).toBeLessThanOrEqual(256 * 1024)
  })

  it('a truncated deflate stream, or one that is not deflate, cannot be inflated', async () => {
    const whole = zlib.deflateRawSync(Buffer.from(VALUES))
    const zip = zipOf(join(freshDir(), 'r.zip'), [
      { name: 'cut', raw: whole.subarray(0, whole.length - 4), size: VALUES.length, crc: crc32(Buffer.from(VALUES)) },
      { name: 'junk', raw: Buffer.from([0xff, 0xff, 0xff, 0xff]), size: 10, crc: 0 },
    ])
    expect((await zipError(streamEntry(zip, 'cut'))).message).toMatch(/^cut: cannot inflate \(/)
    expect((await zipError(streamEntry(zip, 'junk'))).message).toMatch(/^junk: cannot inflate \(/)
  })

  it('a zip cut short is refused from its directory, wherever it was cut', async () => {
    const whole = buildZip([{ name: 'a', data: VALUES }, { name: 'b', data: INSTALLER, method: 0 }])
    for (const keep of [0, 10, 60, whole.length - 40, whole.length - 1]) {
      const zip = join(freshDir(), 'cut.zip')
      writeFileSync(zip, whole.subarray(0, keep))
      expect((await zipError(entriesOf(zip))).message, `cut at ${keep}`).toMatch(/truncated|not a zip file|outside the file/)
    }
  })
})

describe('zip bombs (ZIP_LIMITS), refused from the directory before anything is inflated', () => {
  it('limits a real release stays far from: 8 GiB an entry, 16 GiB in all, 200:1 above 8 MiB, 100,000 entries', () => {
    expect(ZIP_LIMITS).toEqual({ entryBytes: 8 * 2 ** 30, totalBytes: 16 * 2 ** 30, ratio: 200, ratioFromBytes: 8 * 2 ** 20, entries: 100_000, directoryBytes: 64 * 2 ** 20 })
  })

  it('a 1.5 MB zip holding a 1.5 GiB entry (1010:1) is refused, naming the entry, before a byte is inflated', async () => {
    const bomb = zeroBomb(1536)
    const zip = zipOf(join(freshDir(), 'apheris-gateway-1.5.0.zip'), [['deploy_gateway', INSTALLER], { name: 'images/payload.tar', raw: bomb.raw, size: bomb.size, crc: bomb.crc }])
    const err = await zipError(entriesOf(zip))
    expect(err).toBeInstanceOf(ZipLimitError)
    expect(err.message).toMatch(/^entry "images\/payload\.tar" would inflate to 1\.5 GiB from 1\.5 MiB \(10\d\d:1\); gwfleet refuses entries above 8\.0 MiB that inflate more than 200:1 \(a zip bomb\?\)$/)

    // As a release: bad input naming the zip file and the entry; nothing is kept.
    const rel = await inputError(checkRelease(ref(zip)))
    expect(rel.location).toEqual({ file: zip })
    expect(rel.message).toBe(`${zip}: release zip refused: ${err.message}`)
  })

  it('a well-compressed entry below the ratio limit, or a small one above it, is read', async () => {
    const small = zeroBomb(8) // 8 MiB of zeros, 1000:1: at the floor, not above it
    const zip = zipOf(join(freshDir(), 'r.zip'), [{ name: 'zeros', raw: small.raw, size: small.size, crc: small.crc }])
    const { data } = await streamEntry(zip, 'zeros')
    expect(data.length).toBe(8 * 2 ** 20)
  })

  it('an entry or a total past the size limits, too many entries, or a huge directory is refused', async () => {
    const limits = { ...ZIP_LIMITS, entryBytes: 1000, totalBytes: 1500, entries: 3, directoryBytes: 400 }
    const text = (n: number) => 'y'.repeat(n)
    const one = zipOf(join(freshDir(), 'r.zip'), [['big', text(1001)]])
    expect((await zipError(entriesOf(one, limits))).message).toBe('entry "big" declares 1001 bytes; gwfleet refuses entries above 1000 bytes')
    const total = zipOf(join(freshDir(), 'r.zip'), [['a', text(800)], ['b', text(800)]])
    expect((await zipError(entriesOf(total, limits))).message).toBe('the entries up to "b" declare 1.6 KiB in all; gwfleet refuses zips above 1.5 KiB uncompressed')
    const many = zipOf(join(freshDir(), 'r.zip'), [['a', 'a'], ['b', 'b'], ['c', 'c'], ['d', 'd']])
    expect((await zipError(entriesOf(many, limits))).message).toBe('the zip lists 4 entries; gwfleet reads at most 3')
    const long = zipOf(join(freshDir(), 'r.zip'), [[`${'n'.repeat(200)}1`, 'a'], [`${'n'.repeat(200)}2`, 'b']])
    expect((await zipError(entriesOf(long, limits))).message).toMatch(/^the zip's list of entries is \d+ bytes; gwfleet reads at most 400 bytes$/)
    for (const z of [one, total, many, long]) await expect(entriesOf(z)).resolves.toHaveLength(z === many ? 4 : z === one ? 1 : 2)
  })

  it('entries that share their data (how the smallest bombs multiply one stream) are refused', async () => {
    const zip = zipOf(join(freshDir(), 'r.zip'), [['deploy_gateway', INSTALLER], { name: 'copy', data: INSTALLER, sameDataAs: 'deploy_gateway' }])
    const err = await zipError(entriesOf(zip))
    expect(err).toBeInstanceOf(ZipLimitError)
    expect(err.message).toBe('entries "deploy_gateway" and "copy" overlap in the file (a zip bomb?)')
  })
})

describe('checkRelease (the whole zip, in bounded memory, before any host is touched)', () => {
  /** A release zip made by the zip CLI (deflated entries). */
  function goodZip(): string {
    return zipCli(join(freshDir(), 'apheris-gateway-1.5.0.zip'), {
      deploy_gateway: [INSTALLER, 0o755],
      'values.yaml': [VALUES, 0o644],
      'charts/agent.tgz': ['binary\0data'.repeat(2000), 0o644],
    })
  }
  /** Offset of the first byte of `name`'s data, from its local header. */
  function dataOffset(buf: Buffer, name: string): number {
    const sig = Buffer.from([0x50, 0x4b, 0x03, 0x04])
    for (let p = buf.indexOf(sig); p !== -1; p = buf.indexOf(sig, p + 4)) {
      const nameLen = buf.readUInt16LE(p + 26)
      const extraLen = buf.readUInt16LE(p + 28)
      if (buf.subarray(p + 30, p + 30 + nameLen).toString() === name) return p + 30 + nameLen + extraLen
    }
    throw new Error(`no entry ${name}`)
  }

  it('passes a complete release and keeps nothing (a later change to the file is seen)', async () => {
    const zip = goodZip()
    await expect(checkRelease(ref(zip))).resolves.toBeUndefined()
    writeFileSync(zip, 'garbage')
    const err = await inputError(checkRelease(ref(zip)))
    expect(err.location).toEqual({ file: zip })
    expect(err.message).toMatch(/not a zip file/)
  })

  it('a flipped byte in deflated data is bad input naming the file and the entry', async () => {
    const zip = goodZip()
    const buf = readFileSync(zip)
    buf[dataOffset(buf, 'charts/agent.tgz') + 5] ^= 0xff
    writeFileSync(zip, buf)
    const err = await inputError(checkRelease(ref(zip)))
    expect(err.location).toEqual({ file: zip })
    expect(err.message).toMatch(/charts\/agent\.tgz: (CRC mismatch|cannot inflate|size mismatch)/)
  })

  it('a flipped byte in a stored entry is a CRC mismatch', async () => {
    const zip = join(freshDir(), 'apheris-gateway-1.5.0.zip')
    writeZip(zip, [{ name: 'deploy_gateway', data: INSTALLER, method: 0 }])
    const buf = readFileSync(zip)
    buf[dataOffset(buf, 'deploy_gateway') + 3] ^= 0x01
    writeFileSync(zip, buf)
    const err = await inputError(checkRelease(ref(zip)))
    expect(err.message).toBe(`${zip}: cannot read release zip: deploy_gateway: CRC mismatch (corrupt data)`)
  })

  it('a truncated download is bad input, wherever it was cut', async () => {
    const whole = readFileSync(goodZip())
    for (const keep of [10, Math.floor(whole.length / 2), whole.length - 30, whole.length - 1]) {
      const zip = join(freshDir(), 'apheris-gateway-1.5.0.zip')
      writeFileSync(zip, whole.subarray(0, keep))
      const err = await inputError(checkRelease(ref(zip)))
      expect(err.location, `cut at ${keep}`).toEqual({ file: zip })
    }
  })

  it('a directory that claims less than the data inflates to is refused (no bomb)', async () => {
    const zip = goodZip()
    const buf = readFileSync(zip)
    // The central directory's uncompressed size of charts/agent.tgz, made smaller.
    let p = buf.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]))
    while (buf.subarray(p + 46, p + 46 + buf.readUInt16LE(p + 28)).toString() !== 'charts/agent.tgz') {
      p += 46 + buf.readUInt16LE(p + 28) + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32)
    }
    buf.writeUInt32LE(100, p + 24)
    writeFileSync(zip, buf)
    const err = await inputError(checkRelease(ref(zip)))
    expect(err.message).toMatch(/charts\/agent\.tgz: size mismatch/)
  })

  it('a release without deploy_gateway, with a link, or with an unsafe name is refused like readRelease does', async () => {
    const noInstaller = zipCli(join(freshDir(), 'apheris-gateway-1.5.0.zip'), { 'values.yaml': [VALUES, 0o644] })
    expect((await inputError(checkRelease(ref(noInstaller)))).message).toBe(`${noInstaller}: release zip holds no deploy_gateway`)
    const slip = zipOf(join(freshDir(), 'apheris-gateway-1.5.0.zip'), [['deploy_gateway', INSTALLER], ['../evil', 'x']])
    expect((await inputError(checkRelease(ref(slip)))).message).toMatch(/unsafe path "\.\.\/evil"/)
    const dir = freshDir()
    const linkZip = join(dir, 'apheris-gateway-1.5.0.zip')
    const src = freshDir()
    writeFileSync(join(src, 'deploy_gateway'), INSTALLER)
    symlinkSync('/etc/shadow', join(src, 'shadow'))
    execFileSync('/usr/bin/zip', ['-q', '-r', '-y', linkZip, '.'], { cwd: src })
    expect((await inputError(checkRelease(ref(linkZip)))).message).toMatch(/"shadow" is a symbolic link/)
  })

  it('what the check found is what the run uploads: no second pass over the zip', async () => {
    const zip = goodZip()
    await checkRelease(ref(zip))
    const content = await readRelease(ref(zip))
    expect(content.files.map((f) => f.path)).toEqual(['charts/agent.tgz', 'deploy_gateway', 'values.yaml'])
    expect((await bytesOf(content, byPath(content)['charts/agent.tgz']!)).toString()).toBe('binary\0data'.repeat(2000))
  })

  it('a zip changed after the check is not uploaded: the run names the zip and says to rerun', async () => {
    const zip = goodZip()
    const content = await readRelease(ref(zip))
    const f = byPath(content)['charts/agent.tgz']!
    // Same size, one byte flipped, a later time: the identity check sees it before a byte is sent.
    const buf = readFileSync(zip)
    buf[dataOffset(buf, 'charts/agent.tgz') + 5] ^= 0xff
    writeFileSync(zip, buf)
    utimesSync(zip, new Date(), new Date(Date.now() + 5000))
    const err = await bytesOf(content, f).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LocalError)
    expect((err as Error).message).toBe(`release zip ${zip} changed since it was checked at the start of the run; rerun to check it again`)

    // A change the identity check cannot see (same size, inode and time) is caught by the CRC on the way.
    buf[dataOffset(buf, 'charts/agent.tgz') + 5] ^= 0xff
    writeFileSync(zip, buf) // back to the good bytes
    utimesSync(zip, 1_000_000, 1_000_000)
    const same = await readRelease(ref(zip, '1.5.1'))
    const g = byPath(same)['charts/agent.tgz']!
    expect((await bytesOf(same, g)).toString()).toBe('binary\0data'.repeat(2000))
    buf[dataOffset(buf, 'charts/agent.tgz') + 5] ^= 0xff
    writeFileSync(zip, buf)
    utimesSync(zip, 1_000_000, 1_000_000)
    const crc = await bytesOf(same, g).catch((e: unknown) => e)
    expect(crc).toBeInstanceOf(LocalError)
    expect((crc as Error).message).toMatch(new RegExp(`^release zip ${zip.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} changed since it was checked at the start of the run \\(charts/agent\\.tgz: (CRC mismatch|cannot inflate|size mismatch)`))

    rmSync(zip)
    const gone = await bytesOf(content, f).catch((e: unknown) => e)
    expect((gone as Error).message).toBe(`release zip ${zip} has become unreadable since it was checked at the start of the run (no such file or directory); rerun to check it again`)
  })

  it('crc32 continues over chunks, with zlib and without', () => {
    const all = Buffer.from('123456789')
    for (const f of [crc32, portableCrc32]) {
      expect(f(all)).toBe(0xcbf43926)
      expect(f(all.subarray(4), f(all.subarray(0, 4)))).toBe(0xcbf43926)
    }
  })
})

describe('hopsToward (every zip a run may install on the way to a version)', () => {
  it('takes the highest patch of each series a way can pass, and the target', () => {
    const folder = ['1.2.0', '1.3.1', '1.3.4', '1.4.2', '1.5.0', '1.5.1', '1.6.0']
    // 1.2.0 is a hop from 1.1.x; 1.3.1 never is (1.3.4 is the highest of its series), nor 1.5.0 on the way to 1.6.0.
    expect(hopsToward('1.5.0', folder)).toEqual(['1.2.0', '1.3.4', '1.4.2', '1.5.0'])
    expect(hopsToward('1.6.0', folder)).toEqual(['1.2.0', '1.3.4', '1.4.2', '1.5.1', '1.6.0'])
    expect(hopsToward('1.3.1', folder)).toEqual(['1.2.0', '1.3.1'])
  })

  it('leaves out what the policy never passes: series behind a gap, minors of an older major', () => {
    expect(hopsToward('1.5.0', ['1.2.0', '1.4.0', '1.5.0'])).toEqual(['1.4.0', '1.5.0'])
    // From 1.x the way to 2.2 jumps to 2.0: 1.4.3 is never installed on the way.
    expect(hopsToward('2.2.0', ['1.3.9', '1.4.3', '2.0.1', '2.1.0', '2.2.0'])).toEqual(['2.0.1', '2.1.0', '2.2.0'])
    expect(hopsToward('3.1.0', ['1.0.0', '1.2.0', '2.0.0', '3.0.0', '3.1.0'])).toEqual(['1.0.0', '2.0.0', '3.0.0', '3.1.0'])
  })

  it('is exactly the union of planHops over every installed version', () => {
    // Pseudo-random folders (a fixed LCG, so a failure reproduces) against a brute force over installed versions.
    let seed = 12345
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n)
    const all: string[] = []
    for (let ma = 0; ma <= 2; ma++) for (let mi = 0; mi <= 3; mi++) for (let pa = 0; pa <= 1; pa++) all.push(`${ma}.${mi}.${pa}`)
    const installedChoices: (string | null)[] = [null]
    for (let ma = 0; ma <= 3; ma++) for (let mi = 0; mi <= 4; mi++) for (let pa = 0; pa <= 2; pa++) installedChoices.push(`${ma}.${mi}.${pa}`)
    for (let round = 0; round < 300; round++) {
      const folder = all.filter(() => rnd(3) > 0)
      if (!folder.length) continue
      const target = folder[rnd(folder.length)]!
      const expected = new Set<string>()
      for (const inst of installedChoices) {
        const p = planHops(inst, target, folder)
        if (p.kind === 'install' || p.kind === 'upgrade') for (const h of p.hops) expected.add(h)
      }
      expect(hopsToward(target, folder), `${target} from [${folder.join(' ')}]`).toEqual([...expected].sort(compareVersions))
    }
  })

  it('a target that is not a release version needs nothing', () => {
    expect(hopsToward('1.5', ['1.5.0'])).toEqual([])
  })
})
