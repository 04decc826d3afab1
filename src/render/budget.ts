// The failure budget of a rollout in words, printed before it starts, so the operator knows what
// --max-fail will do before it does it. Pure; the rules it states are src/runner/rollout.ts's.
import type {MaxFail} from '../runner/rollout.js'

/** What the budget line needs: the flag as given, what it came to, and how the run is split. */
export interface BudgetInput {
  maxFail: MaxFail
  /** toleratedFailures(maxFail, selected). */
  tolerated: number
  /** Gateways selected (a percentage is of these, whether they need a change or not). */
  selected: number
  /** True when the run goes in batches (--batch-size, or upgrade's default canary). */
  batched: boolean
}

const ord = (n: number) => `${n}${n % 100 >= 11 && n % 100 <= 13 ? 'th' : ['th', 'st', 'nd', 'rd'][n % 10] ?? 'th'}`

/**
 * The lines stating the failure budget, or null when there is nothing to say (all at once with
 * --max-fail 0). Without batches every gateway goes at once, so --max-fail cannot stop anything.
 */
export function failureBudgetText(b: BudgetInput): string | null {
  const flag = 'count' in b.maxFail ? `--max-fail ${b.maxFail.count}` : `--max-fail ${b.maxFail.percent}% of ${b.selected} selected gateway(s), rounded down`
  if (!b.batched) {
    if ('count' in b.maxFail && b.maxFail.count === 0) return null
    return `Failure budget: ${flag} has no effect here: every gateway goes at once, in one batch (give --batch-size to roll out in batches).`
  }
  const stop =
    b.tolerated === 0
      ? `Failure budget: none (${flag}): the rollout stops at the first failed gateway`
      : `Failure budget: ${b.tolerated} (${flag}): the rollout stops when a ${ord(b.tolerated + 1)} gateway fails`
  return `${stop}; the batch already running finishes, no further batch starts.\nUnreachable gateways count as failed (also when found before the first batch); failures add up across batches.`
}
