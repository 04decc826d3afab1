// A small zip reader over fflate's inflate: fflate's unzip does not expose the entries' unix mode bits or check CRCs.
// A zip in memory is read whole; a zip on disk can be checked entry by entry in bounded memory.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import * as zlib from 'node:zlib'

import { Inflate, inflateSync, strFromU8 } from 'fflate'

/** One entry of a zip's central directory, with its bytes. */
export interface ZipEntry {
  name: string               // as stored: '/'-separated, directories end in '/'
  isDirectory: boolean
  /** Unix st_mode from the external attributes when the zip was made on unix, else undefined. */
  unixMode?: number
  data: Uint8Array           // empty for directories
}

/** Why a zip could not be read; the caller words it for the operator. */
export class ZipFormatError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ZipFormatError'
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

/** An entry's place and checks as the central directory records them. */
interface DirEntry {
  name: string
  isDirectory: boolean
  unixMode?: number
  method: number
  crc: number
  compSize: number
  size: number
  localOffset: number
}

/** Where a zip's bytes come from: the whole file in memory, or positioned reads of a file on disk. */
interface ByteSource {
  readonly length: number
  /** `n` bytes at `at`; a range past the end is a truncated zip. */
  slice(at: number, n: number): Uint8Array
}

function checkRange(length: number, at: number, n: number): void {
  if (!Number.isSafeInteger(at) || !Number.isSafeInteger(n) || at < 0 || n < 0 || at + n > length) throw new ZipFormatError('truncated zip')
}

function memorySource(buf: Uint8Array): ByteSource {
  return {
    length: buf.length,
    slice(at, n) {
      checkRange(buf.length, at, n)
      return buf.subarray(at, at + n)
    },
  }
}

function fileSource(fd: number, length: number): ByteSource {
  return {
    length,
    slice(at, n) {
      checkRange(length, at, n)
      const out = Buffer.allocUnsafe(n)
      for (let got = 0; got < n; ) {
        const r = readSync(fd, out, got, n - got, at + got)
        if (r === 0) throw new ZipFormatError('truncated zip (the file shrank while it was read)')
        got += r
      }
      return out
    },
  }
}

/** Reads every entry of a zip held in memory; throws ZipFormatError on anything malformed, encrypted or unsupported. */
export function readZip(buf: Uint8Array): ZipEntry[] {
  const src = memorySource(buf)
  return readDirectory(src).map((e) => ({
    name: e.name,
    isDirectory: e.isDirectory,
    unixMode: e.unixMode,
    data: e.isDirectory ? new Uint8Array(0) : extract(src, e),
  }))
}

/**
 * Checks every entry of the zip file at `path` (CRC, size, compression) without holding the file
 * or any whole entry in memory: data is read and inflated in chunks and dropped. Returns the
 * entries without their bytes; throws ZipFormatError like readZip.
 */
export function verifyZipFile(path: string): Omit<ZipEntry, 'data'>[] {
  const fd = openSync(path, 'r')
  try {
    const src = fileSource(fd, fstatSync(fd).size)
    const entries = readDirectory(src)
    for (const e of entries) if (!e.isDirectory) verifyEntry(src, e)
    return entries.map((e) => ({name: e.name, isDirectory: e.isDirectory, unixMode: e.unixMode}))
  } finally {
    closeSync(fd)
  }
}

function readDirectory(src: ByteSource): DirEntry[] {
  // The end record sits in the last 22 bytes plus a comment of up to 64 KiB; the zip64 locator just before it.
  const tailLen = Math.min(src.length, 22 + U16_MAX + 20)
  const tail = new Reader(src.slice(src.length - tailLen, tailLen), src.length - tailLen)
  const eocd = findEocd(tail, src.length)
  let entryCount = tail.u16(eocd + 10)
  let cdSize = tail.u32(eocd + 12)
  let cdOffset = tail.u32(eocd + 16)

  const needs64 = entryCount === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX
  if (eocd - 20 >= tail.base && tail.u32(eocd - 20) === SIG_EOCD64_LOCATOR) {
    const at = tail.u64(eocd - 20 + 8)
    const z = new Reader(src.slice(at, 56), at)
    if (z.u32(at) !== SIG_EOCD64) throw new ZipFormatError('bad zip64 end of central directory')
    entryCount = z.u64(at + 32)
    cdSize = z.u64(at + 40)
    cdOffset = z.u64(at + 48)
  } else if (needs64) {
    throw new ZipFormatError('zip64 end of central directory missing')
  }
  if (cdOffset + cdSize > src.length) throw new ZipFormatError('central directory lies outside the file')

  const d = new Reader(src.slice(cdOffset, cdSize), cdOffset)
  const entries: DirEntry[] = []
  let p = cdOffset
  for (let i = 0; i < entryCount; i++) {
    if (d.u32(p) !== SIG_CENTRAL) throw new ZipFormatError(`bad central directory entry #${i + 1}`)
    const madeBy = d.u16(p + 4) >> 8
    const flags = d.u16(p + 8)
    const method = d.u16(p + 10)
    const crc = d.u32(p + 16)
    let compSize = d.u32(p + 20)
    let size = d.u32(p + 24)
    const nameLen = d.u16(p + 28)
    const extraLen = d.u16(p + 30)
    const commentLen = d.u16(p + 32)
    const external = d.u32(p + 38)
    let localOffset = d.u32(p + 42)
    const nameBytes = d.bytes(p + 46, nameLen)
    // Bit 11: UTF-8 name; otherwise treat as latin1 (CP437 in theory; release names are ASCII).
    const name = strFromU8(nameBytes, !(flags & 0x800))

    // Zip64 extended information: only the fields whose 32-bit slot is saturated are present, in this order.
    const extraStart = p + 46 + nameLen
    for (let e = extraStart; e + 4 <= extraStart + extraLen; ) {
      const id = d.u16(e)
      const len = d.u16(e + 2)
      if (id === 0x0001) {
        let q = e + 4
        if (size === U32_MAX) { size = d.u64(q); q += 8 }
        if (compSize === U32_MAX) { compSize = d.u64(q); q += 8 }
        if (localOffset === U32_MAX) { localOffset = d.u64(q); q += 8 }
      }
      e += 4 + len
    }
    p = extraStart + extraLen + commentLen

    if (flags & 0x1) throw new ZipFormatError(`${name}: encrypted entries are not supported`)
    if (method !== 0 && method !== 8) throw new ZipFormatError(`${name}: unsupported compression method ${method}`)
    const isDirectory = name.endsWith('/')
    const unixMode = madeBy === MADE_BY_UNIX || madeBy === MADE_BY_MACOS ? external >>> 16 || undefined : undefined
    entries.push({name, isDirectory, unixMode, method, crc, compSize, size, localOffset})
  }
  return entries
}

// Where an entry's data starts: after its local header, whose name and extra lengths may differ from the central ones.
function dataStart(src: ByteSource, e: DirEntry): number {
  const h = new Reader(src.slice(e.localOffset, 30), e.localOffset)
  if (h.u32(e.localOffset) !== SIG_LOCAL) throw new ZipFormatError(`${e.name}: bad local header`)
  return e.localOffset + 30 + h.u16(e.localOffset + 26) + h.u16(e.localOffset + 28)
}

function extract(src: ByteSource, e: DirEntry): Uint8Array {
  const raw = src.slice(dataStart(src, e), e.compSize)
  let data: Uint8Array
  if (e.method === 0) data = raw.slice()
  else {
    try {
      data = inflateSync(raw, {out: new Uint8Array(e.size)})
    } catch (err) {
      throw new ZipFormatError(`${e.name}: cannot inflate (${(err as Error).message})`)
    }
  }
  if (data.length !== e.size) throw new ZipFormatError(`${e.name}: size mismatch`)
  if (crc32(data) !== e.crc) throw new ZipFormatError(`${e.name}: CRC mismatch (corrupt data)`)
  return data
}

// Chunk of compressed data read at a time when checking a zip on disk.
const CHUNK = 1 << 20

function verifyEntry(src: ByteSource, e: DirEntry): void {
  let crc = 0
  let produced = 0
  const take = (chunk: Uint8Array): void => {
    produced += chunk.length
    // More than the directory promised: corrupt (or a bomb); stop before inflating any further.
    if (produced > e.size) throw new ZipFormatError(`${e.name}: size mismatch`)
    crc = crc32(chunk, crc)
  }
  const start = dataStart(src, e)
  const inflater = e.method === 8 ? new Inflate((chunk) => take(chunk)) : undefined
  // At least one push, so an empty deflate stream is still checked for its end.
  let off = 0
  do {
    const n = Math.min(CHUNK, e.compSize - off)
    const chunk = src.slice(start + off, n)
    off += n
    if (!inflater) take(chunk)
    else {
      try {
        inflater.push(chunk, off >= e.compSize)
      } catch (err) {
        if (err instanceof ZipFormatError) throw err
        throw new ZipFormatError(`${e.name}: cannot inflate (${(err as Error).message})`)
      }
    }
  } while (off < e.compSize)
  if (produced !== e.size) throw new ZipFormatError(`${e.name}: size mismatch`)
  if (crc !== e.crc) throw new ZipFormatError(`${e.name}: CRC mismatch (corrupt data)`)
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
const nativeCrc32 = (zlib as {crc32?: (data: Uint8Array, value?: number) => number}).crc32

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
