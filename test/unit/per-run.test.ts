import {describe, expect, it} from 'vitest'

import {forgetRunState, forgetWithRun, perRunMap} from '../../src/util/per-run.js'

describe('per-run state', () => {
  it('forgetRunState empties every per-run map and calls every forgetter, again at each call', () => {
    const a = perRunMap<string, number>()
    const b = perRunMap<string, string>()
    let kept: string | undefined
    forgetWithRun(() => (kept = undefined))
    for (let round = 0; round < 2; round++) {
      a.set('x', 1)
      b.set('y', 'z')
      kept = 'gate'
      forgetRunState()
      expect([a.size, b.size, kept]).toEqual([0, 0, undefined])
    }
  })
})
