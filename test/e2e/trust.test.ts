// The gateway host is partly hostile (lab subnet 26, lab "trust"): attacks by the sudo login user
// and by other local users, performed for real while gwfleet works, and what gwfleet does instead
// of giving them root.
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {agentVersion, installs, lab, Workspace, type CliResult, type Lab, type LabHost} from './fleet.js'

let L: Lab
let hosts: LabHost[]

beforeAll(async () => {
  L = await lab(4, 26, 'trust')
  hosts = L.hosts
})

afterAll(async () => {
  await L?.stop()
})

const MARKER = '/var/tmp/pwned-by-ops'

/**
 * Start, as the login user `ops`, a loop that swaps its own script over every file it can reach
 * under remoteDir (renaming over it, or writing into it) until `stop` exists; each swap is counted
 * in /home/ops/swaps. The script, if root ever ran it, leaves MARKER behind.
 */
async function startSwapAttack(h: LabHost, remoteDir = '/opt/gwfleet'): Promise<void> {
  const evil = `#!/bin/sh\ntouch ${MARKER}\necho "Deployed versions:"\necho "agent: 1.5.0"\necho "All services are ready."\n`
  await h.writeFile('/home/ops/evil', evil, 0o755)
  const loop = [
    'end=$(( $(date +%s) + 150 ))',
    ': > /home/ops/swaps',
    'while [ "$(date +%s)" -lt "$end" ] && [ ! -e /home/ops/stop ]; do',
    `  for f in ${remoteDir}/.stage/upload/* ${remoteDir}/.stage/verified/* ${remoteDir}/.stage/* ${remoteDir}/.stage/*/* ${remoteDir}/releases/*/* ${remoteDir}/values/*; do`,
    '    [ -f "$f" ] || continue',
    '    cmp -s /home/ops/evil "$f" 2>/dev/null && continue',
    '    if cp /home/ops/evil "$f.x" 2>/dev/null && mv -f "$f.x" "$f" 2>/dev/null; then echo "renamed $f" >> /home/ops/swaps; continue; fi',
    '    rm -f "$f.x" 2>/dev/null',
    '    if cat /home/ops/evil > "$f" 2>/dev/null; then echo "wrote $f" >> /home/ops/swaps; fi',
    '  done',
    'done',
  ].join('\n')
  await h.writeFile('/home/ops/attack.sh', loop, 0o755)
  await h.exec('rm -f /home/ops/stop; chown -R ops /home/ops')
  await h.exec('nohup runuser -u ops -- sh /home/ops/attack.sh </dev/null >/dev/null 2>&1 &')
}

async function stopAttack(h: LabHost): Promise<string[]> {
  await h.exec('touch /home/ops/stop; sleep 0.3')
  return (await h.exec('cat /home/ops/swaps 2>/dev/null')).stdout.split('\n').filter(Boolean)
}

/** Everything under remoteDir that is not root's, or that group or others may write. */
async function foreignEntries(h: LabHost, remoteDir = '/opt/gwfleet'): Promise<string[]> {
  const r = await h.exec(`find ${remoteDir} \\( ! -user root -o -perm /022 \\) -printf '%p %u %m\\n'`)
  return r.stdout.split('\n').filter(Boolean)
}

describe('the sudo login user never gets root through the upload', () => {
  it('swapping uploads during a deploy and an upgrade runs nothing of theirs, and leaves nothing of theirs', async () => {
    const h = hosts[0]
    const ws = new Workspace(L, 'trust-swap')
    await ws.releasesOf('1.5.0', '1.6.0')
    const inv = ws.inventory('1.5.0', [{host: h, opts: {user: 'ops', become: true}}])
    // A slow installer keeps the uploads in the stage long enough for the attacker to find them.
    await h.setFault('sleep', '2')

    await startSwapAttack(h)
    // spawned: the file's end-to-end run of the real gwfleet process (the others run in this one)
    const deploy = await ws.run(['deploy', '-i', inv, '--json'])
    const swapsDeploy = await stopAttack(h)
    expect(swapsDeploy.length, 'the attack swapped files in the upload stage').toBeGreaterThan(0)
    expect(await h.exists(MARKER), 'root ran the login user\'s script').toBe(false)
    const d = deploy.json.hosts[0]
    // Swapped before root took its copy: refused by hash. After: root's copy is what runs.
    if (d.status === 'ok') expect(await agentVersion(h)).toBe('1.5.0')
    else expect(d.error).toMatch(/could not be put in place/)
    expect(await foreignEntries(h)).toEqual([])

    // The attack cannot make the installer fail forever: without it the deploy goes through.
    if (d.status !== 'ok') {
      const again = await ws.runHere(['deploy', '-i', inv, '--json'])
      expect(again.code, again.stderr).toBe(0)
    }
    expect(await agentVersion(h)).toBe('1.5.0')

    await startSwapAttack(h)
    const up = await ws.runHere(['upgrade', '-i', inv, '--to', '1.6.0', '--json'])
    const swapsUpgrade = await stopAttack(h)
    expect(swapsUpgrade.length).toBeGreaterThan(0)
    expect(await h.exists(MARKER), 'root ran the login user\'s script').toBe(false)
    const u = up.json.hosts[0]
    if (u.status === 'ok') expect(await agentVersion(h)).toBe('1.6.0')
    else expect(u.error).toMatch(/could not be put in place/)
    expect(await foreignEntries(h)).toEqual([])
    // Every release file on the host is root's and no one else may write it.
    const owners = await h.exec("find /opt/gwfleet/releases -type f -printf '%u %m %p\\n'")
    for (const line of owners.stdout.split('\n').filter(Boolean)) expect(line).toMatch(/^root [0-7]?[0-7][0145][0145] /)
    await h.setFault('sleep', null)
  })

  it('a release file another user could change is uploaded again, not trusted', async () => {
    const h = hosts[1]
    const ws = new Workspace(L, 'trust-stale')
    await ws.releasesOf('1.5.0')
    const inv = ws.inventory('1.5.0', [{host: h, opts: {user: 'ops', become: true}}])
    expect((await ws.runHere(['deploy', '-i', inv])).code).toBe(0)
    // As an older gwfleet could leave it after the race: the installer owned by the login user.
    await h.exec('chown ops /opt/gwfleet/releases/1.5.0/deploy_gateway')
    await h.exec("sed -i 's/^echo \"All services are ready.\"$/touch \\/var\\/tmp\\/pwned-by-ops; echo \"All services are ready.\"/' /opt/gwfleet/releases/1.5.0/deploy_gateway")
    await h.exec('rm -f /var/lib/gwlab-k3s/agent-image')
    const before = (await installs(h)).length
    const r = await ws.runHere(['deploy', '-i', inv, '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.json.hosts[0].action).toBe('install')
    expect((await installs(h)).length).toBe(before + 1)
    expect(await h.exists(MARKER)).toBe(false)
    expect((await h.exec("stat -c '%U' /opt/gwfleet/releases/1.5.0/deploy_gateway")).stdout.trim()).toBe('root')
  })
})

describe('a remoteDir someone else controls is never used', () => {
  it('refuses a remoteDir another user made, touches nothing through its links, and deploys the other hosts', async () => {
    const [bad, good] = [hosts[2], hosts[3]]
    // Another local user prepares /tmp/gwf: world-writable, the stage a link to a victim folder,
    // state/*.tmp links to a victim file.
    await bad.exec('mkdir -p /var/victim && echo precious > /var/victim/keep && echo original > /etc/victim.conf')
    await bad.exec(
      [
        'runuser -u ops -- sh -c "mkdir -p /tmp/gwf/state /tmp/gwf/values /tmp/gwf/releases && chmod -R 777 /tmp/gwf',
        'ln -s /var/victim /tmp/gwf/.stage',
        'ln -s /etc/victim.conf /tmp/gwf/state/h3.json.tmp',
        'ln -s /etc/victim.conf /tmp/gwf/state/lock"',
      ].join(' && '),
    )
    const ws = new Workspace(L, 'trust-dir')
    await ws.releasesOf('1.5.0')
    const inv = ws.inventory('1.5.0', [
      {host: bad, opts: {extra: '    remoteDir: /tmp/gwf'}},
      {host: good},
    ])
    // Every gateway at once: the refused host must not hold the others back.
    const r = await ws.runHere(['deploy', '-i', inv, '--batch-size', 'all', '--json'])
    expect(r.code).toBe(1)
    const byName = Object.fromEntries(r.json.hosts.map((x: any) => [x.name, x]))
    expect(byName.h3.status).toBe('failed')
    expect(byName.h3.error).toMatch(/remoteDir \/tmp\/gwf is not safe/)
    expect(byName.h3.error).toMatch(/\/tmp\/gwf has owner ops \(uid 60001\) and mode 777/)
    expect(byName.h4.status).toBe('ok')
    expect(await agentVersion(good)).toBe('1.5.0')
    // Nothing changed on the refused host, through a link or otherwise.
    expect((await bad.exec('cat /var/victim/keep')).stdout).toBe('precious\n')
    expect((await bad.exec('cat /etc/victim.conf')).stdout).toBe('original\n')
    expect((await bad.exec('ls -A /tmp/gwf/values /tmp/gwf/releases')).stdout).not.toMatch(/yaml|1\.5\.0/)
    expect(await installs(bad)).toEqual([])
    // The run folder and the table say why.
    const plain = await ws.runHere(['deploy', '-i', inv, '-l', 'h3'])
    expect(plain.stdout + plain.stderr).toMatch(/not safe for root to use/)
  })

  it('refuses a symbolic link inside a root-owned remoteDir', async () => {
    const h = hosts[3]
    await h.exec('mkdir -p /opt/gw2 /var/elsewhere && ln -s /var/elsewhere /opt/gw2/releases')
    const ws = new Workspace(L, 'trust-link')
    await ws.releasesOf('1.5.0')
    const inv = ws.inventory('1.5.0', [{host: h, name: 'linked', opts: {extra: '    remoteDir: /opt/gw2'}}])
    const r = await ws.runHere(['deploy', '-i', inv, '--json'])
    expect(r.code).toBe(1)
    expect(r.json.hosts[0].error).toMatch(/\/opt\/gw2\/releases is symbolic link/)
    expect((await h.exec('ls -A /var/elsewhere')).stdout).toBe('')
    // audit reads nothing under it either, and says why
    const a = await ws.runHere(['audit', '-i', inv, '--json'])
    expect(a.code).toBe(1)
    expect(JSON.stringify(a.json.hosts[0])).toMatch(/not safe for root to use/)
  })
})

describe('what the host says is checked, not assumed', () => {
  it('a record that cannot be written fails the host instead of reporting ok', async () => {
    const h = hosts[1]
    const ws = new Workspace(L, 'trust-record')
    await ws.releasesOf('1.5.0')
    const inv = ws.inventory('1.5.0', [{host: h, name: 'rec'}])
    // A directory where the record's temp file goes: the write fails, as on a full or broken disk.
    await h.exec('mkdir -p /opt/gwfleet/state/rec.json.tmp')
    const r = await ws.runHere(['deploy', '-i', inv, '--json'])
    expect(r.code).toBe(1)
    expect(r.json.hosts[0].status).toBe('failed')
    expect(r.json.hosts[0].error).toMatch(/record/)
    expect(await h.exists('/opt/gwfleet/state/lock')).toBe(false)
    await h.exec('rmdir /opt/gwfleet/state/rec.json.tmp')
    const again = await ws.runHere(['deploy', '-i', inv, '--json'])
    expect(again.code, again.stderr).toBe(0)
    const audit = await ws.runHere(['audit', '-i', inv, '--json'])
    expect(audit.json.hosts[0].status).toBe('in-sync')
  })

  it('a job left on the host whose pid now belongs to another process is judged lost (never ok), never killed, and does not block the next run', async () => {
    // A host with no gateway yet (the others run versions the earlier tests left).
    const h = hosts[2]
    const ws = new Workspace(L, 'trust-pid')
    await ws.releasesOf('1.5.0')
    const inv = ws.inventory('1.5.0', [{host: h, name: 'pid'}])
    // An unrelated long-running process, and a pid file naming it (with another start time, as
    // when the kernel reused the pid).
    await h.exec('nohup sleep 300 </dev/null >/dev/null 2>&1 & echo $! > /var/tmp/sleeper')
    const pid = (await h.exec('cat /var/tmp/sleeper')).stdout.trim()
    const meta = JSON.stringify({id: 'old-run/x/install-1.5.0', token: 'x', run: 'old-run', kind: 'install', gateway: 'pid', version: '1.5.0', fromVersion: null, action: 'install', valuesSha256: '00', operator: 'someone@else', command: 'deploy', started: '2026-01-01T00:00:00Z'})
    await h.exec(`mkdir -p -m 700 /opt/gwfleet/state/job && printf '%s\\n' '${meta}' > /opt/gwfleet/state/job/meta && echo "${pid} 1 ${pid} 1" > /opt/gwfleet/state/job/pid`)
    const r = await ws.runHere(['deploy', '-i', inv, '--json'])
    expect(r.code, r.stderr).toBe(1)
    expect(r.json.hosts[0].error).toMatch(/picked up the install of 1\.5\.0 by someone@else .*ended without an exit status \(the host rebooted, or the job was killed\)/)
    expect((await h.exec(`kill -0 ${pid} && echo alive`)).stdout).toContain('alive')
    const again = await ws.runHere(['deploy', '-i', inv, '--json'])
    expect(again.code, again.stderr).toBe(0)
    expect((await h.exec(`kill -0 ${pid} && echo alive`)).stdout).toContain('alive')
    await h.exec(`kill ${pid}`)
  })

  it('an installer whose last line has no newline still reports its exit code', async () => {
    const h = hosts[3]
    const ws = new Workspace(L, 'trust-newline')
    const dir = path.join(ws.dir, 'releases')
    await ws.releasesOf('1.5.0')
    // Re-zip the release with an installer that fails after half a line.
    const zip = path.join(dir, 'apheris-gateway-1.5.0.zip')
    const tmp = fs.mkdtempSync(path.join(ws.dir, 'unz-'))
    const {execFileSync} = await import('node:child_process')
    execFileSync('unzip', ['-q', zip, '-d', tmp])
    const inst = fs.readdirSync(tmp, {recursive: true}).map(String).find((p) => p.endsWith('deploy_gateway'))!
    fs.writeFileSync(path.join(tmp, inst), '#!/bin/sh\nprintf "no newline at the end"\nexit 7\n', {mode: 0o755})
    fs.rmSync(zip)
    execFileSync('zip', ['-q', '-r', zip, '.'], {cwd: tmp})
    const inv = ws.inventory('1.5.0', [{host: h, name: 'nl', opts: {extra: '    remoteDir: /opt/gw-nl'}}])
    const r = await ws.runHere(['deploy', '-i', inv, '--json'])
    expect(r.code).toBe(1)
    expect(r.json.hosts[0].error).toMatch(/exited with code 7/)
  })
})
