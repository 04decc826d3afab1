// Rollout control: batch sizes, max-fail, and running batches with bounded concurrency.
import pLimit from 'p-limit'

import type {HostResult} from './result.js'

/** One entry of --batch-size: a count or a percentage of the hosts. */
export type BatchSpec = {count: number} | {percent: number}

/** Batch sizes for `total` hosts: entries in order, the last one repeating; at least one host each. */
export function batchSizes(total: number, specs: BatchSpec[]): number[] {
  const out: number[] = []
  let left = total
  let i = 0
  while (left > 0) {
    const s = specs[Math.min(i, specs.length - 1)]
    const want = 'count' in s ? s.count : Math.ceil((total * s.percent) / 100)
    const n = Math.min(left, Math.max(1, want))
    out.push(n)
    left -= n
    i++
  }
  return out
}

/** --max-fail: a count of failures, or a percentage of the hosts. */
export type MaxFail = {count: number} | {percent: number}

/** How many failures --max-fail tolerates among `total` hosts. */
export function toleratedFailures(m: MaxFail, total: number): number {
  return 'count' in m ? m.count : Math.floor((total * m.percent) / 100)
}

/** Failures that count against --max-fail. */
export function isFailure(r: HostResult): boolean {
  return r.status === 'failed' || r.status === 'unreachable'
}

/** Options for running batches. */
export interface RolloutOptions {
  sizes: number[]
  maxFail: number
  concurrency: number
  /** True once the operator asked to stop: nothing new starts. */
  stopping: () => boolean
  onBatch?: (n: number, of: number, size: number) => void
  /** Called when the rollout stops early. */
  onStop?: (why: string) => void
  /** Called after each batch that ran, with its results. */
  afterBatch?: (n: number, of: number, results: HostResult[]) => Promise<void>
}

/** Run items batch by batch; when failures exceed maxFail or the operator stops, the rest are skipped. */
export async function runBatches<T>(
  items: T[],
  opts: RolloutOptions,
  work: (item: T, batch: number) => Promise<HostResult>,
  skip: (item: T, why: string, batch: number) => Promise<HostResult>,
  priorFailures = 0,
): Promise<HostResult[]> {
  const results: HostResult[] = []
  const limit = pLimit(Math.max(1, opts.concurrency))
  let failures = priorFailures
  let start = 0
  let stopWhy: string | undefined
  // Failures found while the hosts were read count too: past the budget, not even the first batch starts.
  if (failures > opts.maxFail && items.length > 0) {
    stopWhy = `rollout stopped before batch 1: ${failures} failure(s) while reading the hosts, more than --max-fail ${opts.maxFail}`
    opts.onStop?.(stopWhy)
  }
  for (let b = 0; b < opts.sizes.length; b++) {
    const batch = items.slice(start, start + opts.sizes[b])
    start += opts.sizes[b]
    if (stopWhy === undefined && opts.stopping()) stopWhy = 'interrupted by the operator'
    if (stopWhy !== undefined) {
      for (const it of batch) results.push(await skip(it, stopWhy, b + 1))
      continue
    }
    opts.onBatch?.(b + 1, opts.sizes.length, batch.length)
    const done = await Promise.all(
      batch.map((it) =>
        limit(async () => {
          if (opts.stopping()) return skip(it, 'interrupted by the operator', b + 1)
          return work(it, b + 1)
        }),
      ),
    )
    results.push(...done)
    await opts.afterBatch?.(b + 1, opts.sizes.length, done)
    failures += done.filter(isFailure).length
    if (opts.stopping()) stopWhy = 'interrupted by the operator'
    else if (failures > opts.maxFail && start < items.length) {
      stopWhy = `rollout stopped after batch ${b + 1}: ${failures} failure(s), more than --max-fail ${opts.maxFail}`
      opts.onStop?.(stopWhy)
    }
  }
  return results
}
