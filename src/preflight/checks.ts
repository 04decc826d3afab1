// The vendor guide's prerequisites, checked per host: one read-only probe (ops-scripts.ts), then a
// pure evaluator that turns its output into pass / warn / fail per check. `deploy` runs the same
// probe on hosts it is about to install so a doomed install fails in seconds, not after minutes.

import {HostStepError, notRootMessage, TimeoutError, UnreachableError} from '../errors.js'
import {INSTALLER_DEFAULT_DATASETS, OUTBOUND_SECONDS, preflightScript, type OutboundOptions, type PreflightScriptOptions} from '../remote/ops-scripts.js'
import {parseKv} from '../remote/scripts.js'
import type {Session} from '../host/session.js'
import type {HostEnv, Job, RenderedValues} from '../types.js'

/** The probe's script builder (it lives with the other remote scripts), re-exported for callers of preflight. */
export {preflightScript, type PreflightScriptOptions}

/** How bad a check's finding is: fail stops a deploy on that host, warn is advice. */
export type CheckLevel = 'pass' | 'warn' | 'fail'

/** One prerequisite on one host. */
export interface CheckResult {
  /**
   * Stable name: root, os, bash, curl, tools, cpu, memory, disk (or disk-releases/disk-datasets),
   * datasets, port-6443, firewall, firewall-rules, proxy, outbound, probe.
   */
  id: string
  level: CheckLevel
  message: string
}

/** What the evaluator needs besides the probe's output. */
export interface EvaluateOptions extends PreflightScriptOptions {
  /** The SSH login user, for messages. */
  loginUser?: string
  /** True when root is reached through sudo. */
  viaSudo?: boolean
  /** Why the root wrapper failed (sudo missing, wants a password ...); the output is then the login user's. */
  rootError?: string
  /** The probe's stderr, to say why it gave no answer. */
  stderr?: string
  /** The values' proxy settings and auth.domain, compared with the host's and named in messages. */
  network?: ValuesNetwork
}

/** The vendor's recommended machine (guide, "VM Specification"). */
export const RECOMMENDED = {cpus: 8, memoryGB: 32, diskGB: 200} as const

const GIB = 1024 ** 3
// MemTotal of a "32 GB" machine is a little under 32 GiB (the kernel keeps some): allow 6%.
const MEMORY_TOLERANCE = 0.94

/** Strip os-release quoting: VERSION_ID="22.04" -> 22.04. */
function unquote(v: string | undefined): string | undefined {
  if (v === undefined) return undefined
  const t = v.trim()
  if (t.length >= 2 && (t[0] === '"' || t[0] === "'") && t[t.length - 1] === t[0]) return t.slice(1, -1).replace(/\\(["'$`\\])/g, '$1')
  return t
}

function versionParts(v: string | undefined): number[] | null {
  if (!v || !/^\d+(\.\d+)*$/.test(v)) return null
  return v.split('.').map(Number)
}

function atLeast(v: number[], min: number[]): boolean {
  for (let i = 0; i < min.length; i++) {
    const a = v[i] ?? 0
    if (a !== min[i]) return a > min[i]
  }
  return true
}

/** OS and version against "Red Hat 8 (9 recommended), Ubuntu 20.04 (22.04 recommended)". */
export function checkOs(osr: Record<string, string | undefined>): CheckResult {
  const id = (osr.ID ?? '').toLowerCase()
  const ver = osr.VERSION_ID
  const name = osr.PRETTY_NAME ?? ([osr.NAME, ver].filter(Boolean).join(' ') || id || 'unknown OS')
  const need = 'the installer supports Red Hat Enterprise Linux 8+ and Ubuntu 20.04+'
  if (!id) return {id: 'os', level: 'fail', message: `cannot tell the OS: no ID in /etc/os-release; ${need}`}
  const v = versionParts(ver)
  if (id === 'ubuntu') {
    if (!v) return {id: 'os', level: 'fail', message: `${name}: cannot read the version (VERSION_ID "${ver ?? ''}"); ${need}`}
    if (!atLeast(v, [20, 4])) return {id: 'os', level: 'fail', message: `${name}: too old, Ubuntu 20.04 or newer is required (22.04 recommended)`}
    if (!atLeast(v, [22, 4])) return {id: 'os', level: 'warn', message: `${name}: supported, but Ubuntu 22.04 is recommended`}
    return {id: 'os', level: 'pass', message: name}
  }
  if (id === 'rhel') {
    if (!v) return {id: 'os', level: 'fail', message: `${name}: cannot read the version (VERSION_ID "${ver ?? ''}"); ${need}`}
    if (v[0] < 8) return {id: 'os', level: 'fail', message: `${name}: too old, Red Hat Enterprise Linux 8 or newer is required (9 recommended)`}
    if (v[0] < 9) return {id: 'os', level: 'warn', message: `${name}: supported, but Red Hat Enterprise Linux 9 is recommended`}
    return {id: 'os', level: 'pass', message: name}
  }
  const like = (osr.ID_LIKE ?? '').toLowerCase()
  const hint = /rhel|fedora|centos/.test(like) ? ' (Red Hat compatible, but not a supported OS)' : ''
  return {id: 'os', level: 'fail', message: `${name}: not a supported OS${hint}; ${need}`}
}

function gb(bytes: number): string {
  return `${(bytes / 1e9).toFixed(1)} GB`
}

interface DiskFact {
  label: 'releases' | 'datasets'
  path: string
  availKB: number | null
  mount: string
}

function parseDf(label: DiskFact['label'], raw: string | undefined, wanted: string): DiskFact {
  const [p, avail, mount] = (raw ?? '').split('\t')
  const n = Number(avail)
  return {label, path: wanted, availKB: avail && Number.isFinite(n) ? n : null, mount: mount || p || wanted}
}

function diskChecks(releases: DiskFact, datasets: DiskFact): CheckResult[] {
  const groups = releases.availKB !== null && datasets.availKB !== null && releases.mount === datasets.mount ? [[releases, datasets]] : [[releases], [datasets]]
  return groups.map((g) => {
    const id = groups.length === 1 ? 'disk' : `disk-${g[0].label}`
    const what = g.map((d) => `${d.label} ${d.path}`).join(' and ')
    const avail = g[0].availKB
    if (avail === null) return {id, level: 'warn' as const, message: `cannot read the free space for ${what}`}
    const bytes = avail * 1024
    const msg = `${what} (on ${g[0].mount}): ${gb(bytes)} free`
    return bytes >= RECOMMENDED.diskGB * 1e9
      ? {id, level: 'pass' as const, message: msg}
      : {id, level: 'warn' as const, message: `${msg}; ${RECOMMENDED.diskGB} GB recommended`}
  })
}

/** Process names in an `ss -p` line: users:(("k3s-server",pid=1,fd=3)). */
function listeners(lines: string[]): string[] {
  const names = new Set<string>()
  for (const l of lines) for (const m of l.matchAll(/\("([^"]+)",pid=/g)) names.add(m[1])
  return [...names]
}

/** Pure: the prerequisite checks from the probe's output. */
export function evaluatePreflight(output: string, opts: EvaluateOptions): CheckResult[] {
  const kv = parseKv(output)
  const one = (k: string) => kv.get(k)?.[0]
  const out: CheckResult[] = []
  const user = opts.loginUser ?? one('user') ?? 'the login user'

  // root
  const uidS = one('uid')
  if (opts.rootError) out.push({id: 'root', level: 'fail', message: opts.rootError})
  else if (uidS === undefined) {
    const why = (opts.stderr ?? '').trim().split('\n').pop() || 'no output'
    return [{id: 'probe', level: 'fail', message: `the host did not answer the prerequisite probe: ${why}`}]
  } else if (uidS === '0') out.push({id: 'root', level: 'pass', message: opts.viaSudo ? `root through sudo as ${user}` : 'logged in as root'})
  else out.push({id: 'root', level: 'fail', message: notRootMessage(user)})
  // Without any output (the fallback read failed too), nothing else can be judged.
  if (uidS === undefined) return out
  const isRoot = uidS === '0'

  // os
  if (one('osr_missing')) out.push({id: 'os', level: 'fail', message: 'no /etc/os-release: cannot tell the OS; the installer supports Red Hat Enterprise Linux 8+ and Ubuntu 20.04+'})
  else {
    const osr: Record<string, string | undefined> = {}
    for (const k of ['ID', 'ID_LIKE', 'VERSION_ID', 'NAME', 'PRETTY_NAME']) osr[k] = unquote(one(`osr.${k}`))
    out.push(checkOs(osr))
  }

  // bash, curl (the installer's own needs)
  for (const t of ['bash', 'curl']) {
    const p = one(`tool.${t}`)
    out.push(
      p
        ? {id: t, level: 'pass', message: p}
        : {id: t, level: 'fail', message: `${t} not found; the installer needs it (Red Hat: yum install ${t}, Ubuntu: apt install ${t})`},
    )
  }
  // what gwfleet itself runs on the host (uploads are verified with sha256sum, steps bounded by timeout)
  const missing = ['sha256sum', 'timeout', 'stat'].filter((t) => !one(`tool.${t}`))
  out.push(
    missing.length
      ? {id: 'tools', level: 'fail', message: `${missing.join(', ')} not found; gwfleet needs them on the host (coreutils)`}
      : {id: 'tools', level: 'pass', message: 'sha256sum, timeout, stat'},
  )

  // cpu, memory
  const cpus = Number(one('cpus'))
  if (!one('cpus') || !Number.isFinite(cpus) || cpus < 1) out.push({id: 'cpu', level: 'warn', message: 'cannot count the CPUs'})
  else
    out.push(
      cpus >= RECOMMENDED.cpus
        ? {id: 'cpu', level: 'pass', message: `${cpus} CPUs`}
        : {id: 'cpu', level: 'warn', message: `${cpus} CPU${cpus === 1 ? '' : 's'}; ${RECOMMENDED.cpus} recommended`},
    )
  const memKB = Number(one('mem_kb'))
  if (!one('mem_kb') || !Number.isFinite(memKB) || memKB <= 0) out.push({id: 'memory', level: 'warn', message: 'cannot read the memory size'})
  else {
    const bytes = memKB * 1024
    const shown = `${(bytes / GIB).toFixed(1)} GiB RAM`
    out.push(
      bytes >= RECOMMENDED.memoryGB * GIB * MEMORY_TOLERANCE
        ? {id: 'memory', level: 'pass', message: shown}
        : {id: 'memory', level: 'warn', message: `${shown}; ${RECOMMENDED.memoryGB} GB recommended`},
    )
  }

  // disk: free space where releases and datasets live
  const datasetsPath = opts.datasetsFolder ?? INSTALLER_DEFAULT_DATASETS
  out.push(...diskChecks(parseDf('releases', one('df.releases'), opts.remoteDir), parseDf('datasets', one('df.datasets'), datasetsPath)))

  // datasets folder
  const f = opts.datasetsFolder
  if (f === undefined) {
    out.push({id: 'datasets', level: 'pass', message: `dal.sources.files.folder not set (the installer puts its smoke-test data in ${INSTALLER_DEFAULT_DATASETS})`})
  } else {
    const st = one('datasets')
    if (st === 'ok') out.push({id: 'datasets', level: 'pass', message: `${f} present and readable${isRoot ? '' : ` by ${user}`}`})
    else if (st === 'missing') out.push({id: 'datasets', level: 'fail', message: `datasets folder ${f} (dal.sources.files.folder) does not exist`})
    else if (st === 'notdir') out.push({id: 'datasets', level: 'fail', message: `datasets folder ${f} (dal.sources.files.folder) is not a directory`})
    else if (st === 'unreadable')
      out.push(
        isRoot
          ? {id: 'datasets', level: 'fail', message: `datasets folder ${f} (dal.sources.files.folder) is not readable by root (a network mount that squashes root?)`}
          : {id: 'datasets', level: 'warn', message: `datasets folder ${f} is present but not readable by ${user}; could not check as root`},
      )
    else out.push({id: 'datasets', level: 'warn', message: `could not check the datasets folder ${f}`})
  }

  // port 6443, unless k3s (the gateway's cluster) is already there
  const k3s = one('k3s') ?? one('k3s_uninstall')
  const portLines = kv.get('port6443') ?? []
  const tool = one('port_tool')
  if (portLines.length === 0) {
    if (tool === 'none' || tool === undefined) out.push({id: 'port-6443', level: 'warn', message: 'cannot check whether port 6443 is free (no ss, no /proc/net/tcp)'})
    else out.push({id: 'port-6443', level: 'pass', message: k3s ? `free (k3s is installed at ${k3s} but not listening)` : 'free'})
  } else {
    const names = listeners(portLines)
    const byK3s = names.some((n) => n.startsWith('k3s'))
    if (byK3s || (names.length === 0 && k3s)) out.push({id: 'port-6443', level: 'pass', message: 'in use by k3s (a cluster is already set up on this host)'})
    else
      out.push({
        id: 'port-6443',
        level: 'fail',
        message: `port 6443 is in use${names.length ? ` by ${names.join(', ')}` : ''}; k3s needs it for its API server`,
      })
  }

  // what the guide warns about: firewalls, proxies, and what the host must reach
  out.push(...firewallChecks(kv, isRoot))
  out.push(proxyCheck(kv, opts.network))
  if (opts.outbound) out.push(outboundCheck(kv, opts.outbound, opts.network))
  return out
}

// ------------------------------------------------------------------ firewall, proxy, outbound

/** The guide's words on firewalls other than ufw and firewalld ("Firewall"). */
const OTHER_FIREWALL_ADVICE =
  'the installer does not change them: allow traffic to port 6443 and routing from the Kubernetes service kubernetes.default.svc.cluster.local:443 to the control plane at localhost:6443 (vendor guide, "Firewall"; K3s inbound rules for server nodes)'

/** ufw/firewalld, whose rules the installer changes, and any other firewall rules, which it does not. */
function firewallChecks(kv: Map<string, string[]>, isRoot: boolean): CheckResult[] {
  const one = (k: string) => kv.get(k)?.[0]
  if (!isRoot) return [{id: 'firewall', level: 'warn', message: 'not checked: reading the firewall needs root'}]
  const managed: string[] = []
  const unsure: string[] = []
  const quiet: string[] = []
  const ufw = one('fw.ufw')
  if (ufw !== undefined) {
    if (/^Status: active\b/i.test(ufw)) managed.push('ufw')
    else if (/^Status: inactive\b/i.test(ufw)) quiet.push('ufw inactive')
    else unsure.push(`cannot tell whether ufw is active (${ufw || 'no answer'})`)
  }
  const fwd = one('fw.firewalld')
  if (fwd !== undefined) {
    if (fwd.trim() === 'running') managed.push('firewalld')
    else if (fwd.trim() === 'not running') quiet.push('firewalld not running')
    else unsure.push(`cannot tell whether firewalld is running (${fwd || 'no answer'})`)
  }
  const results: CheckResult[] = []
  if (managed.length)
    results.push({
      id: 'firewall',
      level: 'warn',
      message: `${managed.join(' and ')} ${managed.length > 1 ? 'are' : 'is'} active: deploy_gateway changes ${managed.length > 1 ? 'their' : 'its'} rules during setup and upgrades (vendor guide, "Firewall"); review them after the install`,
    })
  else if (unsure.length) results.push({id: 'firewall', level: 'warn', message: unsure.join('; ')})
  else results.push({id: 'firewall', level: 'pass', message: quiet.length ? quiet.join(', ') : 'neither ufw nor firewalld on the host'})

  const found: string[] = []
  const describe = (tool: string, policies: string[], rules: string[], count: number) => {
    if (!policies.length && count <= 0) return
    const parts = [...policies.map((p) => `policy ${p}`), `${count} rule${count === 1 ? '' : 's'}`]
    const eg = rules.length ? `, e.g. ${rules.map((r) => `"${r}"`).join(', ')}` : ''
    found.push(`${tool}: ${parts.join(', ')}${eg}`)
  }
  // An active ufw or firewalld sets the chains' policies itself: only rules of others count then.
  const policies = (k: string) => (managed.length ? [] : (kv.get(k) ?? []))
  if (one('fw.ipt')) describe('iptables', policies('fw.ipt_policy'), kv.get('fw.ipt_rule') ?? [], Number(one('fw.ipt_rules') ?? 0))
  if (one('fw.nft')) describe('nftables', policies('fw.nft_policy'), kv.get('fw.nft_rule') ?? [], Number(one('fw.nft_rules') ?? 0))
  if (found.length) results.push({id: 'firewall-rules', level: 'warn', message: `other firewall rules are present (${found.join('; ')}); ${OTHER_FIREWALL_ADVICE}`})
  else if (!one('fw.ipt') && !one('fw.nft')) results.push({id: 'firewall-rules', level: 'pass', message: 'no iptables-save or nft on the host'})
  else results.push({id: 'firewall-rules', level: 'pass', message: 'no other firewall rules (only accepting policies, or chains of k3s, ufw or firewalld)'})
  return results
}

/** The values keys gwfleet reads for the gateway's proxy (the guide leaves them to the chart's README). */
export const VALUES_PROXY_KEYS = {http: 'proxy.httpProxy', https: 'proxy.httpsProxy', no: 'proxy.noProxy'} as const

type ProxyKind = keyof typeof VALUES_PROXY_KEYS

/** The values' network settings: what the gateway must reach, and through which proxy. */
export interface ValuesNetwork {
  /** auth.domain as a host name. */
  authDomain?: string
  /** The values' proxy settings as written (may hold credentials: never print them unmasked). */
  proxy: Partial<Record<ProxyKind, string>>
  /** Which of those hold a resolved secret reference: never shown, sent or tested. */
  secret: Set<ProxyKind | 'authDomain'>
  ciliumEnabled: boolean
}

/** Read auth.domain and the proxy keys from a gateway's rendered values. */
export function valuesNetwork(values: Pick<RenderedValues, 'data' | 'secrets' | 'ciliumEnabled'>): ValuesNetwork {
  const data = values.data
  const at = (o: unknown, key: string): unknown => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[key] : undefined)
  const str = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined)
  const holdsSecret = (v: string) => values.secrets.some((x) => x !== '' && v.includes(x))
  const net: ValuesNetwork = {proxy: {}, secret: new Set(), ciliumEnabled: values.ciliumEnabled}
  const domain = str(at(at(data, 'auth'), 'domain'))
  if (domain) {
    net.authDomain = domain.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/[/:].*$/, '')
    if (holdsSecret(domain)) net.secret.add('authDomain')
  }
  const p = at(data, 'proxy')
  for (const [kind, key] of [['http', 'httpProxy'], ['https', 'httpsProxy'], ['no', 'noProxy']] as const) {
    const v = str(at(p, key))
    if (v === undefined) continue
    net.proxy[kind] = v
    if (holdsSecret(v)) net.secret.add(kind)
  }
  return net
}

/** A proxy URL (or any text) with the user:password of every URL replaced by ***. */
export function maskCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s"']*@/gi, '$1***@')
}

/** Registries the installer and the gateway pull from (vendor's endpoint list): quay.io for the Apheris images and chart, Cilium's chart repository. */
export const REGISTRIES = [
  {host: 'quay.io', what: 'image and chart registry'},
  {host: 'helm.cilium.io', what: 'Cilium chart repository', cilium: true},
] as const

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/

/** What the outbound test reaches for, with what each is. A secret or malformed auth.domain is left out. */
export function outboundTargets(net: ValuesNetwork): {host: string; what: string}[] {
  const out: {host: string; what: string}[] = []
  if (net.authDomain && !net.secret.has('authDomain') && HOST_NAME.test(net.authDomain)) out.push({host: net.authDomain, what: 'auth.domain'})
  for (const r of REGISTRIES) if (!('cilium' in r) || net.ciliumEnabled) out.push({host: r.host, what: r.what})
  return out
}

/** The values' proxy for the outbound test: HTTPS (else HTTP) proxy without its credentials; none when it is a secret. */
function valuesTestProxy(net: ValuesNetwork): string | undefined {
  const kind: ProxyKind | undefined = net.proxy.https !== undefined ? 'https' : net.proxy.http !== undefined ? 'http' : undefined
  if (kind === undefined || net.secret.has(kind)) return undefined
  return net.proxy[kind]!.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, '$1')
}

interface HostProxy {
  source: string
  kind: ProxyKind
  value: string
}

/** Proxy assignments in the probe's proxy= lines (environment, /etc/environment, shell profiles, systemd). */
export function hostProxies(lines: string[]): HostProxy[] {
  const out: HostProxy[] = []
  for (const l of lines) {
    const tab = l.indexOf('\t')
    if (tab < 0) continue
    const source = l.slice(0, tab)
    for (const m of l.slice(tab + 1).matchAll(/(?:^|[\s"';=])(?:export\s+)?(https?|no)_proxy=("[^"]*"|'[^']*'|[^\s"';]*)/gi)) {
      const value = m[2].replace(/^(["'])(.*)\1$/, '$2').trim()
      if (value) out.push({source, kind: m[1].toLowerCase() as ProxyKind, value: maskCredentials(value)})
    }
  }
  return out
}

function sameProxy(kind: ProxyKind, a: string, b: string): boolean {
  const norm = (v: string) =>
    kind === 'no'
      ? v.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean).sort().join(',')
      : v.trim().replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, '$1').replace(/\/+$/, '').toLowerCase()
  return norm(a) === norm(b)
}

function sourceName(source: string): string {
  return source === 'env' ? 'the environment root gets over SSH' : source
}

/** The host's proxy variables against the values' proxy keys; a mismatch names which side has what. */
function proxyCheck(kv: Map<string, string[]>, net: ValuesNetwork | undefined): CheckResult {
  const host = hostProxies(kv.get('proxy') ?? [])
  const values = net?.proxy ?? {}
  const shownValue = (kind: ProxyKind) => (net?.secret.has(kind) ? '(a secret reference)' : maskCredentials(values[kind]!))
  const problems: string[] = []
  const agreed: string[] = []
  for (const kind of ['https', 'http', 'no'] as const) {
    const v = values[kind]
    const seen = host.filter((h) => h.kind === kind)
    const hostSide = (list: HostProxy[]) => list.map((h) => `${kind}_proxy=${h.value} (${sourceName(h.source)})`).join(', ')
    if (kind === 'no') {
      // no_proxy only matters where both sides use a proxy
      if (v === undefined || !seen.length || net?.secret.has('no')) continue
      const differ = seen.filter((h) => !sameProxy('no', h.value, v))
      if (differ.length) problems.push(`the host sets ${hostSide(differ)} but the values set ${VALUES_PROXY_KEYS.no}=${v}`)
      continue
    }
    if (v === undefined) {
      if (seen.length) problems.push(`the host sets ${hostSide(seen)} but the values set no ${VALUES_PROXY_KEYS[kind]} (the gateway would connect directly)`)
      continue
    }
    if (!seen.length) {
      problems.push(`the values set ${VALUES_PROXY_KEYS[kind]}=${shownValue(kind)} but the host sets no ${kind}_proxy (the installer and k3s would connect directly)`)
      continue
    }
    const differ = net?.secret.has(kind) ? [] : seen.filter((h) => !sameProxy(kind, h.value, v))
    if (differ.length) problems.push(`the host sets ${hostSide(differ)} but the values set ${VALUES_PROXY_KEYS[kind]}=${shownValue(kind)}`)
    else agreed.push(`${kind} proxy ${shownValue(kind)}`)
  }
  if (problems.length) return {id: 'proxy', level: 'warn', message: `proxy settings differ: ${problems.join('; ')} (vendor guide, "HTTP proxy")`}
  if (agreed.length) return {id: 'proxy', level: 'pass', message: `the host and the values agree: ${agreed.join(', ')}`}
  return {id: 'proxy', level: 'pass', message: 'no proxy on the host or in the values'}
}

const METHOD_NAMES: Record<string, string> = {
  curl: 'curl',
  openssl: 'openssl s_client (a TLS handshake; curl is missing)',
  bash: 'bash /dev/tcp (a TCP connect; curl is missing)',
}

/** Tidy one line of a tool's complaint: drop openssl's error-code prefix and bash's script name. */
function tidyDetail(d: string): string {
  return maskCredentials(d)
    .replace(/^[0-9A-F]+:error:[0-9A-F]+:/, '')
    .replace(/^gw: (line \d+: )?/, '')
    .trim()
}

/** Outbound HTTPS to auth.domain and the registries: warn level, naming what failed and through which proxy. */
function outboundCheck(kv: Map<string, string[]>, o: OutboundOptions, net: ValuesNetwork | undefined): CheckResult {
  const labels = new Map((net ? outboundTargets(net) : []).map((t) => [t.host, t.what]))
  const label = (h: string) => (labels.has(h) ? `${h} (${labels.get(h)})` : h)
  const method = kv.get('net_method')?.[0]
  if (method === undefined) return {id: 'outbound', level: 'warn', message: 'the outbound test gave no answer'}
  if (method === 'none') return {id: 'outbound', level: 'warn', message: 'cannot test outbound HTTPS: no curl, and no timeout(1) and bash to bound another test'}
  const rows = new Map<string, {ok: boolean; proxy: string; detail: string}>()
  for (const l of kv.get('net') ?? []) {
    const [h, st, , proxy, ...rest] = l.split('\t')
    rows.set(h, {ok: st === 'ok', proxy: maskCredentials(proxy ?? '-'), detail: tidyDetail(rest.join(' '))})
  }
  const firstProxy = [...rows.values()][0]?.proxy ?? '-'
  const valuesKey = net?.proxy.https !== undefined ? VALUES_PROXY_KEYS.https : VALUES_PROXY_KEYS.http
  const via = firstProxy === '-' ? 'directly (no proxy)' : `through proxy ${firstProxy.replace(/\((values|env)\)$/, (_m, w) => (w === 'values' ? `(the values' ${valuesKey})` : `(${sourceName('env')})`))}`
  const how = `${METHOD_NAMES[method] ?? method}, ${via}, at most ${OUTBOUND_SECONDS}s each`
  const failed = o.targets.filter((h) => !rows.get(h)?.ok)
  if (!failed.length) return {id: 'outbound', level: 'pass', message: `reached ${o.targets.map(label).join(', ')} over HTTPS (${how})`}
  const why = failed.map((h) => `${label(h)}: ${rows.get(h)?.detail || 'no answer'}`)
  return {
    id: 'outbound',
    level: 'warn',
    message: `could not reach ${why.join('; ')} (tested with ${how}); the installer and the gateway need them (vendor guide, "Networking")`,
  }
}

/** The checks that stop a deploy on that host. */
export function failingChecks(results: CheckResult[]): CheckResult[] {
  return results.filter((r) => r.level === 'fail')
}

/** The worst level among a host's checks. */
export function worstLevel(results: CheckResult[]): CheckLevel {
  if (results.some((r) => r.level === 'fail')) return 'fail'
  if (results.some((r) => r.level === 'warn')) return 'warn'
  return 'pass'
}

/** The probe may read slow (network) mounts; past this it is a failed check, not a hung run. */
const PROBE_TIMEOUT_MS = 60_000

/**
 * Run the prerequisite checks on a connected host: one round trip through the session's root
 * wrapper. When that wrapper is refused (no sudo, sudo wants a password ...), root is a failed
 * check with sudo's reason, and the rest is read as the login user in a second round trip.
 */
export async function preflightHost(ctx: Pick<HostEnv, 'log'>, session: Session, job: Job): Promise<CheckResult[]> {
  const gw = job.gw
  const opts = preflightOptions(session, job)
  const script = preflightScript(opts)
  let results: CheckResult[]
  try {
    const res = await session.root(script, {timeoutMs: PROBE_TIMEOUT_MS})
    results = evaluatePreflight(res.stdout, {...opts, stderr: res.stderr})
  } catch (e) {
    if (!(e instanceof HostStepError)) throw e
    if (e instanceof TimeoutError) {
      results = [{id: 'probe', level: 'fail', message: `the prerequisite probe did not finish within ${PROBE_TIMEOUT_MS / 1000}s (a hung mount?)`}]
    } else {
      let stdout = ''
      try {
        stdout = (await session.asLoginUser(script, {timeoutMs: PROBE_TIMEOUT_MS})).stdout
      } catch (e2) {
        if (e2 instanceof UnreachableError) throw e2
      }
      results = evaluatePreflight(stdout, {...opts, rootError: e.message})
    }
  }
  return logged(ctx, results)
}

/**
 * What the prerequisite probe of one gateway looks at. Deploy's probe, which rides along with
 * taking the lock, leaves out the outbound HTTPS test (it may wait seconds): `outbound: false`.
 */
export function preflightScriptOptions(job: Job, {outbound = true} = {}): PreflightScriptOptions {
  const net = valuesNetwork(job.values)
  const proxy = valuesTestProxy(net)
  return {
    remoteDir: job.gw.remoteDir,
    datasetsFolder: job.values.datasetsFolder,
    ...(outbound ? {outbound: {targets: outboundTargets(net).map((t) => t.host), ...(proxy !== undefined ? {proxy} : {})}} : {}),
  }
}

/** What the checks of one gateway on one session are evaluated against. */
export function preflightOptions(session: Session, job: Job, probe: {outbound?: boolean} = {}): EvaluateOptions {
  return {
    ...preflightScriptOptions(job, probe),
    network: valuesNetwork(job.values),
    loginUser: session.loginUser,
    viaSudo: session.rootMode.kind !== 'root',
  }
}

/** Evaluate a prerequisite probe that rode along in another round trip (deploy's lock and probe). */
export function preflightFromOutput(ctx: Pick<HostEnv, 'log'>, session: Session, job: Job, output: string): CheckResult[] {
  return logged(ctx, evaluatePreflight(output, preflightOptions(session, job, {outbound: false})))
}

function logged(ctx: Pick<HostEnv, 'log'>, results: CheckResult[]): CheckResult[] {
  for (const r of results) ctx.log(`preflight ${r.level} ${r.id}: ${r.message}`)
  return results
}
