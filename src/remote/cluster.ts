// The gateway's cluster as a host shell reaches it, and the one definition of "a gateway is
// installed": gatewayQuery() is the shell side (run by the probe behind audit and deploy, by the
// installer's round trip, by `status` and by `logs`), parseGateway() the one reading of its answer.
import {imageTagVersion} from '../release/version.js'
import {shq} from '../ssh/quote.js'
import type {Installed} from '../types.js'

/** The agent's deployment and pods, as the vendor guide selects them. */
export const AGENT_SELECTOR = 'apheris-component=agent'

/** The kubeconfig k3s writes; the only cluster gwfleet asks (unless root's own KUBECONFIG names one). */
export const K3S_KUBECONFIG = '/etc/rancher/k3s/k3s.yaml'

/** The vendor's query for the installed agent image (SPEC section 1). */
export const AGENT_VERSION_TEMPLATE =
  '{{if and (index .items 0).spec.template.spec.containers (index (index .items 0).spec.template.spec.containers 0).image }}{{ (index (index .items 0).spec.template.spec.containers 0).image }}{{ "\\n" }}{{end}}'

/** Sets $K to `kubectl`, else `k3s kubectl`, else empty (unquoted on purpose: it may be two words). */
export const KUBECTL_PICK = [
  'if command -v kubectl >/dev/null 2>&1; then K=kubectl',
  'elif command -v k3s >/dev/null 2>&1; then K="k3s kubectl"',
  'else K=""; fi',
].join('\n')

/**
 * Asks the cluster (through a non-empty $K) for the agent image: leaves kubectl's answer in $out and
 * $rc and prints them as gw.kubectl_rc / gw.kubectl_out, the answer folded onto one line (at most
 * 600 bytes) so nothing kubectl prints can pose as a key of ours.
 */
export function agentVersionQuery(): string {
  return [
    `out=$($K get deploy -n apheris -l ${shq(AGENT_SELECTOR)} -o go-template=${shq(AGENT_VERSION_TEMPLATE)} 2>&1); rc=$?`,
    'echo "gw.kubectl_rc=$rc"',
    'printf "gw.kubectl_out=%s\\n" "$(printf %s "$out" | head -c 600 | tr "\\n\\r" "  ")"',
  ].join('\n')
}

/**
 * The shell side of "is a gateway installed": picks kubectl ($K), needs a kubeconfig ($KUBECONFIG,
 * which the scripts' prelude sets to k3s's when it exists) and asks for the agent image. Prints
 * gw.kubectl=missing, gw.cluster=none or kubectl's answer; parseGateway() reads them. Sets GWV=1
 * when an agent answered with an image and $GWC=1 when there is a cluster to ask at all.
 */
export function gatewayQuery(): string {
  return [
    KUBECTL_PICK,
    'GWV=""; GWC=""',
    'if [ -z "$K" ]; then echo gw.kubectl=missing',
    // Without a kubeconfig kubectl would ask localhost:8080 or whatever ~/.kube/config names: not this gateway.
    'elif [ -z "${KUBECONFIG:-}" ]; then echo gw.cluster=none',
    'else',
    'GWC=1',
    agentVersionQuery(),
    'if [ "$rc" = 0 ] && [ -n "$out" ]; then GWV=1; fi',
    'fi',
  ].join('\n')
}

/** What a host says about its gateway. */
export interface GatewayPresence {
  /** yes: the agent answered with a versioned image; no: nothing installed; unknown: the cluster could not tell. */
  installed: Installed
  /** The agent's version when installed. */
  version: string | null
  /** Why not installed, or why unknown (a fact, without "no gateway installed" around it). */
  note: string | null
}

/** The words every command uses for a host without a gateway. */
export function notInstalled(note: string | null): string {
  return `no gateway installed (${note ?? 'none found'})`
}

/** Pure: the answer of gatewayQuery(), from the `gw.` keys of a script's output (parseKv's map). */
export function parseGateway(kv: Map<string, string[]>): GatewayPresence {
  const one = (k: string) => kv.get(k)?.[0]
  const no = (note: string): GatewayPresence => ({installed: 'no', version: null, note})
  const unknown = (note: string): GatewayPresence => ({installed: 'unknown', version: null, note})
  if (one('kubectl') === 'missing') return no('no kubectl or k3s on the host')
  if (one('cluster') === 'none') return no(`no k3s cluster on the host (no ${K3S_KUBECONFIG})`)
  const rcS = one('kubectl_rc')
  if (rcS === undefined) return unknown('the host did not say whether a gateway is installed (its answer was cut short)')
  const out = (one('kubectl_out') ?? '').trim()
  if (rcS === '0') {
    if (out === '') return no('no agent deployment in namespace apheris')
    const version = imageTagVersion(out)
    return version === null ? unknown(`unreadable agent image "${out.slice(0, 80)}"`) : {installed: 'yes', version, note: null}
  }
  // kubectl's own words for "the API server is not there" and "there is no such deployment".
  if (/refused|Unable to connect|couldn't get current server/i.test(out)) return unknown(`the cluster does not answer (kubectl could not reach the API server: ${out.slice(0, 120)})`)
  if (/index out of range|not found|No resources/i.test(out)) return no('no agent deployment in namespace apheris')
  return unknown(`kubectl failed: ${out.slice(0, 120)}`)
}

// ------------------------------------------------------------------------------------ pods

/** A pod as `kubectl get pod` shows it, from kubectl's JSON. */
export interface PodRow {
  namespace: string
  name: string
  /** "1/2": ready containers of all. */
  ready: string
  /** kubectl's STATUS column: the phase, or what holds the pod (CrashLoopBackOff, Init:0/1, Terminating ...). */
  status: string
  /** Restarts of all its containers. */
  restarts: number
  /** metadata.creationTimestamp (ISO), from which the table shows its age. */
  created: string | null
}

/** A computation pod (label apheris_job_id, namespace apheris). */
export interface ComputationPod {
  name: string
  phase: string
  /** "2/2": ready containers of all. */
  ready: string
  restarts: number
  created: string | null
  /** Per container "cpu/memory" requests. */
  requests: string[]
}

/** The computation pods of one job. */
export interface Computation {
  jobId: string
  pods: ComputationPod[]
}

/** The label that marks a computation's pods (vendor guide, "Operating"); they run in namespace apheris. */
export const JOB_LABEL = 'apheris_job_id'

// Narrow readers of untyped JSON: kubectl's answer comes from the host, so every field may be missing or of another type.
type Obj = Record<string, unknown>
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {})
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(obj) : [])
const str = (v: unknown): string => (typeof v === 'string' ? v : '')
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0)

// How a container ended, as kubectl words it.
function endedAs(t: Obj): string {
  if (str(t.reason)) return str(t.reason)
  return num(t.signal) ? `Signal:${num(t.signal)}` : `ExitCode:${num(t.exitCode)}`
}

/** kubectl's STATUS column for one pod, after kubectl's own printer (phase, init containers, waiting and ended containers, deletion). */
export function podStatus(pod: Obj): string {
  const status = obj(pod.status)
  let reason = str(status.reason) || str(status.phase) || 'Unknown'
  const inits = arr(status.initContainerStatuses)
  let initializing = false
  for (const [i, c] of inits.entries()) {
    const state = obj(c.state)
    const term = state.terminated === undefined ? null : obj(state.terminated)
    if (term && num(term.exitCode) === 0) continue
    initializing = true
    const waiting = str(obj(state.waiting).reason)
    if (term) reason = `Init:${endedAs(term)}`
    else if (waiting && waiting !== 'PodInitializing') reason = `Init:${waiting}`
    else reason = `Init:${i}/${arr(obj(pod.spec).initContainers).length || inits.length}`
    break
  }
  if (!initializing) {
    let running = false
    // kubectl reads the containers last to first: the first one listed has the last word.
    for (const c of [...arr(status.containerStatuses)].reverse()) {
      const state = obj(c.state)
      const waiting = str(obj(state.waiting).reason)
      if (waiting) reason = waiting
      else if (state.terminated !== undefined) reason = endedAs(obj(state.terminated))
      else if (state.running !== undefined && c.ready === true) running = true
    }
    if (reason === 'Completed' && running) {
      const ready = arr(status.conditions).some((c) => c.type === 'Ready' && c.status === 'True')
      reason = ready ? 'Running' : 'NotReady'
    }
  }
  if (obj(pod.metadata).deletionTimestamp !== undefined) reason = str(status.reason) === 'NodeLost' ? 'Unknown' : 'Terminating'
  return reason
}

/** The pods and the computations (pods with apheris_job_id in namespace apheris, grouped by job) in kubectl's JSON of `get pod -o json`. Throws when it is not a pod list. */
export function parsePods(json: string): {pods: PodRow[]; computations: Computation[]} {
  const doc = obj(JSON.parse(json))
  if (!Array.isArray(doc.items)) throw new Error(`not a list of pods (kind ${str(doc.kind) || 'unknown'})`)
  const pods: PodRow[] = []
  const byJob = new Map<string, ComputationPod[]>()
  for (const p of arr(doc.items)) {
    const meta = obj(p.metadata)
    const spec = obj(p.spec)
    const cs = arr(obj(p.status).containerStatuses)
    const containers = arr(spec.containers)
    const ready = `${cs.filter((c) => c.ready === true).length}/${containers.length || cs.length}`
    const restarts = cs.reduce((n, c) => n + num(c.restartCount), 0)
    const created = str(meta.creationTimestamp) || null
    pods.push({namespace: str(meta.namespace), name: str(meta.name), ready, status: podStatus(p), restarts, created})
    const job = obj(meta.labels)[JOB_LABEL]
    if (str(meta.namespace) !== 'apheris' || typeof job !== 'string') continue
    const requests = containers.map((c) => {
      const r = obj(obj(c.resources).requests)
      return `${str(r.cpu) || '-'}/${str(r.memory) || '-'}`
    })
    byJob.set(job, [...(byJob.get(job) ?? []), {name: str(meta.name), phase: str(obj(p.status).phase), ready, restarts, created, requests}])
  }
  return {pods, computations: [...byJob.entries()].map(([jobId, list]) => ({jobId, pods: list}))}
}
