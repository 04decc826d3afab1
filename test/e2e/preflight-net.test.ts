// End to end: what the vendor guide warns about, checked by `preflight` and by deploy's prerequisite
// probe on real lab hosts (subnet 28, name 'pfnet'). Firewalls are the lab's stand-ins
// (standins/firewall-standin as ufw, firewall-cmd and nft; iptables-standin's rule file); the
// lab has no internet, so the outbound test meets real failures:
//   h1: ufw active, firewalld running, iptables rules with a DROP policy, and an https_proxy with a
//       password in /etc/environment that points at a closed port; values without a proxy
//   h2: no curl (the bash fallback), a different proxy in /etc/profile.d than the values' one, which
//       is a real HTTP proxy here that answers every CONNECT with 407
//   h3: a plain host whose auth.domain is an address that accepts TCP and then never answers
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type CliResult, type Lab, lab as startLab, type LabHost, SECRETS, watchCommandLines, Workspace} from './fleet.js'

const STANDIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'lab', 'standins', 'firewall-standin')
const HOST_PROXY_PASSWORD = 'hp-Lab-proxy-pw-77'
const VALUES_PROXY_PASSWORD = 'vp-Values-proxy-pw-42'
const HOST_TOKEN = 'tok-Stays-on-the-host-5'

let lab: Lab
let ws: Workspace
let fleet: string
let silent: net.Server
let proxy407: net.Server
const sockets = new Set<net.Socket>()
const h = (i: number): LabHost => lab.hosts[i - 1]
/** An address on the lab's own subnet that no lab host uses (the offset moves the subnet). */
const spare = (last: number): string => h(1).address.replace(/\.\d+$/, `.${last}`)

async function gw(args: string[], timeoutMs = 120_000): Promise<CliResult> {
  return ws.run(args, {timeoutMs})
}

async function listen(server: net.Server, port: number, address: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, address, () => resolve())
  })
}

/** Put the firewall stand-in on a host under the names of the real tools. */
async function installFirewallStandins(host: LabHost): Promise<void> {
  const text = fs.readFileSync(STANDIN, 'utf8')
  for (const p of ['/usr/sbin/ufw', '/usr/bin/firewall-cmd', '/usr/sbin/nft']) await host.writeFile(p, text, 0o755)
}

const values = (name: string, domain: string, extra = '') => Workspace.valuesText(name, extra).replace('domain: auth.example.net', `domain: ${domain}`)

beforeAll(async () => {
  lab = await startLab(3, 28, 'pfnet')
  ws = new Workspace(lab, 'pfnet')
  await ws.releasesOf('1.5.0')

  // h3's auth.domain: accepts the connection, then says nothing (a TLS handshake that never ends).
  // (curl resets the connections it gives up on: not an error here)
  silent = net.createServer((c) => {
    c.on('error', () => {})
    sockets.add(c)
    c.on('close', () => sockets.delete(c))
  })
  await listen(silent, 443, spare(250))
  // h2's values proxy: a real HTTP proxy that wants credentials.
  proxy407 = net.createServer((c) => c.on('error', () => {}).once('data', () => c.end('HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n')))
  await listen(proxy407, 3128, spare(251))

  ws.writeValues('h1', values('h1', 'auth.example.net'))
  ws.writeValues('h2', values('h2', 'auth.example.net', `proxy:\n  httpsProxy: http://vuser:${VALUES_PROXY_PASSWORD}@${spare(251)}:3128\n  noProxy: localhost,.svc`))
  ws.writeValues('h3', values('h3', spare(250)))
  fleet = ws.inventory('1.5.0', [{host: h(1)}, {host: h(2)}, {host: h(3)}])

  for (const host of lab.hosts) await installFirewallStandins(host)
  await h(1).writeFile('/etc/gwlab/firewall/ufw', 'active\n', 0o644)
  await h(1).writeFile('/etc/gwlab/firewall/firewalld', 'running\n', 0o644)
  await h(1).writeFile(
    '/var/lib/gwlab-net/iptables.rules',
    '*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n',
    0o644,
  )
  await h(1).writeFile('/etc/environment', `PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"\nhttps_proxy="http://labuser:${HOST_PROXY_PASSWORD}@${spare(252)}:3128"\n`, 0o644)
  // Only the proxy assignments may leave the host: not the rest of the line, not a comment.
  await h(2).writeFile(
    '/etc/profile.d/proxy.sh',
    `export https_proxy=http://corp-proxy.invalid:8080; export LAB_TOKEN=${HOST_TOKEN} # http_proxy=http://commented.invalid\nexport no_proxy=localhost\n`,
    0o644,
  )
  const rm = await h(2).exec('rm -f /usr/bin/curl /usr/local/bin/curl && ! command -v curl')
  expect(rm.code, rm.stderr).toBe(0)
}, 180_000)

afterAll(async () => {
  for (const s of sockets) s.destroy()
  silent?.close()
  proxy407?.close()
  await lab?.stop()
})

function noPasswords(r: CliResult): void {
  for (const pw of [HOST_PROXY_PASSWORD, VALUES_PROXY_PASSWORD, HOST_TOKEN, 'commented.invalid']) {
    expect(r.stdout).not.toContain(pw)
    expect(r.stderr).not.toContain(pw)
  }
}

describe('preflight: firewall, proxy and outbound HTTPS (warnings)', () => {
  it('names ufw/firewalld, other rules, the proxy mismatch and what could not be reached', async () => {
    const watch = watchCommandLines(lab.hosts, [VALUES_PROXY_PASSWORD, HOST_PROXY_PASSWORD, 'vuser'])
    const r = await gw(['preflight', '-i', fleet, '--json'])
    const cmds = watch.stop()
    noPasswords(r)
    expect(cmds.hits).toEqual([])
    const byName = Object.fromEntries(r.json.hosts.map((x: any) => [x.name, x]))
    const checkOf = (name: string, id: string) => byName[name].checks.find((c: any) => c.id === id)

    // h1: firewalls
    expect(checkOf('h1', 'firewall')).toEqual({
      id: 'firewall',
      level: 'warn',
      message: 'ufw and firewalld are active: deploy_gateway changes their rules during setup and upgrades (vendor guide, "Firewall"); review them after the install',
    })
    const rules = checkOf('h1', 'firewall-rules')
    expect(rules.level).toBe('warn')
    // (the DROP policy is left aside: an active ufw sets the policies itself)
    expect(rules.message).toMatch(/^other firewall rules are present \(iptables: 2 rules, e\.g\. "filter: -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT", "filter: -A INPUT -i lo -j ACCEPT"\)/)
    expect(rules.message).toContain('allow traffic to port 6443 and routing from the Kubernetes service kubernetes.default.svc.cluster.local:443 to the control plane at localhost:6443')
    // h1: the host's proxy (masked) against values without one
    expect(checkOf('h1', 'proxy')).toEqual({
      id: 'proxy',
      level: 'warn',
      message: `proxy settings differ: the host sets https_proxy=http://***@${spare(252)}:3128 (/etc/environment) but the values set no proxy.httpsProxy (the gateway would connect directly) (vendor guide, "HTTP proxy")`,
    })
    // h1: outbound through that proxy, with curl: the closed port refuses at once
    const out1 = checkOf('h1', 'outbound')
    expect(out1.level).toBe('warn')
    expect(out1.message).toMatch(/^could not reach auth\.example\.net \(auth\.domain\): curl: \(7\) .*; quay\.io \(image and chart registry\): curl: \(7\) /)
    expect(out1.message).toContain(`(tested with curl, through proxy http://***@${spare(252)}:3128 (/etc/environment), at most 3s each)`)

    // h2: both sides set a proxy, and they differ; no curl: bash's CONNECT through the values' proxy
    const px2 = checkOf('h2', 'proxy')
    expect(px2.level).toBe('warn')
    expect(px2.message).toContain(`the host sets https_proxy=http://corp-proxy.invalid:8080 (/etc/profile.d/proxy.sh) but the values set proxy.httpsProxy=http://***@${spare(251)}:3128`)
    expect(px2.message).toContain('the host sets no_proxy=localhost (/etc/profile.d/proxy.sh) but the values set proxy.noProxy=localhost,.svc')
    const out2 = checkOf('h2', 'outbound')
    expect(out2.level).toBe('warn')
    expect(out2.message).toContain('quay.io (image and chart registry): the proxy answered: HTTP/1.1 407 Proxy Authentication Required (exit 9)')
    expect(out2.message).toContain(`tested with bash /dev/tcp (a TCP connect; curl is missing), through proxy http://${spare(251)}:3128 (the values' proxy.httpsProxy)`)
    expect(checkOf('h2', 'curl').level).toBe('fail')
    expect(checkOf('h2', 'firewall')).toEqual({id: 'firewall', level: 'pass', message: 'ufw inactive, firewalld not running'})

    // h3: an auth.domain that never answers is a bounded warning, not a failure
    const out3 = checkOf('h3', 'outbound')
    expect(out3.level).toBe('warn')
    expect(out3.message).toMatch(new RegExp(`^could not reach ${spare(250).replace(/\./g, '\\.')} \\(auth\\.domain\\): curl: \\(28\\) .*\\(exit 28\\)`))
    expect(out3.message).toContain('directly (no proxy)')
    expect(checkOf('h3', 'firewall-rules').level).toBe('pass')
    expect(checkOf('h3', 'proxy')).toEqual({id: 'proxy', level: 'pass', message: 'no proxy on the host or in the values'})
    for (const n of ['h1', 'h3']) expect(byName[n].checks.filter((c: any) => c.level === 'fail'), n).toEqual([])
    expect(byName.h1.status).toBe('warn')
    expect(byName.h3.status).toBe('warn')
    console.log(`preflight durations (ms): ${r.json.hosts.map((x: any) => `${x.name} ${x.durationMs}`).join(', ')}`)
  })

  it('deploy installs hosts whose only findings are these warnings, and keeps the warnings in its notes', async () => {
    const r = await gw(['deploy', '-i', fleet, '-l', 'h1,h3', '--json'], 180_000)
    noPasswords(r)
    for (const s of Object.values(SECRETS)) expect(r.stdout + r.stderr).not.toContain(s)
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const byName = Object.fromEntries(r.json.hosts.map((x: any) => [x.name, x]))
    for (const n of ['h1', 'h3']) expect(byName[n], n).toMatchObject({status: 'ok', action: 'install', toVersion: '1.5.0', error: null})
    // The outbound test (seconds on an air-gapped host) is preflight's only: deploy does not wait for it.
    for (const n of ['h1', 'h3']) expect(byName[n].notes.join('\n')).not.toMatch(/outbound/)
    const notes1 = byName.h1.notes.join('\n')
    expect(notes1).toContain('preflight warning: firewall: ufw and firewalld are active')
    expect(notes1).toContain('preflight warning: firewall-rules: other firewall rules are present')
    expect(notes1).toContain(`preflight warning: proxy: proxy settings differ: the host sets https_proxy=http://***@${spare(252)}:3128`)
    console.log(`deploy durations (ms): ${r.json.hosts.map((x: any) => `${x.name} ${x.durationMs}`).join(', ')}`)
  })
})
