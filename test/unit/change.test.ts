// The change phases and their manager against a scripted fake host (the SSH seam): the connection
// is cut after each phase, the operator interrupts at each phase, a batch is skipped, the lock is
// lost. Each case checks that what was held was given back once: the lock released (or, when the
// host cannot be reached again, reported as staying), and every session closed exactly once.
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {UnreachableError} from '../../src/errors.js'
import type {Session} from '../../src/host/session.js'
import {listReleases} from '../../src/release/releases.js'
import {layout, RECORDED} from '../../src/remote/scripts.js'
import {SilentReporter} from '../../src/render/progress.js'
import {runChange, type ChangeContext, type ChangeRequest} from '../../src/runner/change.js'
import {deploy} from '../../src/runner/kinds/deploy.js'
import {uninstall} from '../../src/runner/kinds/uninstall.js'
import {upgrade} from '../../src/runner/kinds/upgrade.js'
import {Interrupt, type RunOptions} from '../../src/runner/context.js'
import {Redactor} from '../../src/runner/redact.js'
import type {HostResult} from '../../src/runner/result.js'
import type {ExecOptions, ExecResult} from '../../src/ssh/exec.js'
import type {RootMode} from '../../src/ssh/sudo.js'
import type {Gateway, HostEnv, Inventory, Job, LockOwner, ReleaseRef} from '../../src/types.js'
// @ts-expect-error plain JS helper of the lab
import {makeRelease} from '../lab/release.js'

/** The kinds of script the phases send, told apart by what each prints. */
type Kind = 'read' | 'lock' | 'probe' | 'write-values' | 'installer' | 'follow' | 'record' | 'refresh' | 'unlock' | 'stop-installer' | 'uninstall'

function kindOf(script: string): Kind {
  if (script.includes('gw.section=locked')) return 'read'
  if (script.includes('echo gw.write=ok')) return 'write-values'
  if (script.includes('gw.job_started=') && script.includes('deploy_gateway')) return 'installer'
  if (script.includes('gw.job_started=')) return 'uninstall'
  if (script.includes('gw.follow=')) return 'follow'
  if (script.includes('gw.lock_state=')) return 'refresh'
  if (script.includes('gw.unlocked=1')) return 'unlock'
  if (script.includes('gw.lock_result=')) return 'lock'
  if (script.includes(RECORDED) || script.includes('history.jsonl') || script.includes('gw.job_archived')) return 'record'
  if (script.includes('kill -TERM')) return 'stop-installer'
  if (script.includes('echo "gw.uid=$e"')) return 'probe'
  // A script the fake does not know (a renamed marker, a new step) fails the test instead of being taken for a probe.
  throw new Error(`the fake host does not know this script: ${script.slice(0, 300)}`)
}

/** A detached job on a fake host: what it is, and how it ended (null while it runs). */
interface FakeJob {
  meta: {id: string; kind: string; version: string | null; action?: string}
  rc: number | null
  lost?: boolean
  log: string[]
}

/** A gateway host as the fake answers for it. */
class FakeHost {
  version: string | null = null
  values: string | null = null
  lock: string | null = null
  records = 0
  history = 0
  historyLines: {toVersion: string | null; result: string}[] = []
  /** Once true, nobody can connect any more. */
  down = false
  /** Scripts run, by kind, in order. */
  readonly ran: Kind[] = []
  opened = 0
  closed = 0
  /** Called before the host answers a script; may cut the connection (throw) or act on the run. */
  onScript: (kind: Kind, session: FakeSession) => void = () => undefined
  /** The job on the host that no run has recorded yet. */
  job: FakeJob | null = null
  /** Jobs started, by execution id, in order. */
  readonly starts: string[] = []
  /** Cut the connection once, right after the next job started (it runs on). */
  cutAfterStart = false
  /** How a job ends: its exit code. */
  jobRc = 0

  constructor(readonly gw: Gateway) {}

  probe(): string {
    const L = layout(this.gw.remoteDir, this.gw.name)
    const lines = ['gw.uid=0', 'gw.kubectl_rc=0', `gw.kubectl_out=${this.version ? `registry/agent:${this.version}` : ''}`]
    if (this.values) lines.push(`${this.values}  ${L.values}`)
    if (this.version) lines.push(`gw.record=${JSON.stringify({gateway: this.gw.name, version: this.version, valuesSha256: this.values})}`)
    if (this.lock) lines.push(`gw.lock=${this.lock}`, 'gw.lock_age=0')
    if (this.job) lines.push(`gw.job=${JSON.stringify(this.job.meta)}`, `gw.job_state=${this.job.lost ? 'lost' : 'ended'}`, ...(this.job.rc !== null ? [`gw.job_rc=${this.job.rc}`] : []))
    return lines.join('\n')
  }

  /** Start a job: the installer or the uninstall runs to its end at once (the host's own doing). */
  start(script: string, kind: 'installer' | 'uninstall'): string {
    const meta = JSON.parse(/'(\{"id":[^']*\})'/.exec(script)![1])
    const id: string = meta.id
    if (this.job) return `gw.job_other=${JSON.stringify(this.job.meta)}\ngw.end=1`
    this.starts.push(id)
    const version = kind === 'installer' ? (/releases\/([0-9.]+)/.exec(script)?.[1] ?? '?') : null
    this.job = {meta, rc: this.jobRc, log: []}
    if (this.jobRc === 0) {
      if (version) {
        this.version = version
        this.values = VALUES_SHA
        this.job.log = ['Deployed versions:', `agent: ${version}`, 'All services are ready.']
      } else this.version = null
    } else this.job.log = ['ERROR: it broke']
    return `gw.commit=ok\ngw.job_started=${id}\n${this.follow(id, 0)}`
  }

  /** Follow a job from a byte offset: its log on stderr (lines starting with >), then its end. */
  follow(id: string, from: number): string {
    if (!this.job) return 'gw.job_state=none\ngw.end=1'
    if (this.job.meta.id !== id) return `gw.job_other=${JSON.stringify(this.job.meta)}\ngw.end=1`
    const end = this.job.lost ? ['gw.job_state=lost'] : ['gw.job_state=ended', `gw.installer_rc=${this.job.rc}`]
    return [`gw.job=${JSON.stringify(this.job.meta)}`, `gw.follow=${from}`, ...this.job.log.map((l) => `${l}\n`).join('').slice(from).split('\n').slice(0, -1).map((l) => `>${l}`), ...end, 'gw.kubectl_rc=0', `gw.kubectl_out=${this.version ? `registry/agent:${this.version}` : ''}`, 'gw.end=1'].join('\n')
  }

  take(owner: string): string {
    if (this.lock && this.lock !== owner) return `gw.lock_result=held\ngw.lock_holder=${this.lock}\ngw.lock_age=1\ngw.end=1`
    this.lock = owner
    return `gw.lock_result=acquired\n${this.probe()}\ngw.end=1`
  }

  answer(kind: Kind, script: string, owner: string, stdin?: string): string {
    switch (kind) {
      case 'probe':
        return `${this.probe()}\ngw.end=1`
      case 'read':
        if (this.version) return `${this.probe()}\ngw.end=1`
        return `${this.probe()}\ngw.section=locked\n${this.take(owner)}`
      case 'lock':
        return this.take(owner)
      case 'refresh':
        return this.lock === owner ? 'gw.lock_state=mine\ngw.end=1' : this.lock ? `gw.lock_state=held\ngw.lock_holder=${this.lock}\ngw.end=1` : 'gw.lock_state=removed\ngw.end=1'
      case 'installer':
      case 'uninstall':
        if (!script.includes(`"token":"tok"`) || this.lock !== owner) return `gw.lock_state=${this.lock ? 'held' : 'removed'}\ngw.end=1`
        return this.start(script, kind)
      case 'follow':
        return this.follow(/"id":"([^"]+)"/.exec(script)?.[1] ?? /\*'"id":"([^"]+)"'\*/.exec(script)![1], Number(/gw\.follow=(\d+)/.exec(script)![1]))
      case 'record':
      case 'unlock': {
        if (script.includes('gw.job_archived') && this.job && script.includes(this.job.meta.id)) this.job = null
        // The values migration puts the canonical values in place in the same round trip as the record.
        const committed = script.includes('echo gw.commit=ok')
        if (committed) this.values = VALUES_SHA
        const recorded = script.includes(RECORDED)
        if (recorded) this.records++
        if (script.includes('history.jsonl')) this.history++
        // The history lines the script appends, as the host would keep them.
        for (const m of script.matchAll(/^printf "%s\\n" '(.*)' >> .*history\.jsonl'?$/gm)) this.historyLines.push(JSON.parse(m[1].replace(/'\\''/g, "'")))
        let out = `${committed ? 'gw.commit=ok\n' : ''}${recorded ? `${RECORDED}\n` : ''}`
        if (kind === 'unlock' && this.lock === owner) {
          this.lock = null
          out += 'gw.unlocked=1\n'
        }
        // A record may read the host again in the same round trip (a job picked up).
        if (script.includes('echo "gw.uid=$e"')) out += `${this.probe()}\n`
        return `${out}gw.end=1`
      }
      case 'stop-installer':
        return 'gw.end=1'
      case 'write-values':
        // Root writes the values from its stdin (never SFTP): the marker line comes first.
        if (!/^gwfleet-payload-[0-9a-f]+\n/.test(stdin ?? '')) return 'gw.write=failed no payload on stdin'
        return 'gw.write=ok'
    }
  }
}

/** A session to a FakeHost; a cut makes every later call fail, as a dropped connection does. */
class FakeSession implements Session {
  readonly loginUser = 'root'
  readonly rootMode: RootMode = {kind: 'root'}
  cut = false
  private closedOnce = false

  constructor(
    readonly host: FakeHost,
    private readonly owner: string,
  ) {
    host.opened++
  }

  get gw(): Gateway {
    return this.host.gw
  }

  async root(script: string, opts?: ExecOptions): Promise<ExecResult> {
    await new Promise((r) => setImmediate(r))
    if (this.cut) throw new UnreachableError('network', 'connection lost')
    const kind = kindOf(script)
    this.host.onScript(kind, this)
    if (this.cut) throw new UnreachableError('network', 'connection lost')
    this.host.ran.push(kind)
    const text = this.host.answer(kind, script, this.owner, opts?.stdin)
    const cutNow = kind === 'installer' && this.host.cutAfterStart && this.host.job !== null
    let logLines = 0
    for (const line of text.split('\n')) {
      if (line.startsWith('>')) {
        // A cut in the middle of the log: one line came whole, the next only in part.
        if (cutNow && logLines === 1) {
          opts?.onStderr?.(Buffer.from(line.slice(1, 4)))
          this.host.cutAfterStart = false
          this.cut = true
          throw new UnreachableError('network', 'connection lost during a remote command')
        }
        logLines++
        opts?.onStderr?.(Buffer.from(`${line.slice(1)}\n`))
      } else opts?.onLine?.(line, 'stdout')
    }
    const stdout = text.split('\n').filter((l) => !l.startsWith('>')).join('\n')
    return {stdout: opts?.collect === false ? '' : stdout, stderr: '', code: 0}
  }

  asLoginUser(script: string): Promise<ExecResult> {
    return this.root(script)
  }

  prepareUpload(): void {}

  async writeFiles(): Promise<void> {
    if (this.cut) throw new UnreachableError('network', 'connection lost')
  }

  close(): void {
    if (this.closedOnce) throw new Error(`session to ${this.gw.name} closed twice`)
    this.closedOnce = true
    this.host.closed++
  }
}

const VALUES_TEXT = 'tenant: t1\n'
const VALUES_SHA = createHash('sha256').update(VALUES_TEXT).digest('hex')
/** The sha256 an earlier gwfleet recorded for these same values (their file's own bytes). */
const LEGACY_SHA = createHash('sha256').update('tenant: t1 # comment\n').digest('hex')
let dir: string
let releases: ReleaseRef[]

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gwf-change-'))
  for (const v of ['1.4.0', '1.5.0', '1.6.0']) await makeRelease(dir, v)
  releases = await listReleases(dir)
})
afterAll(() => fs.rmSync(dir, {recursive: true, force: true}))

function gateway(name: string, version = '1.6.0'): Gateway {
  return {name, host: `${name}.example`, become: false, remoteDir: '/opt/gw', version, valuesFile: '/dev/null', labels: {}, source: {file: 'inv.yaml', line: 1}}
}

/** A fleet of fake hosts and a run context around them. */
function fleet(names: string[], opts: Partial<RunOptions> = {}, version?: string, inventory: Partial<Inventory> = {}) {
  const hosts = new Map(names.map((n) => [n, new FakeHost(gateway(n, version))]))
  const owner: LockOwner = {owner: 'op@ws', pid: process.pid, command: 'deploy', started: new Date().toISOString(), token: 'tok', machine: 'm'}
  const ownerText = JSON.stringify(owner)
  const interrupt = new Interrupt()
  const redactor = new Redactor()
  // No wait for a host that is gone: one reconnect attempt, then the window is over.
  const options: RunOptions = {command: 'deploy', concurrency: 8, acceptNewHostKeys: false, timeoutSeconds: 60, connectTimeoutSeconds: 5, dryRun: false, preflight: false, reconnectWindowSeconds: 0, ...opts}
  const logs: string[] = []
  const env = (name: string): HostEnv => ({
    log: (l) => logs.push(`${name}: ${l}`),
    step: (t) => logs.push(`${name}: == ${t}`),
    output: () => undefined,
    redact: (t) => redactor.redact(t),
    stop: interrupt.hard.signal,
    timeoutSeconds: options.timeoutSeconds,
    lockOwner: owner,
  })
  const ctx = {
    options,
    reporter: new SilentReporter(),
    interrupt,
    log: {write: (n: string, l: string) => logs.push(`${n}: ${l}`), dir: dir},
    inventory: {file: path.join(dir, 'inventory.yaml'), ...inventory},
    redactor,
    operator: owner.owner,
    hostEnv: env,
    openSession: async (gw: Gateway) => {
      const h = hosts.get(gw.name)!
      await new Promise((r) => setImmediate(r))
      if (h.down) throw new UnreachableError('refused', `connect ${gw.host}: connection refused`)
      return new FakeSession(h, ownerText)
    },
  } as unknown as ChangeContext
  const jobs: Job[] = names.map((n) => ({gw: hosts.get(n)!.gw, values: {file: 'v.yaml', text: VALUES_TEXT, data: {tenant: 't1'}, sha256: VALUES_SHA, legacySha256: LEGACY_SHA, secretKeys: [], secrets: [], ciliumEnabled: true}}))
  const run = (req: Partial<ChangeRequest> = {}): Promise<HostResult[]> => runChange(ctx, jobs, {command: deploy, batches: null, maxFail: 0, ...req}, releases)
  return {hosts, run, interrupt, logs, ownerText}
}

/** Every session opened was closed once (FakeSession throws on a second close). */
function allClosed(h: FakeHost): void {
  expect(h.closed).toBe(h.opened)
}

describe('the change phases against a scripted host', () => {
  it('installs a fresh host: read+lock, installer, record, unlock; each in its own round trip', async () => {
    const {hosts, run} = fleet(['a'])
    const [r] = await run()
    const h = hosts.get('a')!
    expect(r).toMatchObject({status: 'ok', action: 'install', toVersion: '1.6.0', reached: ['1.6.0']})
    expect(h.ran).toEqual(['read', 'write-values', 'installer', 'record', 'unlock'])
    expect(h.lock).toBeNull()
    expect(h.records).toBe(1)
    allClosed(h)
  })

  it('a host in sync is read once and never locked', async () => {
    const {hosts, run} = fleet(['a'])
    const h = hosts.get('a')!
    h.version = '1.6.0'
    h.values = VALUES_SHA
    const [r] = await run()
    expect(r.status).toBe('unchanged')
    expect(h.ran).toEqual(['read'])
    allClosed(h)
  })

  it('a host recorded with the legacy hash of the same values is migrated under the lock, without the installer', async () => {
    const {hosts, run} = fleet(['a'])
    const h = hosts.get('a')!
    h.version = '1.6.0'
    h.values = LEGACY_SHA
    const [r] = await run()
    expect(r).toMatchObject({status: 'ok', action: 'none', hops: []})
    expect(r.notes?.join(' ')).toMatch(/installer did not run/)
    expect(h.ran).toEqual(['read', 'lock', 'write-values', 'record', 'unlock'])
    expect(h.values).toBe(VALUES_SHA)
    expect(h.records).toBe(1)
    expect(h.lock).toBeNull()
    allClosed(h)
    // Now in sync: the next run reads once and does nothing else.
    const [next] = await run()
    expect(next.status).toBe('unchanged')
    expect(h.ran.slice(5)).toEqual(['read'])
    allClosed(h)
  })

  // A cut right after each script of an upgrade 1.4.0 -> 1.5.0 -> 1.6.0: the lock is given back by
  // reconnecting when the host answers again, and reported as staying when it does not.
  const upgradeScripts: Kind[] = ['read', 'lock', 'installer', 'record', 'installer', 'record']
  for (const [i, after] of upgradeScripts.entries()) {
    for (const reachable of [true, false]) {
      it(`connection cut after script ${i + 1} (${after}), host ${reachable ? 'reachable again' : 'gone'}`, async () => {
        const {hosts, run} = fleet(['a'])
        const h = hosts.get('a')!
        h.version = '1.4.0'
        h.values = VALUES_SHA
        let n = 0
        h.onScript = (_kind, s) => {
          if (n++ === i + 1) {
            s.cut = true
            h.down = !reachable
          }
        }
        const [r] = await run()
        const locked = i >= 1
        const last = i === upgradeScripts.length - 1
        const next = upgradeScripts[i + 1]
        const reached = upgradeScripts.slice(0, i + 1).filter((k) => k === 'installer').length
        expect(r.reached ?? []).toHaveLength(reached)
        // No installer ever starts twice, whatever is cut.
        expect(new Set(h.starts).size).toBe(h.starts.length)
        expect(h.starts).toHaveLength(reached)
        if (last) {
          // Only the unlock was cut: the gateway is where it should be; the lock is left to expire.
          expect(r.status).toBe('ok')
          expect(r.notes?.join('\n')).toMatch(/could not release the lock/)
          expect(h.lock).not.toBeNull()
        } else if (!locked) {
          expect(r.status).toBe('unreachable')
          expect(h.lock).toBeNull()
        } else if (next === 'installer') {
          // Cut as the hop's start was sent: the host (when back) says whether the job started.
          if (reachable) {
            expect(r.status).toBe('failed')
            expect(r.error).toMatch(/the connection was cut before installer 1\.[56]\.0 started, and it never did/)
            expect(h.ran.slice(-2)).toEqual(['follow', 'unlock'])
            expect(h.lock).toBeNull()
          } else {
            expect(r.status).toBe('unreachable')
            expect(r.error).toMatch(/not reached again within 0s \(--reconnect-window\): whether the install started is not known; `gwfleet deploy` \(or `status`\) finds out/)
            expect(h.lock).not.toBeNull()
          }
        } else if (reachable) {
          // The hop ran; its record was cut: the reconnect writes it and releases the lock.
          expect(r.status).toBe('failed')
          expect(r.error).toMatch(/reconnected and released the lock; rerun to finish/)
          expect(h.lock).toBeNull()
          expect(h.ran.filter((k) => k === 'unlock')).toHaveLength(1)
          expect(h.job).toBeNull()
        } else {
          expect(r.status).toBe('unreachable')
          expect(r.error).toMatch(/the lock stays on the host/)
          expect(h.lock).not.toBeNull()
          // Judged by nobody yet: the next run picks the job up.
          expect(h.job).not.toBeNull()
        }
        if (reached === 1) expect(r.error).toMatch(/gateway stays at 1\.5\.0/)
        // A hop's record is written after it, or by the reconnect that releases the lock; only a host
        // that cannot be reached again keeps the last hop unrecorded.
        const unrecorded = next === 'record' && !reachable ? 1 : 0
        expect(h.records).toBe(reached - unrecorded)
        allClosed(h)
      })
    }
  }

  it('a cut while the installer runs: the run reconnects and reads the log on from where it was, the installer started once', async () => {
    const {hosts, run, logs} = fleet(['a'], {reconnectWindowSeconds: 30})
    const h = hosts.get('a')!
    h.cutAfterStart = true
    const [r] = await run()
    expect(r).toMatchObject({status: 'ok', action: 'install', reached: ['1.6.0']})
    expect(h.starts).toHaveLength(1)
    expect(h.ran).toEqual(['read', 'write-values', 'installer', 'follow', 'record', 'unlock'])
    // Every line of the installer once, in order: the line the cut split is read again whole.
    expect(logs.filter((l) => l.startsWith('a: | '))).toEqual(['a: | Deployed versions:', 'a: | agent: 1.6.0', 'a: | All services are ready.'])
    expect(logs.join('\n')).toMatch(/reconnecting \(attempt 1, 0s\)/)
    expect(h.lock).toBeNull()
    expect(h.job).toBeNull()
    expect(h.records).toBe(1)
    allClosed(h)
  })

  it('past the reconnect window the host is unreachable and the install goes on; the next run picks it up without starting it again', async () => {
    const {hosts, run} = fleet(['a'])
    const h = hosts.get('a')!
    h.cutAfterStart = true
    h.onScript = (kind) => {
      if (kind === 'installer') h.down = true
    }
    const [r] = await run()
    expect(r.status).toBe('unreachable')
    expect(r.error).toMatch(/not reached again within 0s \(--reconnect-window\): the install goes on on the host; `gwfleet deploy` \(or `status`\) picks it up$/)
    expect(h.lock).not.toBeNull()
    expect(h.job?.rc).toBe(0)
    expect(h.records).toBe(0)
    allClosed(h)
    // The next run: the job ended while nobody watched; it is judged, recorded once, not run again.
    h.down = false
    h.onScript = () => undefined
    const [next] = await run()
    expect(next).toMatchObject({status: 'ok', action: 'install', toVersion: '1.6.0'})
    expect(next.notes?.join('\n')).toMatch(/picked up the install of 1\.6\.0 .*: it succeeded; recorded in the history/)
    expect(h.starts).toHaveLength(1)
    expect(h.records).toBe(1)
    expect(h.history).toBe(1)
    expect(h.job).toBeNull()
    expect(h.lock).toBeNull()
    // And then it is simply in sync.
    const [third] = await run()
    expect(third.status).toBe('unchanged')
    expect(h.starts).toHaveLength(1)
    allClosed(h)
  })

  it('a job left by an earlier run that failed, or was lost with its host, is recorded as failed and never started again by the run that finds it', async () => {
    for (const how of ['failed', 'lost'] as const) {
      const {hosts, run} = fleet(['a'])
      const h = hosts.get('a')!
      h.job = {meta: {id: 'old-run/x/install-1.6.0', kind: 'install', version: '1.6.0', action: 'install'}, rc: how === 'failed' ? 3 : null, lost: how === 'lost', log: ['ERROR: it broke']}
      const [r] = await run()
      expect(r.status).toBe('failed')
      expect(r.error).toMatch(how === 'failed' ? /picked up the install of 1\.6\.0 .*installer 1\.6\.0 exited with code 3: ERROR: it broke; recorded in the history; it was not started again/ : /ended without an exit status \(the host rebooted, or the job was killed\)/)
      expect(h.starts).toEqual([])
      expect(h.history).toBe(1)
      expect(h.job).toBeNull()
      expect(h.lock).toBeNull()
      // The next run installs, as a new execution.
      const [next] = await run()
      expect(next.status).toBe('ok')
      expect(h.starts).toHaveLength(1)
      expect(h.starts[0]).not.toBe('old-run/x/install-1.6.0')
      allClosed(h)
    }
  })

  // The operator's first Ctrl-C while each script runs: that script finishes, nothing new starts,
  // the lock is released once.
  for (const [i, during] of upgradeScripts.entries()) {
    it(`interrupt during script ${i + 1} (${during})`, async () => {
      const {hosts, run, interrupt} = fleet(['a'])
      const h = hosts.get('a')!
      h.version = '1.4.0'
      h.values = VALUES_SHA
      let n = 0
      h.onScript = () => {
        if (n++ === i) interrupt.signal('SIGINT')
      }
      interrupt.install(() => undefined)
      try {
        const [r] = await run()
        const reached = upgradeScripts.slice(0, i + 1).filter((k) => k === 'installer').length
        expect(r.reached ?? []).toHaveLength(reached)
        if (reached === 2) expect(r.status).toBe('ok')
        else {
          // Stopped part-way: interrupted, and TO says where the gateway stands.
          expect(r.status).toBe(reached === 0 ? 'skipped' : 'interrupted')
          expect(r.error).toMatch(/interrupted by the operator/)
        }
        if (reached === 1) {
          expect(r.error).toMatch(/before the hop to 1\.6\.0; gateway stays at 1\.5\.0/)
          expect(r).toMatchObject({fromVersion: '1.4.0', toVersion: '1.5.0'})
        }
        // A hop that ran is always recorded.
        expect(h.records).toBe(reached)
        expect(h.lock).toBeNull()
        expect(h.ran.filter((k) => k === 'unlock')).toHaveLength(i >= 1 ? 1 : 0)
        allClosed(h)
      } finally {
        interrupt.uninstall()
      }
    })
  }

  it('a failed canary skips the next batch: its locks are released once and its sessions closed', async () => {
    const {hosts, run} = fleet(['a', 'b', 'c'])
    for (const h of hosts.values()) {
      h.version = '1.5.0'
      h.values = VALUES_SHA
    }
    hosts.get('a')!.onScript = (kind) => {
      if (kind === 'installer') throw new UnreachableError('network', 'cut')
    }
    const results = await run({batches: [{count: 1}], maxFail: 0})
    expect(results.map((r) => r.status)).toEqual(['failed', 'skipped', 'skipped'])
    expect(results[0].error).toMatch(/the connection was cut before installer 1\.6\.0 started, and it never did/)
    expect(results[1].error).toMatch(/more than --max-fail 0/)
    for (const n of ['b', 'c']) {
      const h = hosts.get(n)!
      expect(h.ran).toEqual(['read', 'lock', 'unlock'])
      expect(h.lock).toBeNull()
      expect(h.version).toBe('1.5.0')
      allClosed(h)
    }
  })

  it('a lost lock stops the host before its next hop and is not released by this run; the run reports what the history says', async () => {
    vi.useFakeTimers({toFake: ['setInterval', 'clearInterval']})
    try {
      const {hosts, run, logs} = fleet(['a'])
      const h = hosts.get('a')!
      h.version = '1.4.0'
      h.values = VALUES_SHA
      let refreshed: Promise<void> | undefined
      h.onScript = (kind) => {
        if (kind === 'record' && !refreshed) {
          // Another operator clears the lock while the first hop is recorded; the heartbeat notices.
          h.lock = null
          vi.advanceTimersByTime(20_000)
        }
      }
      const [r] = await run()
      expect(h.ran).toContain('refresh')
      // The first hop is recorded ok in the history; the run says the same: interrupted there, TO where it stands.
      expect(r.status).toBe('interrupted')
      expect(r.toVersion).toBe('1.5.0')
      expect(r.error).toMatch(/^lock lost: removed .*; gateway stays at 1\.5\.0/)
      expect(r.reached).toEqual(['1.5.0'])
      expect(h.historyLines.map((e) => [e.toVersion, e.result])).toEqual([['1.5.0', 'ok']])
      // The second hop's start confirms the lock first (or the heartbeat has stopped it already): it never starts.
      expect(h.starts).toHaveLength(1)
      expect(h.ran).not.toContain('unlock')
      expect(logs.join('\n')).toMatch(/not released/)
      allClosed(h)
    } finally {
      vi.useRealTimers()
    }
  })

  it('a job start refused because another run now holds the lock starts nothing and writes nothing into that run\'s host state', async () => {
    const {hosts, run} = fleet(['a'])
    const h = hosts.get('a')!
    h.onScript = (kind) => {
      // Another operator's run takes the lock over between this run's lock and its installer's start.
      if (kind === 'installer') h.lock = '{"owner":"op2@ws","pid":1002,"command":"deploy","token":"other"}'
    }
    const [r] = await run()
    expect(r.status).toBe('failed')
    expect(r.error).toMatch(/^lock lost: now held by/)
    expect(h.starts).toHaveLength(0)
    // No history line, no record, no unlock: the host state is the other run's now.
    expect(h.historyLines).toEqual([])
    expect(h.ran).not.toContain('record')
    expect(h.ran).not.toContain('unlock')
    allClosed(h)
  })

  it('uninstall: uninstall, record (forget and history), unlock', async () => {
    const {hosts, run} = fleet(['a'])
    const h = hosts.get('a')!
    h.version = '1.5.0'
    const [r] = await run({command: uninstall})
    expect(r.status).toBe('ok')
    expect(h.ran).toEqual(['probe', 'lock', 'uninstall', 'record', 'unlock'])
    expect(h.history).toBe(1)
    expect(h.lock).toBeNull()
    allClosed(h)
  })

  it('dry run: read only, result is the plan', async () => {
    const {hosts, run} = fleet(['a'], {dryRun: true})
    const h = hosts.get('a')!
    h.version = '1.4.0'
    const [r] = await run()
    expect(r).toMatchObject({status: 'ok', action: 'upgrade', hops: ['1.5.0', '1.6.0']})
    expect(h.ran).toEqual(['probe'])
    allClosed(h)
  })

  it('hooks: a failing before-host fails its host before anything changes; after-host, after-batch and after-run are told the outcome', async () => {
    const out = path.join(dir, 'hooks.log')
    fs.rmSync(out, {force: true})
    const say = (what: string) => `echo "${what} $GWFLEET_HOOK gw=$GWFLEET_GATEWAY status=$GWFLEET_STATUS batch=$GWFLEET_BATCH ok=$GWFLEET_OK failed=$GWFLEET_FAILED pw=\${GWFLEET_BECOME_PASSWORD:-none}" >> ${out}`
    const hook = (command: string) => ({command, timeoutSeconds: 10, line: 1})
    process.env.GWFLEET_BECOME_PASSWORD = 'sudo-secret'
    try {
      const {hosts, run, logs} = fleet(['a', 'b'], {}, undefined, {
        hooks: {
          'before-run': hook(say('run')),
          'before-host': hook(`${say('host')}; [ "$GWFLEET_GATEWAY" != b ] || exit 3`),
          'after-host': hook(`${say('after')}; exit 1`),
          'after-batch': hook(say('batch')),
          'after-run': hook(say('end')),
        },
      })
      const results = await run({batches: [{count: 1}], maxFail: 5})
      expect(results.map((r) => r.status)).toEqual(['ok', 'failed'])
      expect(results[1].error).toMatch(/^hook before-host \(inventory\.yaml:1\) exited with code 3; nothing on the host was changed/)
      // A failing after-host is reported beside the result, which stands.
      expect(results[0].notes?.join('\n')).toMatch(/hook after-host .* exited with code 1/)
      const b = hosts.get('b')!
      expect(b.ran).toEqual(['read', 'unlock'])
      expect(b.lock).toBeNull()
      allClosed(b)
      const lines = fs.readFileSync(out, 'utf8').trim().split('\n')
      expect(lines).toEqual([
        'run before-run gw= status= batch= ok= failed= pw=none',
        'host before-host gw=a status= batch=1 ok= failed= pw=none',
        'after after-host gw=a status=ok batch=1 ok= failed= pw=none',
        'batch after-batch gw= status= batch=1 ok=1 failed=0 pw=none',
        'host before-host gw=b status= batch=2 ok= failed= pw=none',
        'after after-host gw=b status=failed batch=2 ok= failed= pw=none',
        'batch after-batch gw= status= batch=2 ok=0 failed=1 pw=none',
        'end after-run gw= status=failed batch= ok=1 failed=1 pw=none',
      ])
      // Hook output goes to the run log.
      expect(logs.join('\n')).toMatch(/a: hook before-host: ok/)
    } finally {
      delete process.env.GWFLEET_BECOME_PASSWORD
    }
  })

  it('a failing before-run hook touches no host', async () => {
    const {hosts, run} = fleet(['a'], {}, undefined, {hooks: {'before-run': {command: 'exit 2', timeoutSeconds: 10, line: 7}}})
    const [r] = await run()
    expect(r.status).toBe('skipped')
    expect(r.error).toMatch(/^hook before-run \(inventory\.yaml:7\) exited with code 2; no host was touched/)
    expect(hosts.get('a')!.ran).toEqual([])
  })

  it('--lock-wait: a fresh host locked by another run is installed once that run lets go; without it the host fails at once', async () => {
    const other = JSON.stringify({owner: 'someone@elsewhere', pid: 1, command: 'deploy', started: 'then'})
    for (const wait of [0, 30]) {
      const {hosts, run} = fleet(['a'], {lockWaitSeconds: wait})
      const h = hosts.get('a')!
      h.lock = other
      let tries = 0
      h.onScript = (kind) => {
        if (kind === 'lock' && ++tries === 2) h.lock = null
      }
      const [r] = await run()
      if (wait === 0) {
        expect(r.status).toBe('failed')
        expect(r.error).toMatch(/^locked by another run: someone@elsewhere pid 1 \(deploy\)/)
        expect(h.ran).toEqual(['read'])
      } else {
        expect(r.status).toBe('ok')
        expect(h.ran).toEqual(['read', 'probe', 'lock', 'lock', 'write-values', 'installer', 'record', 'unlock'])
        expect(h.lock).toBeNull()
      }
      allClosed(h)
    }
  })

  it('after an interrupt the after-host and after-run hooks still run, told how the host ended', async () => {
    const out = path.join(dir, 'hooks-interrupt.log')
    fs.rmSync(out, {force: true})
    const hook = (what: string) => ({command: `echo "${what} gw=$GWFLEET_GATEWAY status=$GWFLEET_STATUS" >> ${out}`, timeoutSeconds: 10, line: 1})
    const {hosts, run, interrupt} = fleet(['a'], {}, undefined, {hooks: {'after-host': hook('after'), 'after-run': hook('end')}})
    const h = hosts.get('a')!
    h.version = '1.4.0'
    h.values = VALUES_SHA
    h.onScript = (kind) => {
      if (kind === 'installer' && h.ran.filter((k) => k === 'installer').length === 0) interrupt.signal('SIGINT')
    }
    interrupt.install(() => undefined)
    try {
      const [r] = await run()
      expect(r.status).toBe('interrupted')
      expect(r.error).toMatch(/interrupted by the operator before the hop to 1\.6\.0/)
      expect(fs.readFileSync(out, 'utf8').trim().split('\n')).toEqual(['after gw=a status=interrupted', 'end gw= status=failed'])
      expect(h.lock).toBeNull()
    } finally {
      interrupt.uninstall()
    }
  })
})

describe('canaries by label: --first', () => {
  it('the gateways --first picks fill the first batches, the rest follow in inventory order', async () => {
    const {hosts, run} = fleet(['a', 'b', 'c', 'd'])
    for (const h of hosts.values()) {
      h.version = '1.5.0'
      h.values = VALUES_SHA
    }
    // The canary fails: the rest are skipped, and the canary was the one --first named, not the first in the inventory.
    hosts.get('c')!.onScript = (kind) => {
      if (kind === 'installer') hosts.get('c')!.jobRc = 3
    }
    const results = await run({batches: [{count: 1}, {percent: 100}], maxFail: 0, first: ['c']})
    expect(results.map((r) => [r.name, r.status, r.batch])).toEqual([
      ['a', 'skipped', 2],
      ['b', 'skipped', 2],
      ['c', 'failed', 1],
      ['d', 'skipped', 2],
    ])
    expect(hosts.get('a')!.starts).toEqual([])
  })

  it('a dry run gives the batches the rollout would use: picked ones first, each part in inventory order', async () => {
    const {hosts, run} = fleet(['a', 'b', 'c', 'd'], {dryRun: true})
    for (const h of hosts.values()) h.version = '1.5.0'
    const results = await run({batches: [{count: 1}, {percent: 100}], maxFail: 0, first: ['d', 'b']})
    expect(Object.fromEntries(results.map((r) => [r.name, r.batch]))).toEqual({a: 2, b: 1, c: 2, d: 2})
    const two = await run({batches: [{count: 2}, {percent: 100}], maxFail: 0, first: ['d', 'b']})
    expect(Object.fromEntries(two.map((r) => [r.name, r.batch]))).toEqual({a: 2, b: 1, c: 2, d: 1})
  })
})

describe('a way out: deploy --reinstall and state: absent', () => {
  it('--reinstall runs the installer of the desired version again over a version off the chain, then verifies', async () => {
    const {hosts, run} = fleet(['a'], {}, '1.5.0')
    const h = hosts.get('a')!
    h.version = '0.0.1'
    h.values = VALUES_SHA
    // Without --reinstall the policy refuses it: the way up from 0.0.1 has no release in the folder.
    const [plain] = await run()
    expect(plain.status).toBe('refused')
    expect(h.starts).toEqual([])
    const [r] = await run({reinstall: true})
    expect(r).toMatchObject({status: 'ok', action: 'install', fromVersion: '0.0.1', toVersion: '1.5.0', hops: ['1.5.0'], reached: ['1.5.0']})
    expect(h.version).toBe('1.5.0')
    expect(h.starts).toHaveLength(1)
    allClosed(h)
  })

  it('--reinstall runs again on a gateway in sync too (the cluster may lie)', async () => {
    const {hosts, run} = fleet(['a'], {}, '1.5.0')
    const h = hosts.get('a')!
    h.version = '1.5.0'
    h.values = VALUES_SHA
    const [r] = await run({reinstall: true})
    expect(r).toMatchObject({status: 'ok', action: 'install', hops: ['1.5.0']})
    expect(h.ran).toEqual(['read', 'lock', 'installer', 'record', 'unlock'])
  })

  it('deploy removes a gateway marked state: absent, installs the others, and leaves an absent one with nothing there alone', async () => {
    const {hosts, run} = fleet(['a', 'gone', 'empty'], {}, '1.5.0')
    const gone = hosts.get('gone')!
    gone.gw.state = 'absent'
    gone.version = '1.5.0'
    const empty = hosts.get('empty')!
    empty.gw.state = 'absent'
    const results = await run()
    expect(results.map((r) => [r.name, r.status, r.action])).toEqual([
      ['a', 'ok', 'install'],
      ['gone', 'ok', 'uninstall'],
      ['empty', 'unchanged', 'none'],
    ])
    expect(gone.ran).toEqual(['probe', 'lock', 'uninstall', 'record', 'unlock'])
    expect(gone.version).toBeNull()
    // Nothing there: read, never locked.
    expect(empty.ran).toEqual(['probe'])
    for (const h of hosts.values()) allClosed(h)
  })

  it('upgrade leaves a gateway marked state: absent alone', async () => {
    const {hosts, run} = fleet(['gone'], {}, '1.5.0')
    const h = hosts.get('gone')!
    h.gw.state = 'absent'
    h.version = '1.4.0'
    const [r] = await run({command: upgrade, to: '1.5.0', batches: [{count: 1}]})
    expect(r).toMatchObject({status: 'unchanged', action: 'none'})
    expect(h.starts).toEqual([])
  })
})
