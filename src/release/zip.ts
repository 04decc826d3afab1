// A streaming zip reader over node's zlib. The central directory is read whole (it is small and
// bounded); an entry's data is read from the file, inflated and checked (size and CRC-32) as it
// streams, so memory stays flat whatever the zip's size. Zip bombs are refused from the directory,
// before anything is inflated, and an entry that inflates past the size it declares is stopped there.

import type { FileHandle } from 'node:fs/promises'
import { Readable, Transform, type TransformCallback } from 'node:stream'
import * as zlib from 'node:zlib'

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

/**
 * What a zip may hold before it is refused as a zip bomb (docs/security.md). A real release holds
 * container images of several hundred MB, already compressed (about 1:1) or tar (a few to 1), and
 * text (YAML, scripts: tens to 1); deflate's own maximum is about 1032 to 1.
 */
export const ZIP_LIMITS: Readonly<ZipLimits> = {
  entryBytes: 8 * GiB,
  totalBytes: 16 * GiB,
  ratio: 200,
  ratioFromBytes: 8 * MiB,
  entries: 100_000,
  directoryBytes: 64 * MiB,
}

export interface ZipLimits {
  /** Largest declared (uncompressed) size of one entry. */
  entryBytes: number
  /** Largest sum of the declared sizes of every entry. */
  totalBytes: number
  /** Largest uncompressed:compressed ratio of one entry ... */
  ratio: number
  /** ... checked for entries that declare more than this (small files may compress better). */
  ratioFromBytes: number
  /** Most entries in one zip. */
  entries: number
  /** Largest central directory (the list of entries, read whole). */
  directoryBytes: number
}

/** One entry of a zip: as its central directory records it, and where its data lies in the file. */
export interface ZipEntry {
  name: string               // as stored: '/'-separated, directories end in '/'
  isDirectory: boolean
  /** Unix st_mode from the external attributes when the zip was made on unix, else undefined. */
  unixMode?: number
  /** 0 stored, 8 deflated. */
  method: 0 | 8
  crc: number
  compressedSize: number
  /** Uncompressed size: what the entry must inflate to, exactly. */
  size: number
  /** Where the compressed data starts in the file (after the local header); 0 for directories. */
  dataOffset: number
}

/** Why a zip could not be read; the caller words it for the operator. */
export class ZipFormatError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ZipFormatError'
  }
}

/** A zip refused by ZIP_LIMITS (a zip bomb, or far past any real release). */
export class ZipLimitError extends ZipFormatError {
  constructor(message: string) {
    super(message)
    this.name = 'ZipLimitError'
  }
}

const SIG_EOCD = 0x06054b50
const SIG_EOCD64_LOCATOR = 0x07064b50
const SIG_EOCD64 = 0x06064b50
const SIG_CENTRAL = 0x02014b50
const SIG_LOCAL = 0x04034b50
const U32_MAX = 0xffffffff
const U16_MAX = 0xffff
const MADE_BY_UNIX = 3
const MADE_BY_MACOS = 19 // OS X: same st_mode layout as unix

/** Bytes read from the file (and inflated) at a time when an entry streams: every host's upload holds a few. */
const READ_CHUNK = 32 * KiB

/** `n` bytes at `at` of an open file; a range past the end is a truncated zip. */
async function readAt(fh: FileHandle, length: number, at: number, n: number): Promise<Uint8Array> {
  if (!Number.isSafeInteger(at) || !Number.isSafeInteger(n) || at < 0 || n < 0 || at + n > length) throw new ZipFormatError('truncated zip')
  const out = Buffer.allocUnsafe(n)
  for (let got = 0; got < n; ) {
    const { bytesRead } = await fh.read(out, got, n - got, at + got)
    if (bytesRead === 0) throw new ZipFormatError('truncated zip (the file shrank while it was read)')
    got += bytesRead
  }
  return out
}

function formatSize(bytes: number): string {
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(1)} GiB`
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(1)} MiB`
  if (bytes >= KiB) return `${(bytes / KiB).toFixed(1)} KiB`
  return `${bytes} bytes`
}

/**
 * Reads a zip's central directory and every file entry's local header from an open file of
 * `length` bytes, checking its structure and `limits` without inflating anything. Throws
 * ZipFormatError on anything malformed, encrypted or unsupported, ZipLimitError past a limit.
 */
export async function readZipDirectory(fh: FileHandle, length: number, limits: Readonly<ZipLimits> = ZIP_LIMITS): Promise<ZipEntry[]> {
  // The end record sits in the last 22 bytes plus a comment of up to 64 KiB; the zip64 locator just before it.
  const tailLen = Math.min(length, 22 + U16_MAX + 20)
  const tail = new Reader(await readAt(fh, length, length - tailLen, tailLen), length - tailLen)
  const eocd = findEocd(tail, length)
  let entryCount = tail.u16(eocd + 10)
  let cdSize = tail.u32(eocd + 12)
  let cdOffset = tail.u32(eocd + 16)

  const needs64 = entryCount === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX
  if (eocd - 20 >= tail.base && tail.u32(eocd - 20) === SIG_EOCD64_LOCATOR) {
    const at = tail.u64(eocd - 20 + 8)
    const z = new Reader(await readAt(fh, length, at, 56), at)
    if (z.u32(at) !== SIG_EOCD64) throw new ZipFormatError('bad zip64 end of central directory')
    entryCount = z.u64(at + 32)
    cdSize = z.u64(at + 40)
    cdOffset = z.u64(at + 48)
  } else if (needs64) {
    throw new ZipFormatError('zip64 end of central directory missing')
  }
  if (entryCount > limits.entries) throw new ZipLimitError(`the zip lists ${entryCount} entries; gwfleet reads at most ${limits.entries}`)
  if (cdSize > limits.directoryBytes) throw new ZipLimitError(`the zip's list of entries is ${formatSize(cdSize)}; gwfleet reads at most ${formatSize(limits.directoryBytes)}`)
  if (cdOffset + cdSize > length) throw new ZipFormatError('central directory lies outside the file')

  const d = new Reader(await readAt(fh, length, cdOffset, cdSize), cdOffset)
  const entries: (ZipEntry & { localOffset: number })[] = []
  let total = 0
  let p = cdOffset
  for (let i = 0; i < entryCount; i++) {
    if (d.u32(p) !== SIG_CENTRAL) throw new ZipFormatError(`bad central directory entry #${i + 1}`)
    const madeBy = d.u16(p + 4) >> 8
    const flags = d.u16(p + 8)
    const method = d.u16(p + 10)
    const crc = d.u32(p + 16)
    let compressedSize = d.u32(p + 20)
    let size = d.u32(p + 24)
    const nameLen = d.u16(p + 28)
    const extraLen = d.u16(p + 30)
    const commentLen = d.u16(p + 32)
    const external = d.u32(p + 38)
    let localOffset = d.u32(p + 42)
    // Bit 11: UTF-8 name; otherwise latin1 (CP437 in theory; release names are ASCII).
    const name = Buffer.from(d.bytes(p + 46, nameLen)).toString(flags & 0x800 ? 'utf8' : 'latin1')

    // Zip64 extended information: only the fields whose 32-bit slot is saturated are present, in this order.
    const extraStart = p + 46 + nameLen
    for (let e = extraStart; e + 4 <= extraStart + extraLen; ) {
      const id = d.u16(e)
      const len = d.u16(e + 2)
      if (id === 0x0001) {
        let q = e + 4
        if (size === U32_MAX) { size = d.u64(q); q += 8 }
        if (compressedSize === U32_MAX) { compressedSize = d.u64(q); q += 8 }
        if (localOffset === U32_MAX) { localOffset = d.u64(q); q += 8 }
      }
      e += 4 + len
    }
    p = extraStart + extraLen + commentLen

    if (flags & 0x1) throw new ZipFormatError(`${name}: encrypted entries are not supported`)
    if (method !== 0 && method !== 8) throw new ZipFormatError(`${name}: unsupported compression method ${method}`)
    if (method === 0 && compressedSize !== size) throw new ZipFormatError(`${name}: size mismatch (a stored entry of ${size} bytes takes ${compressedSize})`)
    checkLimits(limits, name, size, compressedSize, (total += size))
    const isDirectory = name.endsWith('/')
    const unixMode = madeBy === MADE_BY_UNIX || madeBy === MADE_BY_MACOS ? external >>> 16 || undefined : undefined
    entries.push({ name, isDirectory, unixMode, method, crc, compressedSize, size, localOffset, dataOffset: 0 })
  }

  // Where each file's data starts: after its local header, whose name and extra lengths may differ from the central ones.
  for (const e of entries) {
    if (e.isDirectory) continue
    const h = new Reader(await readAt(fh, length, e.localOffset, 30), e.localOffset)
    if (h.u32(e.localOffset) !== SIG_LOCAL) throw new ZipFormatError(`${e.name}: bad local header`)
    e.dataOffset = e.localOffset + 30 + h.u16(e.localOffset + 26) + h.u16(e.localOffset + 28)
    if (e.dataOffset + e.compressedSize > cdOffset) throw new ZipFormatError(`${e.name}: data runs past the end of the entries (truncated zip)`)
  }
  // Entries sharing their data are how the smallest zip bombs multiply one deflate stream; no real zip does it.
  const files = entries.filter((e) => !e.isDirectory).sort((a, b) => a.localOffset - b.localOffset)
  for (let i = 1; i < files.length; i++) {
    const prev = files[i - 1]!
    if (prev.dataOffset + prev.compressedSize > files[i]!.localOffset) throw new ZipLimitError(`entries "${prev.name}" and "${files[i]!.name}" overlap in the file (a zip bomb?)`)
  }
  return entries.map(({ localOffset: _, ...e }) => e)
}

// A bomb is refused from what the directory declares; a lying directory is caught while inflating (EntryCheck).
function checkLimits(L: Readonly<ZipLimits>, name: string, size: number, compressedSize: number, total: number): void {
  if (size > L.entryBytes) throw new ZipLimitError(`entry "${name}" declares ${formatSize(size)}; gwfleet refuses entries above ${formatSize(L.entryBytes)}`)
  if (size > L.ratioFromBytes && size > compressedSize * L.ratio) {
    const ratio = compressedSize > 0 ? `${Math.round(size / compressedSize)}:1` : 'from nothing'
    throw new ZipLimitError(
      `entry "${name}" would inflate to ${formatSize(size)} from ${formatSize(compressedSize)} (${ratio}); gwfleet refuses entries above ${formatSize(L.ratioFromBytes)} that inflate more than ${L.ratio}:1 (a zip bomb?)`,
    )
  }
  if (total > L.totalBytes) throw new ZipLimitError(`the entries up to "${name}" declare ${formatSize(total)} in all; gwfleet refuses zips above ${formatSize(L.totalBytes)} uncompressed`)
}

/**
 * The entry's uncompressed bytes as a stream, read from `fd` (an open file, which the caller closes
 * once the stream has closed) and checked as they come: the stream fails with a ZipFormatError when the data
 * inflates past the entry's size (stopping there), ends short, is not valid deflate, or its CRC-32
 * differs. Stored entries stream as they are in the file.
 */
export function entryStream(fd: FileHandle, e: ZipEntry): Readable {
  const check = new EntryCheck(e)
  const raw = rangeStream(fd, e.dataOffset, e.compressedSize)
  const inflater = e.method === 8 ? zlib.createInflateRaw({ chunkSize: READ_CHUNK }) : undefined
  const fail = (err: NodeJS.ErrnoException): void => {
    if (!(err instanceof ZipFormatError) && err.code?.startsWith('Z_')) check.destroy(new ZipFormatError(`${e.name}: cannot inflate (${err.message})`))
    else check.destroy(err)
  }
  raw.on('error', fail)
  inflater?.on('error', fail)
  // Whoever stops reading (or a failed check) stops the reading and the inflating behind it.
  check.on('close', () => {
    raw.destroy()
    inflater?.destroy()
  })
  if (inflater) raw.pipe(inflater).pipe(check)
  else raw.pipe(check)
  return check
}

/** `length` bytes of an open file from `start`, read in chunks as they are wanted (the file is not closed). */
function rangeStream(fh: FileHandle, start: number, length: number): Readable {
  let pos = start
  const end = start + length
  return new Readable({
    highWaterMark: READ_CHUNK,
    read() {
      const n = Math.min(READ_CHUNK, end - pos)
      if (n <= 0) {
        this.push(null)
        return
      }
      fh.read(Buffer.allocUnsafe(n), 0, n, pos).then(
        ({ bytesRead, buffer }) => {
          if (this.destroyed) return
          if (bytesRead === 0) return void this.destroy(new ZipFormatError('truncated zip (the file shrank while it was read)'))
          pos += bytesRead
          this.push(bytesRead < n ? buffer.subarray(0, bytesRead) : buffer)
        },
        (err: Error) => this.destroy(err),
      )
    },
  })
}

/** Counts and CRCs an entry's bytes as they pass; fails the moment they run past the declared size. */
class EntryCheck extends Transform {
  private produced = 0
  private crc = 0
  constructor(private readonly e: ZipEntry) {
    super()
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.produced += chunk.length
    if (this.produced > this.e.size)
      return cb(new ZipFormatError(`${this.e.name}: size mismatch (the data inflates past the ${this.e.size} bytes the zip declares for it: a lying header or a zip bomb; stopped there)`))
    this.crc = crc32(chunk, this.crc)
    cb(null, chunk)
  }
  override _flush(cb: TransformCallback): void {
    if (this.produced !== this.e.size) return cb(new ZipFormatError(`${this.e.name}: size mismatch (${this.produced} bytes, the zip declares ${this.e.size}; truncated?)`))
    if (this.crc !== this.e.crc) return cb(new ZipFormatError(`${this.e.name}: CRC mismatch (corrupt data)`))
    cb()
  }
}

function findEocd(d: Reader, total: number): number {
  const min = Math.max(0, total - 22 - U16_MAX)
  for (let e = total - 22; e >= min; e--) {
    if (d.u32(e) === SIG_EOCD && e + 22 + d.u16(e + 20) <= total) return e
  }
  throw new ZipFormatError('not a zip file (no end of central directory record)')
}

// Bounds-checked little-endian reads at absolute file positions over bytes that start at `base`:
// a truncated or lying zip throws ZipFormatError, never reads garbage.
class Reader {
  private readonly view: DataView
  constructor(private readonly buf: Uint8Array, readonly base = 0) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }
  private check(at: number, n: number): number {
    const rel = at - this.base
    if (!Number.isSafeInteger(rel) || rel < 0 || rel + n > this.buf.length) throw new ZipFormatError('truncated zip')
    return rel
  }
  u16(at: number): number {
    return this.view.getUint16(this.check(at, 2), true)
  }
  u32(at: number): number {
    return this.view.getUint32(this.check(at, 4), true)
  }
  u64(at: number): number {
    const v = this.view.getBigUint64(this.check(at, 8), true)
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError('zip64 value out of range')
    return Number(v)
  }
  bytes(at: number, n: number): Uint8Array {
    const rel = this.check(at, n)
    return this.buf.subarray(rel, rel + n)
  }
}

let crcTable: Uint32Array | undefined

// Node's own CRC-32 (zlib, from 20.15) is many times faster than a table loop on release-sized data.
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32

/** CRC-32 (IEEE) as zip stores it; pass the previous result as `prev` to continue over the next chunk. */
export function crc32(data: Uint8Array, prev = 0): number {
  return nativeCrc32 ? nativeCrc32(data, prev) >>> 0 : portableCrc32(data, prev)
}

/** crc32 without zlib's (Node before 20.15). */
export function portableCrc32(data: Uint8Array, prev = 0): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      crcTable[n] = c >>> 0
    }
  }
  let c = (prev ^ 0xffffffff) >>> 0
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}
