#!/usr/bin/env node
import {statSync} from 'node:fs'

// Ordinary command lines run without loading oclif (src/cli/fast.ts); everything else goes through
// oclif. `npm run build` compiles dist/src, then bundles the fast path into dist/fast/, which loads
// faster. In a checkout, a bundle older than dist/src is stale (tsc ran after it) and the modules
// in dist/src are used instead. An installed package is never rebuilt and its file times come from
// unpacking, so there the bundle is always used.
const at = (p) => new URL(p, import.meta.url)
const mtime = (p) => statSync(at(p), {throwIfNoEntry: false})?.mtimeMs ?? -1
const installed = import.meta.url.includes('/node_modules/')
const bundled = installed || mtime('../dist/fast/fast.js') >= mtime('../dist/src/cli/fast.js')
const {runFast} = await import(bundled ? '../dist/fast/fast.js' : '../dist/src/cli/fast.js')

if (!(await runFast(process.argv.slice(2), at('..')))) {
  const {execute} = await import('@oclif/core')
  await execute({dir: import.meta.url})
}
