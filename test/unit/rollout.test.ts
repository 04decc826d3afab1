import {describe, expect, it} from 'vitest'

import {InputError} from '../../src/errors.js'
import type {HostResult} from '../../src/runner/result.js'
import {batchSizes, parseBatchSizes, parseMaxFail, runBatches} from '../../src/runner/rollout.js'

describe('batch sizes', () => {
  it('parses lists and repeats the last entry', () => {
    expect(batchSizes(10, parseBatchSizes('1,25%'))).toEqual([1, 3, 3, 3])
    expect(batchSizes(20, parseBatchSizes('2,5,50%'))).toEqual([2, 5, 10, 3])
    expect(batchSizes(3, parseBatchSizes('100%'))).toEqual([3])
    expect(batchSizes(0, parseBatchSizes('1'))).toEqual([])
  })
  it('gives at least one host per batch', () => {
    expect(batchSizes(3, parseBatchSizes('1%'))).toEqual([1, 1, 1])
  })
  it('rejects bad input', () => {
    for (const bad of ['0', '', '1,,2', 'x', '0%', '101%', '-1', '1.5']) {
      expect(() => parseBatchSizes(bad), bad).toThrow(InputError)
    }
  })
  it('parses max-fail', () => {
    expect(parseMaxFail('0', 10)).toBe(0)
    expect(parseMaxFail('2', 10)).toBe(2)
    expect(parseMaxFail('10%', 50)).toBe(5)
    expect(() => parseMaxFail('x', 10)).toThrow(/--max-fail/)
  })
})

const res = (name: string, status: HostResult['status']): HostResult => ({
  name, host: name, status, action: 'upgrade', fromVersion: null, toVersion: null, hops: [], error: null, durationMs: 0,
})

describe('runBatches', () => {
  const items = ['a', 'b', 'c', 'd', 'e']
  it('stops after a failing canary and skips the rest', async () => {
    const out = await runBatches(items, {sizes: [1, 2, 2], maxFail: 0, concurrency: 4, stopping: () => false},
      async (it) => res(it, it === 'a' ? 'failed' : 'ok'), (it, why) => ({...res(it, 'skipped'), error: why}))
    expect(out.map((r) => r.status)).toEqual(['failed', 'skipped', 'skipped', 'skipped', 'skipped'])
    expect(out[1].error).toMatch(/more than --max-fail 0/)
  })
  it('rolls past failures within max-fail', async () => {
    const out = await runBatches(items, {sizes: [1, 2, 2], maxFail: 1, concurrency: 4, stopping: () => false},
      async (it) => res(it, it === 'a' ? 'failed' : 'ok'), (it) => res(it, 'skipped'))
    expect(out.map((r) => r.status)).toEqual(['failed', 'ok', 'ok', 'ok', 'ok'])
  })
  it('starts nothing new once the operator stops', async () => {
    let stop = false
    const out = await runBatches(items, {sizes: [2, 3], maxFail: 0, concurrency: 1, stopping: () => stop},
      async (it) => { stop = true; return res(it, 'ok') }, (it) => res(it, 'skipped'))
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
    }, (it) => res(it, 'skipped'))
    expect(peak).toBe(2)
  })
})
