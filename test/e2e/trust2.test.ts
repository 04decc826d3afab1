// Trust, second round (lab subnet 44, lab "trust2"; issue 20): the login account and whatever it
// runs on the host are hostile. Each case plays the attack for real on lab hosts of real sshd:
// a `sudo` shell function in the login user's ~/.bashrc that keeps what is sent to sudo, a login
// user copying whatever it can read under remoteDir while a deploy runs, and the rest below.
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {agentVersion, allFiles, lab, SECRETS, Workspace, type CliResult, type Lab, type LabHost} from './fleet.js'

let L: Lab
let hosts: LabHost[]

beforeAll(async () => {
  L = await lab(6, 44, 'trust2')
  hosts = L.hosts
})

afterAll(async () => {
  await L?.stop()
})

/** Every run log of a workspace, as one text. */
function runLogs(ws: Workspace): string {
  return allFiles(path.join(ws.home, '.gwfleet', 'runs'))
    .filter((f) => f.endsWith('.log'))
    .map((f) => fs.readFileSync(f, 'utf8'))
    .join('\n')
}

/**
 * Put a `sudo` function at the top of `user`'s ~/.bashrc (bash reads it for commands over SSH, before
 * the interactive-only guard): it appends everything sent to sudo's stdin to ~/captured, then runs
 * the real sudo with it. What a hostile login account sees of what gwfleet hands sudo.
 */
async function captureSudoStdin(h: LabHost, user: string): Promise<void> {
  const home = `/home/${user}`
  await h.exec(`f=${home}/.bashrc; { echo 'sudo() { tee -a "$HOME/captured" | command sudo "$@"; }'; cat "$f"; } > "$f.new" && mv "$f.new" "$f" && chown ${user} "$f" && : > ${home}/captured && chown ${user} ${home}/captured`)
}

describe('the sudo password goes only to a host whose sudo asked for it', () => {
  it('audit with GWFLEET_BECOME_PASSWORD: a NOPASSWD host never receives it; a password host gets it after sudo -n asked', async () => {
    const [nopw, pw] = [hosts[0], hosts[1]]
    await captureSudoStdin(nopw, 'ops')
    await captureSudoStdin(pw, 'opspw')
    const ws = new Workspace(L, 'trust2-sudo')
    await ws.releasesOf('1.5.0')
    const inv = ws.inventory('1.5.0', [
      {host: nopw, name: 'nopw', opts: {user: 'ops', become: true}},
      {host: pw, name: 'pw', opts: {user: 'opspw', become: true}},
    ])
    const r = await ws.runHere(['audit', '-i', inv, '--json', '--save'], {env: {GWFLEET_BECOME_PASSWORD: L.sudoPassword}})
    const byName = Object.fromEntries((r.json?.hosts ?? []).map((x: any) => [x.name, x]))
    // Both were reached as root: the password host through the password.
    expect(byName.nopw?.status, r.stdout + r.stderr).toBe('not-installed')
    expect(byName.pw?.status, r.stdout + r.stderr).toBe('not-installed')
    // The bashrc function ran (it saw gwfleet's sudo calls) and never saw the password on the NOPASSWD host.
    const seenNopw = await nopw.readFile('/home/ops/captured').catch(() => '')
    expect(await nopw.exists('/home/ops/captured')).toBe(true)
    expect(seenNopw).not.toContain(L.sudoPassword)
    // The password host got it, and only because its sudo asked (the log says so).
    expect(await pw.readFile('/home/opspw/captured')).toContain(L.sudoPassword)
    const logs = runLogs(ws)
    expect(logs).toMatch(/root via sudo-password \(from GWFLEET_BECOME_PASSWORD\), after this host's sudo asked for one/)
    expect(logs).not.toContain(L.sudoPassword)
  })
})

describe('values (with secrets) never sit in a file the login account can read', () => {
  it('a login user copying everything it can read under remoteDir during a deploy gets no secret; the values land root 0600', async () => {
    const h = hosts[2]
    // As ops (the login user): copy every file it can read under remoteDir (its own upload folder by
    // name: root's .stage is 0711), again and again, until stopped.
    const loop = [
      'mkdir -p /home/ops/loot; : > /home/ops/loot-count',
      'end=$(( $(date +%s) + 120 ))',
      'while [ "$(date +%s)" -lt "$end" ] && [ ! -e /home/ops/stop ]; do',
      '  for f in $(find /opt/gwfleet /opt/gwfleet/.stage/upload -type f 2>/dev/null); do',
      '    if [ -r "$f" ]; then cat "$f" >> /home/ops/loot/all 2>/dev/null && echo "$f" >> /home/ops/loot-count; fi',
      '  done',
      '  sleep 0.02',
      'done',
    ].join('\n')
    await h.writeFile('/home/ops/loot.sh', loop, 0o755)
    await h.exec('rm -f /home/ops/stop; chown -R ops /home/ops; nohup runuser -u ops -- sh /home/ops/loot.sh </dev/null >/dev/null 2>&1 &')
    // A slow installer: the deploy's files stay on the host for seconds while the loop reads.
    await h.setFault('sleep', '3')
    const ws = new Workspace(L, 'trust2-stage')
    await ws.releasesOf('1.5.0')
    const inv = ws.inventory('1.5.0', [{host: h, opts: {user: 'ops', become: true}}])
    // spawned: the file's end-to-end run of the real gwfleet process (the others run in this one)
    const r = await ws.run(['deploy', '-i', inv, '--json'])
    await h.exec('touch /home/ops/stop; sleep 0.3')
    await h.setFault('sleep', null)
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(await agentVersion(h)).toBe('1.5.0')
    // The loop did read files the login user could reach (the release files it uploaded itself)...
    const read = (await h.exec('sort -u /home/ops/loot-count')).stdout
    expect(read, 'the login user read nothing: the attack did not run').toMatch(/\.stage\/upload\//)
    // ...and never a secret.
    const loot = await h.exec('cat /home/ops/loot/all 2>/dev/null')
    for (const s of Object.values(SECRETS)) expect(loot.stdout).not.toContain(s)
    // The values on the host: root's, 0600, in a root-only 0700 folder, with the secrets.
    expect((await h.exec("stat -c '%U %a' /opt/gwfleet/values/h3.yaml /opt/gwfleet/values")).stdout.trim().split('\n')).toEqual(['root 600', 'root 700'])
    expect(await h.readFile('/opt/gwfleet/values/h3.yaml')).toContain(SECRETS.GW_CLIENT_SECRET)
  })

  it('over sudo -S the password line is sudo\'s: the values root writes are exactly the rendered ones', async () => {
    const h = hosts[3]
    const ws = new Workspace(L, 'trust2-sudo-values')
    await ws.releasesOf('1.5.0')
    const inv = ws.inventory('1.5.0', [{host: h, opts: {user: 'opspw', become: true}}])
    const r = await ws.runHere(['deploy', '-i', inv, '--json'], {env: {GWFLEET_BECOME_PASSWORD: L.sudoPassword}})
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const values = await h.readFile('/opt/gwfleet/values/h4.yaml')
    expect(values).not.toContain(L.sudoPassword)
    expect(values).not.toMatch(/gwfleet-payload-/)
    expect(values).toContain('tenant-h4')
    // In sync: audit compares the host's values hash with the rendered ones.
    const a = await ws.runHere(['audit', '-i', inv, '--json'], {env: {GWFLEET_BECOME_PASSWORD: L.sudoPassword}})
    expect(a.json.hosts[0]).toMatchObject({status: 'in-sync', valuesInSync: true})
  })
})

describe('diff never shows a host value it cannot prove is not a secret', () => {
  it('after a failed install with a renamed secret key: text, --json and deploy --dry-run --diff show no old secret', async () => {
    const h = hosts[4]
    const ws = new Workspace(L, 'trust2-diff')
    await ws.releasesOf('1.5.0')
    const inv = ws.inventory('1.5.0', [{host: h}])
    expect((await ws.runHere(['deploy', '-i', inv])).code).toBe(0)
    // The operator renames the helm password key; the install fails, so the host's values file is
    // the new one while its record (written only after success) still names the old secret keys.
    const OLD = 'Old-Helm-Secret-42'
    ws.writeValues('h5', Workspace.valuesText('h5').replace('helmRepoPassword: ${env:GW_HELM_PASSWORD}', 'helmRepoPasswordV2: ${env:OLD_HELM}'))
    await h.setFault('fail', '1')
    const failed = await ws.runHere(['deploy', '-i', inv, '--json'], {env: {OLD_HELM: OLD}})
    await h.setFault('fail', null)
    expect(failed.json?.hosts?.[0]?.status, failed.stdout + failed.stderr).toBe('failed')
    expect(await h.readFile('/opt/gwfleet/values/h5.yaml')).toContain(OLD)
    // Renamed back: OLD is no longer any value of this run, so only proof can keep it hidden.
    ws.writeValues('h5', Workspace.valuesText('h5'))
    const text = await ws.runHere(['diff', '-i', inv])
    const json = await ws.runHere(['diff', '-i', inv, '--json'])
    const dry = await ws.runHere(['deploy', '-i', inv, '--dry-run', '--diff'])
    for (const r of [text, json, dry]) {
      expect(r.code, r.stdout + r.stderr).toBe(1)
      expect(r.stdout + r.stderr).not.toContain(OLD)
    }
    // The diff is against the values last applied (kept beside the record), which the inventory
    // matches again: the failed change's file, with OLD in it, is named, never read out.
    expect(text.stdout).toMatch(/values: same data \(compared with the values last applied \(1\.5\.0\); the values file on the host is that of the failed reconfigure/)
    expect(json.json.hosts[0].values.changes.map((c: any) => c.key)).not.toContain('helmRepoPasswordV2')
    // A host whose record an earlier gwfleet wrote keeps no applied copy: then nothing is compared, nothing shown.
    await h.exec('rm -f /opt/gwfleet/state/h5.applied')
    const older = await ws.runHere(['diff', '-i', inv, '--json'])
    expect(older.stdout + older.stderr).not.toContain(OLD)
    expect(older.json.hosts[0].values).toMatchObject({state: 'unknown', changes: []})
    expect(older.json.hosts[0].values.note).toMatch(/the values last applied are not kept on this host/)
  })
})

describe('a shared bastion connection is shared only under the same trust', () => {
  it('a gateway whose known_hosts pins another key for the bastion is refused, though another gateway reached it', async () => {
    const [g1, g2, bastion, other] = [hosts[0], hosts[1], hosts[5], hosts[4]]
    const ws = new Workspace(L, 'trust2-bastion')
    await ws.releasesOf('1.5.0')
    // g2's own known_hosts: every lab key as it is, but the bastion's replaced by another host's key.
    const pinned = fs
      .readFileSync(L.knownHostsFile, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith(`${bastion.address} `))
      .concat(other.hostKeyLine.replace(other.address, bastion.address))
    const pinFile = path.join(ws.dir, 'pinned_known_hosts')
    fs.writeFileSync(pinFile, pinned.join('\n') + '\n')
    const jump = `root@${bastion.address}`
    const inv = ws.inventory('1.5.0', [
      {host: g1, name: 'via-a', opts: {jump}},
      {host: g2, name: 'via-b', opts: {jump, extra: `    knownHosts: ${pinFile}`}},
    ])
    // One host at a time, in order: via-a opens the bastion connection first.
    const r = await ws.runHere(['audit', '-i', inv, '-c', '1', '--json'])
    const byName = Object.fromEntries((r.json?.hosts ?? []).map((x: any) => [x.name, x]))
    expect(byName['via-a']?.status, r.stdout + r.stderr).not.toBe('unreachable')
    expect(byName['via-b']?.status, r.stdout + r.stderr).toBe('unreachable')
    expect(byName['via-b']?.error).toMatch(/jump host .*(changed|does not match|REMOTE HOST IDENTIFICATION)/i)
  })
})

describe('locks and history check remoteDir first', () => {
  it('a symbolic link in state/ makes locks list, locks clear and history refuse the host, reading nothing through it', async () => {
    const h = hosts[5]
    const ws = new Workspace(L, 'trust2-locks')
    await ws.releasesOf('1.5.0')
    const inv = ws.inventory('1.5.0', [{host: h}])
    // A root-owned remoteDir with links another hand left in state/: the lock to /etc/shadow, the
    // history to a file the login user wrote.
    await h.exec('mkdir -p -m 700 /opt/gwfleet/state && ln -sfn /etc/shadow /opt/gwfleet/state/lock')
    await h.exec(`printf '%s\\n' '{"time":"2026-01-01T00:00:00Z","gateway":"h6","operator":"forged-by-ops","command":"deploy","action":"install","fromVersion":null,"toVersion":"9.9.9","valuesSha256":null,"result":"ok"}' > /var/tmp/forged.jsonl && chown ops /var/tmp/forged.jsonl && ln -sfn /var/tmp/forged.jsonl /opt/gwfleet/state/history.jsonl`)
    const shadowFirst = (await h.exec('head -n1 /etc/shadow')).stdout.trim()
    const list = await ws.runHere(['locks', 'list', '-i', inv, '--json'])
    const hist = await ws.runHere(['history', '-i', inv, '--json'])
    const clear = await ws.runHere(['locks', 'clear', '-i', inv, '--yes', '--json'])
    for (const r of [list, hist, clear]) {
      expect(r.code, r.stdout + r.stderr).toBe(1)
      expect(r.stdout + r.stderr).not.toContain(shadowFirst)
      expect(r.stdout + r.stderr).not.toContain('forged-by-ops')
      expect(r.stdout).toMatch(/remoteDir \/opt\/gwfleet is not safe for root to use, nothing under it was read: \/opt\/gwfleet\/state\/(lock|history.jsonl) is symbolic link/)
    }
    // Nothing was removed through (or instead of) the link.
    expect((await h.exec('readlink /opt/gwfleet/state/lock')).stdout.trim()).toBe('/etc/shadow')
    await h.exec('rm -rf /opt/gwfleet /var/tmp/forged.jsonl')
  })
})
