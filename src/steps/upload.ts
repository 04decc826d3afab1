// Step: send release files and values to the host's stage; only bytes the host does not have yet.
import {randomBytes} from 'node:crypto'

import {HostStepError} from '../errors.js'
import {freeSpaceScript, layout, parseKv, type HostFacts, type StagedFile} from '../remote/scripts.js'
import type {HostSession} from '../runner/session.js'
import type {ReleaseContent, RenderedValues} from '../types.js'

/**
 * A fresh folder in the stage for files that go to one target directory; they keep their target's
 * name there so the commit moves them with one mv.
 */
async function stageDir(s: HostSession): Promise<string> {
  const dir = `${layout(s.gw.remoteDir, s.gw.name).stage}/${randomBytes(6).toString('hex')}`
  await s.mkdir(dir, 0o700)
  return dir
}

const dirOf = (p: string) => p.replace(/\/[^/]*$/, '')

/** Upload the release files the host lacks (sha256-compared) to the stage; all in parallel on one SFTP session. */
export async function stageRelease(s: HostSession, release: ReleaseContent, facts: HostFacts): Promise<{staged: StagedFile[]; skipped: number; bytes: number}> {
  const L = layout(s.gw.remoteDir, s.gw.name)
  const onHost = facts.releaseFiles.get(release.version)
  const todo = release.files.filter((f) => onHost?.get(f.path) !== f.sha256)
  const bytes = todo.reduce((n, f) => n + f.data.length, 0)
  const staged = await (async () => {
    // One stage folder per target directory (a release may have subfolders).
    const folders = new Map<string, Promise<string>>()
    return Promise.all(
      todo.map(async (f) => {
        const target = `${L.releases}/${release.version}/${f.path}`
        let folder = folders.get(dirOf(target))
        if (!folder) folders.set(dirOf(target), (folder = stageDir(s)))
        const p = `${await folder}/${target.slice(target.lastIndexOf('/') + 1)}`
        await s.writeFile(p, f.data, f.mode)
        return {staged: p, target, sha256: f.sha256, mode: f.mode}
      }),
    )
  })().catch((e: unknown) => explainUploadFailure(s, e, bytes))
  return {staged, skipped: release.files.length - todo.length, bytes}
}

/** Upload the rendered values (0600) when the host's copy differs. */
export async function stageValues(s: HostSession, values: RenderedValues, facts: HostFacts): Promise<StagedFile[]> {
  if (facts.valuesSha256 === values.sha256) return []
  const target = layout(s.gw.remoteDir, s.gw.name).values
  let p = ''
  await (async () => {
    p = `${await stageDir(s)}/${target.slice(target.lastIndexOf('/') + 1)}`
    await s.writeFile(p, values.text, 0o600)
  })().catch((e: unknown) => explainUploadFailure(s, e, Buffer.byteLength(values.text)))
  return [{staged: p, target, sha256: values.sha256, mode: 0o600}]
}

function mb(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`
}

/** A failed upload says whether the disk is full (the staged part never reaches a final path). */
async function explainUploadFailure(s: HostSession, e: unknown, bytes: number): Promise<never> {
  if (!(e instanceof HostStepError)) throw e
  const L = layout(s.gw.remoteDir, s.gw.name)
  let freeKb: number | undefined
  try {
    const n = Number(parseKv((await s.root(freeSpaceScript(L.stage), {timeoutMs: 20_000})).stdout).get('free_kb')?.[0])
    if (Number.isFinite(n)) freeKb = n
  } catch {
    // keep the original error
  }
  if (freeKb !== undefined && freeKb * 1024 < bytes)
    throw new HostStepError(`no space left in ${L.root} on the host: ${mb(freeKb * 1024)} free, the upload needs ${mb(bytes)}; free some space, then rerun`)
  throw new HostStepError(`${e.message}${freeKb !== undefined ? ` (${mb(freeKb * 1024)} free in ${L.root})` : ''}`)
}
