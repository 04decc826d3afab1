#!/usr/bin/env node
// Generates the per-command reference in docs/commands/ from the built command classes
// (oclif.manifest.json and dist/), with oclif 4's `oclif readme --multi`.
//
//   node scripts/docs.mjs           regenerate docs/commands/ (npm run docs)
//   node scripts/docs.mjs --check   regenerate into a temporary folder and compare: exit 1 when
//                                   docs/commands/ is stale (run by test/unit/docs-commands.test.ts)
//
// Works from any folder, offline. Needs a build (npm run build) first.
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const target = path.join(root, 'docs', 'commands')
const check = process.argv.includes('--check')

const INDEX_HEAD = `# Command reference

One page per command (or topic), generated from the command classes: the same text as
\`gwfleet COMMAND --help\`. Do not edit these files by hand: change the command's description,
flags or examples, then run \`npm run docs\` (after \`npm run build\`). \`npm test\` fails when
they are out of date.

For how the commands fit together, see the [README](../../README.md).

`

/** Runs `oclif readme --multi` for this package into `outDir` and returns {file: text}. */
function generate(outDir) {
  if (!fs.existsSync(path.join(root, 'oclif.manifest.json')) || !fs.existsSync(path.join(root, 'dist', 'commands'))) {
    throw new Error('no build found: run `npm run build` first')
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-docs-'))
  try {
    const readme = path.join(work, 'README.md')
    fs.writeFileSync(readme, '<!-- commands -->\n')
    // oclif joins the output folder to the package folder, so it must be relative to it.
    const rel = path.relative(root, outDir)
    const oclif = path.join(root, 'node_modules', 'oclif', 'bin', 'run.js')
    execFileSync(
      process.execPath,
      [oclif, 'readme', '--multi', '--no-aliases', '--no-source-links', '--plugin-directory', root,
        '--output-dir', rel, '--readme-path', readme],
      {
        cwd: root,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: {
          ...process.env,
          // The help text is wrapped at COLUMNS: fix it so the output does not depend on a terminal.
          COLUMNS: '120',
          // No update check (that would reach the npm registry).
          OCLIF_SKIP_NEW_VERSION_CHECK: 'true',
          NO_COLOR: '1',
        },
      },
    )
    const files = {}
    for (const name of fs.readdirSync(outDir).sort()) {
      if (name.endsWith('.md')) files[name] = fs.readFileSync(path.join(outDir, name), 'utf8')
    }
    // The topic list oclif put into the scratch README, with links made relative to docs/commands/.
    const list = fs.readFileSync(readme, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('* ['))
      .map((l) => l.split(`](${rel}/`).join('](./'))
    files['README.md'] = INDEX_HEAD + list.join('\n') + '\n'
    for (const [name, text] of Object.entries(files)) {
      // The reference is the same on every machine: no checkout or scratch path may leak into it.
      for (const leak of [root, outDir, work]) {
        if (text.includes(leak)) throw new Error(`generated ${name} holds a local path (${leak})`)
      }
    }
    return files
  } finally {
    fs.rmSync(work, {recursive: true, force: true})
  }
}

function readDir(dir) {
  const files = {}
  if (!fs.existsSync(dir)) return files
  for (const name of fs.readdirSync(dir).sort()) files[name] = fs.readFileSync(path.join(dir, name), 'utf8')
  return files
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-docs-out-'))
try {
  const fresh = generate(path.join(scratch, 'commands'))
  if (check) {
    const current = readDir(target)
    const names = [...new Set([...Object.keys(fresh), ...Object.keys(current)])].sort()
    const stale = names.filter((n) => fresh[n] !== current[n])
    if (stale.length > 0) {
      const say = stale.map((n) => `  docs/commands/${n}: ${!(n in current) ? 'missing' : !(n in fresh) ? 'no such command any more' : 'differs'}`)
      process.stderr.write(`docs/commands/ is out of date with the command classes:\n${say.join('\n')}\nrun \`npm run build && npm run docs\` and commit the result\n`)
      process.exitCode = 1
    } else {
      process.stdout.write(`docs/commands/ is current (${names.length} files)\n`)
    }
  } else {
    fs.rmSync(target, {recursive: true, force: true})
    fs.mkdirSync(target, {recursive: true})
    for (const [name, text] of Object.entries(fresh)) fs.writeFileSync(path.join(target, name), text)
    process.stdout.write(`wrote ${Object.keys(fresh).length} files to docs/commands/\n`)
  }
} catch (error) {
  process.stderr.write(`docs: ${error.message}\n`)
  process.exitCode = 2
} finally {
  fs.rmSync(scratch, {recursive: true, force: true})
}
