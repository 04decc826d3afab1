// Reading the operator's input files (inventory, values, ${file:} secrets) so that a bad file can
// neither hang nor exhaust gwfleet nor smuggle another file in: regular files only (never a FIFO or
// a device), a size limit checked before reading and again while reading, and no symbolic link
// that leads out of the inventory's folder.

import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, statSync, type Stats } from 'node:fs'
import path from 'node:path'

const MiB = 1024 * 1024

/** Largest inventory file read. */
export const INVENTORY_LIMIT = 4 * MiB
/** Largest values file read. */
export const VALUES_LIMIT = 4 * MiB
/** Largest file a `${file:}` reference reads. */
export const SECRET_FILE_LIMIT = 1 * MiB

/** How one kind of input file is checked. */
export interface InputFileRule {
  /** At most this many bytes. */
  limit: number
  /**
   * The inventory's folder. A path written inside it must stay inside it once symbolic links are
   * followed; a path written outside it is the operator's explicit choice and read as written.
   */
  tree?: string
}

/** A file that passed its rule, or why it did not ("not found", "is a FIFO, not a regular file", ...). */
type Checked = { ok: true; stats: Stats } | { ok: false; why: string }

/** "4 MiB", "214.3 MiB", "900 KiB", "12 bytes". */
export function formatSize(n: number): string {
  if (n >= MiB) return `${Math.round((n / MiB) * 10) / 10} MiB`
  if (n >= 1024) return `${Math.round(n / 1024)} KiB`
  return `${n} bytes`
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory'
  if (st.isFIFO()) return 'a FIFO'
  if (st.isCharacterDevice()) return 'a character device'
  if (st.isBlockDevice()) return 'a block device'
  if (st.isSocket()) return 'a socket'
  return 'not a plain file'
}

function errnoWhy(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code
  if (code === 'ENOENT' || code === 'ENOTDIR') return 'not found'
  if (code === 'EACCES' || code === 'EPERM') return 'cannot be read (permission denied)'
  if (code === 'ELOOP') return 'cannot be read (too many levels of symbolic links)'
  return `cannot be read (${code ?? 'error'})`
}

/** True when `p` is `dir` or below it (both absolute and normalised). */
function inside(p: string, dir: string): boolean {
  const rel = path.relative(dir, p)
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel))
}

function realOr(p: string): string {
  try {
    return realpathSync.native(p)
  } catch {
    return p
  }
}

function check(file: string, rule: InputFileRule): Checked {
  let st: Stats
  try {
    st = statSync(file)
  } catch (e) {
    return { ok: false, why: errnoWhy(e) }
  }
  if (!st.isFile()) return { ok: false, why: `is ${kindOf(st)}, not a regular file` }
  if (st.size > rule.limit) {
    // Just over the limit reads as the limit once rounded: then say the bytes.
    const size = formatSize(st.size) === formatSize(rule.limit) ? `${st.size} bytes` : formatSize(st.size)
    return { ok: false, why: `is ${size}, over the ${formatSize(rule.limit)} limit` }
  }
  if (rule.tree !== undefined) {
    const tree = path.resolve(rule.tree)
    const realTree = realOr(tree)
    if (inside(file, tree) || inside(file, realTree)) {
      const real = realOr(file)
      if (!inside(real, realTree)) {
        return { ok: false, why: `is a symbolic link (or lies below one) that leads out of the inventory's folder ${tree}, to ${real}` }
      }
    }
  }
  return { ok: true, stats: st }
}

/**
 * Why the file cannot be used as input (a phrase such as "not found" or "is a FIFO, not a
 * regular file"), or undefined when it can. Only looks at the file; never opens it.
 */
export function inputFileProblem(file: string, rule: InputFileRule): string | undefined {
  const c = check(path.resolve(file), rule)
  return c.ok ? undefined : c.why
}

/** The bytes of an input file as text, or why it cannot be used (see inputFileProblem). */
export function readInputFile(file: string, rule: InputFileRule): { text: string } | { why: string } {
  const abs = path.resolve(file)
  const c = check(abs, rule)
  if (!c.ok) return { why: c.why }
  let fd: number
  try {
    // Non-blocking: if a FIFO was put in the file's place since the check, opening does not wait for a writer.
    fd = openSync(abs, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY)
  } catch (e) {
    return { why: errnoWhy(e) }
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) return { why: `is ${kindOf(st)}, not a regular file` }
    // The file opened must be the one checked (nothing swapped in between).
    if (st.dev !== c.stats.dev || st.ino !== c.stats.ino) return { why: 'changed while gwfleet was reading it; run again' }
    // Read at most one byte more than the limit: a file that grew since the check is still bounded.
    const over = `is over the ${formatSize(rule.limit)} limit`
    let buf = Buffer.alloc(Math.min(rule.limit, st.size) + 1)
    let got = 0
    for (;;) {
      if (got === buf.length) {
        if (got > rule.limit) return { why: over }
        const bigger = Buffer.alloc(Math.min(rule.limit + 1, buf.length * 2))
        buf.copy(bigger, 0, 0, got)
        buf = bigger
      }
      const n = readSync(fd, buf, got, buf.length - got, null)
      if (n === 0) break
      got += n
    }
    return { text: buf.subarray(0, got).toString('utf8') }
  } catch (e) {
    return { why: errnoWhy(e) }
  } finally {
    closeSync(fd)
  }
}
