import {describe, expect, it} from 'vitest'

import type {HostResult} from '../../src/runner/result.js'
import {batchSizes, runBatches, toleratedFailures} from '../../src/runner/rollout.js'

// Parsing the --batch-size and --max-fail texts is the flags' job (test/unit/flags.test.ts).
describe('batch sizes', () => {
  it('takes the entries in order and repeats the last one', () => {
    expect(batchSizes(10, [{count: 1}, {percent: 25}])).toEqual([1, 3, 3, 3])
    expect(batchSizes(20, [{count: 2}, {count: 5}, {percent: 50}])).toEqual([2, 5, 10, 3])
    expect(batchSizes(3, [{percent: 100}])).toEqual([3])
    expect(batchSizes(0, [{count: 1}])).toEqual([])
  })
  it('gives at least one host per batch', () => {
    expect(batchSizes(3, [{percent: 1}])).toEqual([1, 1, 1])
  })
  it('turns max-fail into a count of hosts (a percentage rounds down)', () => {
    expect(toleratedFailures({count: 0}, 10)).toBe(0)
    expect(toleratedFailures({count: 2}, 10)).toBe(2)
    expect(toleratedFailures({percent: 10}, 50)).toBe(5)
    expect(toleratedFailures({percent: 10}, 19)).toBe(1)
  })
})

const res = (name: string, status: HostResult['status']): HostResult => ({
  name, host: name, status, action: 'upgrade', fromVersion: null, toVersion: null, hops: [], error: null, durationMs: 0,
})

describe('runBatches', () => {
  const items = ['a', 'b', 'c', 'd', 'e']
  it('stops after a failing canary and skips the rest', async () => {
    const out = await runBatches(items, {sizes: [1, 2, 2], maxFail: 0, concurrency: 4, stopping: () => false},
      async (it) => res(it, it === 'a' ? 'failed' : 'ok'), async (it, why) => ({...res(it, 'skipped'), error: why}))
    expect(out.map((r) => r.status)).toEqual(['failed', 'skipped', 'skipped', 'skipped', 'skipped'])
    expect(out[1].error).toMatch(/more than --max-fail 0/)
  })
  it('rolls past failures within max-fail', async () => {
    const out = await runBatches(items, {sizes: [1, 2, 2], maxFail: 1, concurrency: 4, stopping: () => false},
      async (it) => res(it, it === 'a' ? 'failed' : 'ok'), async (it) => res(it, 'skipped'))
    expect(out.map((r) => r.status)).toEqual(['failed', 'ok', 'ok', 'ok', 'ok'])
  })
  it('starts nothing new once the operator stops', async () => {
    let stop = false
    const out = await runBatches(items, {sizes: [2, 3], maxFail: 0, concurrency: 1, stopping: () => stop},
      async (it) => { stop = true; return res(it, 'ok') }, async (it) => res(it, 'skipped'))
    expect(out.map((r) => r.status)).toEqual(['ok', 'skipped', 'skipped', 'skipped', 'skipped'])
  })
  it('never runs more than the concurrency at once', async () => {
    let running = 0
    let peak = 0
    await runBatches(items, {sizes: [5], maxFail: 0, concurrency: 2, stopping: () => false}, async (it) => {
      running++; peak = Math.max(peak, running)
      await new Promise((r) => setTimeout(r, 10))
      running--
      return res(it, 'ok')
    }, async (it) => res(it, 'skipped'))
    expect(peak).toBe(2)
  })
})

describe('runBatches with failures found while reading the hosts', () => {
  it('starts no batch when they already exceed --max-fail, and says why', async () => {
    const stops: string[] = []
    let ran = 0
    const out = await runBatches(['a', 'b'], {sizes: [1, 1], maxFail: 0, concurrency: 2, stopping: () => false, onStop: (w) => stops.push(w)},
      async (it) => { ran++; return res(it, 'ok') }, async (it, why) => ({...res(it, 'skipped'), error: why}), 1)
    expect(ran).toBe(0)
    expect(out.map((r) => r.status)).toEqual(['skipped', 'skipped'])
    expect(stops).toEqual(['rollout stopped before batch 1: 1 failure(s) while reading the hosts, more than --max-fail 0'])
  })
  it('within the budget, the batches run', async () => {
    const out = await runBatches(['a'], {sizes: [1], maxFail: 1, concurrency: 1, stopping: () => false}, async (it) => res(it, 'ok'), async (it) => res(it, 'skipped'), 1)
    expect(out.map((r) => r.status)).toEqual(['ok'])
  })
})
