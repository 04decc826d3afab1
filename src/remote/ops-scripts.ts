// Remote scripts of the operator commands (preflight, logs, status), built by pure functions like
// scripts.ts: every value reaches the shell through shq(); results come back as `gw.key=value`
// lines for parseKv(). They read and never change anything on the host.
import {shq} from '../ssh/quote.js'
import {AGENT_SELECTOR, gatewayQuery, KUBECTL_PICK} from './cluster.js'
import {PRELUDE as OPS_PRELUDE} from './scripts.js'

/** Where the vendor's installer puts its smoke-test datasets when the values name no folder. */
export const INSTALLER_DEFAULT_DATASETS = '/home/datastore'

/** Seconds between the keep-alive lines of `logs --follow` (how soon an abandoned follow is noticed). */
export const FOLLOW_HEARTBEAT_SECONDS = 5

/** The keep-alive line `logs --follow` interleaves with the logs; the CLI drops it. */
export const HEARTBEAT_LINE = 'gw.hb=1'

/** What the prerequisite probe looks at. */
export interface PreflightScriptOptions {
  /** The gateway's remoteDir: where releases are uploaded. */
  remoteDir: string
  /** dal.sources.files.folder from the gateway's values, when set. */
  datasetsFolder?: string
}

/**
 * The prerequisite probe (vendor guide, "Prerequisites"): identity, os-release, bash/curl and the
 * coreutils gwfleet itself uses, CPUs, memory, free disk where releases and datasets live, the
 * datasets folder, k3s presence and who listens on 6443. Read-only; slow filesystems are bounded
 * by timeout(1) where it exists.
 */
export function preflightScript(o: PreflightScriptOptions): string {
  return [OPS_PRELUDE, preflightBody(o, 'gw.'), 'echo gw.end=1'].join('\n') + '\n'
}

/**
 * The probe's lines, every key starting with `prefix` (so it can ride along in another script).
 * Shell builtins wherever they do: on a fleet, every process started here starts once per host.
 */
export function preflightBody(o: PreflightScriptOptions, prefix: string): string {
  const k = (key: string) => `${prefix}${key}`
  const datasets = o.datasetsFolder ?? INSTALLER_DEFAULT_DATASETS
  const lines = [
    'if command -v timeout >/dev/null 2>&1; then T="timeout 10"; else T=""; fi',
    `while read -r a r e rest; do if [ "$a" = Uid: ]; then echo "${k('uid')}=$e"; break; fi; done < /proc/self/status`,
    // The user name from /etc/passwd by the shell itself; id(1) only for users not listed there.
    `gw_u=''; while IFS=: read -r n x u rest; do if [ "$u" = "$e" ]; then gw_u=$n; break; fi; done < /etc/passwd; [ -n "$gw_u" ] || gw_u=$(id -un 2>/dev/null); echo "${k('user')}=$gw_u"`,
    // os-release is read as data, not sourced: it is the host's file and we are root.
    'f=/etc/os-release; [ -r "$f" ] || f=/usr/lib/os-release',
    `if [ -r "$f" ]; then while IFS= read -r l; do case "$l" in ID=*|ID_LIKE=*|VERSION_ID=*|NAME=*|PRETTY_NAME=*) echo "${k('osr.')}$l";; esac; done < "$f"; else echo ${k('osr_missing')}=1; fi`,
    `for t in bash curl sha256sum timeout stat; do printf "${k('tool.')}%s=" "$t"; command -v "$t" 2>/dev/null || echo; done`,
    `printf "${k('cpus')}="; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo`,
    `while read -r a b c; do if [ "$a" = MemTotal: ]; then echo "${k('mem_kb')}=$b"; break; fi; done < /proc/meminfo`,
    // Free space of the filesystem that holds (or will hold) a path: its nearest existing ancestor.
    'gw_up() { p="$1"; while [ ! -e "$p" ] && [ -n "$p" ] && [ "$p" != / ]; do p="${p%/*}"; done; [ -n "$p" ] || p=/; }',
    `gw_up ${shq(o.remoteDir)}; pr=$p; gw_up ${shq(datasets)}; pd=$p`,
    '$T df -Pk -- "$pr" "$pd" 2>/dev/null | {',
    '  read -r hdr',
    `  read -r a b c d e m && printf "${k('df.releases')}=%s\\t%s\\t%s\\n" "$pr" "$d" "$m"`,
    `  read -r a b c d e m && printf "${k('df.datasets')}=%s\\t%s\\t%s\\n" "$pd" "$d" "$m"`,
    '}',
  ]
  if (o.datasetsFolder !== undefined) {
    lines.push(
      `D=${shq(o.datasetsFolder)}`,
      'if [ -d "$D" ]; then',
      // access(2) by the shell: what listing it needs (read and search); [ -d ] above already stat()ed it.
      `  if [ -r "$D" ] && [ -x "$D" ]; then echo ${k('datasets')}=ok; else echo ${k('datasets')}=unreadable; fi`,
      `elif [ -e "$D" ]; then echo ${k('datasets')}=notdir`,
      `else echo ${k('datasets')}=missing; fi`,
    )
  }
  lines.push(
    `for p in /usr/local/bin/k3s /usr/bin/k3s; do if [ -x "$p" ]; then echo "${k('k3s')}=$p"; break; fi; done`,
    `for p in /usr/local/bin/k3s-uninstall.sh /usr/bin/k3s-uninstall.sh; do if [ -f "$p" ]; then echo "${k('k3s_uninstall')}=$p"; break; fi; done`,
    'if command -v ss >/dev/null 2>&1; then',
    `  echo ${k('port_tool')}=ss`,
    `  ss -Hltnp 'sport = :6443' 2>/dev/null | while IFS= read -r l; do echo "${k('port6443')}=$l"; done`,
    // The shell's read goes byte by byte: only without ss is /proc/net/tcp read this way.
    'elif [ -r /proc/net/tcp ]; then',
    `  echo ${k('port_tool')}=proc`,
    // 0x192B = 6443, state 0A = LISTEN
    `  while read -r n la ra st rest; do case "$la:$st" in *:192B:0A) echo "${k('port6443')}=LISTEN (from /proc/net/tcp)"; break;; esac; done < /proc/net/tcp`,
    `else echo ${k('port_tool')}=none; fi`,
  )
  return lines.join('\n')
}

/** Whether a gateway is installed, and nothing else: what `logs` asks before it reads any log. */
export function gatewayScript(): string {
  return [OPS_PRELUDE, gatewayQuery(), 'echo gw.end=1'].join('\n') + '\n'
}

/** What `logs` asks of kubectl (after gatewayScript() said a gateway is installed). Exit code 3: the cluster went away since. */
export interface LogsScriptOptions {
  follow: boolean
  /** Lines per pod to start with; undefined or -1: all of them. */
  tail?: number
}

/**
 * The agent's logs as the vendor guide reads them. With follow, a watchdog writes a keep-alive
 * line every few seconds: once the operator's side has gone (Ctrl-C closes the channel) the write
 * fails and kubectl is stopped, so no follower is left behind on the host.
 */
export function logsScript(o: LogsScriptOptions): string {
  const tail = o.tail === undefined ? -1 : Math.trunc(o.tail)
  const cmd = `$K logs --namespace=apheris ${shq(`--selector=${AGENT_SELECTOR}`)} ${shq(`--tail=${tail}`)}`
  const lines = [
    OPS_PRELUDE,
    KUBECTL_PICK,
    'if [ -z "$K" ] || [ -z "${KUBECONFIG:-}" ]; then echo "the gateway\'s cluster went away" >&2; exit 3; fi',
  ]
  if (!o.follow) {
    lines.push(`exec ${cmd}`)
  } else {
    lines.push(
      `${cmd} --follow &`,
      'kp=$!',
      '(',
      "  trap '' PIPE",
      '  while kill -0 "$kp" 2>/dev/null; do',
      `    sleep ${FOLLOW_HEARTBEAT_SECONDS} </dev/null >/dev/null 2>&1`,
      `    echo ${shq(HEARTBEAT_LINE)} 2>/dev/null || { kill "$kp" 2>/dev/null; exit 0; }`,
      '  done',
      ') &',
      'wp=$!',
      'wait "$kp"; rc=$?',
      'kill "$wp" 2>/dev/null',
      'exit "$rc"',
    )
  }
  return lines.join('\n') + '\n'
}

/**
 * What runs on a gateway (vendor guide, "Operating"), in one round trip: whether a gateway is
 * installed (gatewayQuery), then, where there is a cluster to ask, every pod of it as kubectl's
 * JSON (`get pod --all-namespaces -o json`); the computation pods are those among them with an
 * apheris_job_id label in namespace apheris. Each line of kubectl's answer comes back prefixed
 * (gw.pods=) so none can be mistaken for our own keys; parsePods() joins and reads them.
 */
export function statusScript(): string {
  return [
    OPS_PRELUDE,
    gatewayQuery(),
    'if [ -n "$GWC" ]; then',
    'out=$($K get pod --all-namespaces -o json 2>&1); rc=$?',
    'printf "%s\\n" "$out" | sed "s/^/gw.pods=/"',
    'echo "gw.pods_rc=$rc"',
    'fi',
    'echo gw.end=1',
  ].join('\n') + '\n'
}
