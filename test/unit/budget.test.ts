import {describe, expect, it} from 'vitest'

import {failureBudgetText} from '../../src/render/budget.js'
import {batchSizes, runBatches, toleratedFailures, type MaxFail} from '../../src/runner/rollout.js'
import type {HostResult} from '../../src/runner/result.js'

const text = (maxFail: MaxFail, selected: number, batched = true) => failureBudgetText({maxFail, tolerated: toleratedFailures(maxFail, selected), selected, batched})

describe('the failure budget line', () => {
  it('says the rollout stops at the first failure with --max-fail 0', () => {
    expect(text({count: 0}, 10)).toMatch(/^Failure budget: none \(--max-fail 0\): the rollout stops at the first failed gateway; the batch already running finishes, no further batch starts\.\n/)
  })

  it('names the failure that stops it, and how a percentage rounded', () => {
    expect(text({count: 2}, 10)).toMatch(/^Failure budget: 2 \(--max-fail 2\): the rollout stops when a 3rd gateway fails;/)
    expect(text({percent: 10}, 25)).toMatch(/^Failure budget: 2 \(--max-fail 10% of 25 selected gateway\(s\), rounded down\): the rollout stops when a 3rd gateway fails;/)
    expect(text({percent: 10}, 9)).toMatch(/^Failure budget: none \(--max-fail 10% of 9 selected gateway\(s\), rounded down\): the rollout stops at the first failed gateway/)
    expect(text({count: 10}, 40)).toContain('when a 11th gateway fails')
    expect(text({count: 20}, 40)).toContain('when a 21st gateway fails')
  })

  it('says unreachable gateways count and failures add up across batches', () => {
    expect(text({count: 1}, 5)!.split('\n')[1]).toBe('Unreachable gateways count as failed (also when found before the first batch); failures add up across batches.')
  })

  it('says nothing without batches and --max-fail 0, and that --max-fail does nothing without batches', () => {
    expect(text({count: 0}, 5, false)).toBeNull()
    expect(text({count: 2}, 5, false)).toMatch(/--max-fail 2 has no effect here: every gateway goes at once/)
  })

  // What the line says is what runBatches does: tolerated failures pass, the next one stops the rollout.
  it('matches the rollout: 2 tolerated means the 3rd failure (an unreachable one) stops it, across batches', async () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f']
    const fails: Record<string, HostResult['status']> = {a: 'failed', c: 'unreachable', d: 'failed'}
    const result = (name: string, status: HostResult['status']): HostResult => ({name, host: name, status, action: 'upgrade', fromVersion: null, toVersion: null, hops: [], error: null, durationMs: 0})
    const out = await runBatches(
      names,
      {sizes: batchSizes(6, [{count: 2}]), maxFail: toleratedFailures({count: 2}, 6), concurrency: 2, stopping: () => false},
      async (n) => result(n, fails[n] ?? 'ok'),
      async (n) => result(n, 'skipped'),
    )
    expect(out.map((r) => r.status)).toEqual(['failed', 'ok', 'unreachable', 'failed', 'skipped', 'skipped'])
    expect(text({count: 2}, 6)).toContain('stops when a 3rd gateway fails')
  })
})
