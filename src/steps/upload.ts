// Step: send release files and values to the host's stage; only bytes the host does not have yet.
import {randomBytes} from 'node:crypto'

import {layout, type HostFacts, type StagedFile} from '../remote/scripts.js'
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
  const staged = await Promise.all(
    todo.map(async (f) => {
      const p = stagePath(s, f.path)
      await s.writeFile(p, f.data, 0o600)
      return {staged: p, target: `${L.releases}/${release.version}/${f.path}`, sha256: f.sha256, mode: f.mode}
    }),
  )
  return {staged, skipped: release.files.length - todo.length, bytes: todo.reduce((n, f) => n + f.data.length, 0)}
}

/** Upload the rendered values (0600) when the host's copy differs. */
export async function stageValues(s: HostSession, values: RenderedValues, facts: HostFacts): Promise<StagedFile[]> {
  if (facts.valuesSha256 === values.sha256) return []
  const p = stagePath(s, 'values.yaml')
  await s.writeFile(p, values.text, 0o600)
  return [{staged: p, target: layout(s.gw.remoteDir, s.gw.name).values, sha256: values.sha256, mode: 0o600}]
}
