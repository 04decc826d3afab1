// The command reference in docs/commands/ is generated from the command classes (`npm run docs`):
// this fails when a command's description, flags or examples changed and the reference was not
// regenerated. It regenerates into a temporary folder and compares (scripts/docs.mjs --check).
import {spawnSync} from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

describe('docs/commands', () => {
  it('is current with the command classes (else: npm run build && npm run docs)', () => {
    // From another folder, to hold the script to working wherever it is started.
    const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'docs.mjs'), '--check'], {
      cwd: os.tmpdir(),
      encoding: 'utf8',
      timeout: 120_000,
    })
    expect(r.stderr, r.stderr).toBe('')
    expect(r.status).toBe(0)
  })
})
