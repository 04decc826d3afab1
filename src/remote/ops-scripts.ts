// Remote scripts of the operator commands (preflight, logs, status), built by pure functions like
// scripts.ts: every value reaches the shell through shq(); results come back as `gw.key=value`
// lines for parseKv(). They read and never change anything on the host.
import {shq} from '../ssh/quote.js'
import {AGENT_SELECTOR, gatewayQuery, KUBECTL_PICK} from './cluster.js'
import {jobIfSafeBody, PRELUDE} from './scripts.js'

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
  /** Outbound HTTPS to test from the host; absent: no outbound test. */
  outbound?: OutboundOptions
}

/** What the outbound test reaches for, and through which proxy. */
export interface OutboundOptions {
  /** Host names (checked by the caller: letters, digits, dots and dashes only), tested on port 443. */
  targets: string[]
  /** The values' HTTPS proxy without credentials; absent: the host's own proxy, else directly. */
  proxy?: string
}

/** Seconds each outbound test may take; they run side by side, so this is what they add to a probe. */
export const OUTBOUND_SECONDS = 3

/** Files whose proxy variables the probe reports: pam_env, login shells of root, systemd's default environment, k3s's service environment. */
export const PROXY_FILES = [
  '/etc/environment',
  '/etc/profile',
  '/etc/profile.d/*.sh',
  '/etc/bash.bashrc',
  '/root/.profile',
  '/root/.bash_profile',
  '/root/.bashrc',
  '/etc/systemd/system.conf',
  '/etc/systemd/system.conf.d/*.conf',
  '/etc/systemd/system/k3s.service.env',
]

/**
 * The prerequisite probe (vendor guide, "Prerequisites"): identity, os-release, bash/curl and the
 * coreutils gwfleet itself uses, CPUs, memory, free disk where releases and datasets live, the
 * datasets folder, k3s presence and who listens on 6443. Read-only; slow filesystems are bounded
 * by timeout(1) where it exists.
 */
export function preflightScript(o: PreflightScriptOptions): string {
  return [PRELUDE, preflightBody(o, 'gw.'), 'echo gw.end=1'].join('\n') + '\n'
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
  lines.push(...firewallLines(k), ...proxyLines(k))
  if (o.outbound) lines.push(...outboundLines(k, o.outbound))
  return lines.join('\n')
}

// Chains and tables that k3s, its network plugins, ufw and firewalld own: not "other" rules.
const OWNED_RULES = '*KUBE-*|*CILIUM*|*cilium*|*FLANNEL*|*flannel*|*CNI-*|*ufw-*|*ufw6-*|*firewalld*'

/**
 * Firewalls (vendor guide, "Firewall"): whether ufw or firewalld is active (the installer edits
 * their rules), and the rules of anything else, as iptables-save and nft print them. Only policy
 * lines and a few sample rules come back, with counts; chains owned by k3s and its network plugins,
 * ufw or firewalld are left out.
 */
function firewallLines(k: (key: string) => string): string[] {
  return [
    "gw_nl=$(printf '\\nx'); gw_nl=${gw_nl%x}",
    'if command -v ufw >/dev/null 2>&1; then',
    `  l=$($T ufw status 2>&1 </dev/null); echo "${k('fw.ufw')}=\${l%%"$gw_nl"*}"`,
    'fi',
    'if command -v firewall-cmd >/dev/null 2>&1; then',
    `  l=$($T firewall-cmd --state 2>&1 </dev/null); echo "${k('fw.firewalld')}=\${l%%"$gw_nl"*}"`,
    'fi',
    'if command -v iptables-save >/dev/null 2>&1; then',
    `  echo ${k('fw.ipt')}=1`,
    '  $T iptables-save 2>/dev/null </dev/null | { t=; n=0; while IFS= read -r l; do case "$l" in',
    "    '*'*) t=${l#?} ;;",
    `    :*) if [ "$t" = filter ]; then case "$l" in *' ACCEPT '*|*' - '*) ;; *) echo "${k('fw.ipt_policy')}=\${l#:}" ;; esac; fi ;;`,
    `    -A${OWNED_RULES.split('|').join('|-A')}) ;;`,
    `    -A*) n=$((n+1)); if [ "$n" -le 3 ]; then echo "${k('fw.ipt_rule')}=$t: $l"; fi ;;`,
    `  esac; done; echo "${k('fw.ipt_rules')}=$n"; }`,
    'fi',
    'if command -v nft >/dev/null 2>&1; then',
    `  echo ${k('fw.nft')}=1`,
    '  $T nft -s list ruleset 2>/dev/null </dev/null | { tb=; ch=; d=0; n=0; while IFS= read -r l; do',
    '    l=${l#"${l%%[!\t ]*}"}',
    '    case "$l" in',
    `      *'{') d=$((d+1)); case "$d:$l" in 1:'table '*) tb=\${l#table }; tb=\${tb% ?}; ch= ;; 2:'chain '*) ch=\${l#chain }; ch=\${ch% ?} ;; *) ch= ;; esac ;;`,
    `      '}') d=$((d-1)); if [ "$d" -lt 2 ]; then ch=; fi ;;`,
    `      'type '*'policy drop'*) case "$tb $ch" in ${OWNED_RULES}) ;; *) echo "${k('fw.nft_policy')}=$tb $ch: drop" ;; esac ;;`,
    "      ''|'type '*|'policy '*|'comment '*) ;;",
    `      *) if [ "$d" = 2 ] && [ -n "$ch" ]; then case "$tb $ch $l" in ${OWNED_RULES}) ;; *) n=$((n+1)); if [ "$n" -le 3 ]; then echo "${k('fw.nft_rule')}=$tb $ch: $l"; fi ;; esac; fi ;;`,
    `    esac; done; echo "${k('fw.nft_rules')}=$n"; }`,
    'fi',
  ]
}

/**
 * HTTP proxy variables the host sets: the probe's own environment, then the assignments in
 * PROXY_FILES (each word of a line that sets one, so systemd's DefaultEnvironment= lists come
 * back too, and nothing else of the line). The
 * user:password of every URL is masked here, on the host, before anything is printed. The first
 * HTTPS proxy found in the environment or a plain assignment is kept (unmasked, in the shell only)
 * for the outbound test.
 */
function proxyLines(k: (key: string) => string): string[] {
  return [
    // gw_mask TEXT: TEXT with ://user:password@ in every URL replaced by ://***@ (into gw_m).
    'gw_mask() { r=$1; o=; while :; do case "$r" in *://*) o="$o${r%%://*}://"; r=${r#*://}; a=${r%%[/@ ]*}; case "$r" in "$a"@*) o="$o***@"; r=${r#"$a"@} ;; esac ;; *) break ;; esac; done; gw_m="$o$r"; }',
    'gw_hp=; gw_hps=',
    'for v in https_proxy HTTPS_PROXY http_proxy HTTP_PROXY no_proxy NO_PROXY; do',
    '  eval "x=\\${$v:-}"',
    `  if [ -n "$x" ]; then gw_mask "$v=$x"; printf '${k('proxy')}=env\\t%s\\n' "$gw_m"; case "$v" in [Hh]*[Ss]_*) if [ -z "$gw_hp" ]; then gw_hp=$x; gw_hps=env; fi ;; esac; fi`,
    'done',
    `for f in ${PROXY_FILES.join(' ')}; do`,
    '  [ -f "$f" ] && [ -r "$f" ] || continue',
    '  while IFS= read -r l || [ -n "$l" ]; do',
    '    case "$l" in *[Pp][Rr][Oo][Xx][Yy]=*) ;; *) continue ;; esac',
    '    l=${l#"${l%%[!\t ]*}"}',
    `    case "$l" in '#'*|';'*) continue ;; esac`,
    // word by word, up to a comment: only the proxy assignments leave the host, not the rest of the line
    '    set -f; for w in $l; do',
    "      case \"$w\" in '#'*) break ;; *[Pp][Rr][Oo][Xx][Yy]=*) ;; *) continue ;; esac",
    `      gw_mask "$w"; printf '${k('proxy')}=%s\\t%s\\n' "$f" "$gw_m"`,
    '      case "$w" in [Hh][Tt][Tt][Pp][Ss]_[Pp][Rr][Oo][Xx][Yy]=*)',
    `        x=\${w#*=}; x=\${x%;}; case "$x" in \\"*\\"|\\'*\\') x=\${x#?}; x=\${x%?} ;; esac`,
    '        if [ -z "$gw_hp" ] && [ -n "$x" ]; then gw_hp=$x; gw_hps=$f; fi ;;',
    '      esac',
    '    done; set +f',
    '  done < "$f"',
    'done',
  ]
}

/**
 * Outbound HTTPS to each target, all at once, each bounded by OUTBOUND_SECONDS: curl when the host
 * has it; else a TLS handshake by openssl s_client (direct) or a TCP connect by bash's /dev/tcp (a
 * CONNECT through an HTTP proxy). curl asks for the headers only: any HTTP answer is a reach. The
 * proxy reaches curl through its environment, never its command line. One `net=` line per target:
 * host, ok|fail, method, proxy (masked), detail.
 */
function outboundLines(k: (key: string) => string, o: OutboundOptions): string[] {
  const s = OUTBOUND_SECONDS
  return [
    o.proxy !== undefined ? `gw_np=${shq(o.proxy)}; gw_nps=values` : 'gw_np=$gw_hp; gw_nps=$gw_hps',
    'if [ -n "$gw_np" ]; then gw_mask "$gw_np"; gw_npm="$gw_m ($gw_nps)"; else gw_npm=-; fi',
    'if command -v curl >/dev/null 2>&1; then gw_nm=curl',
    'elif ! command -v timeout >/dev/null 2>&1; then gw_nm=none',
    'elif [ -z "$gw_np" ] && command -v openssl >/dev/null 2>&1; then gw_nm=openssl',
    'elif command -v bash >/dev/null 2>&1; then gw_nm=bash',
    'else gw_nm=none; fi',
    `echo "${k('net_method')}=$gw_nm"`,
    'gw_net() {',
    '  h=$1; e=',
    '  case "$gw_nm" in',
    `    curl) if [ -n "$gw_np" ]; then e=$(https_proxy=$gw_np HTTPS_PROXY= ALL_PROXY= all_proxy= no_proxy= NO_PROXY= curl -sS -I -o /dev/null --connect-timeout ${s} --max-time ${s} "https://$h/" 2>&1 </dev/null); else e=$(curl -sS -I -o /dev/null --noproxy '*' --connect-timeout ${s} --max-time ${s} "https://$h/" 2>&1 </dev/null); fi; rc=$? ;;`,
    `    openssl) e=$(timeout ${s} openssl s_client -connect "$h:443" -servername "$h" </dev/null 2>&1 >/dev/null); rc=$? ;;`,
    '    bash) if [ -n "$gw_np" ]; then',
    '        p=${gw_np#*://}; p=${p%%/*}; case "$p" in *@*) p=${p##*@} ;; esac; case "$p" in *:*) pp=${p##*:}; p=${p%:*} ;; *) pp=80 ;; esac',
    `        e=$(timeout ${s} bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 7; printf "CONNECT %s:443 HTTP/1.1\\r\\nHost: %s:443\\r\\n\\r\\n" "$3" "$3" >&3; IFS= read -r a <&3; case "$a" in "HTTP/"*" 200"*) exit 0 ;; esac; printf "the proxy answered: %s\\n" "\${a%?}" >&2; exit 9' gw "$p" "$pp" "$h" 2>&1 </dev/null); rc=$?`,
    `      else e=$(timeout ${s} bash -c 'exec 3<>"/dev/tcp/$1/443"' gw "$h" 2>&1 </dev/null); rc=$?; fi ;;`,
    '    *) rc=-1 ;;',
    '  esac',
    '  if [ "$rc" = 0 ]; then st=ok; else st=fail; fi',
    '  e=${e%%"$gw_nl"*}; [ "$rc" = 124 ] && e="no answer within ' + s + 's"',
    `  gw_mask "$e"; printf '${k('net')}=%s\\t%s\\t%s\\t%s\\t%s (exit %s)\\n' "$h" "$st" "$gw_nm" "$gw_npm" "$gw_m" "$rc"`,
    '}',
    'gw_pids=',
    `for h in ${o.targets.map(shq).join(' ')}; do gw_net "$h" & gw_pids="$gw_pids $!"; done`,
    'wait $gw_pids',
  ]
}

/** Whether a gateway is installed, and nothing else: what `logs` asks before it reads any log. */
export function gatewayScript(): string {
  return [PRELUDE, gatewayQuery(), 'echo gw.end=1'].join('\n') + '\n'
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
    PRELUDE,
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
export function statusScript(remoteDir?: string, gateway?: string): string {
  return [
    PRELUDE,
    // A live install (or one no run has recorded yet) under remoteDir, and the gateway's last change, when it is safe to read.
    ...(remoteDir ? [jobIfSafeBody(remoteDir, gateway)] : []),
    gatewayQuery(),
    'if [ -n "$GWC" ]; then',
    'out=$($K get pod --all-namespaces -o json 2>&1); rc=$?',
    'printf "%s\\n" "$out" | sed "s/^/gw.pods=/"',
    'echo "gw.pods_rc=$rc"',
    'fi',
    'echo gw.end=1',
  ].join('\n') + '\n'
}
