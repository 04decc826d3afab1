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

  it('first Ctrl-C stops new work, the second stops installers, later ones only say to wait', () => {
    const said: string[] = []
    const i = new Interrupt()
    i.install((m) => said.push(m))
    try {
      expect([i.stopping, i.interrupted, i.hard.signal.aborted]).toEqual([false, false, false])
      i.signal('SIGINT')
      expect([i.stopping, i.interrupted, i.hard.signal.aborted]).toEqual([true, true, false])
      i.signal('SIGINT')
      expect(i.hard.signal.aborted).toBe(true)
      i.signal('SIGINT')
      expect(said).toEqual([
        expect.stringMatching(/^Interrupted: no new host or hop will start.*Press Ctrl-C again/),
        'Stopping running installers on the hosts ...',
        expect.stringMatching(/^Still cleaning up/),
      ])
    } finally {
      i.uninstall()
    }
  })

  it('SIGTERM and SIGHUP act as the first Ctrl-C and never stop installers', () => {
    for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
      const i = new Interrupt()
      i.signal(sig)
      i.signal(sig)
      expect([i.stopping, i.interrupted, i.hard.signal.aborted]).toEqual([true, true, false])
      // A Ctrl-C after them is the second one.
      i.signal('SIGINT')
      expect(i.hard.signal.aborted).toBe(true)
    }
  })

  it('holds the process signals from the outermost install to its uninstall, and only then', () => {
    const before = ['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s))
    const i = new Interrupt()
    i.install(() => undefined)
    i.install(() => undefined)
    const during = ['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s))
    expect(during).toEqual(before.map((n) => n + 1))
    i.uninstall()
    expect(['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s))).toEqual(during)
    // A real signal reaches the run instead of ending the process.
    process.emit('SIGTERM', 'SIGTERM')
    expect(i.stopping).toBe(true)
    i.uninstall()
    expect(['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s))).toEqual(before)
    i.uninstall()
    expect(['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s))).toEqual(before)
  })
})
