#!/usr/bin/env node
// An unknown command gets gwfleet's own error and the command probably meant (src/cli/suggest.ts);
// oclif runs every other command line.
import {rejectUnknownCommand} from '../dist/src/cli/suggest.js'

if (!rejectUnknownCommand(process.argv.slice(2))) {
  const {execute} = await import('@oclif/core')
  await execute({dir: import.meta.url})
}
