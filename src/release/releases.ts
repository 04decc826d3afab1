// Finds release zips in release.dir and reads them on the workstation (hosts need no unzip).

import { createHash } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { resolve } from 'node:path'

import { InputError } from '../errors.js'
import type { ReleaseContent, ReleaseFile, ReleaseRef } from '../types.js'
import { compareVersions, parseVersion } from './version.js'

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

// One read per zip per process: a run uses the same release for many hosts.
const cache = new Map<string, Promise<ReleaseContent>>()

/** Reads a release zip once (cached by path and version) and returns the files under its root. */
export function readRelease(ref: ReleaseRef): Promise<ReleaseContent> {
  const key = `${ref.version}\0${resolve(ref.path)}`
  let p = cache.get(key)
  if (!p) {
    p = loadRelease(ref)
    cache.set(key, p)
    // A failed read is not remembered, so a fixed file is read again.
    p.catch(() => cache.delete(key))
  }
  return p
}

/** Forgets every release read so far (tests, or a long-lived process whose folder changed). */
export function clearReleaseCache(): void {
  cache.clear()
}

/**
 * Checks a release zip completely (every entry's CRC and size, safe names, regular files, one
 * deploy_gateway) without keeping it: memory stays small whatever the zip's size. Nothing is cached.
 */
export async function checkRelease(ref: ReleaseRef): Promise<void> {
  const file = resolve(ref.path)
  const { verifyZipFile, ZipFormatError } = await import('./zip.js')
  let entries
  try {
    entries = verifyZipFile(file)
  } catch (err) {
    if (err instanceof ZipFormatError) throw new InputError(`cannot read release zip: ${err.message}`, { file })
    if ((err as NodeJS.ErrnoException | undefined)?.code) throw new InputError(`cannot read release zip: ${describeFsError(err)}`, { file })
    throw err
  }
  releaseLayout(entries, file)
}

async function loadRelease(ref: ReleaseRef): Promise<ReleaseContent> {
  const file = resolve(ref.path)
  let buf: Buffer
  try {
    buf = await readFile(file)
  } catch (err) {
    throw new InputError(`cannot read release zip: ${describeFsError(err)}`, { file })
  }

  // The zip reader (and fflate) load only when a release is read: commands that read none skip them.
  const { readZip, ZipFormatError } = await import('./zip.js')
  let entries
  try {
    entries = readZip(buf)
  } catch (err) {
    if (err instanceof ZipFormatError) throw new InputError(`cannot read release zip: ${err.message}`, { file })
    throw err
  }

  const files: ReleaseFile[] = []
  for (const { entry, rel } of releaseLayout(entries, file)) {
    const data = Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength)
    files.push({ path: rel, data, mode: fileMode(rel, entry.unixMode), sha256: createHash('sha256').update(data).digest('hex') })
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  return { version: ref.version, files }
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
