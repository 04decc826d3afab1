#!/usr/bin/env node
// An unknown command gets gwfleet's own error and the command probably meant (src/cli/suggest.ts);
// oclif runs every other command line.
import {rejectUnknownCommand} from '../dist/src/cli/suggest.js'

if (!rejectUnknownCommand(process.argv.slice(2))) {
  const {execute, settings} = await import('@oclif/core')
  // gwfleet runs its compiled JavaScript only: oclif must not load TypeScript to look for sources,
  // which it otherwise does whenever NODE_ENV is "development" or "test".
  settings.enableAutoTranspile = false
  await execute({dir: import.meta.url})
}
