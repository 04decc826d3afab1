#!/usr/bin/env node
import {statSync} from 'node:fs'

// Ordinary command lines run without loading oclif (src/cli/fast.ts, bundled into dist/fast/);
// everything else goes through oclif. `npm run build` compiles dist/src, writes the manifest, then
// the bundle. In a checkout, a manifest or bundle older than dist/src is stale (tsc ran after
// them), and then oclif handles every command line. An installed package is never rebuilt and its
// file times come from unpacking, so there the fast path is always tried.
const at = (p) => new URL(p, import.meta.url)
const mtime = (p) => statSync(at(p), {throwIfNoEntry: false})?.mtimeMs ?? -1
const fresh =
  import.meta.url.includes('/node_modules/') ||
  Math.min(mtime('../oclif.manifest.json'), mtime('../dist/fast/fast.js')) >= mtime('../dist/src/cli/fast.js')

let done = false
if (fresh) {
  const {runFast} = await import('../dist/fast/fast.js')
  done = await runFast(process.argv.slice(2), at('..'))
}
if (!done) {
  // An unknown command gets gwfleet's own error and a suggestion, not oclif's (src/cli/suggest.ts).
  const {rejectUnknownCommand} = await import('../dist/src/cli/suggest.js')
  done = rejectUnknownCommand(process.argv.slice(2))
}
if (!done) {
  const {execute} = await import('@oclif/core')
  await execute({dir: import.meta.url})
}
