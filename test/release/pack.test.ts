// Release check (`npm run test:release`, also before `npm publish`): `npm pack` gives a package that
// installs globally and runs from its oclif manifest. Not part of `npm test`: it builds, packs and
// installs the whole package with its dependencies, a minute or more, for what changes only when the
// packaging or the dependencies do.
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, expect, it} from 'vitest'

import {ROOT} from '../e2e/fleet.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-pack-'))
afterAll(() => fs.rmSync(tmp, {recursive: true, force: true}))

it('packs, installs globally and runs every command from the manifest', () => {
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp, '--json'], {cwd: ROOT, encoding: 'utf8'})
  const [info] = JSON.parse(out)
  const files: string[] = info.files.map((f: any) => f.path)
  expect(files).toContain('oclif.manifest.json')
  expect(files).toContain('dist/commands/deploy.js')
  expect(files).toContain('inventory.schema.json')
  expect(files.some((f) => f.startsWith('test/'))).toBe(false)
  const prefix = path.join(tmp, 'prefix')
  execFileSync('npm', ['install', '-g', '--prefer-offline', '--no-audit', '--no-fund', '--prefix', prefix, path.join(tmp, info.filename)], {encoding: 'utf8', stdio: 'pipe'})
  const bin = path.join(prefix, 'bin', 'gwfleet')
  expect(execFileSync(bin, ['--version'], {encoding: 'utf8'})).toMatch(/^gwfleet\/\d+\.\d+\.\d+/)
  const help = execFileSync(bin, ['--help'], {encoding: 'utf8'})
  for (const c of ['deploy', 'upgrade', 'uninstall', 'audit', 'preflight', 'status', 'logs', 'history', 'locks list']) expect(help).toContain(c)
  const manifest = JSON.parse(fs.readFileSync(path.join(prefix, 'lib', 'node_modules', 'gwfleet', 'oclif.manifest.json'), 'utf8'))
  expect(Object.keys(manifest.commands).sort()).toEqual(['audit', 'completion', 'deploy', 'diff', 'history', 'locks:clear', 'locks:list', 'logs', 'preflight', 'runs', 'runs:show', 'schema', 'status', 'uninstall', 'upgrade', 'validate'])
  // The shipped schema is the one the installed binary prints.
  const shipped = fs.readFileSync(path.join(prefix, 'lib', 'node_modules', 'gwfleet', 'inventory.schema.json'), 'utf8')
  expect(JSON.parse(execFileSync(bin, ['schema'], {encoding: 'utf8'}))).toEqual(JSON.parse(shipped))
  // Bad input from the installed binary: exit 2 with a JSON error.
  let code = 0
  let stdout = ''
  try {
    execFileSync(bin, ['audit', '-i', path.join(tmp, 'missing.yaml'), '--json'], {encoding: 'utf8', stdio: 'pipe'})
  } catch (e: any) {
    code = e.status
    stdout = e.stdout
  }
  expect(code).toBe(2)
  expect(JSON.parse(stdout)).toMatchObject({ok: false, error: expect.stringContaining('missing.yaml')})
}, 240_000)
