// End to end in a real terminal (subnet 56, lab "tty-survive"): what an operator sees while the
// link to the hosts drops in the middle of talkative installs. gwfleet runs in a tmux pane with
// its live view; each host is reached through a TCP proxy of this test that drops every
// connection for a while. The rows must say the host is reconnecting (which attempt, for how
// long) instead of failing, then follow the installer again, and the run ends ok with every
// installer started once.
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

// @ts-expect-error plain JS lab module
import {DropProxy} from '../lab/drop-proxy.js'
import {endInstallerPause, lab, type Lab, type LabHost, Workspace} from './fleet.js'
import {Terminal, terminalEnv} from './terminal.js'

let L: Lab
let ws: Workspace
const proxies: any[] = []
const open: Terminal[] = []

beforeAll(async () => {
  L = await lab(2, 56, 'tty-survive')
  ws = new Workspace(L, 'tty-survive')
  await ws.releasesOf('1.5.0')
  const known: string[] = []
  for (const host of L.hosts) {
    const p = new DropProxy(host)
    await p.listen()
    proxies.push(p)
    known.push(`[127.0.0.1]:${p.port} ${host.hostKeyLine.split(' ').slice(1).join(' ')}`)
  }
  fs.writeFileSync(path.join(ws.dir, 'known_hosts'), `${known.join('\n')}\n`)
})

afterEach(async () => {
  for (const t of open.splice(0)) await t.close()
})

afterAll(async () => {
  for (const p of proxies) p.close()
  await L?.stop()
})

/** The lab's hosts, each reached through its proxy. */
function inventory(): string {
  const lines = ['release:', '  dir: releases', '  version: 1.5.0', 'defaults:', '  user: root', `  identityFile: ${L.clientKey}`, '  knownHosts: known_hosts', 'gateways:']
  L.hosts.forEach((host, i) => {
    ws.writeValues(host.name)
    lines.push(`  ${host.name}:`, '    host: 127.0.0.1', `    port: ${proxies[i].port}`, `    values: values/${host.name}.yaml`)
  })
  const p = path.join(ws.dir, 'tty-survive.yaml')
  fs.writeFileSync(p, `${lines.join('\n')}\n`)
  return p
}

async function starts(host: LabHost): Promise<number> {
  return (await host.exec('cat /var/lib/gwlab-k3s/starts.log 2>/dev/null')).stdout.split('\n').filter(Boolean).length
}

describe('a dropped link in a real terminal (lab subnet 56)', () => {
  it('the rows say reconnecting (attempt, seconds), then follow the installers again; the run ends ok, each installer started once', async () => {
    // Each installer talks, then pauses until the test has seen the rows reconnect (then it ends the
    // pause): the link always drops while both run, however slow the machine.
    for (const h of L.hosts) {
      await h.setFault('talk', '3')
      await h.setFault('sleep', '600')
    }
    const inv = inventory()
    const t = await Terminal.gwfleet(['deploy', '-i', inv, '--batch-size', 'all'], {cols: 120, rows: 30, env: terminalEnv(ws.env())})
    open.push(t)
    // Both installers talk on the screen before the link goes.
    // A live row: its spinner, `name: step`, then the installer's last line.
    const row = (name: string, what: string) => new RegExp(`(^|\\s)${name}: [^\\n]*${what}`, 'm')
    let shown = ''
    /** Wait until every host's row on one screen says `what`. */
    const rowsSay = (what: string, timeoutMs = 120_000) =>
      Terminal.until(`every row to say ${what}`, async () => {
        shown = await t.screen()
        return L.hosts.every((h) => row(h.name, what).test(shown))
      }, timeoutMs).catch((e) => {
        throw new Error(`${e.message}; the screen:\n${shown}`)
      })
    // Both installers talked on the screen before the link goes.
    await rowsSay('installing: step 3 of 3')
    for (const p of proxies) p.drop(8000)
    await rowsSay('reconnecting \\(attempt \\d+, \\d+s\\)', 60_000)
    const during = shown
    for (const h of L.hosts) expect(during, `${h.name}'s row while the link is down`).toMatch(row(h.name, '(reconnecting \\(attempt \\d+, \\d+s\\)|installing: step)'))
    expect(during).not.toMatch(/failed|unreachable/)
    // Reached again, each row follows its job again; then the installers finish.
    await rowsSay('reconnected: following the job', 60_000)
    for (const h of L.hosts) await endInstallerPause(h)
    const ended = await t.exit(180_000)
    for (const h of L.hosts) {
      await h.setFault('talk', null)
      await h.setFault('sleep', null)
    }
    const screen = await t.scrollback()
    expect(ended.code, screen).toBe(0)
    for (const h of L.hosts) {
      expect(screen).toMatch(new RegExp(`^${h.name}\\s+127\\.0\\.0\\.1\\s+ok\\s+install`, 'm'))
      expect(await starts(h), h.name).toBe(1)
    }
  }, 300_000)
})
