// Remote shell scripts, built by pure functions. Every value that reaches a script goes through
// shq() here and nowhere else; secrets never do (they travel as file contents or on stdin).
import {shq} from '../ssh/quote.js'
import {gatewayQuery, K3S_KUBECONFIG, parseGateway} from './cluster.js'
import {ancestors, dirOf, layout, type RemoteLayout} from './layout.js'
import {archiveJobBody, followJobBody, jobProbeBody, startJobBody} from './job-scripts.js'
import {lockBody, lockConfirmBody} from './lock-scripts.js'
import type {DeployRecord, HistoryEntry, HostFacts, JobFacts, JobMeta, LockOwner} from '../types.js'

export {layout, type RemoteLayout} from './layout.js'

/** Sets a PATH that finds kubectl and k3s in /usr/local/bin even under sudo's secure_path. */
export const PRELUDE = [
  'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH; export PATH',
  `if [ -z "\${KUBECONFIG:-}" ] && [ -r ${shq(K3S_KUBECONFIG)} ]; then KUBECONFIG=${shq(K3S_KUBECONFIG)}; export KUBECONFIG; fi`,
].join('\n')

/** Options for the probe script: what to read on the host. */
export interface ProbeOptions {
  remoteDir: string
  gateway: string
  /** Release versions whose uploaded files should be hashed. */
  releaseVersions: string[]
  /** Datasets folder and DAL storage, reported for preflight/uninstall. */
  extraPaths?: string[]
}

/**
 * Decide whether remoteDir is safe for root to use, and set gw_safe=1 when it is. Every existing
 * directory from "/" down to remoteDir must be a real directory (no symbolic link), owned by root
 * and not writable by group or others; a parent may be world-writable only with the sticky bit (as
 * /tmp is), since no other user can then rename or replace a root-owned entry in it. Prints
 * gw.unsafe=<why> otherwise. Missing directories are fine: root makes them.
 */
function safetyBody(remoteDir: string): string {
  const root = layout(remoteDir, '_').root
  return [
    "gw_safe=1",
    `for gw_p in ${ancestors(root).map(shq).join(' ')}; do`,
    '  if [ -L "$gw_p" ]; then gw_safe=""; printf "gw.unsafe=%s is a symbolic link\\n" "$gw_p"; break; fi',
    '  if [ ! -e "$gw_p" ]; then break; fi',
    '  if [ ! -d "$gw_p" ]; then gw_safe=""; printf "gw.unsafe=%s is not a directory\\n" "$gw_p"; break; fi',
    '  gw_st=$(stat -c "%u %a %U" -- "$gw_p") || { gw_safe=""; printf "gw.unsafe=cannot stat %s\\n" "$gw_p"; break; }',
    '  gw_u=${gw_st%% *}; gw_m=${gw_st#* }; gw_m=${gw_m%% *}; gw_n=${gw_st##* }',
    `  if [ "$gw_u" != 0 ] || { [ $(( 0$gw_m & 022 )) != 0 ] && { [ "$gw_p" = ${shq(root)} ] || [ $(( 0$gw_m & 01000 )) = 0 ]; }; }; then`,
    '    gw_safe=""; printf "gw.unsafe=%s has owner %s (uid %s) and mode %s; it must be owned by root and not writable by group or others\\n" "$gw_p" "$gw_n" "$gw_u" "$gw_m"; break',
    '  fi',
    'done',
    // Inside a safe remoteDir only root can make entries; a symbolic link or a directory another
    // user owns or may write (left by hand, or by an older gwfleet) is refused all the same.
    'if [ -n "$gw_safe" ]; then',
    `  set --; for gw_p in ${['releases', 'values', 'state'].map((d) => shq(`${root}/${d}`)).join(' ')}; do if [ -e "$gw_p" ] || [ -L "$gw_p" ]; then set -- "$@" "$gw_p"; fi; done`,
    '  if [ $# -gt 0 ]; then gw_bad=$(find "$@" \\( -type l -o -type d \\( ! -user 0 -o -perm /022 \\) \\) -print -quit 2>/dev/null); else gw_bad=""; fi',
    '  if [ -n "$gw_bad" ]; then gw_safe=""; printf "gw.unsafe=%s is %s; remove it or make it a root-owned directory not writable by group or others\\n" "$gw_bad" "$(stat -c "%F owned by %U with mode %a" -- "$gw_bad")"; fi',
    'fi',
  ].join('\n')
}

/** What the probe says of a job on the host (see jobProbeBody), read only when remoteDir is safe. */
export function jobIfSafeBody(remoteDir: string, gateway?: string): string {
  return [safetyBody(remoteDir), 'if [ -n "$gw_safe" ]; then', jobProbeBody(remoteDir), ...(gateway ? [lastChangeBody(remoteDir, gateway)] : []), 'fi'].join('\n')
}

/**
 * What status tells of the gateway's last change (under a safe remoteDir): its history line, its
 * record, and the hash of the values file when root owns it, to say whether those were applied.
 */
function lastChangeBody(remoteDir: string, gateway: string): string {
  const L = layout(remoteDir, gateway)
  const v = shq(L.values)
  return [
    firstLineAs('attempt', L.attempt),
    firstLineAs('record', L.record),
    `if [ -f ${v} ] && [ ! -L ${v} ] && [ -z "$(find ${v} -maxdepth 0 \\( ! -user 0 -o -perm /022 \\) -print 2>/dev/null)" ]; then set -- $(sha256sum < ${v}); echo "gw.values_sha=$1"; fi`,
  ].join('\n')
}

/** Pure: the last change's lines of lastChangeBody. */
export function parseLastChange(kv: Map<string, string[]>): {attempt: HistoryEntry | null; record: DeployRecord | null; valuesSha256: string | null} {
  const one = (k: string) => kv.get(k)?.[0]
  const sha = one('values_sha')
  return {attempt: parseAttempt(one('attempt')), record: parseRecord(one('record')), valuesSha256: sha && /^[0-9a-f]{64}$/.test(sha) ? sha : null}
}

/** `gw.KEY=<first line of FILE>` when the file is there (the record and the last change are one JSON line each). */
function firstLineAs(key: string, file: string): string {
  return `if [ -f ${shq(file)} ]; then IFS= read -r r < ${shq(file)}; printf "gw.${key}=%s\\n" "$r"; fi`
}

/** The deployed record from its JSON line, or null when absent or unreadable. */
function parseRecord(line: string | undefined): DeployRecord | null {
  if (!line) return null
  try {
    return JSON.parse(line) as DeployRecord
  } catch {
    return null
  }
}

/** The line a guarded script prints, instead of running, under an unsafe remoteDir. */
const UNSAFE_NOT_READ = 'gw.not_read=unsafe'

/**
 * Run `body` only when remoteDir is safe for root to use (the same check every probe makes, see
 * safetyBody): otherwise print why (gw.unsafe=...), UNSAFE_NOT_READ and gw.end=1, and read nothing,
 * since a link under it may lead anywhere (state/lock to /etc/shadow). For every command that reads
 * or changes something under remoteDir outside the probe (locks, history).
 */
export function remoteDirGuard(remoteDir: string, body: string): string {
  return [safetyBody(remoteDir), `if [ -z "$gw_safe" ]; then echo ${UNSAFE_NOT_READ}; echo gw.end=1; exit 0; fi`, body].join('\n')
}

/** Pure: the refusal a guarded script's output says, or null when it ran. */
export function unsafeRefusal(stdout: string, remoteDir: string): string | null {
  const kv = parseKv(stdout)
  if (kv.get('not_read')?.[0] !== 'unsafe') return null
  return `remoteDir ${remoteDir} is not safe for root to use, nothing under it was read: ${kv.get('unsafe')?.[0] ?? 'see the host'}`
}

// Probes run on every host of every command: shell builtins where they can, one find and one
// sha256sum for the files whose hash matters (values and uploaded releases). Only files root owns
// and nobody else may write count as present; any other copy is uploaded again and replaced.
function probeBody(o: ProbeOptions): string {
  const L = layout(o.remoteDir, o.gateway)
  const hashed = [L.values, ...o.releaseVersions.map((v) => `${L.releases}/${v}`)]
  return [
    PRELUDE,
    // The effective uid, read by the shell itself (no process): the second field of Uid:.
    'while read -r k r e rest; do if [ "$k" = Uid: ]; then echo "gw.uid=$e"; break; fi; done < /proc/self/status',
    gatewayQuery(),
    'for p in /usr/local/bin/k3s-uninstall.sh /usr/bin/k3s-uninstall.sh; do if [ -f "$p" ]; then echo "gw.k3s_uninstall=$p"; break; fi; done',
    safetyBody(o.remoteDir),
    // Nothing under an unsafe remoteDir is read: it may lead anywhere.
    'if [ -n "$gw_safe" ]; then',
    firstLineAs('record', L.record),
    firstLineAs('attempt', L.attempt),
    // find runs only over the paths that exist (none on a fresh host)
    `set --; for p in ${hashed.map(shq).join(' ')}; do if [ -e "$p" ]; then set -- "$@" "$p"; fi; done; if [ $# -gt 0 ]; then find "$@" -type f -user 0 ! -perm /022 ! -name '.*' -exec sha256sum {} + 2>/dev/null; fi`,
    jobProbeBody(o.remoteDir),
    // The age of a lock this script itself just took is 0 (GW_MINE, set by lockBody): no date/stat.
    `if [ -f ${shq(L.lock)} ]; then IFS= read -r l < ${shq(L.lock)}; printf "gw.lock=%s\\n" "$l"; if [ -n "\${GW_MINE:-}" ]; then echo gw.lock_age=0; else printf "gw.lock_age=%s\\n" "$(( $(date +%s) - $(stat -c %Y ${shq(L.lock)}) ))"; fi; fi`,
    'fi',
  ].join('\n')
}

/** A read-only probe: identity, installed version, deployed record, values hash, uploaded files. */
export function probeScript(o: ProbeOptions): string {
  return `${probeBody(o)}\necho gw.end=1\n`
}

/**
 * Before anything is written: refuse an unsafe remoteDir (see safetyBody), then make the missing
 * directories of the layout (private ones 0700). Ends the script when either fails.
 */
export function prepareDirsBody(o: {remoteDir: string; gateway: string}): string {
  const L = layout(o.remoteDir, o.gateway)
  return [
    safetyBody(o.remoteDir),
    'if [ -z "$gw_safe" ]; then echo "gw.lock=error remoteDir is not safe for root to use (see gw.unsafe)"; echo gw.end=1; exit 0; fi',
    'umask 022',
    // Only missing directories are made, in one mkdir: the private ones are born 0700 (-m), their
    // parents 0755; releases/<version> is made when a release is committed.
    `if [ ! -d ${shq(L.stateDir)} ] || [ ! -d ${shq(L.valuesDir)} ]; then mkdir -p -m 700 ${shq(L.stateDir)} ${shq(L.valuesDir)} || { printf "gw.lock=error cannot create directories in %s\\n" ${shq(L.root)}; echo gw.end=1; exit 0; }; fi`,
  ].join('\n')
}

/**
 * With the lock held: make the upload stage anew. Whatever an earlier run left there (uploads of a
 * run cut off, values included) is removed; `rm -rf` never follows a symbolic link it meets. The
 * login user gets a folder of their own for SFTP; root's folder beside it is 0700. When that fails,
 * the lock this script just took is given back and the script ends.
 */
export function resetStageBody(o: {remoteDir: string; gateway: string; loginUser: string}): string {
  const L = layout(o.remoteDir, o.gateway)
  return [
    `rm -rf -- ${shq(L.stage)} && mkdir -m 711 ${shq(L.stage)} && mkdir -m 700 ${shq(L.upload)} ${shq(L.verified)}${o.loginUser === 'root' ? '' : ` && chown ${shq(o.loginUser)} ${shq(L.upload)}`} || { printf "gw.stage=cannot prepare the upload stage %s\\n" ${shq(L.stage)}; rm -f ${shq(L.lock)}; echo gw.end=1; exit 0; }`,
  ].join('\n')
}

/** What taking a lock needs to know. */
export type LockOptions = ProbeOptions & {owner: LockOwner; ttlSeconds: number; loginUser: string; ifNotInstalled?: string; staleHolder?: string}

/**
 * Take the host's lock (exclusive create; an expired one is taken over), prepare the directories
 * and the upload stage owned by the login user, then probe — one round trip for all of it.
 */
export function lockAndProbeScript(o: LockOptions): string {
  return [prepareDirsBody(o), lockBody(o), resetStageBody(o), probeBody(o), ...ifNotInstalled(o.ifNotInstalled), 'echo gw.end=1'].join('\n')
}

/** The marker after which a read-then-lock script's output is the locked read. */
export const LOCKED_SECTION = 'gw.section=locked'

/**
 * Read the host; where no gateway is installed (so deploy will install), take the lock and read
 * again under it in the same round trip. A host with a gateway is only read.
 */
export function readThenLockIfNotInstalledScript(o: LockOptions): string {
  return [
    probeBody({...o, releaseVersions: []}),
    'if [ -z "${GWV:-}" ]; then',
    `  echo ${LOCKED_SECTION}`,
    prepareDirsBody(o),
    lockBody(o),
    resetStageBody(o),
    probeBody(o),
    ...ifNotInstalled(o.ifNotInstalled),
    'fi',
    'echo gw.end=1',
  ].join('\n')
}

// Work only a host without a gateway needs (the prerequisite probe), in the same round trip.
function ifNotInstalled(script: string | undefined): string[] {
  return script ? ['if [ -z "${GWV:-}" ]; then', script, 'fi'] : []
}

/** An upload waiting in the stage for root to take it into place. */
export interface StagedFile {
  /** Its name in the stage's upload folder, or in root's own folder when `byRoot` (a plain name: no folder the user could swap). */
  name: string
  target: string
  sha256: string
  mode: number
  size: number
  /**
   * Written by root itself, 0600, into root's 0700 stage folder from root's stdin (values, which hold
   * secrets): it never sat in a file the login user owns or can read.
   */
  byRoot?: boolean
}

/** The line a root script finds the start of its stdin payload by (see stdinPayload). */
export function payloadMarker(nonce: string): string {
  return `gwfleet-payload-${nonce}`
}

/**
 * Shell that sets the script's stdin to just after the marker line. Under sudo -S the password line
 * comes first and sudo reads it; a sudo that did not ask (a cached credential) leaves it for the
 * script, which skips it here (never keeping or printing it). At most two lines come before the
 * marker; without it the script ends and writes nothing. `read` takes a pipe byte by byte, so what
 * follows the marker is left, whole, for the next command.
 */
function stdinPayload(nonce: string): string {
  return [
    'gw_n=0; gw_found=""',
    `while [ $gw_n -lt 3 ] && IFS= read -r gw_l; do gw_n=$((gw_n + 1)); if [ "$gw_l" = ${shq(payloadMarker(nonce))} ]; then gw_found=1; break; fi; done`,
    'gw_l=""',
    'if [ -z "$gw_found" ]; then echo "gw.write=failed no payload on stdin"; exit 0; fi',
  ].join('\n')
}

/**
 * Root writes a file it reads from its own stdin (after the marker: exactly `size` bytes) into its
 * 0700 stage folder under `name`, 0600 from the start (umask 077), and checks its sha256: the values,
 * secrets included, never pass through a file the login user owns or can read. The stage folder is
 * made by the lock step; a symbolic link or anything else already at the name is refused (noclobber
 * and a fresh random name). Prints gw.write=ok.
 */
export function writeByRootScript(o: {remoteDir: string; gateway: string; name: string; size: number; sha256: string; nonce: string}): string {
  const L = layout(o.remoteDir, o.gateway)
  const fail = (what: string) => `{ rm -f -- ${shq(o.name)}; printf "gw.write=failed %s\\n" ${shq(what)}; exit 0; }`
  return [
    'umask 077',
    `cd ${shq(L.verified)} || { echo "gw.write=failed no stage folder (the lock step makes it)"; exit 0; }`,
    // Root's folder, made by the lock step: still root's own and private, nothing else may be in it.
    `[ -d . ] && [ ! -L ${shq(L.verified)} ] && [ -O . ] && [ -z "$(find . -maxdepth 0 -perm /077)" ] || { echo "gw.write=failed the stage folder is not root's own"; exit 0; }`,
    stdinPayload(o.nonce),
    'set -C',
    `head -c ${o.size} > ${shq(o.name)} || ${fail('writing')}`,
    'set +C',
    `printf "%s\\n" ${shq(`${o.sha256}  ${o.name}`)} | sha256sum -c --quiet --status || ${fail('checksum-mismatch')}`,
    'echo gw.write=ok',
  ].join('\n')
}

/**
 * Take staged uploads into place as root without trusting the login user, who owns the upload
 * folder and may change, swap or link anything in it at any moment (also while this runs); files
 * root wrote itself (`byRoot`, in its own folder) are renamed to their number and checked the same way:
 * root copies each file into its own 0700 folder (never following a symbolic link, never
 * blocking on a FIFO, never reading more than the expected size plus one byte), checks the
 * copies' sha256, and only then sets their mode and renames them over their targets. What root
 * runs or reads later is only ever these checked, root-owned copies.
 */
export function commitFilesScript(o: {remoteDir: string; gateway: string; files: StagedFile[]}): string {
  if (o.files.length === 0) return 'true'
  const L = layout(o.remoteDir, o.gateway)
  const fail = (what: string, code: number) => `{ printf "gw.commit=failed %s\\n" ${shq(what)}; exit ${code}; }`
  const dirs = [...new Set(o.files.map((f) => dirOf(f.target)))]
  // Copies are numbered: names in root's folder come from gwfleet, not from the upload folder.
  const check = o.files.map((f, i) => `${f.sha256}  ${i}`).join('\n')
  return [
    'umask 077',
    `cd ${shq(L.verified)} || ${fail('no stage folder (the lock step makes it)', 92)}`,
    ...o.files.map((f, i) =>
      // Root's own file (written from its stdin) is renamed, never copied: no second copy of a secret.
      f.byRoot
        ? `mv -fT ${shq(f.name)} ${i} || ${fail(`taking root's staged file for ${f.target}`, 92)}`
        : `dd if=${shq(`${L.upload}/${f.name}`)} of=${i} iflag=nofollow,nonblock,count_bytes count=${f.size + 1} bs=1M status=none 2>/dev/null || ${fail(`reading the staged upload for ${f.target}`, 92)}`,
    ),
    `printf "%s\\n" ${shq(check)} | sha256sum -c --quiet --status || { echo "gw.commit=checksum-mismatch"; exit 91; }`,
    // Never writable by group or others, whatever the release's zip says.
    ...o.files.map((f, i) => `chmod ${(f.mode & 0o755).toString(8)} ${i} || ${fail('chmod', 92)}`),
    'umask 022',
    `m=''; for d in ${dirs.map(shq).join(' ')}; do [ -d "$d" ] || m=1; done`,
    `if [ -n "$m" ]; then mkdir -p ${dirs.map(shq).join(' ')} || ${fail(dirs.join(' '), 92)}; fi`,
    // -T: a directory at the target's path is an error, not a place to move into.
    ...o.files.map((f, i) => `mv -fT ${i} ${shq(f.target)} || ${fail(f.target, 92)}`),
    'echo gw.commit=ok',
  ].join('\n')
}

/** What starting a hop's installer needs. */
export interface InstallerScriptOptions {
  remoteDir: string
  gateway: string
  version: string
  timeoutSeconds: number
  commit: StagedFile[]
  /** The run's lock token: the start confirms the lock is still this run's. */
  token: string
  /** The job's meta (its execution id inside). */
  meta: JobMeta
}

/**
 * One hop, in one round trip: confirm the lock is still this run's, take the staged uploads into
 * place, start the release's installer as a detached job (at most once for its execution id),
 * follow its log to the end, then read the version back from the cluster. The installer runs
 * under timeout(1) on the host and goes on when the connection is cut; followScript picks it up.
 */
export function installerScript(o: InstallerScriptOptions): string {
  const L = layout(o.remoteDir, o.gateway)
  const dir = `${L.releases}/${o.version}`
  return [
    'exec </dev/null',
    PRELUDE,
    lockConfirmBody(o.remoteDir, o.token),
    commitFilesScript({remoteDir: o.remoteDir, gateway: o.gateway, files: o.commit}),
    `cd ${shq(dir)} || { echo "gw.installer=missing release directory"; exit 93; }`,
    `[ -f ./deploy_gateway ] || { echo "gw.installer=missing deploy_gateway"; exit 93; }`,
    // Root runs only a file root owns, that no one else may write, in a folder no one else may write.
    `if [ -L ./deploy_gateway ] || [ ! -O ./deploy_gateway ] || [ -n "$(find . ./deploy_gateway -maxdepth 0 -perm /022)" ]; then echo "gw.installer=deploy_gateway or its folder is not root's own; not run"; exit 93; fi`,
    '[ -x ./deploy_gateway ] || chmod +x ./deploy_gateway',
    startJobBody({remoteDir: o.remoteDir, id: o.meta.id, meta: JSON.stringify(o.meta), timeoutSeconds: o.timeoutSeconds, program: `./deploy_gateway --helm-values-file-path ${shq(L.values)}`}),
    ...followAndAsk(o.remoteDir, o.meta.id, 0),
  ].join('\n')
}

/** Follow the job with this execution id from byte `offset` of its log (after a cut, or a job another run started). */
export function followScript(o: {remoteDir: string; id: string; offset: number}): string {
  return ['exec </dev/null', ...followAndAsk(o.remoteDir, o.id, o.offset)].join('\n')
}

// The follow, then the cluster's answer, in the same round trip.
function followAndAsk(remoteDir: string, id: string, offset: number): string[] {
  return [followJobBody({remoteDir, id, offset}), PRELUDE, gatewayQuery(), 'exit 0']
}

/** The line recordScript prints once the record is in place. */
export const RECORDED = 'gw.recorded=1'

/**
 * Write the deployed record (temp then rename) and append history lines; with `archiveJob`, the job
 * of that execution id, now judged, leaves the job folder (only once it no longer runs).
 */
export function recordScript(o: {remoteDir: string; gateway: string; record: DeployRecord | null; history: HistoryEntry[]; archiveJob?: string}): string {
  const L = layout(o.remoteDir, o.gateway)
  const lines = ['umask 077', `[ -d ${shq(L.stateDir)} ] || mkdir -p ${shq(L.stateDir)}`]
  if (o.archiveJob) lines.push(archiveJobBody(o.remoteDir, o.archiveJob))
  if (o.record) {
    lines.push(`printf "%s\\n" ${shq(JSON.stringify(o.record))} > ${shq(L.record)}.tmp && mv -f ${shq(L.record)}.tmp ${shq(L.record)} && echo ${RECORDED}`)
    // The values as applied, beside their record: after a later change fails, diff compares with them.
    const [v, a] = [shq(L.values), shq(L.applied)]
    lines.push(`if [ -f ${v} ] && [ ! -L ${v} ]; then cat -- ${v} > ${a}.tmp && mv -f ${a}.tmp ${a}; else rm -f ${a}; fi`)
  }
  for (const h of o.history) lines.push(`printf "%s\\n" ${shq(JSON.stringify(h))} >> ${shq(L.history)}`)
  // The gateway's last change, whatever its result: audit, status and diff tell a failed one apart.
  const last = o.history.filter((h) => h.gateway === o.gateway).at(-1)
  if (last) lines.push(`printf "%s\\n" ${shq(JSON.stringify(last))} > ${shq(L.attempt)}.tmp && mv -f ${shq(L.attempt)}.tmp ${shq(L.attempt)}`)
  lines.push('true')
  return lines.join('\n')
}

/** Remove the deployed record and values after an uninstall; keep history. */
export function forgetScript(remoteDir: string, gateway: string): string {
  const L = layout(remoteDir, gateway)
  return `rm -f ${shq(L.record)} ${shq(L.values)} ${shq(L.applied)}; true`
}

/** Read the host's history (all gateways on it). */
export function historyScript(remoteDir: string): string {
  const L = layout(remoteDir, '_')
  return `if [ -f ${shq(L.history)} ]; then cat ${shq(L.history)}; fi; true`
}

/** Parse "gw.key=value" lines of a script's output into a map (repeated keys collect in order). */
export function parseKv(stdout: string): Map<string, string[]> {
  const m = new Map<string, string[]>()
  for (const line of stdout.split('\n')) {
    const match = /^gw\.([A-Za-z0-9_.-]+?)=(.*)$/.exec(line)
    if (!match) continue
    const [, k, v] = match
    const list = m.get(k)
    if (list) list.push(v)
    else m.set(k, [v])
  }
  return m
}

/** Turn probe output into facts; `at` says where values and releases live, to sort the hashes. */
export function parseProbe(stdout: string, at?: RemoteLayout): HostFacts {
  const kv = parseKv(stdout)
  const one = (k: string) => kv.get(k)?.[0]
  const uidS = one('uid')
  const gateway = parseGateway(kv)
  const record = parseRecord(one('record'))
  const releaseFiles = new Map<string, Map<string, string>>()
  let valuesSha256: string | null = null
  for (const line of stdout.split('\n')) {
    const m = /^([0-9a-f]{64}) [ *](\/.*)$/.exec(line)
    if (!m || !at) continue
    const [, sha, file] = m
    if (file === at.values) valuesSha256 = sha
    else if (file.startsWith(`${at.releases}/`)) {
      const rest = file.slice(at.releases.length + 1)
      const slash = rest.indexOf('/')
      if (slash <= 0) continue
      const ver = rest.slice(0, slash)
      let files = releaseFiles.get(ver)
      if (!files) releaseFiles.set(ver, (files = new Map()))
      files.set(rest.slice(slash + 1), sha)
    }
  }
  const lockS = one('lock')
  return {
    uid: uidS === undefined ? null : Number(uidS),
    installed: gateway.installed,
    version: gateway.version,
    versionNote: gateway.note,
    record,
    valuesSha256,
    releaseFiles,
    lock: lockS ? {holder: lockS, ageSeconds: Number(one('lock_age') ?? '0')} : null,
    k3sUninstall: one('k3s_uninstall') ?? null,
    job: parseJob(kv),
    unsafe: one('unsafe') ?? null,
    attempt: parseAttempt(one('attempt')),
  }
}

/** The gateway's last recorded change from its one-line JSON, or null when absent or not what gwfleet writes. */
export function parseAttempt(line: string | undefined): HistoryEntry | null {
  if (!line) return null
  try {
    const h = JSON.parse(line) as Partial<HistoryEntry>
    if (typeof h !== 'object' || h === null || typeof h.time !== 'string' || !['ok', 'failed', 'interrupted'].includes(String(h.result))) return null
    return h as HistoryEntry
  } catch {
    return null
  }
}

/** A job the probe reported (gw.job=META and its state), or null. */
export function parseJob(kv: Map<string, string[]>): JobFacts | null {
  const one = (k: string) => kv.get(k)?.[0]
  const raw = one('job')
  const state = one('job_state')
  if (!raw || (state !== 'running' && state !== 'ended' && state !== 'lost')) return null
  let meta: JobMeta
  try {
    meta = JSON.parse(raw) as JobMeta
  } catch {
    return null
  }
  if (typeof meta?.id !== 'string') return null
  const num = (k: string) => (one(k) !== undefined && /^\d+$/.test(one(k)!) ? Number(one(k)) : null)
  return {meta, state, rc: num('job_rc'), pid: num('job_pid'), logBytes: num('job_log') ?? 0, ageSeconds: num('job_age') ?? 0}
}

/**
 * Remove the gateway (SPEC section 1) as a detached job, like the installer: confirm the lock, start
 * k3s-uninstall.sh and then Cilium's clean-up (unless disabled) under timeout(1), follow the log.
 * The job's exit code is k3s-uninstall.sh's (0 when there was no k3s to remove).
 */
export function uninstallScript(o: {remoteDir: string; cilium: boolean; timeoutSeconds: number; token: string; meta: JobMeta}): string {
  return [
    'exec </dev/null',
    lockConfirmBody(o.remoteDir, o.token),
    'cd /',
    startJobBody({remoteDir: o.remoteDir, id: o.meta.id, meta: JSON.stringify(o.meta), timeoutSeconds: o.timeoutSeconds, program: `sh -c ${shq(uninstallBody(o.cilium))}`}),
    ...followAndAsk(o.remoteDir, o.meta.id, 0),
  ].join('\n')
}

/** What the uninstall job runs. */
export function uninstallBody(cilium: boolean): string {
  const lines = [
    PRELUDE,
    'U=""',
    'for p in /usr/local/bin/k3s-uninstall.sh /usr/bin/k3s-uninstall.sh; do if [ -f "$p" ]; then U="$p"; break; fi; done',
    'if [ -n "$U" ]; then sh "$U"; rc=$?; else echo "no k3s-uninstall.sh on the host: no k3s to remove"; rc=0; fi',
  ]
  if (cilium) {
    lines.push(
      'for l in cilium_host cilium_net cilium_vxlan; do if ip link show "$l" >/dev/null 2>&1; then ip link delete "$l" && echo "removed link $l"; fi; done',
      'if command -v iptables-save >/dev/null 2>&1; then',
      '  if iptables-save 2>/dev/null | grep -qi cilium; then iptables-save | grep -iv cilium | iptables-restore && echo "removed Cilium iptables rules"; fi',
      '  if ip6tables-save 2>/dev/null | grep -qi cilium; then ip6tables-save | grep -iv cilium | ip6tables-restore && echo "removed Cilium ip6tables rules"; fi',
      'else echo "iptables not installed: no Cilium rules to remove"; fi',
    )
  }
  lines.push('exit $rc')
  return lines.join('\n')
}

/** Free space (KiB) of the filesystem holding a path. */
export function freeSpaceScript(path: string): string {
  return `df -Pk ${shq(path)} 2>/dev/null | { read -r h; read -r a b c d e; echo "gw.free_kb=$d"; }`
}
