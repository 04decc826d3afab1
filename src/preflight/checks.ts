// The vendor guide's prerequisites, checked per host: one read-only probe (ops-scripts.ts), then a
// pure evaluator that turns its output into pass / warn / fail per check. `deploy` runs the same
// probe on hosts it is about to install so a doomed install fails in seconds, not after minutes.
import {HostStepError, TimeoutError, UnreachableError} from '../errors.js'
import {INSTALLER_DEFAULT_DATASETS, preflightScript, type PreflightScriptOptions} from '../remote/ops-scripts.js'
import {parseKv} from '../remote/scripts.js'
import type {Session} from '../host/session.js'
import type {HostEnv, Job} from '../types.js'

/** The probe's script builder (it lives with the other remote scripts), re-exported for callers of preflight. */
export {preflightScript, type PreflightScriptOptions}

/** How bad a check's finding is: fail stops a deploy on that host, warn is advice. */
export type CheckLevel = 'pass' | 'warn' | 'fail'

/** One prerequisite on one host. */
export interface CheckResult {
  /** Stable name: root, os, bash, curl, tools, cpu, memory, disk (or disk-releases/disk-datasets), datasets, port-6443, probe. */
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
  else out.push({id: 'root', level: 'fail', message: `${user} is not root on this host; log in as root or set become: true to use sudo`})
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
  return out
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

/** What the checks of one gateway on one session are evaluated against. */
export function preflightOptions(session: Session, job: Job): EvaluateOptions {
  return {
    remoteDir: job.gw.remoteDir,
    datasetsFolder: job.values.datasetsFolder,
    loginUser: session.loginUser,
    viaSudo: session.rootMode.kind !== 'root',
  }
}

/** Evaluate a prerequisite probe that rode along in another round trip (deploy's lock and probe). */
export function preflightFromOutput(ctx: Pick<HostEnv, 'log'>, session: Session, job: Job, output: string): CheckResult[] {
  return logged(ctx, evaluatePreflight(output, preflightOptions(session, job)))
}

function logged(ctx: Pick<HostEnv, 'log'>, results: CheckResult[]): CheckResult[] {
  for (const r of results) ctx.log(`preflight ${r.level} ${r.id}: ${r.message}`)
  return results
}
