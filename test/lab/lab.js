// The gwfleet test lab: real OpenSSH servers on 127.77.<subnet>.<i>:22, each in its own
// mount (and UTS) namespace with a copy-on-write overlay of the machine's filesystem, so
// every "host" has its own /etc (host key, users, os-release), /opt, /var, /usr, /tmp ...
// Needs root on Linux (unshare, nsenter, overlayfs, tmpfs). Test infrastructure only.
import { spawn, spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeRelease } from './release.js';

export { makeRelease };

/** Where every lab keeps its tmpfs (host mount namespace) and its state file. */
export const LAB_ROOT = '/run/gwfleet-lab';
/** Password of the `opspw` user (sudo needs it). */
export const SUDO_PASSWORD = 'lab-sudo-pw';
/** Directory of the stand-in scripts (deploy_gateway, kubectl, k3s-uninstall.sh, ...). */
export const STANDINS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'standins');

/** os-release texts for setOsRelease()/startLab({osRelease}). */
export const OS_RELEASE = {
  ubuntu2204: 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nVERSION="22.04.4 LTS (Jammy Jellyfish)"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\n',
  ubuntu2004: 'PRETTY_NAME="Ubuntu 20.04.6 LTS"\nNAME="Ubuntu"\nVERSION_ID="20.04"\nVERSION="20.04.6 LTS (Focal Fossa)"\nVERSION_CODENAME=focal\nID=ubuntu\nID_LIKE=debian\n',
  ubuntu1804: 'NAME="Ubuntu"\nVERSION="18.04.6 LTS (Bionic Beaver)"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="Ubuntu 18.04.6 LTS"\nVERSION_ID="18.04"\n',
  rhel9: 'NAME="Red Hat Enterprise Linux"\nVERSION="9.4 (Plow)"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\nPRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"\n',
  rhel8: 'NAME="Red Hat Enterprise Linux"\nVERSION="8.10 (Ootpa)"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="8.10"\nPRETTY_NAME="Red Hat Enterprise Linux 8.10 (Ootpa)"\n',
  rhel7: 'NAME="Red Hat Enterprise Linux Server"\nVERSION="7.9 (Maipo)"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="7.9"\nPRETTY_NAME="Red Hat Enterprise Linux Server 7.9 (Maipo)"\n',
  debian12: fs.existsSync('/usr/lib/os-release') ? fs.readFileSync('/usr/lib/os-release', 'utf8') : 'ID=debian\nVERSION_ID="12"\n',
};

// Trees each host sees copy-on-write. /root and /home start empty (only the lab's users),
// the rest start as the machine's own.
const OVERLAY_TREES = ['etc', 'opt', 'var', 'usr', 'srv', 'tmp'];
const FRESH_TREES = ['root', 'home'];
const USERS = [
  { name: 'ops', uid: 60001 },
  { name: 'opspw', uid: 60002 },
];
const HOLDER_TAG = 'gwlab-holder';
const CLEAN_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
  USER: 'root',
  LOGNAME: 'root',
};

/**
 * @typedef {{stdout: string, stderr: string, code: number|null, signal?: string|null}} ExecResult
 * @typedef {object} LabHost
 * @property {string} name          h1, h2, ...
 * @property {string} address       127.77.<subnet>.<i>
 * @property {number} port          22
 * @property {string} hostKeyLine   known_hosts line for the current host key
 * @property {number} holderPid     pid of the process that holds the namespaces
 * @property {(cmd: string, opts?: {input?: string|Buffer, timeoutMs?: number}) => Promise<ExecResult>} exec
 * @property {(p: string, encoding?: BufferEncoding|null) => Promise<string|Buffer>} readFile
 * @property {(p: string, data: string|Buffer, mode?: number) => Promise<void>} writeFile
 * @property {(p: string) => Promise<boolean>} exists
 * @property {() => Promise<void>} stopSshd
 * @property {() => Promise<void>} startSshd
 * @property {(type?: 'ed25519'|'ecdsa') => Promise<string>} regenerateHostKey  new host key; sshd then offers only that one
 * @property {(name: string, value: string|number|boolean|null) => Promise<void>} setFault
 * @property {(text: string) => Promise<void>} setOsRelease
 * @property {() => boolean} sshdRunning
 *
 * @typedef {object} Lab
 * @property {string} name
 * @property {number} subnet
 * @property {string} dir              fresh temp dir for workstation-side files
 * @property {string} clientKey        private key (ed25519, no passphrase) authorized for root, ops, opspw
 * @property {string} clientPublicKey  its public key line
 * @property {string} knownHostsFile   every host's key at start, `127.77.S.N ssh-ed25519 AAAA...`
 * @property {LabHost[]} hosts
 * @property {string} sudoPassword
 * @property {() => Promise<void>} stop
 * @property {(dir: string, version: string, opts?: object) => Promise<string>} makeRelease
 * @property {(host: LabHost, user?: string) => string[]} sshArgs  argv for the `ssh` client (without command)
 */

// ---------------------------------------------------------------------------- helpers

/** Run a command, collect output. */
function run(cmd, args, { input, timeoutMs, env = CLEAN_ENV, cwd = '/' } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    let timer;
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.on('error', (e) => err.push(Buffer.from(String(e))));
    if (timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdoutBuf: Buffer.concat(out), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code, signal });
    });
    child.stdin.on('error', () => {});
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

/** A tiny p-limit. */
function limiter(n) {
  let active = 0;
  const queue = [];
  const next = () => {
    if (active >= n || queue.length === 0) return;
    active++;
    const { fn, resolve, reject } = queue.shift();
    fn().then(resolve, reject).finally(() => { active--; next(); });
  };
  return (fn) => new Promise((resolve, reject) => { queue.push({ fn, resolve, reject }); next(); });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function sshString(buf) {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

// PKCS#8 DER of an Ed25519 private key up to its 32-byte seed (RFC 8410).
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * Generate an ed25519 key pair in OpenSSH format without spawning ssh-keygen: a random seed, its
 * public key derived by node. Not generateKeyPairSync with a JWK export: on Node 20 that can
 * deadlock the process (the export holds the key's mutex while it allocates; the collector then
 * finalizes the key-generation job, whose destructor waits for the same mutex), which hung a lab
 * start for good.
 */
export function generateEd25519(comment = 'gwlab') {
  const seed = randomBytes(32);
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const pub = createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(-32);
  const pubBlob = Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
  const check = randomBytes(4);
  let priv = Buffer.concat([check, check, sshString('ssh-ed25519'), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)]);
  const pad = [];
  for (let i = 1; (priv.length + pad.length) % 8 !== 0; i++) pad.push(i);
  priv = Buffer.concat([priv, Buffer.from(pad)]);
  const one = Buffer.alloc(4);
  one.writeUInt32BE(1);
  const body = Buffer.concat([Buffer.from('openssh-key-v1\0'), sshString('none'), sshString('none'), sshString(''), one, sshString(pubBlob), sshString(priv)]);
  const b64 = body.toString('base64').replace(/(.{70})/g, '$1\n').replace(/\n$/, '');
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}\n-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `ssh-ed25519 ${pubBlob.toString('base64')} ${comment}`,
    publicBlob: pubBlob.toString('base64'),
  };
}

/** True when pid exists and is not a zombie. */
export function pidAlive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/s.test(stat);
  } catch { return false; }
}

function mntNs(pid) {
  try { return fs.readlinkSync(`/proc/${pid}/ns/mnt`); } catch { return null; }
}

function cmdline(pid) {
  try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { return ''; }
}

function allPids() {
  return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number);
}

/** Holders (the `sleep infinity` processes owning each host's namespaces) of lab `name`, or of every lab. */
function findHolders(name) {
  const prefix = name ? `${HOLDER_TAG}:${name}:` : `${HOLDER_TAG}:`;
  return allPids().filter((pid) => cmdline(pid).startsWith(prefix));
}

/** A process's start time (clock ticks since boot), to tell it from a later process with its pid. */
function startTime(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch { return null; }
}

/**
 * Kill every process living in the mount namespaces of the given holders (sync, best effort).
 * A namespace's id is reused once its last process is gone, possibly by another lab starting at
 * that moment: after the first round, only namespaces still pinned by a process seen in the first
 * round count as ours.
 */
function killNamespaces(holderPids, extraNs = []) {
  const own = mntNs(process.pid);
  const nsSet = new Set(extraNs);
  for (const pid of holderPids) {
    const ns = mntNs(pid);
    if (ns && ns !== own) nsSet.add(ns);
  }
  nsSet.delete(own);
  if (nsSet.size === 0) return;
  const seen = new Map(); // pid -> start time, of processes found in our namespaces
  for (let round = 0; round < 50; round++) {
    const pinned = new Set();
    for (const [pid, st] of seen) if (startTime(pid) === st) pinned.add(mntNs(pid));
    const victims = allPids().filter((pid) => {
      if (pid === process.pid) return false;
      const ns = mntNs(pid);
      return nsSet.has(ns) && (round === 0 || pinned.has(ns) || seen.get(pid) === startTime(pid));
    });
    if (victims.length === 0) return;
    for (const pid of victims) {
      if (!seen.has(pid)) seen.set(pid, startTime(pid));
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    // busy-wait a little (sync on purpose: also used from the process 'exit' hook)
    spawnSync('sleep', ['0.02']);
  }
}

function mountsUnder(dir) {
  try {
    return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
      .map((l) => l.split(' ')[4])
      .filter((mp) => mp && (mp === dir || mp.startsWith(dir + '/')))
      .sort((a, b) => b.length - a.length);
  } catch { return []; }
}

function readState(name) {
  try { return JSON.parse(fs.readFileSync(path.join(LAB_ROOT, `${name}.json`), 'utf8')); } catch { return null; }
}

/** Remove lab `name` entirely: processes, mounts, dirs (sync; safe to call when nothing exists). */
function cleanupLabSync(name) {
  const state = readState(name);
  const holders = new Set(findHolders(name));
  const extraNs = [];
  if (state) for (const h of state.hosts || []) if (h.mntns) extraNs.push(h.mntns);
  killNamespaces([...holders], extraNs);
  const root = path.join(LAB_ROOT, name);
  for (const mp of mountsUnder(root)) spawnSync('umount', ['-l', mp]);
  if (mountsUnder(root).length === 0) fs.rmSync(root, { recursive: true, force: true });
  if (state?.dir && state.dir.startsWith(os.tmpdir() + '/gwlab-')) fs.rmSync(state.dir, { recursive: true, force: true });
  fs.rmSync(path.join(LAB_ROOT, `${name}.json`), { force: true });
  fs.rmSync(path.join(LAB_ROOT, `${name}.pids`), { force: true });
}

/** Stop and remove every lab on this machine (stale ones from crashed runs included). */
export async function cleanupAllLabs() {
  const names = new Set();
  for (const pid of findHolders(null)) names.add(cmdline(pid).split('\0')[0].split(':')[1]);
  try {
    for (const e of fs.readdirSync(LAB_ROOT)) names.add(e.replace(/\.(json|pids)$/, ''));
  } catch { /* no labs */ }
  for (const n of names) if (n) cleanupLabSync(n);
}

function waitForPort(address, port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = net.connect({ host: address, port });
      sock.once('connect', () => { sock.destroy(); resolve(); });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`${address}:${port} did not accept connections within ${timeoutMs}ms`));
        else setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}

function waitForPortClosed(address, port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = net.connect({ host: address, port });
      sock.once('connect', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`${address}:${port} still accepting after ${timeoutMs}ms`));
        else setTimeout(attempt, 25);
      });
      sock.once('error', () => { sock.destroy(); resolve(); });
    };
    attempt();
  });
}

function sshdConfig(address) {
  return `# gwfleet lab sshd (test lab, not a production config)
ListenAddress ${address}:22
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
UseDNS no
LogLevel ERROR
X11Forwarding no
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
`;
}

// The holder: mounts the overlays, gives the host its own /run and hostname, then sleeps.
const HOLDER_SCRIPT = `
set -e
for d in ${OVERLAY_TREES.join(' ')}; do
  lower="/$d"
  [ -d "$B/$d" ] && lower="$B/$d:/$d"
  mount -t overlay -o "lowerdir=$lower,upperdir=$H/$d/upper,workdir=$H/$d/work" "gwlab-$d" "/$d"
done
for d in ${FRESH_TREES.join(' ')}; do
  mount -t overlay -o "lowerdir=$B/$d,upperdir=$H/$d/upper,workdir=$H/$d/work" "gwlab-$d" "/$d"
done
mount -t tmpfs -o mode=0755,size=64m gwlab-run /run
mkdir -p /run/sshd /run/lock /run/user
chmod 1777 /run/lock
ln -s /dev/shm /run/shm
hostname "$HN"
echo ready
exec -a "$TAG" sleep infinity
`;

// ---------------------------------------------------------------------------- startLab

/** Teardown hooks of this process's running labs (run on exit and on SIGINT/SIGTERM/SIGHUP). */
const activeLabs = new Set();
let signalHooksInstalled = false;
function installSignalHooks() {
  if (signalHooksInstalled) return;
  signalHooksInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    const handler = () => {
      for (const hook of [...activeLabs]) hook();
      // Nobody else handles this signal: behave as the default would (terminate).
      if (process.listenerCount(sig) === 1) {
        process.off(sig, handler);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, handler);
  }
}

/**
 * Start `count` sshd hosts on 127.77.<subnet>.1..count.
 * The lab is torn down when this process exits unless keepOnExit (then: cleanupAllLabs() or the next
 * startLab with the same name removes it).
 * @param {{count?: number, subnet?: number, name?: string, osRelease?: string, startTimeoutMs?: number, keepOnExit?: boolean}} opts
 * @returns {Promise<Lab>}
 */
export async function startLab({ count = 3, subnet = 1, name = 'lab', osRelease = OS_RELEASE.ubuntu2204, startTimeoutMs = 30000, keepOnExit = false } = {}) {
  if (process.getuid?.() !== 0) throw new Error('the gwfleet lab needs root (mount namespaces, overlayfs)');
  // GWFLEET_LAB_OFFSET shifts every lab's subnet and name, so two checkouts can run their suites at once.
  const offset = Number(process.env.GWFLEET_LAB_OFFSET || 0);
  if (offset) { subnet += offset; name = `${name}-o${offset}`; }
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,40}$/.test(name)) throw new Error(`bad lab name ${JSON.stringify(name)}`);
  if (!Number.isInteger(subnet) || subnet < 1 || subnet > 250) throw new Error(`subnet must be an integer 1..250, got ${subnet}`);
  if (!Number.isInteger(count) || count < 1 || count > 254) throw new Error(`count must be an integer 1..254, got ${count}`);

  cleanupLabSync(name);
  fs.mkdirSync(LAB_ROOT, { recursive: true });
  const root = path.join(LAB_ROOT, name);
  fs.mkdirSync(root, { recursive: true });
  const mnt = spawnSync('mount', ['-t', 'tmpfs', '-o', 'mode=0700', `gwlab-${name}`, root], { encoding: 'utf8' });
  if (mnt.status !== 0) throw new Error(`mount tmpfs on ${root}: ${mnt.stderr}`);

  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), `gwlab-${name}-`));
  /** @type {{name: string, subnet: number, dir: string, ownerPid: number, hosts: any[]}} */
  const state = { name, subnet, dir, ownerPid: process.pid, hosts: [] };
  const saveState = () => {
    fs.writeFileSync(path.join(LAB_ROOT, `${name}.json`), JSON.stringify(state, null, 1));
    fs.writeFileSync(path.join(LAB_ROOT, `${name}.pids`), state.hosts.flatMap((h) => [h.holderPid, h.sshdPid].filter(Boolean)).join('\n') + '\n');
  };
  saveState();

  let stopped = false;
  const exitHook = () => { if (!stopped && !keepOnExit) { stopped = true; cleanupLabSync(name); } };
  process.on('exit', exitHook);
  activeLabs.add(exitHook);
  installSignalHooks();

  try {
    // Workstation side: the client key.
    const client = generateEd25519(`gwlab-client@${name}`);
    const clientKey = path.join(dir, 'id_ed25519');
    fs.writeFileSync(clientKey, client.privateKey, { mode: 0o600 });
    fs.writeFileSync(clientKey + '.pub', client.publicKey + '\n', { mode: 0o644 });

    const hostNames = Array.from({ length: count }, (_, i) => `h${i + 1}`);
    const addressOf = (i) => `127.77.${subnet}.${i + 1}`;

    // Base layer shared by all hosts of this lab (lower layer above the machine's own trees).
    const B = path.join(root, 'base');
    buildBaseLayer(B, client.publicKey, hostNames.map((h, i) => `${addressOf(i)} ${h}`), osRelease);

    // Per-host upper dirs, written before mounting.
    const realStat = Object.fromEntries([...OVERLAY_TREES, ...FRESH_TREES].map((t) => [t, fs.statSync(`/${t}`)]));
    const hosts = hostNames.map((hn, i) => {
      const H = path.join(root, 'hosts', hn);
      for (const t of [...OVERLAY_TREES, ...FRESH_TREES]) {
        fs.mkdirSync(path.join(H, t, 'work'), { recursive: true });
        const up = path.join(H, t, 'upper');
        fs.mkdirSync(up);
        fs.chmodSync(up, realStat[t].mode & 0o7777);
      }
      const key = generateEd25519(`root@${hn}`);
      const sshDir = path.join(H, 'etc/upper/ssh');
      fs.mkdirSync(sshDir, { mode: 0o755 });
      fs.writeFileSync(path.join(sshDir, 'ssh_host_ed25519_key'), key.privateKey, { mode: 0o600 });
      fs.writeFileSync(path.join(sshDir, 'ssh_host_ed25519_key.pub'), key.publicKey + '\n');
      fs.writeFileSync(path.join(sshDir, 'sshd_config'), sshdConfig(addressOf(i)));
      fs.writeFileSync(path.join(H, 'etc/upper/hostname'), hn + '\n');
      return { name: hn, address: addressOf(i), H, hostKeyLine: `${addressOf(i)} ssh-ed25519 ${key.publicBlob}` };
    });

    const knownHostsFile = path.join(dir, 'known_hosts');
    fs.writeFileSync(knownHostsFile, hosts.map((h) => h.hostKeyLine).join('\n') + '\n');

    const limit = limiter(Math.max(8, os.cpus().length * 4));
    const labHosts = await Promise.all(hosts.map((h) => limit(async () => {
      const holderPid = await spawnHolder(name, h.name, B, h.H);
      const rec = { name: h.name, holderPid, mntns: mntNs(holderPid), sshdPid: null };
      state.hosts.push(rec);
      const host = makeHost(h, rec, saveState);
      await host.startSshd({ timeoutMs: startTimeoutMs });
      return host;
    })));
    labHosts.sort((a, b) => Number(a.name.slice(1)) - Number(b.name.slice(1)));
    saveState();

    let stopping = null;
    /** @type {Lab} */
    const lab = {
      name,
      subnet,
      dir,
      clientKey,
      clientPublicKey: client.publicKey,
      knownHostsFile,
      hosts: labHosts,
      sudoPassword: SUDO_PASSWORD,
      makeRelease: (d, version, opts) => makeRelease(d, version, opts),
      sshArgs: (host, user = 'root') => [
        '-i', clientKey, '-o', `UserKnownHostsFile=${knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes',
        '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'ConnectTimeout=5', '-o', 'LogLevel=ERROR',
        '-p', String(host.port), `${user}@${host.address}`,
      ],
      stop: () => {
        stopping ??= (async () => {
          stopped = true;
          process.off('exit', exitHook);
          activeLabs.delete(exitHook);
          cleanupLabSync(name);
        })();
        return stopping;
      },
    };
    return lab;
  } catch (e) {
    stopped = true;
    process.off('exit', exitHook);
    activeLabs.delete(exitHook);
    cleanupLabSync(name);
    throw e;
  }
}

function buildBaseLayer(B, clientPub, hostsLines, osRelease) {
  const w = (p, data, mode = 0o644, uid = 0) => {
    const f = path.join(B, p);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, data, { mode });
    fs.chmodSync(f, mode);
    fs.chownSync(f, uid, uid);
  };
  const md = (p, mode, uid = 0) => {
    const f = path.join(B, p);
    fs.mkdirSync(f, { recursive: true });
    fs.chmodSync(f, mode);
    fs.chownSync(f, uid, uid);
  };
  for (const t of ['etc', 'root', 'home', 'srv', 'usr']) md(t, fs.statSync(`/${t}`).mode & 0o7777);

  const names = new Set(USERS.map((u) => u.name));
  const keep = (file) => fs.readFileSync(file, 'utf8').split('\n').filter((l) => l && !names.has(l.split(':')[0]));
  const pwHash = spawnSync('openssl', ['passwd', '-6', '-salt', 'gwlabsalt', SUDO_PASSWORD], { encoding: 'utf8' }).stdout.trim();
  if (!pwHash.startsWith('$6$')) throw new Error('openssl passwd -6 failed');
  const passwd = keep('/etc/passwd').concat(USERS.map((u) => `${u.name}:x:${u.uid}:${u.uid}:gwlab ${u.name}:/home/${u.name}:/bin/bash`));
  const group = keep('/etc/group').concat(USERS.map((u) => `${u.name}:x:${u.uid}:`));
  // sshd (UsePAM no) refuses accounts whose hash starts with '!': give root '*' (no password, not locked).
  const shadow = keep('/etc/shadow').map((l) => (l.startsWith('root:!') ? l.replace(/^root:!*[^:]*:/, 'root:*:') : l))
    .concat([`ops:*:19700:0:99999:7:::`, `opspw:${pwHash}:19700:0:99999:7:::`]);
  const gshadow = fs.existsSync('/etc/gshadow') ? keep('/etc/gshadow').concat(USERS.map((u) => `${u.name}:!::`)) : null;
  w('etc/passwd', passwd.join('\n') + '\n');
  w('etc/group', group.join('\n') + '\n');
  w('etc/shadow', shadow.join('\n') + '\n', 0o640);
  try { fs.chownSync(path.join(B, 'etc/shadow'), 0, fs.statSync('/etc/shadow').gid); } catch { /* keep root */ }
  if (gshadow) {
    w('etc/gshadow', gshadow.join('\n') + '\n', 0o640);
    try { fs.chownSync(path.join(B, 'etc/gshadow'), 0, fs.statSync('/etc/gshadow').gid); } catch { /* keep root */ }
  }
  w('etc/sudoers.d/gwlab', `# gwfleet test lab users\nops ALL=(ALL:ALL) NOPASSWD: ALL\nopspw ALL=(ALL:ALL) ALL\n`, 0o440);
  const realHosts = fs.existsSync('/etc/hosts') ? fs.readFileSync('/etc/hosts', 'utf8') : '127.0.0.1 localhost\n';
  w('etc/hosts', realHosts + '\n# gwfleet lab hosts\n' + hostsLines.join('\n') + '\n');
  w('etc/os-release', osRelease); // a file, replacing Debian's symlink to ../usr/lib/os-release
  md('etc/gwlab', 0o755);
  md('etc/gwlab/faults', 0o755);
  w('etc/gwlab/README', 'This host is a gwfleet test-lab host (sshd in a mount namespace over overlayfs).\nFault switches: /etc/gwlab/faults/<name>\n');

  // Network stand-ins so nothing in the lab touches the machine's real links or netfilter rules.
  md('usr/sbin', 0o755);
  md('usr/lib/gwlab', 0o755);
  for (const f of ['iptables-save', 'iptables-restore', 'ip6tables-save', 'ip6tables-restore']) {
    fs.copyFileSync(path.join(STANDINS_DIR, 'iptables-standin'), path.join(B, 'usr/sbin', f));
    fs.chmodSync(path.join(B, 'usr/sbin', f), 0o755);
  }
  for (const f of ['iptables', 'ip6tables']) {
    fs.copyFileSync(path.join(STANDINS_DIR, 'iptables-standin'), path.join(B, 'usr/sbin', f));
    fs.chmodSync(path.join(B, 'usr/sbin', f), 0o755);
  }
  if (fs.existsSync('/usr/bin/ip')) {
    fs.copyFileSync('/usr/bin/ip', path.join(B, 'usr/lib/gwlab/ip.real'));
    fs.chmodSync(path.join(B, 'usr/lib/gwlab/ip.real'), 0o755);
    md('usr/bin', 0o755);
    fs.copyFileSync(path.join(STANDINS_DIR, 'ip-standin'), path.join(B, 'usr/bin/ip'));
    fs.chmodSync(path.join(B, 'usr/bin/ip'), 0o755);
  }

  // Homes: root, ops, opspw all trust the lab client key.
  const skel = (home, uid) => {
    for (const f of ['.bashrc', '.profile', '.bash_logout']) {
      if (fs.existsSync(`/etc/skel/${f}`)) w(`${home}/${f}`, fs.readFileSync(`/etc/skel/${f}`), 0o644, uid);
    }
  };
  md('root/.ssh', 0o700);
  w('root/.ssh/authorized_keys', clientPub + '\n', 0o600);
  skel('root', 0);
  for (const u of USERS) {
    md(`home/${u.name}`, 0o750, u.uid);
    md(`home/${u.name}/.ssh`, 0o700, u.uid);
    w(`home/${u.name}/.ssh/authorized_keys`, clientPub + '\n', 0o600, u.uid);
    skel(`home/${u.name}`, u.uid);
  }
  md('srv/datasets', 0o755);
  w('srv/datasets/README.txt', 'gwfleet lab dataset folder: uninstall must never delete this.\n');
  w('srv/datasets/sample.csv', 'id,value\n1,42\n2,43\n');
}

function spawnHolder(labName, hostName, B, H) {
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['-m', '-u', '--propagation', 'private', '--', '/bin/bash', '-c', HOLDER_SCRIPT], {
      env: { ...CLEAN_ENV, B, H, HN: hostName, TAG: `${HOLDER_TAG}:${labName}:${hostName}` },
      cwd: '/',
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const done = (e) => {
      child.stdout.removeAllListeners('data');
      child.removeAllListeners('exit');
      if (e) { reject(e); return; }
      child.stdout.destroy();
      child.stderr.destroy();
      child.unref();
      resolve(child.pid);
    };
    child.stdout.on('data', (d) => { out += d; if (out.includes('ready\n')) done(); });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', (e) => done(e));
    child.on('exit', (code) => done(new Error(`lab host ${hostName}: namespace setup failed (exit ${code}): ${err.trim()}`)));
  });
}

function makeHost(h, rec, saveState) {
  const nsArgs = () => ['-t', String(rec.holderPid), '-m', '-u', '--'];
  /** @type {LabHost} */
  const host = {
    name: h.name,
    address: h.address,
    port: 22,
    hostKeyLine: h.hostKeyLine,
    get holderPid() { return rec.holderPid; },
    exec: (cmd, { input, timeoutMs } = {}) =>
      run('nsenter', [...nsArgs(), '/bin/bash', '-c', cmd], { input, timeoutMs })
        .then(({ stdout, stderr, code, signal }) => ({ stdout, stderr, code, signal })),
    async readFile(p, encoding = 'utf8') {
      const r = await run('nsenter', [...nsArgs(), '/bin/cat', '--', p]);
      if (r.code !== 0) {
        const e = new Error(`${h.name}:${p}: ${r.stderr.trim()}`);
        if (/No such file/.test(r.stderr)) e.code = 'ENOENT';
        throw e;
      }
      return encoding ? r.stdoutBuf.toString(encoding) : r.stdoutBuf;
    },
    async writeFile(p, data, mode) {
      const script = 'set -e; mkdir -p -- "$(dirname -- "$1")"; cat > "$1"; if [ -n "$2" ]; then chmod "$2" -- "$1"; fi';
      const r = await run('nsenter', [...nsArgs(), '/bin/bash', '-c', script, 'gwlab-write', p, mode === undefined ? '' : mode.toString(8)], { input: data });
      if (r.code !== 0) throw new Error(`${h.name}: writeFile ${p}: ${r.stderr.trim()}`);
    },
    async exists(p) {
      const r = await run('nsenter', [...nsArgs(), '/bin/bash', '-c', 'test -e "$1" || test -L "$1"', 'gwlab-exists', p]);
      return r.code === 0;
    },
    sshdRunning() {
      return !!rec.sshdPid && pidAlive(rec.sshdPid);
    },
    async startSshd({ timeoutMs = 15000 } = {}) {
      if (host.sshdRunning()) return;
      const child = spawn('nsenter', [...nsArgs(), '/usr/sbin/sshd', '-D', '-f', '/etc/ssh/sshd_config', '-E', '/var/log/gwlab-sshd.log'], {
        env: CLEAN_ENV, cwd: '/', detached: true, stdio: 'ignore',
      });
      let exited = null;
      child.on('exit', (code) => { exited = code; });
      child.unref();
      rec.sshdPid = child.pid;
      saveState();
      try {
        await Promise.race([
          waitForPort(h.address, 22, timeoutMs),
          (async () => { while (exited === null) await sleep(50); throw new Error('sshd exited'); })(),
        ]);
      } catch (e) {
        const t = await host.exec('/usr/sbin/sshd -t -f /etc/ssh/sshd_config; tail -5 /var/log/gwlab-sshd.log 2>/dev/null');
        throw new Error(`lab host ${h.name}: sshd did not start (${e.message}): ${t.stdout}${t.stderr}`);
      }
    },
    async stopSshd() {
      if (rec.sshdPid) {
        try { process.kill(rec.sshdPid, 'SIGTERM'); } catch { /* gone */ }
        const deadline = Date.now() + 5000;
        while (host.sshdRunning() && Date.now() < deadline) await sleep(20);
        if (host.sshdRunning()) try { process.kill(rec.sshdPid, 'SIGKILL'); } catch { /* gone */ }
        rec.sshdPid = null;
        saveState();
      }
      await waitForPortClosed(h.address, 22, 5000);
    },
    async regenerateHostKey(type = 'ed25519') {
      let keyFile;
      let line;
      if (type === 'ed25519') {
        const key = generateEd25519(`root@${h.name}`);
        keyFile = '/etc/ssh/ssh_host_ed25519_key';
        await host.writeFile(keyFile, key.privateKey, 0o600);
        await host.writeFile(`${keyFile}.pub`, key.publicKey + '\n', 0o644);
        line = `${h.address} ssh-ed25519 ${key.publicBlob}`;
      } else if (type === 'ecdsa') {
        keyFile = '/etc/ssh/ssh_host_ecdsa_key';
        const r = await host.exec(`rm -f ${keyFile} ${keyFile}.pub && ssh-keygen -q -t ecdsa -b 256 -N '' -C root@${h.name} -f ${keyFile} && cat ${keyFile}.pub`);
        if (r.code !== 0) throw new Error(`${h.name}: ssh-keygen: ${r.stderr.trim()}`);
        const [keyType, blob] = r.stdout.trim().split(/\s+/);
        line = `${h.address} ${keyType} ${blob}`;
      } else {
        throw new Error(`regenerateHostKey: unsupported key type ${type}`);
      }
      // sshd offers exactly the keys its HostKey lines name: only the new one from now on.
      const cfg = await host.readFile('/etc/ssh/sshd_config');
      let first = true;
      const edited = cfg.replace(/^HostKey .*\n/gm, () => (first ? ((first = false), `HostKey ${keyFile}\n`) : ''));
      if (first) throw new Error(`${h.name}: sshd_config has no HostKey line to replace`);
      await host.writeFile('/etc/ssh/sshd_config', edited, 0o644);
      await host.stopSshd();
      await host.startSshd();
      host.hostKeyLine = line;
      return host.hostKeyLine;
    },
    async setFault(name, value) {
      if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`bad fault name ${name}`);
      const p = `/etc/gwlab/faults/${name}`;
      if (value === null || value === undefined || value === false) {
        await host.exec(`rm -f -- '${p}'`);
      } else {
        await host.writeFile(p, value === true ? '1\n' : `${value}\n`, 0o644);
      }
    },
    async setOsRelease(text) {
      await host.exec('rm -f /etc/os-release');
      await host.writeFile('/etc/os-release', text, 0o644);
    },
  };
  return host;
}
