import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { strToU8, zipSync, type Zippable } from 'fflate'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'

import { InputError } from '../../src/errors.js'
import { hopsToward, planHops } from '../../src/release/policy.js'
import { checkRelease, clearReleaseCache, findRelease, listReleases, readRelease } from '../../src/release/releases.js'
import { compareVersions } from '../../src/release/version.js'
import { crc32, portableCrc32, readZip, verifyZipFile } from '../../src/release/zip.js'
import type { ReleaseContent, ReleaseRef } from '../../src/types.js'

const tmp = mkdtempSync(join(tmpdir(), 'gwfleet-release-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
beforeEach(() => clearReleaseCache())

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

/** Builds a zip with fflate (names verbatim, so unsafe names are possible). */
function zipFflate(out: string, files: Zippable): string {
  writeFileSync(out, zipSync(files))
  return out
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
    expect(got).toEqual({
      version: '1.5.0',
      files: [
        { path: 'charts/agent.tgz', data: Buffer.from('binary\0data'), mode: 0o644, sha256: sha('binary\0data') },
        { path: 'deploy_gateway', data: Buffer.from(INSTALLER), mode: 0o755, sha256: sha(INSTALLER) },
        { path: 'scripts/helper.sh', data: Buffer.from('#!/bin/sh\n'), mode: 0o755, sha256: sha('#!/bin/sh\n') },
        { path: 'values.yaml', data: Buffer.from(VALUES), mode: 0o644, sha256: sha(VALUES) },
      ],
    })
    for (const f of got.files) expect(Buffer.isBuffer(f.data)).toBe(true)
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
    const zip = zipFflate(join(freshDir(), 'r.zip'), {
      'release/deploy_gateway': strToU8(INSTALLER),
      'release/tools/deploy_gateway': strToU8('nested copy'),
      'release/values.yaml': strToU8(VALUES),
      'NOTES.txt': strToU8('outside'),
    })
    const got = await readRelease(ref(zip))
    expect(got.files.map((f) => f.path)).toEqual(['deploy_gateway', 'tools/deploy_gateway', 'values.yaml'])
  })

  it('two installers at the same depth are ambiguous', async () => {
    const zip = zipFflate(join(freshDir(), 'r.zip'), {
      'a/deploy_gateway': strToU8(INSTALLER),
      'b/deploy_gateway': strToU8(INSTALLER),
    })
    const err = await inputError(readRelease(ref(zip)))
    expect(err.message).toContain('more than one deploy_gateway')
  })

  it('without unix attributes: deploy_gateway 0755, everything else 0644', async () => {
    const zip = zipFflate(join(freshDir(), 'r.zip'), {
      'apheris-gateway-1.5.0': {
        deploy_gateway: strToU8(INSTALLER),
        'values.yaml': [strToU8(VALUES), { level: 9 }],
        'run.sh': strToU8('#!/bin/sh\n'),
      },
    })
    const got = await readRelease(ref(zip))
    expect(got.files.map((f) => [f.path, f.mode])).toEqual([
      ['deploy_gateway', 0o755],
      ['run.sh', 0o644],
      ['values.yaml', 0o644],
    ])
    expect(byPath(got)['values.yaml']!.data.toString()).toBe(VALUES)
  })

  it('unix mode bits: executables become 0755, the rest 0644, deploy_gateway always 0755', async () => {
    const unix = (data: string, mode: number): [Uint8Array, { os: number; attrs: number }] => [
      strToU8(data),
      { os: 3, attrs: ((0o100000 | mode) << 16) >>> 0 },
    ]
    const zip = zipFflate(join(freshDir(), 'r.zip'), {
      deploy_gateway: unix(INSTALLER, 0o644),
      'values.yaml': unix(VALUES, 0o600),
      'world.sh': unix('x', 0o777),
      'owner-exec': unix('x', 0o700),
      'plain': unix('x', 0o664),
    })
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
    const zip = zipFflate(join(freshDir(), 'r.zip'), { 'deploy_gateway/': {}, 'values.yaml': strToU8(VALUES) })
    await inputError(readRelease(ref(zip)))
  })

  it.each([
    ['../evil', '../evil'],
    ['dir/../../evil', 'dir/../../evil'],
    ['/etc/cron.d/evil', '/etc/cron.d/evil'],
    ['C:/evil', 'C:/evil'],
    ['..\\evil', '..\\evil'],
  ])('zip-slip entry %s is refused', async (name) => {
    const zip = zipFflate(join(freshDir(), 'r.zip'), { deploy_gateway: strToU8(INSTALLER), [name]: strToU8('x') })
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
    expect(got.files).toEqual([{ path: 'deploy_gateway', data: Buffer.from(INSTALLER), mode: 0o755, sha256: sha(INSTALLER) }])
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

    clearReleaseCache()
    await inputError(readRelease(ref(zip)))
  })
})

describe('readZip', () => {
  it('reports unix modes and directories from a zip CLI archive', () => {
    const zip = zipCli(join(freshDir(), 'r.zip'), { 'd/x': ['x', 0o640] })
    const entries = readZip(readFileSync(zip))
    const d = entries.find((e) => e.name === 'd/')!
    const x = entries.find((e) => e.name === 'd/x')!
    expect(d.isDirectory).toBe(true)
    expect(x.isDirectory).toBe(false)
    expect(x.unixMode).toBe(0o100640)
    expect(Buffer.from(x.data).toString()).toBe('x')
  })

  it('crc32 matches the standard check value', () => {
    expect(crc32(strToU8('123456789'))).toBe(0xcbf43926)
  })

  it('follows zip64 extra fields when the 32-bit slots are saturated', () => {
    const name = Buffer.from('deploy_gateway')
    const data = Buffer.from(INSTALLER)
    const crc = crc32(data)
    const u16 = (v: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b }
    const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b }
    const u64 = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b }
    const FF = 0xffffffff
    const local = Buffer.concat([
      u32(0x04034b50), u16(45), u16(0), u16(0), u16(0), u16(0), u32(crc), u32(FF), u32(FF),
      u16(name.length), u16(20), name, u16(1), u16(16), u64(data.length), u64(data.length), data,
    ])
    const central = Buffer.concat([
      u32(0x02014b50), u16((3 << 8) | 45), u16(45), u16(0), u16(0), u16(0), u16(0), u32(crc), u32(FF), u32(FF),
      u16(name.length), u16(28), u16(0), u16(0), u16(0), u32((0o100700 << 16) >>> 0), u32(FF),
      name, u16(1), u16(24), u64(data.length), u64(data.length), u64(0),
    ])
    const cdOffset = local.length
    const eocd64At = cdOffset + central.length
    const tail = Buffer.concat([
      u32(0x06064b50), u64(44), u16(45), u16(45), u32(0), u32(0), u64(1), u64(1), u64(central.length), u64(cdOffset),
      u32(0x07064b50), u32(0), u64(eocd64At), u32(1),
      u32(0x06054b50), u16(0), u16(0), u16(0xffff), u16(0xffff), u32(FF), u32(FF), u16(0),
    ])
    const entries = readZip(Buffer.concat([local, central, tail]))
    expect(entries).toHaveLength(1)
    expect(entries[0]!.name).toBe('deploy_gateway')
    expect(entries[0]!.unixMode).toBe(0o100700)
    expect(Buffer.from(entries[0]!.data).toString()).toBe(INSTALLER)
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
    writeFileSync(zip, zipSync({ deploy_gateway: [strToU8(INSTALLER), { level: 0 }] }))
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
    const slip = zipFflate(join(freshDir(), 'apheris-gateway-1.5.0.zip'), { deploy_gateway: strToU8(INSTALLER), '../evil': strToU8('x') })
    expect((await inputError(checkRelease(ref(slip)))).message).toMatch(/unsafe path "\.\.\/evil"/)
    const dir = freshDir()
    const linkZip = join(dir, 'apheris-gateway-1.5.0.zip')
    const src = freshDir()
    writeFileSync(join(src, 'deploy_gateway'), INSTALLER)
    symlinkSync('/etc/shadow', join(src, 'shadow'))
    execFileSync('/usr/bin/zip', ['-q', '-r', '-y', linkZip, '.'], { cwd: src })
    expect((await inputError(checkRelease(ref(linkZip)))).message).toMatch(/"shadow" is a symbolic link/)
  })

  it('verifyZipFile sees the same entries as readZip', () => {
    const zip = goodZip()
    expect(verifyZipFile(zip).map((e) => e.name).sort()).toEqual(readZip(readFileSync(zip)).map((e) => e.name).sort())
  })

  it('crc32 continues over chunks, with zlib and without', () => {
    const all = strToU8('123456789')
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
