// What the benchmarks count inside lab hosts: the shells sshd starts for a client (one per round
// trip: each command or subsystem a client opens), through a line at the top of each user's ~/.bashrc.

/** Run at most `n` of the returned function's tasks at once. */
export function limiter(n) {
  let active = 0
  const queue = []
  const next = () => {
    if (active >= n || queue.length === 0) return
    active++
    const {fn, resolve, reject} = queue.shift()
    fn().then(resolve, reject).finally(() => {
      active--
      next()
    })
  }
  return (fn) => new Promise((resolve, reject) => {
    queue.push({fn, resolve, reject})
    next()
  })
}

/** Each shell sshd starts adds a line to this file in its user's home (root's, ops's, opspw's). */
const SHELL_COUNT_FILE = '.gwbench-shells'
const HOMES = ['/root', '/home/ops', '/home/opspw']

/**
 * Put the counting line (and with `heavy` a 0.1 s sleep, a pyenv-like rc) at the top of each
 * user's ~/.bashrc, before Debian's "not interactive: return". bash reads ~/.bashrc when sshd starts
 * it for a command or a subsystem (`bash -c ...`), but also when its stdin is a socket (the lab's
 * nsenter execs: checks, resets, these counts) and in a script that `bash -c` replaced itself with
 * (the lab's stand-in kubectl). Only the shells sshd starts count and pay: those with sshd's
 * SSH_CONNECTION and a -c string (BASH_EXECUTION_STRING).
 */
export async function installRc(hosts, heavy) {
  const head = [
    '# gwfleet bench: count the shells sshd starts',
    `if [ -n "\${SSH_CONNECTION-}" ] && [ -n "\${BASH_EXECUTION_STRING+set}" ]; then printf '.\\n' >> "$HOME/${SHELL_COUNT_FILE}"${heavy ? '; sleep 0.1' : ''}; fi`,
    '',
  ].join('\n')
  const b64 = Buffer.from(head).toString('base64')
  const cmd = HOMES.map((h) => `f=${h}/.bashrc; { echo ${b64} | base64 -d; cat "$f"; } > "$f.gwbench" && cat "$f.gwbench" > "$f" && rm -f "$f.gwbench"`).join(' && ')
  const limit = limiter(16)
  const rs = await Promise.all(hosts.map((h) => limit(() => h.exec(cmd))))
  const bad = rs.findIndex((r) => r.code !== 0)
  if (bad >= 0) throw new Error(`rc files of ${hosts[bad].name}: ${rs[bad].stderr}`)
}

/** Shells started on each host since the last call (read and zeroed inside the host). */
export async function takeShells(hosts) {
  const files = HOMES.map((h) => `${h}/${SHELL_COUNT_FILE}`).join(' ')
  const limit = limiter(16)
  return Promise.all(hosts.map((h) => limit(async () => Number((await h.exec(`cat ${files} 2>/dev/null | wc -l; rm -f ${files}`)).stdout.trim()))))
}

