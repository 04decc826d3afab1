// Step: send release files and values to the host's stage; only bytes the host does not have yet.
import {randomBytes} from 'node:crypto'

import {HostStepError} from '../errors.js'
import {freeSpaceScript, layout, parseKv, type HostFacts, type StagedFile} from '../remote/scripts.js'
import type {HostSession} from '../runner/session.js'
import type {ReleaseContent, RenderedValues} from '../types.js'

function stagePath(s: HostSession, name: string): string {
  return `${layout(s.gw.remoteDir, s.gw.name).stage}/${randomBytes(6).toString('hex')}-${name.replace(/[^A-Za-z0-9._-]/g, '_')}`
}

/** Upload the release files the host lacks (sha256-compared) to the stage; all in parallel on one SFTP session. */
export async function stageRelease(s: HostSession, release: ReleaseContent, facts: HostFacts): Promise<{staged: StagedFile[]; skipped: number; bytes: number}> {
  const L = layout(s.gw.remoteDir, s.gw.name)
  const onHost = facts.releaseFiles.get(release.version)
  const todo = release.files.filter((f) => onHost?.get(f.path) !== f.sha256)
  const bytes = todo.reduce((n, f) => n + f.data.length, 0)
  const staged = await Promise.all(
    todo.map(async (f) => {
      const p = stagePath(s, f.path)
      await s.writeFile(p, f.data, 0o600)
      return {staged: p, target: `${L.releases}/${release.version}/${f.path}`, sha256: f.sha256, mode: f.mode}
    }),
  ).catch((e: unknown) => explainUploadFailure(s, e, bytes))
  return {staged, skipped: release.files.length - todo.length, bytes}
}

/** Upload the rendered values (0600) when the host's copy differs. */
export async function stageValues(s: HostSession, values: RenderedValues, facts: HostFacts): Promise<StagedFile[]> {
  if (facts.valuesSha256 === values.sha256) return []
  const p = stagePath(s, 'values.yaml')
  await s.writeFile(p, values.text, 0o600).catch((e: unknown) => explainUploadFailure(s, e, Buffer.byteLength(values.text)))
  return [{staged: p, target: layout(s.gw.remoteDir, s.gw.name).values, sha256: values.sha256, mode: 0o600}]
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
