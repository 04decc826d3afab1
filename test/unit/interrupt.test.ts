import {describe, expect, it} from 'vitest'

import {Interrupt} from '../../src/runner/context.js'

describe('Interrupt', () => {
  it('takes one abort listener per running installer without a leak warning', async () => {
    const warnings: Error[] = []
    const onWarning = (w: Error) => warnings.push(w)
    process.on('warning', onWarning)
    try {
      const i = new Interrupt()
      let stopped = 0
      for (let n = 0; n < 64; n++) i.hard.signal.addEventListener('abort', () => stopped++, {once: true})
      i.hard.abort()
      // warnings are emitted on the next tick
      await new Promise((r) => setImmediate(r))
      expect(stopped).toBe(64)
      expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning')
    } finally {
      process.off('warning', onWarning)
    }
  })
})
