// End to end: the run-wide bound on SSH handshakes (issue 12, "load loses hosts"). With one
// handshake in flight, a host that waits in line longer than --connect-timeout still connects: the
// wait for a turn is not a network timeout. The 1,000-host measurement is test/bench/scale.js.
import fs from 'node:fs'
import net from 'node:net'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {byName, type Lab, lab as startLab, type LabHost, Workspace} from './fleet.js'

const HOSTS = 60
let lab: Lab
let ws: Workspace
let inv: string

beforeAll(async () => {
  lab = await startLab(HOSTS, 27, 'e2e-load')
  ws = new Workspace(lab, 'load')
  await ws.releasesOf('1.5.0')
  inv = ws.inventory('1.5.0', lab.hosts.map((host) => ({host})))
})

afterAll(async () => {
  await lab?.stop()
  if (ws) fs.rmSync(ws.dir, {recursive: true, force: true})
})

describe('handshakes bounded for the whole run', () => {
  it('one handshake at a time, all hosts at once, a 1s connect timeout: the queue outlasts it and no host is lost', async () => {
    // spawned: this file's run of the real binary end to end (it has no deploy): 60 connections from the CLI's own process
    const r = await ws.run(['audit', '-i', inv, '-c', String(HOSTS), '--connect-timeout', '1s', '--json'], {env: {GWFLEET_MAX_HANDSHAKES: '1'}, timeoutMs: 170_000})
    const hosts = Object.values(byName(r))
    expect(hosts).toHaveLength(HOSTS)
    const lost = hosts.filter((h: any) => h.status !== 'not-installed').map((h: any) => `${h.name}: ${h.status} ${h.error ?? ''}`)
    expect(lost).toEqual([])
    // The scenario really happened: the last host waited for its turn longer than the timeout.
    expect(Math.max(...hosts.map((h: any) => h.durationMs))).toBeGreaterThan(1000)
  })

  it('refuses a GWFLEET_MAX_HANDSHAKES that is not a positive integer with exit 2, before any host is touched', async () => {
    // The gateway is a listener that counts the connections it gets and holds them without a word
    // (a connection it closed would be retried with backoff as sshd's MaxStartups drop, for seconds).
    let connections = 0
    const held: net.Socket[] = []
    const listener = net.createServer((sock) => {
      connections++
      held.push(sock)
    })
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()))
    const port = (listener.address() as net.AddressInfo).port
    const counted = ws.inventory('1.5.0', [{host: {name: 'counted', address: '127.0.0.1'} as LabHost, opts: {extra: `    port: ${port}`}}], 'counted.yaml')
    try {
      for (const bad of ['0', 'lots']) {
        const r = await ws.runHere(['audit', '-i', counted, '--json'], {env: {GWFLEET_MAX_HANDSHAKES: bad}})
        expect(r.code).toBe(2)
        expect(JSON.parse(r.stdout)).toEqual({ok: false, error: `GWFLEET_MAX_HANDSHAKES must be a positive integer, got "${bad}"`})
      }
      expect(connections).toBe(0)
      // the same inventory with the default bound does connect: the listener counts
      const ok = await ws.runHere(['audit', '-i', counted, '--json', '--connect-timeout', '1s'])
      expect(byName(ok).counted?.status).toBe('unreachable')
    } finally {
      for (const sock of held) sock.destroy()
      listener.close()
    }
    expect(connections).toBeGreaterThan(0)
  })
})
