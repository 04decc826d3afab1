// A small zip writer for the tests (node's zlib): names verbatim (so unsafe ones are possible), unix
// modes or none, stored or deflated entries, zip64 records on request, and headers that lie, for
// the reader's checks. Not a test file itself.
import {writeFileSync} from 'node:fs'
import * as zlib from 'node:zlib'

import {crc32} from '../../src/release/zip.js'

export interface ZipInput {
  name: string
  data?: string | Uint8Array
  /** 0 stored, 8 deflated (default; stored for directories). */
  method?: 0 | 8
  /** st_mode (type and permission bits): the entry is then "made by unix"; without it, by MS-DOS. */
  unixMode?: number
  /** The compressed bytes as stored, instead of `data` deflated (a hand-made deflate stream). */
  raw?: Uint8Array
  /** Lies (or truths the writer cannot compute) for the directory and the local header. */
  size?: number
  crc?: number
  /** Point this entry's directory record at the data of an earlier entry (overlapping entries). */
  sameDataAs?: string
}

const u16 = (v: number): Buffer => {
  const b = Buffer.alloc(2)
  b.writeUInt16LE(v)
  return b
}
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(v >>> 0)
  return b
}
const u64 = (v: number): Buffer => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(BigInt(v))
  return b
}
const FF = 0xffffffff

/** The zip's bytes. `zip64`: every size and offset in zip64 extra fields and a zip64 end record. */
export function buildZip(entries: ZipInput[], opts: {zip64?: boolean} = {}): Buffer {
  const z64 = opts.zip64 === true
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  const offsets = new Map<string, {offset: number; comp: number}>()
  let offset = 0
  for (const e of entries) {
    const name = Buffer.from(e.name)
    const data = typeof e.data === 'string' ? Buffer.from(e.data) : Buffer.from(e.data ?? new Uint8Array(0))
    const method = e.method ?? (e.name.endsWith('/') ? 0 : 8)
    const stored = e.raw ? Buffer.from(e.raw) : method === 8 ? zlib.deflateRawSync(data) : data
    const size = e.size ?? data.length
    const crc = e.crc ?? crc32(data)
    const shared = e.sameDataAs ? offsets.get(e.sameDataAs) : undefined
    if (e.sameDataAs && !shared) throw new Error(`no entry ${e.sameDataAs} before ${e.name}`)
    const localOffset = shared?.offset ?? offset
    const comp = shared?.comp ?? stored.length
    const flags = 0x800 // UTF-8 names
    if (!shared) {
      const extra = z64 ? Buffer.concat([u16(1), u16(16), u64(size), u64(comp)]) : Buffer.alloc(0)
      const local = Buffer.concat([
        u32(0x04034b50), u16(z64 ? 45 : 20), u16(flags), u16(method), u16(0), u16(0), u32(crc),
        u32(z64 ? FF : comp), u32(z64 ? FF : size), u16(name.length), u16(extra.length), name, extra, stored,
      ])
      locals.push(local)
      offsets.set(e.name, {offset, comp})
      offset += local.length
    }
    const unix = e.unixMode !== undefined
    const cextra = z64 ? Buffer.concat([u16(1), u16(24), u64(size), u64(comp), u64(localOffset)]) : Buffer.alloc(0)
    centrals.push(
      Buffer.concat([
        u32(0x02014b50), u16(((unix ? 3 : 0) << 8) | (z64 ? 45 : 20)), u16(z64 ? 45 : 20), u16(flags), u16(method), u16(0), u16(0), u32(crc),
        u32(z64 ? FF : comp), u32(z64 ? FF : size), u16(name.length), u16(cextra.length), u16(0), u16(0), u16(0),
        u32(unix ? (e.unixMode! << 16) >>> 0 : e.name.endsWith('/') ? 0x10 : 0), u32(z64 ? FF : localOffset), name, cextra,
      ]),
    )
  }
  const cd = Buffer.concat(centrals)
  const cdOffset = offset
  const n = centrals.length
  const tail = z64
    ? Buffer.concat([
        u32(0x06064b50), u64(44), u16(45), u16(45), u32(0), u32(0), u64(n), u64(n), u64(cd.length), u64(cdOffset),
        u32(0x07064b50), u32(0), u64(cdOffset + cd.length), u32(1),
        u32(0x06054b50), u16(0), u16(0), u16(0xffff), u16(0xffff), u32(FF), u32(FF), u16(0),
      ])
    : Buffer.concat([u32(0x06054b50), u16(0), u16(0), u16(n), u16(n), u32(cd.length), u32(cdOffset), u16(0)])
  return Buffer.concat([...locals, cd, tail])
}

/** Writes buildZip's bytes to `file`; returns `file`. */
export function writeZip(file: string, entries: ZipInput[], opts: {zip64?: boolean} = {}): string {
  writeFileSync(file, buildZip(entries, opts))
  return file
}

/**
 * A deflate stream of `mib` MiB of zeros, about 1 KB per MiB, made without ever holding them: one
 * MiB deflated up to a sync flush, repeated, then an empty final block. Its CRC-32 comes with it.
 */
export function zeroBomb(mib: number): {raw: Buffer; size: number; crc: number} {
  const zeros = Buffer.alloc(1024 * 1024)
  const piece = zlib.deflateRawSync(zeros, {level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH})
  const raw = Buffer.concat([...Array.from({length: mib}, () => piece), Buffer.from([0x03, 0x00])])
  let crc = 0
  for (let i = 0; i < mib; i++) crc = crc32(zeros, crc)
  return {raw, size: mib * zeros.length, crc}
}
