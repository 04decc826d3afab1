// End to end on real OpenSSH lab hosts (subnet 54, lab "routes"):
//   - a gateway whose ~/.ssh/config reaches it through a ProxyCommand, or whose route a Match
//     block may set, is refused by deploy and audit before any host is contacted, naming the
//     ssh_config file and line (OpenSSH would not reach it directly; gwfleet used to); the host is
//     untouched and a Match block's exec never runs; with a jump in the inventory the same
//     gateway is deployed through that bastion;
//   - locks list says when a lock's holder process is gone from this workstation.
//
//   npm run build && GWFLEET_LAB_OFFSET=<n> npx vitest run test/e2e/routes.test.ts
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {agentVersion, installs, lab as startLab, type Lab, type LabHost, ROOT, Workspace} from './fleet.js'

let lab: Lab
let ws: Workspace
const h = (i: number): LabHost => lab.hosts[i - 1]
const sshConfig = () => path.join(ws.home, '.ssh', 'config')

beforeAll(async () => {
  lab = await startLab(3, 54, 'routes')
  ws = new Workspace(lab, 'routes')
  await ws.releasesOf('1.5.0')
}, 120_000)

afterAll(async () => {
  if (ws && !process.env.GWFLEET_E2E_KEEP) fs.rmSync(ws.dir, {recursive: true, force: true})
  await lab?.stop()
})

describe('ssh_config routes gwfleet cannot follow', () => {
  it('a ProxyCommand for the gateway host: deploy and audit refuse it naming the line, nothing on the host changes; with a jump in the inventory it is deployed through the bastion', async () => {
    const inv = ws.inventory('1.5.0', [{host: h(1), name: 'proxied-1'}], 'proxied.yaml')
    fs.writeFileSync(sshConfig(), ['Host 192.0.2.*', '  User nobody', `Host ${h(1).address}`, '  ProxyCommand ssh -W %h:%p corp-bastion.example', ''].join('\n'))
    try {
      for (const args of [['deploy', '-i', inv], ['audit', '-i', inv]]) {
        const r = await ws.runHere(args)
        expect(r.code, `${args[0]}: ${r.stdout}${r.stderr}`).toBe(2)
        // The last word on stderr (a deploy states its failure budget first).
        expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(
          `gwfleet: error: ${sshConfig()}:4 (ProxyCommand): gateway proxied-1 (host ${h(1).address}): ssh_config reaches this host through a ProxyCommand, ` +
            `which gwfleet does not run (it would connect directly instead); set jump (the bastion to go through) for the gateway in the inventory (${inv}:9), ` +
            'or leave this host out of that ProxyCommand',
        )
        const j = await ws.runHere([...args, '--json'])
        expect(j.code, j.stdout + j.stderr).toBe(2)
        expect(j.json.error).toContain(`${sshConfig()}:4 (ProxyCommand): gateway proxied-1`)
      }
      // validate says the same without contacting anything.
      const v = await ws.runHere(['validate', '-i', inv, '--json'])
      expect(v.code).toBe(2)
      expect(v.json.problems).toEqual([expect.stringContaining(`${sshConfig()}:4 (ProxyCommand): gateway proxied-1`)])
      // Nothing reached the host: no installer ran, no folder of gwfleet's was made.
      expect(await installs(h(1))).toEqual([])
      expect(await h(1).exists('/opt/gwfleet')).toBe(false)

      // The inventory says how to reach it: through h2 as the bastion; the ProxyCommand is not used.
      const viaJump = ws.inventory('1.5.0', [{host: h(1), name: 'proxied-1', opts: {jump: `root@${h(2).address}`}}], 'proxied-jump.yaml')
      // spawned: this file's deploy by the real binary, end to end
      const ok = await ws.run(['deploy', '-i', viaJump, '--json'])
      expect(ok.code, ok.stdout + ok.stderr).toBe(0)
      expect(ok.json.hosts[0]).toMatchObject({name: 'proxied-1', status: 'ok'})
      expect(await agentVersion(h(1))).toBe('1.5.0')
      expect(await installs(h(2))).toEqual([])
    } finally {
      fs.rmSync(sshConfig(), {force: true})
    }
  })

  it('a Match block that may apply and sets the route: refused naming the Match line and its settings; its exec never runs; one that cannot apply is no matter', async () => {
    const inv = ws.inventory('1.5.0', [{host: h(3), name: 'matched-3'}], 'matched.yaml')
    const marker = path.join(ws.dir, 'match-exec-ran')
    fs.writeFileSync(
      sshConfig(),
      [
        // Cannot apply to this host: no refusal for it.
        'Match originalhost 192.0.2.*',
        '  ProxyCommand nc %h %p',
        `Match originalhost ${h(3).address} exec "touch ${marker}"`,
        '  ServerAliveInterval 15',
        '  HostName 198.51.100.9',
        '  Port 2222',
        '',
      ].join('\n'),
    )
    try {
      const r = await ws.runHere(['deploy', '-i', inv])
      expect(r.code, r.stdout + r.stderr).toBe(2)
      expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(
        `gwfleet: error: ${sshConfig()}:3 (Match): gateway matched-3 (host ${h(3).address}): a Match block may apply to this host and sets HostName, Port (line 5, line 6); ` +
          'gwfleet does not evaluate Match blocks and will not guess how OpenSSH would reach the host: narrow the block with "Match host" or "Match originalhost" patterns ' +
          `that leave this host out, move those settings into a Host block, or set port for the gateway in the inventory (${inv}:9)`,
      )
      expect(fs.existsSync(marker)).toBe(false)
      expect(await installs(h(3))).toEqual([])
      expect(await h(3).exists('/opt/gwfleet')).toBe(false)
    } finally {
      fs.rmSync(sshConfig(), {force: true})
    }
  })
})

describe('locks list', () => {
  it("says when the holder's process is gone from this workstation, and that the operator's next run takes the lock over", async () => {
    const {machineIdentity, localUserName} = await import(pathToFileURL(path.join(ROOT, 'dist', 'src', 'util', 'local.js')).href)
    // A pid that runs nowhere (past the kernel's limit), from this workstation's identity and this operator.
    const gone = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1
    const owner = `${localUserName()}@${os.hostname()}`
    const lock = {owner, pid: gone, command: 'deploy', started: new Date().toISOString(), token: 'tok-e2e-gone', machine: machineIdentity()}
    const live = {...lock, pid: process.pid, token: 'tok-e2e-live'}
    const inv = ws.inventory('1.5.0', [{host: h(2), name: 'gone-2'}, {host: h(3), name: 'live-3'}], 'locks.yaml')
    await h(2).exec(`mkdir -p /opt/gwfleet/state && printf '%s\\n' '${JSON.stringify(lock)}' > /opt/gwfleet/state/lock`)
    await h(3).exec(`mkdir -p /opt/gwfleet/state && printf '%s\\n' '${JSON.stringify(live)}' > /opt/gwfleet/state/lock`)
    try {
      // spawned (both lists): whether a holder's process is gone or alive; in-process the live holder's pid would be the CLI's own
      const r = await ws.run(['locks', 'list', '-i', inv])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toMatch(
        new RegExp(`^gone-2 .* held, process gone .* ${owner} pid ${gone} \\(deploy\\) since \\S+; its process \\(pid ${gone}\\) is gone from this workstation: your next run takes the lock over$`, 'm'),
      )
      expect(r.stdout).toMatch(new RegExp(`^live-3 .* held  .* ${owner} pid ${process.pid} \\(deploy\\) since \\S+$`, 'm'))
      expect(r.stdout).toContain('2 of 2 host(s) locked (1 held by a process that is gone from this workstation)')
      const j = await ws.run(['locks', 'list', '-i', inv, '--json'])
      expect(j.json.hosts.map((x: any) => [x.name, x.lock.processGone, x.lock.takenOverByMe])).toEqual([
        ['gone-2', true, true],
        ['live-3', false, false],
      ])
    } finally {
      for (const i of [2, 3]) await h(i).exec('rm -rf /opt/gwfleet/state/lock')
    }
  })
})
