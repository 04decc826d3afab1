// gwfleet diff (and deploy --dry-run --diff): load and check the input, read every selected host,
// print the diff. Exit 0 when no gateway would change, 1 when one would (or could not be read, or
// would be refused), 2 for bad input.
import {checkReleases} from '../release/needs.js'
import {diffCounts, diffJson, diffSummary, diffText} from '../render/diff.js'
import {runDiff} from '../runner/diff.js'
import {EXIT, loadFleet, openRun, record, runOptions, within, write} from './common.js'
import type {FleetFlagValues} from './flags.js'

/**
 * The whole diff command after flag parsing; returns the exit code. `command` is the one the
 * operator typed (deploy for `deploy --dry-run --diff`): `-l @failed` reads its last run.
 */
export async function diffCommand(flags: FleetFlagValues, command = 'diff'): Promise<number> {
  const options = {...runOptions('diff', flags), dryRun: true}
  const {inventory, jobs} = await loadFleet(flags, command)
  // The same release checks as deploy --dry-run: a diff is the plan of the next deploy.
  const releases = await checkReleases(inventory, jobs.map((j) => j.gw), undefined)
  const ctx = await openRun(inventory, options, flags.json, jobs)
  const results = await within(ctx, () => runDiff(ctx, jobs, releases))
  await record(ctx, diffJson(results, ctx.log.dir), flags.json)
  if (!flags.json) {
    const mask = (s: string) => ctx.redactor.redact(s)
    write(diffText(results, mask))
    write(diffSummary(results))
    if (ctx.log.dir) process.stderr.write(`Run folder: ${ctx.log.dir}\n`)
  }
  const c = diffCounts(results)
  return c.changes + c.refused + c.unread === 0 ? EXIT.ok : EXIT.problems
}
