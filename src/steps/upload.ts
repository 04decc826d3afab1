// Step: send release files (SFTP, streamed from the zip) and values (root's stdin) to the host's stage;
// only bytes the host does not have yet.
import {randomBytes} from 'node:crypto'

import {HostStepError} from '../errors.js'
import {openReleaseFile} from '../release/releases.js'
import {freeSpaceScript, layout, parseKv, payloadMarker, writeByRootScript, type StagedFile} from '../remote/scripts.js'
import type {Session} from '../host/session.js'
import type {HostFacts, ReleaseContent, RenderedValues} from '../types.js'

/**
 * Upload release files into the login user's stage folder (made by the lock step), each under a
 * random plain name, mode 0600, all in one pipelined SFTP batch streamed from the release zip; root
 * takes them from there (commitFilesScript, which checks each sha256). Values hold secrets and never
 * go there: root writes them itself from its stdin into its own 0700 folder (writeByRoot), on the
 * same connection while the SFTP batch runs.
 */
async function stage(s: Session, files: StageInput[], bytes: number): Promise<StagedFile[]> {
  const folder = layout(s.gw.remoteDir, s.gw.name).upload
  const staged = files.map((f) => ({name: randomBytes(8).toString('hex'), target: f.target, sha256: f.sha256, mode: f.mode, size: f.size, ...(f.secret !== undefined ? {byRoot: true} : {})}))
  const bySftp = files.flatMap((f, i) => (f.release ? [{path: `${folder}/${staged[i].name}`, data: f.release, mode: 0o600}] : []))
  try {
    await Promise.all([s.writeFiles(bySftp), ...files.map((f, i) => (f.secret !== undefined ? writeByRoot(s, staged[i], f.secret) : undefined))])
    return staged
  } catch (e) {
    return explainUploadFailure(s, e, bytes)
  }
}

/** One file for the stage: a release file (SFTP, streamed from the zip) or a secret text (root's stdin, never SFTP). */
interface StageInput {
  target: string
  mode: number
  sha256: string
  size: number
  release?: () => Promise<AsyncIterable<Uint8Array>>
  secret?: string
}

/** Root writes one secret file into its own stage folder from its stdin (see writeByRootScript). */
async function writeByRoot(s: Session, f: StagedFile, text: string): Promise<void> {
  const nonce = randomBytes(8).toString('hex')
  // The values are text (rendered YAML); they go on stdin after the marker line, never in argv.
  const script = writeByRootScript({remoteDir: s.gw.remoteDir, gateway: s.gw.name, name: f.name, size: f.size, sha256: f.sha256, nonce})
  const out = await s.root(script, {stdin: `${payloadMarker(nonce)}\n${text}`, timeoutMs: 60_000})
  const said = parseKv(out.stdout).get('write')?.[0]
  if (said !== 'ok') throw new HostStepError(`writing the values on the host as root failed: ${said ?? `no answer (exit ${out.code})`}`)
}

/** The rendered values (0600) as a file to stage, when the host's copy differs. */
function valuesFile(s: Session, values: RenderedValues, facts: HostFacts): StageInput[] {
  if (facts.valuesSha256 === values.sha256) return []
  return [{target: layout(s.gw.remoteDir, s.gw.name).values, secret: values.text, size: Buffer.byteLength(values.text), mode: 0o600, sha256: values.sha256}]
}

/**
 * One hop's upload, in one SFTP batch: the release files the host lacks (sha256-compared), streamed
 * from the zip, and the rendered values when the host's copy differs.
 */
export async function stageHop(s: Session, release: ReleaseContent, values: RenderedValues, facts: HostFacts): Promise<{staged: StagedFile[]; files: number; skipped: number; bytes: number; valuesSent: boolean}> {
  const dir = `${layout(s.gw.remoteDir, s.gw.name).releases}/${release.version}`
  const onHost = facts.releaseFiles.get(release.version)
  const todo = release.files.filter((f) => onHost?.get(f.path) !== f.sha256)
  const files: StageInput[] = [...todo.map((f) => ({target: `${dir}/${f.path}`, mode: f.mode, sha256: f.sha256, size: f.size, release: () => openReleaseFile(release, f)})), ...valuesFile(s, values, facts)]
  const bytes = todo.reduce((n, f) => n + f.size, 0)
  const staged = await stage(s, files, files.reduce((n, f) => n + f.size, 0))
  return {staged, files: todo.length, skipped: release.files.length - todo.length, bytes, valuesSent: files.length > todo.length}
}

/** Upload the rendered values (0600) when the host's copy differs. */
export async function stageValues(s: Session, values: RenderedValues, facts: HostFacts): Promise<StagedFile[]> {
  const files = valuesFile(s, values, facts)
  return stage(s, files, files.reduce((n, f) => n + f.size, 0))
}

function mb(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`
}

/** A failed upload says whether the disk is full (the staged part never reaches a final path). */
async function explainUploadFailure(s: Session, e: unknown, bytes: number): Promise<never> {
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
