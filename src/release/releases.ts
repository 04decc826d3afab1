// Finds release zips in release.dir and reads them on the workstation (hosts need no unzip): each
// is checked once, in bounded memory, and its files are uploaded straight from the zip on disk.

import { createHash } from 'node:crypto'
import { open, readdir, stat, type FileHandle } from 'node:fs/promises'
import { resolve } from 'node:path'

import { InputError, LocalError } from '../errors.js'
import type { ReleaseContent, ReleaseFile, ReleaseRef } from '../types.js'
import { perRunMap } from '../util/per-run.js'
import { compareVersions, parseVersion } from './version.js'
import { entryStream, readZipDirectory, ZipFormatError, ZipLimitError, type ZipEntry } from './zip.js'

/** The installer every release must hold; the directory holding it is the release root. */
export const INSTALLER = 'deploy_gateway'

const ZIP_NAME = /^apheris-gateway-(.+)\.zip$/
const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFDIR = 0o040000
const S_IFLNK = 0o120000

/** The zip file name a release of `version` has in release.dir. */
export function releaseFileName(version: string): string {
  return `apheris-gateway-${version}.zip`
}

/** Every `apheris-gateway-X.Y.Z.zip` in `dir`, ascending by version; other files are ignored. */
export async function listReleases(dir: string): Promise<ReleaseRef[]> {
  const abs = resolve(dir)
  let names: string[]
  try {
    names = await readdir(abs)
  } catch (err) {
    throw new InputError(`cannot read the release folder: ${describeFsError(err)}`, { file: abs })
  }
  const out: ReleaseRef[] = []
  for (const name of names) {
    const m = ZIP_NAME.exec(name)
    if (!m || !parseVersion(m[1]!)) continue
    const path = resolve(abs, name)
    // Follows symlinks; a directory or a dangling link that happens to match the name is not a release.
    const st = await stat(path).catch(() => undefined)
    if (!st?.isFile()) continue
    out.push({ version: m[1]!, path })
  }
  return out.sort((a, b) => compareVersions(a.version, b.version))
}

/** The release of exactly `version` among `releases`, if the folder has it. */
export function findRelease(releases: ReleaseRef[], version: string): ReleaseRef | undefined {
  return releases.find((r) => r.version === version)
}

// One read per zip per run: a run uses the same release for many hosts.
const cache = perRunMap<string, Promise<ReleaseContent>>()

const cacheKey = (ref: ReleaseRef): string => `${ref.version}\0${resolve(ref.path)}`

/**
 * Reads a release zip once (cached by path and version): checks it whole (see checkRelease) and
 * returns its files under the release root, each a reference into the zip with its sha256.
 */
export function readRelease(ref: ReleaseRef): Promise<ReleaseContent> {
  return cache.get(cacheKey(ref)) ?? remember(ref)
}

function remember(ref: ReleaseRef): Promise<ReleaseContent> {
  const key = cacheKey(ref)
  const p = loadRelease(ref)
  cache.set(key, p)
  // A failed read is not remembered, so a fixed file is read again.
  p.catch(() => {
    if (cache.get(key) === p) cache.delete(key)
  })
  return p
}

/**
 * Checks a release zip completely, reading it afresh: its structure and ZIP_LIMITS (a zip bomb is
 * refused before anything is inflated), safe names, regular files, one deploy_gateway, then every
 * entry's data streamed once (inflated, size and CRC checked, sha256 taken) in bounded memory,
 * whatever the zip's size. What it found is kept for the run's uploads (readRelease).
 */
export async function checkRelease(ref: ReleaseRef): Promise<void> {
  await remember(ref)
}

async function loadRelease(ref: ReleaseRef): Promise<ReleaseContent> {
  const file = resolve(ref.path)
  const fh = await open(file, 'r').catch((err: unknown) => {
    throw new InputError(`cannot read release zip: ${describeFsError(err)}`, { file })
  })
  try {
    const st = await fh.stat()
    if (st.isDirectory()) throw new InputError('cannot read release zip: is a directory', { file })
    const entries = await zipStep(file, () => readZipDirectory(fh, st.size))
    const layout = releaseLayout(entries, file)
    // Every entry's data is checked (a corrupt zip is refused whole), one at a time, none kept.
    const sums = new Map<ZipEntry, string>()
    for (const e of entries) if (!e.isDirectory) sums.set(e, await zipStep(file, () => digest(fh, e)))
    const files: ReleaseFile[] = layout.map(({ entry, rel }) => ({ path: rel, mode: fileMode(rel, entry.unixMode), sha256: sums.get(entry)!, size: entry.size, entry }))
    files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    return { version: ref.version, zip: { path: file, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, dev: st.dev }, files }
  } finally {
    await fh.close()
  }
}

/** The sha256 of an entry's data, streamed (and checked) through. */
async function digest(fh: FileHandle, e: ZipEntry): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of entryStream(fh, e)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** A zip reader's failure as bad input naming the zip (and, in the message, the entry). */
async function zipStep<T>(file: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step()
  } catch (err) {
    if (err instanceof ZipLimitError) throw new InputError(`release zip refused: ${err.message}`, { file })
    if (err instanceof ZipFormatError) throw new InputError(`cannot read release zip: ${err.message}`, { file })
    if ((err as NodeJS.ErrnoException | undefined)?.code) throw new InputError(`cannot read release zip: ${describeFsError(err)}`, { file })
    throw err
  }
}

/**
 * A release file's bytes, streamed from its zip and checked again as they come (size, CRC-32). The
 * zip must still be the file that was read: a zip replaced or changed since (the operator copied a
 * new one in during the run) fails with a LocalError naming it; what was sent of it stays in the
 * stage and is never put in place.
 */
export async function openReleaseFile(content: ReleaseContent, f: ReleaseFile): Promise<AsyncIterable<Buffer>> {
  const z = content.zip
  const changed = (what: string, detail?: string): LocalError =>
    new LocalError(`release zip ${z.path} ${what} since it was checked at the start of the run${detail ? ` (${detail})` : ''}; rerun to check it again`)
  const fh = await open(z.path, 'r').catch((err: unknown) => {
    throw changed('has become unreadable', describeFsError(err))
  })
  let st
  try {
    st = await fh.stat()
  } catch (err) {
    await fh.close()
    throw err
  }
  if (st.size !== z.size || st.mtimeMs !== z.mtimeMs || st.ino !== z.ino || st.dev !== z.dev) {
    await fh.close()
    throw changed('changed')
  }
  const stream = entryStream(fh, f.entry)
  return (async function* () {
    try {
      for await (const chunk of stream) yield chunk as Buffer
    } catch (err) {
      if (err instanceof ZipFormatError) throw changed('changed', err.message)
      throw err
    } finally {
      stream.destroy()
      await fh.close()
    }
  })()
}

/**
 * The entries that make up the release, each with its path under the release root; throws when
 * the zip is not a usable release (unsafe names, links, duplicates, no or two deploy_gateway).
 */
function releaseLayout<E extends { name: string; isDirectory: boolean; unixMode?: number }>(entries: E[], file: string): { entry: E; rel: string }[] {
  const regular: { entry: E; path: string }[] = []
  const seen = new Set<string>()
  for (const e of entries) {
    const path = safeRelativePath(e.name, file)
    const type = e.unixMode === undefined ? 0 : e.unixMode & S_IFMT
    if (e.isDirectory || type === S_IFDIR || path === '') continue
    if (path === '__MACOSX' || path.startsWith('__MACOSX/')) continue // Finder's resource-fork litter
    if (type === S_IFLNK) throw new InputError(`entry "${e.name}" is a symbolic link; a release holds regular files only`, { file })
    if (type !== 0 && type !== S_IFREG) throw new InputError(`entry "${e.name}" is not a regular file`, { file })
    if (seen.has(path)) throw new InputError(`entry "${path}" appears more than once`, { file })
    seen.add(path)
    regular.push({ entry: e, path })
  }
  const root = findRoot(regular.map((f) => f.path), file)
  // Files beside the release root are not part of the release.
  return regular.filter((f) => f.path.startsWith(root)).map((f) => ({ entry: f.entry, rel: f.path.slice(root.length) }))
}

// The shallowest directory holding deploy_gateway, as a prefix ('' or 'dir/'); two at that depth is ambiguous.
function findRoot(paths: string[], file: string): string {
  const installers = paths.filter((p) => p === INSTALLER || p.endsWith(`/${INSTALLER}`))
  if (installers.length === 0) throw new InputError(`release zip holds no ${INSTALLER}`, { file })
  const depth = (p: string): number => p.split('/').length
  const min = Math.min(...installers.map(depth))
  const top = installers.filter((p) => depth(p) === min)
  if (top.length > 1) throw new InputError(`release zip holds more than one ${INSTALLER}: ${top.join(', ')}`, { file })
  return top[0]!.slice(0, -INSTALLER.length)
}

// Executables stay executable and everything else is plain: the zip's exact bits (0777, 0600 ...) are not trusted.
function fileMode(rel: string, unixMode: number | undefined): number {
  if (rel === INSTALLER) return 0o755
  if (unixMode === undefined) return 0o644
  return unixMode & 0o111 ? 0o755 : 0o644
}

// Rejects zip-slip: absolute paths, drive letters and '..' segments; normalises '\' and '.' segments.
function safeRelativePath(name: string, file: string): string {
  const unsafe = (): InputError => new InputError(`unsafe path "${name}" in release zip (absolute or with "..")`, { file })
  if (name.includes('\0')) throw unsafe()
  const slashed = name.replace(/\\/g, '/')
  if (slashed.startsWith('/') || /^[A-Za-z]:/.test(slashed)) throw unsafe()
  const parts = slashed.split('/').filter((s) => s !== '' && s !== '.')
  if (parts.includes('..')) throw unsafe()
  return parts.join('/')
}

function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory'
    case 'ENOTDIR':
      return 'not a directory'
    case 'EISDIR':
      return 'is a directory'
    case 'EACCES':
    case 'EPERM':
      return 'permission denied'
    default:
      return code ?? (err instanceof Error ? err.message : String(err))
  }
}
