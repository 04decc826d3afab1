// Detached jobs on the host. The installer (and the uninstall) runs in a session of its own, apart
// from the SSH connection that started it, with its output in a root-only log and its exit code in
// a status file. A connection only starts a job and reads its log from a byte offset, so a cut
// connection, a closed laptop or a later run changes who reads, never what runs.
//
// The job folder (remoteDir/state/job, root's, 0700) holds:
//   meta  one line of JSON (JobMeta): the execution id and what the job is; written before it starts
//   log   everything the job prints, stdout and stderr together (0600)
//   pid   "WRAPPER_PID WRAPPER_START TIMEOUT_PID TIMEOUT_START", written by the wrapper once it runs
//         (start times from /proc/PID/stat, so a pid the kernel gave to another process never counts)
//   rc    "EXIT_CODE END_EPOCH", written by the wrapper when the job ends
//   running  flock-ed by the wrapper for as long as it lives
// Making the folder is the at-most-once guard: mkdir fails when it exists, so no start can happen
// while a job is there, whichever run asks. The run that judges a job and records it moves the
// folder to state/job.last; only then can a new job start.
import {shq} from '../ssh/quote.js'
import {layout} from './layout.js'
import type {JobMeta} from '../types.js'

// The start time of a process (field 22 of /proc/PID/stat) in gw_s, empty when it is gone. A zombie
// counts as gone: an orphan's exit is reaped by pid 1 whenever it gets to it, on some hosts never.
const START_TIME_FN =
  'gw_start() { gw_s=""; if [ -r "/proc/$1/stat" ]; then IFS= read -r gw_l < "/proc/$1/stat"; set -- ${gw_l##*) }; if [ $# -ge 20 ] && [ "$1" != Z ] && [ "$1" != X ]; then shift 19; gw_s=$1; fi; fi; }'

/** Seconds a job folder may be without its pid file before its start counts as lost. */
const START_GRACE_SECONDS = 30

/**
 * `gw_job DIR` reads a job folder: gw_js=none|running|ended|lost, with gw_jrc and gw_jend (exit
 * code, end time) when it ended, gw_jw (the wrapper, whose end means the log is complete) and gw_jt
 * (timeout(1), which stops the job's whole process group) while it runs. `lost` is a job whose
 * wrapper is gone without a status: the host rebooted, or someone killed it.
 */
export const JOB_FN = [
  START_TIME_FN,
  'gw_job() {',
  '  gw_js=none; gw_jrc=""; gw_jend=""; gw_jw=""; gw_jws=""; gw_jt=""; gw_jts=""',
  '  [ -f "$1/meta" ] || return 0',
  '  if [ -f "$1/rc" ]; then read -r gw_jrc gw_jend < "$1/rc"; gw_js=ended; return 0; fi',
  '  if [ -f "$1/pid" ]; then',
  '    read -r gw_jw gw_jws gw_jt gw_jts < "$1/pid"',
  '    gw_start "$gw_jw"',
  '    if [ -n "$gw_jws" ] && [ "$gw_s" = "$gw_jws" ]; then gw_js=running',
  // It may have written its status between the two looks.
  '    elif [ -f "$1/rc" ]; then read -r gw_jrc gw_jend < "$1/rc"; gw_js=ended',
  '    else gw_js=lost; fi',
  `  elif [ $(( $(date +%s) - $(stat -c %Y "$1/meta") )) -lt ${START_GRACE_SECONDS} ]; then gw_js=running`,
  '  else gw_js=lost; fi',
  '}',
].join('\n')

/**
 * The wrapper, run as `setsid sh -c WRAPPER gw-job DIR SECONDS PROGRAM ARGS...` with the job's
 * folder as its first argument: it runs the program under timeout(1) (its own process group, killed
 * whole when the time is up), notes the pids, waits, and writes the exit code. Nothing of it reads
 * a file another user could change: it is this text, passed on root's command line.
 */
const WRAPPER = [
  'J=$1; T=$2; shift 2',
  // Held while the wrapper lives (the kernel lets go when it ends, however it ends): a follow
  // waits on it instead of polling. The job itself does not inherit it (9>&- below), so a daemon
  // the installer leaves behind cannot hold it.
  'exec 9>"$J/running"; flock 9',
  START_TIME_FN,
  'timeout -k 15 "$T" "$@" </dev/null >>"$J/log" 2>&1 9>&- &',
  'gw_t=$!',
  'gw_start $$; gw_w=$gw_s; gw_start "$gw_t"',
  'echo "$$ $gw_w $gw_t $gw_s" > "$J/pid.new" && mv -f "$J/pid.new" "$J/pid"',
  'wait "$gw_t"; gw_rc=$?',
  'echo "$gw_rc $(date +%s)" > "$J/rc.new" && mv -f "$J/rc.new" "$J/rc"',
].join('\n')

// A case pattern matching the meta line of the job with this execution id.
function idPattern(id: string): string {
  return `*${shq(`"id":${JSON.stringify(id)}`)}*`
}

// The start and the follow of a job take turns on this guard: a follow after a cut connection waits
// until a start still running on the host has either started the job or ended.
function startGuard(remoteDir: string): string {
  return `${layout(remoteDir, '_').stateDir}/job.start`
}

/**
 * Start a job at most once: make its folder (which fails when any job is there), write its meta
 * and an empty log, and launch the wrapper detached (its own session, no terminal, stdin from
 * /dev/null). Prints gw.job_started=ID, or gw.job_other=META when a job is already there (then
 * nothing starts and the script ends). `program` is shell words, already quoted.
 */
export function startJobBody(o: {remoteDir: string; id: string; meta: string; timeoutSeconds: number; program: string}): string {
  const L = layout(o.remoteDir, '_')
  const J = shq(L.job)
  return [
    JOB_FN,
    `exec 8>${shq(startGuard(o.remoteDir))}; flock 8 2>/dev/null`,
    `if mkdir -m 700 ${J} 2>/dev/null; then`,
    '  umask 077',
    `  printf "%s\\n" ${shq(o.meta)} > ${J}/meta && : > ${J}/log || { printf "gw.installer=cannot write the job folder %s\\n" ${J}; exit 0; }`,
    // 8>&-: the job must not hold the start guard (a follow after a cut waits on it).
    `  setsid sh -c ${shq(WRAPPER)} gw-job ${J} ${o.timeoutSeconds} ${o.program} </dev/null >/dev/null 2>&1 8>&- &`,
    `  printf "gw.job_started=%s\\n" ${shq(o.id)}`,
    'else',
    `  IFS= read -r gw_m < ${J}/meta; printf "gw.job_other=%s\\n" "$gw_m"; exit 0`,
    'fi',
    'exec 8>&-',
  ].join('\n')
}

/**
 * Follow the job with execution id `id` from byte `offset` of its log: its meta (gw.job=), then
 * gw.follow=OFFSET on stdout and the log from there on stderr until the job ends, then its end
 * (gw.job_state=, gw.installer_rc=). A job that is not this id's is not followed (gw.job_other=,
 * or gw.job_state=none when there is none). The log is complete once the wrapper is gone.
 */
export function followJobBody(o: {remoteDir: string; id: string; offset: number}): string {
  const J = shq(layout(o.remoteDir, '_').job)
  return [
    JOB_FN,
    // A start cut off mid-way may still be running: wait for it to start the job or give up.
    `{ flock -w 60 8; } 8>>${shq(startGuard(o.remoteDir))} 2>/dev/null`,
    `gw_job ${J}`,
    'if [ "$gw_js" = none ]; then echo gw.job_state=none',
    'else',
    `  IFS= read -r gw_m < ${J}/meta`,
    `  case "$gw_m" in ${idPattern(o.id)}) gw_mine=1;; *) gw_mine="";; esac`,
    '  if [ -z "$gw_mine" ]; then printf "gw.job_other=%s\\n" "$gw_m"',
    '  else',
    '    printf "gw.job=%s\\n" "$gw_m"',
    `    gw_i=0; while [ "$gw_js" = running ] && [ -z "$gw_jw" ] && [ $gw_i -lt 200 ]; do sleep 0.05; gw_job ${J}; gw_i=$((gw_i+1)); done`,
    `    echo gw.follow=${o.offset}`,
    // tail follows until a watcher of this shell's own ends, which is when the wrapper lets go of
    // its flock (the wrapper itself may end as another process's zombie, which tail --pid would
    // take for alive); then tail reads what is left and stops.
    `    if [ "$gw_js" = running ]; then`,
    `      ( flock 9 ) 9>>${J}/running &`,
    // -s: how often tail looks for the watcher's end (and for new output where inotify is not used).
    `      tail -c +${o.offset + 1} -s 0.1 -f --pid=$! ${J}/log >&2; gw_job ${J}`,
    `    else tail -c +${o.offset + 1} ${J}/log >&2; fi`,
    '    echo "gw.job_state=$gw_js"',
    '    if [ "$gw_js" = ended ]; then echo "gw.installer_rc=$gw_jrc"; echo "gw.job_end=$gw_jend"; fi',
    '  fi',
    'fi',
  ].join('\n')
}

/**
 * What the probe says of a job on the host: gw.job=META, gw.job_state, and gw.job_rc, gw.job_pid,
 * gw.job_log (bytes of output so far), gw.job_age (seconds since it started).
 */
export function jobProbeBody(remoteDir: string): string {
  const J = shq(layout(remoteDir, '_').job)
  return [
    JOB_FN,
    `gw_job ${J}`,
    'if [ "$gw_js" != none ]; then',
    `  IFS= read -r gw_m < ${J}/meta; printf "gw.job=%s\\ngw.job_state=%s\\n" "$gw_m" "$gw_js"`,
    '  if [ -n "$gw_jrc" ]; then echo "gw.job_rc=$gw_jrc"; fi',
    '  if [ "$gw_js" = running ] && [ -n "$gw_jt" ]; then echo "gw.job_pid=$gw_jt"; fi',
    `  printf "gw.job_log=%s\\ngw.job_age=%s\\n" "$(stat -c %s ${J}/log 2>/dev/null || echo 0)" "$(( $(date +%s) - $(stat -c %Y ${J}/meta) ))"`,
    'fi',
  ].join('\n')
}

/**
 * Stop a running job: TERM to its timeout(1), which passes it to the job's process group; KILL to
 * the group when it still runs two seconds later. Pids are checked against their start times. A job
 * started a moment ago is waited for until it names its pids. The caller runs it under
 * remoteDirGuard, as the pid file is read by root.
 */
export function stopJobScript(remoteDir: string): string {
  const J = shq(layout(remoteDir, '_').job)
  return [
    JOB_FN,
    `gw_job ${J}`,
    // A job that has just started may not have written its pid file yet: wait for it (up to 5 s).
    `gw_i=0; while [ "$gw_js" = running ] && [ -z "$gw_jt" ] && [ $gw_i -lt 100 ]; do sleep 0.05; gw_job ${J}; gw_i=$((gw_i+1)); done`,
    // timeout(1)'s pid from the pid file: a whole number above 1 (kill -- -1 would be every process),
    // with its start time (an empty one would match any process that is gone).
    'case "$gw_jt" in ""|*[!0-9]*|0|1) gw_jt="";; esac; [ -n "$gw_jts" ] || gw_jt=""',
    'if [ "$gw_js" = running ] && [ -n "$gw_jt" ]; then',
    '  gw_start "$gw_jt"',
    '  if [ "$gw_s" = "$gw_jts" ]; then kill -TERM "$gw_jt" 2>/dev/null; sleep 2; gw_start "$gw_jt"; if [ "$gw_s" = "$gw_jts" ]; then kill -KILL -- -"$gw_jt" 2>/dev/null; kill -KILL "$gw_jt" 2>/dev/null; fi; fi',
    'fi',
    'true',
  ].join('\n')
}

/**
 * Once a job is judged and recorded: move its folder to job.last (the one before is removed), so
 * the next start may come. Only the job with this id, and only once it no longer runs. Its log goes:
 * an installer may print a secret, and the run's own log on the workstation keeps it masked.
 */
export function archiveJobBody(remoteDir: string, id: string): string {
  const L = layout(remoteDir, '_')
  const J = shq(L.job)
  return [
    JOB_FN,
    `gw_job ${J}`,
    `if [ "$gw_js" != none ] && [ "$gw_js" != running ]; then IFS= read -r gw_m < ${J}/meta; case "$gw_m" in ${idPattern(id)}) rm -rf -- ${shq(L.jobLast)} && rm -f -- ${J}/log && mv -fT ${J} ${shq(L.jobLast)} && echo gw.job_archived=1;; esac; fi`,
  ].join('\n')
}

/** Sets gw_jlive=1 when a job runs on the host (the lock of a run whose installer lives never expires). */
export function jobLiveBody(remoteDir: string): string {
  return [JOB_FN, `gw_job ${shq(layout(remoteDir, '_').job)}`, 'gw_jlive=""; if [ "$gw_js" = running ]; then gw_jlive=1; fi'].join('\n')
}

/** "the install of 1.5.0 by op@ws (run R) since T" from a job's meta line. */
export function describeJob(raw: string | JobMeta): string {
  try {
    const m = typeof raw === 'string' ? (JSON.parse(raw) as JobMeta) : raw
    const what = m.kind === 'uninstall' ? 'the uninstall' : `the install of ${m.version}`
    return `${what} by ${m.operator} (run ${m.run}, ${m.command}) since ${m.started}`
  } catch {
    return String(raw).slice(0, 120)
  }
}
