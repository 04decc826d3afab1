#!/usr/bin/env node
import {runFast} from '../dist/fast/fast.js'

// Ordinary command lines run without loading oclif; everything else goes through oclif.
if (!(await runFast(process.argv.slice(2), new URL('..', import.meta.url)))) {
  const {execute} = await import('@oclif/core')
  await execute({dir: import.meta.url})
}
