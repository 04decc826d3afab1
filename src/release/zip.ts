// A small zip reader over fflate's inflate: fflate's unzip does not expose the entries' unix mode bits or check CRCs.

import { inflateSync, strFromU8 } from 'fflate'

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

/** Reads every entry of a zip held in memory; throws ZipFormatError on anything malformed, encrypted or unsupported. */
export function readZip(buf: Uint8Array): ZipEntry[] {
  const d = new Reader(buf)
  const eocd = findEocd(d)
  let entryCount = d.u16(eocd + 10)
  let cdSize = d.u32(eocd + 12)
  let cdOffset = d.u32(eocd + 16)

  const needs64 = entryCount === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX
  if (eocd >= 20 && d.u32(eocd - 20) === SIG_EOCD64_LOCATOR) {
    const at = d.u64(eocd - 20 + 8)
    if (d.u32(at) !== SIG_EOCD64) throw new ZipFormatError('bad zip64 end of central directory')
    entryCount = d.u64(at + 32)
    cdSize = d.u64(at + 40)
    cdOffset = d.u64(at + 48)
  } else if (needs64) {
    throw new ZipFormatError('zip64 end of central directory missing')
  }
  if (cdOffset + cdSize > buf.length) throw new ZipFormatError('central directory lies outside the file')

  const entries: ZipEntry[] = []
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
    const isDirectory = name.endsWith('/')
    const unixMode = madeBy === MADE_BY_UNIX || madeBy === MADE_BY_MACOS ? external >>> 16 || undefined : undefined

    let data: Uint8Array = new Uint8Array(0)
    if (!isDirectory) {
      if (d.u32(localOffset) !== SIG_LOCAL) throw new ZipFormatError(`${name}: bad local header`)
      const start = localOffset + 30 + d.u16(localOffset + 26) + d.u16(localOffset + 28)
      const raw = d.bytes(start, compSize)
      if (method === 0) data = raw.slice()
      else if (method === 8) {
        try {
          data = inflateSync(raw, { out: new Uint8Array(size) })
        } catch (err) {
          throw new ZipFormatError(`${name}: cannot inflate (${(err as Error).message})`)
        }
      } else throw new ZipFormatError(`${name}: unsupported compression method ${method}`)
      if (data.length !== size) throw new ZipFormatError(`${name}: size mismatch`)
      if (crc32(data) !== crc) throw new ZipFormatError(`${name}: CRC mismatch (corrupt data)`)
    }
    entries.push({ name, isDirectory, unixMode, data })
  }
  return entries
}

function findEocd(d: Reader): number {
  const min = Math.max(0, d.length - 22 - U16_MAX)
  for (let e = d.length - 22; e >= min; e--) {
    if (d.u32(e) === SIG_EOCD && e + 22 + d.u16(e + 20) <= d.length) return e
  }
  throw new ZipFormatError('not a zip file (no end of central directory record)')
}

// Bounds-checked little-endian reads: a truncated or lying zip throws ZipFormatError, never reads garbage.
class Reader {
  private readonly view: DataView
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }
  get length(): number {
    return this.buf.length
  }
  private check(at: number, n: number): void {
    if (!Number.isSafeInteger(at) || at < 0 || at + n > this.buf.length) throw new ZipFormatError('truncated zip')
  }
  u16(at: number): number {
    this.check(at, 2)
    return this.view.getUint16(at, true)
  }
  u32(at: number): number {
    this.check(at, 4)
    return this.view.getUint32(at, true)
  }
  u64(at: number): number {
    this.check(at, 8)
    const v = this.view.getBigUint64(at, true)
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError('zip64 value out of range')
    return Number(v)
  }
  bytes(at: number, n: number): Uint8Array {
    this.check(at, n)
    return this.buf.subarray(at, at + n)
  }
}

let crcTable: Uint32Array | undefined

/** CRC-32 (IEEE) as zip stores it. */
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      crcTable[n] = c >>> 0
    }
  }
  let c = 0xffffffff
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}
