#!/usr/bin/env node
import {statSync} from 'node:fs'

// Ordinary command lines run without loading oclif (src/cli/fast.ts); everything else goes through
// oclif. `npm run build` also bundles that path into dist/fast/, which loads faster; a bundle older
// than dist/src (tsc ran after it) is stale, and then the modules in dist/src are used instead.
const at = (p) => new URL(p, import.meta.url)
const mtime = (p) => statSync(at(p), {throwIfNoEntry: false})?.mtimeMs ?? -1
const fast = mtime('../dist/fast/fast.js') >= mtime('../dist/src/cli/fast.js') ? '../dist/fast/fast.js' : '../dist/src/cli/fast.js'
const {runFast} = await import(fast)

if (!(await runFast(process.argv.slice(2), at('..')))) {
  const {execute} = await import('@oclif/core')
  await execute({dir: import.meta.url})
}
