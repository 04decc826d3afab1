// Smoke test of the gwfleet test lab itself: `node test/lab/lab.selftest.js` (as root).
// Uses the real OpenSSH client against the lab's sshd hosts. Exit 0 when all checks pass.
// `--no-bench` skips the 50-host timing; `--bench=N` times N hosts instead of 50.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startLab, cleanupAllLabs, pidAlive, LAB_ROOT } from './lab.js';

let failures = 0;
function check(ok, what, detail = '') {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${!ok && detail ? `\n     ${String(detail).trim().replace(/\n/g, '\n     ')}` : ''}`);
  if (!ok) failures++;
}

function ssh(lab, host, user, command, input) {
  return new Promise((resolve) => {
    const child = spawn('ssh', [...lab.sshArgs(host, user), command], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

function portOpen(address, port = 22) {
  return new Promise((resolve) => {
    const s = net.connect({ host: address, port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { s.destroy(); resolve(false); });
  });
}

function labProcesses(name) {
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`gwlab-holder:${name}:`); } catch { return false; }
  });
}

const alive = pidAlive;

function mountsUnder(dir) {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(dir));
}

const args = process.argv.slice(2);
const benchN = args.includes('--no-bench') ? 0 : Number((args.find((a) => a.startsWith('--bench=')) || '--bench=50').split('=')[1]);

const t0 = Date.now();
const lab = await startLab({ count: 5, subnet: 199, name: 'selftest' });
const t5 = Date.now() - t0;
console.log(`started 5 hosts in ${t5} ms (lab dir ${lab.dir})`);
const [h1, h2, h3, h4, h5] = lab.hosts;
const onSignal = () => { lab.stop().finally(() => process.exit(130)); };
process.on('SIGINT', onSignal);

try {
  check(lab.hosts.length === 5 && h5.address === '127.77.199.5' && h1.name === 'h1' && h1.port === 22, 'hosts named h1..h5 on 127.77.199.N:22');
  const kh = fs.readFileSync(lab.knownHostsFile, 'utf8').trim().split('\n');
  check(kh.length === 5 && kh.every((l, i) => l === lab.hosts[i].hostKeyLine && /^127\.77\.199\.\d ssh-ed25519 AAAA\S+$/.test(l)), 'known_hosts has one plain ed25519 line per host');
  check(new Set(lab.hosts.map((h) => h.hostKeyLine.split(' ')[2])).size === 5, 'host keys differ');

  // Logins (all five in parallel: also exercises concurrent sessions).
  const who = await Promise.all(lab.hosts.map((h) => ssh(lab, h, 'root', 'id -un; hostname')));
  check(who.every((r, i) => r.code === 0 && r.stdout === `root\nh${i + 1}\n`), 'root login on every host (hostname hN)', JSON.stringify(who.find((r) => r.code !== 0)));
  const ops = await ssh(lab, h1, 'ops', 'sudo -n true && echo sudo-ok');
  check(ops.code === 0 && ops.stdout.includes('sudo-ok'), 'ops: sudo -n true works', ops.stderr);
  const pwN = await ssh(lab, h1, 'opspw', 'sudo -n true');
  check(pwN.code !== 0, 'opspw: sudo -n true fails (password required)', pwN.stdout + pwN.stderr);
  const pwS = await ssh(lab, h1, 'opspw', "sudo -S -p '' true && echo sudo-pw-ok", 'lab-sudo-pw\n');
  check(pwS.code === 0 && pwS.stdout.includes('sudo-pw-ok'), 'opspw: sudo -S with lab-sudo-pw works', pwS.stderr);
  const pwBad = await ssh(lab, h1, 'opspw', "sudo -S -p '' true", 'wrong\n');
  check(pwBad.code !== 0, 'opspw: wrong sudo password fails');
  const noPw = await new Promise((resolve) => {
    const c = spawn('ssh', ['-o', `UserKnownHostsFile=${lab.knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes',
      '-o', 'IdentitiesOnly=yes', '-o', 'IdentityFile=/dev/null', '-o', 'PasswordAuthentication=yes', `root@${h1.address}`, 'true'], { stdio: 'ignore' });
    c.on('close', resolve);
  });
  check(noPw !== 0, 'login without the lab key is refused (pubkey only)');

  // Isolation.
  const w = await ssh(lab, h1, 'root', 'echo only-h1 > /opt/gwlab-selftest-marker && echo x > /etc/gwlab-h1 && cat /opt/gwlab-selftest-marker');
  check(w.code === 0 && w.stdout === 'only-h1\n', 'write to /opt on h1', w.stderr);
  check(!(await h2.exists('/opt/gwlab-selftest-marker')) && !(await h2.exists('/etc/gwlab-h1')), "h1's /opt and /etc writes are not visible on h2");
  check(!fs.existsSync('/opt/gwlab-selftest-marker') && !fs.existsSync('/etc/gwlab-h1'), "h1's writes are not visible on the real machine");
  check(await h1.exists('/opt/gwlab-selftest-marker'), 'host.exists sees the file');
  await h3.writeFile('/opt/gwfleet/nested/file.txt', 'hello\n', 0o600);
  const st = await h3.exec('stat -c %a /opt/gwfleet/nested/file.txt; cat /opt/gwfleet/nested/file.txt');
  check(st.stdout === '600\nhello\n' && (await h3.readFile('/opt/gwfleet/nested/file.txt')) === 'hello\n', 'writeFile/readFile with mode');
  const ds = await ssh(lab, h2, 'root', 'ls /srv/datasets');
  check(ds.code === 0 && ds.stdout.includes('sample.csv'), '/srv/datasets exists with a file');
  await h4.setOsRelease('ID=rhel\nVERSION_ID="8.10"\n');
  const osr = await ssh(lab, h4, 'root', '. /etc/os-release; echo $ID $VERSION_ID');
  const osr5 = await ssh(lab, h5, 'root', '. /etc/os-release; echo $ID $VERSION_ID');
  check(osr.stdout === 'rhel 8.10\n' && osr5.stdout === 'ubuntu 22.04\n', 'setOsRelease per host (default Ubuntu 22.04)', osr.stdout + osr5.stdout);
  const sftp = await new Promise((resolve) => {
    const c = spawn('sftp', ['-b', '-', '-i', lab.clientKey, '-o', `UserKnownHostsFile=${lab.knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes', `root@${h5.address}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    c.stdin.end('ls /srv/datasets\n');
    c.on('close', resolve);
  });
  check(sftp === 0, 'sftp subsystem works');

  // Stand-in installer, end to end over ssh.
  const rel = await lab.makeRelease(path.join(lab.dir, 'releases'), '1.5.0');
  const up = await new Promise((resolve) => {
    const c = spawn('scp', ['-q', '-i', lab.clientKey, '-o', `UserKnownHostsFile=${lab.knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes', rel, `root@${h1.address}:/root/`], { stdio: 'inherit' });
    c.on('close', resolve);
  });
  check(up === 0, 'scp release to h1');
  const before = await ssh(lab, h1, 'root', 'kubectl get deploy -n apheris -l apheris-component=agent -o go-template=x');
  check(before.code !== 0, 'before install: no kubectl', before.stdout);
  const dep = await ssh(lab, h1, 'root', 'cd /root && unzip -q -o apheris-gateway-1.5.0.zip -d apheris-gateway-1.5.0 && cd apheris-gateway-1.5.0 && ./deploy_gateway');
  check(dep.code === 0 && dep.stdout.includes('Deployed versions:\n------------------\nagent: 1.5.0\n------------------\n') && dep.stdout.includes('All services are ready.'),
    'deploy_gateway over ssh prints both success markers', dep.stdout + dep.stderr);
  const kq = `kubectl get deploy -n apheris -l apheris-component=agent -o go-template='{{if and (index .items 0).spec.template.spec.containers (index (index .items 0).spec.template.spec.containers 0).image }}{{ (index (index .items 0).spec.template.spec.containers 0).image }}{{ "\\n" }}{{end}}'`;
  const kc = await ssh(lab, h1, 'root', kq);
  check(kc.code === 0 && kc.stdout === 'quay.io/apheris/gateway-agent:1.5.0\n', 'kubectl prints the agent image', kc.stdout + kc.stderr);
  const kops = await ssh(lab, h1, 'ops', kq);
  check(kops.code !== 0 && /permission denied/.test(kops.stderr), 'kubectl as non-root fails (kubeconfig root-only)');
  const ksudo = await ssh(lab, h1, 'ops', `sudo -n ${kq}`);
  check(ksudo.code === 0 && ksudo.stdout.endsWith(':1.5.0\n'), 'kubectl through sudo works');
  const notRoot = await ssh(lab, h1, 'ops', 'cd /root/apheris-gateway-1.5.0 2>/dev/null || cd /tmp; cp -r /tmp /dev/null 2>&1; true');
  void notRoot;

  // Faults.
  await h1.setFault('wrong-version', true);
  const wv = await ssh(lab, h1, 'root', 'cd /root/apheris-gateway-1.5.0 && ./deploy_gateway');
  check(wv.code === 0 && wv.stdout.includes('agent: 9.9.9'), 'fault wrong-version', wv.stdout);
  await h1.setFault('wrong-version', null);
  await h1.setFault('fail', true);
  const fl = await ssh(lab, h1, 'root', 'cd /root/apheris-gateway-1.5.0 && ./deploy_gateway');
  check(fl.code === 3 && !fl.stdout.includes('Deployed versions'), 'fault fail → exit 3', fl.stdout);
  await h1.setFault('fail', null);
  await h1.setFault('never-ready', true);
  const nr = await ssh(lab, h1, 'root', 'cd /root/apheris-gateway-1.5.0 && ./deploy_gateway');
  check(nr.code === 0 && nr.stdout.includes('agent: 1.5.0') && !nr.stdout.includes('All services are ready.'), 'fault never-ready', nr.stdout);
  await h1.setFault('never-ready', null);
  await h1.exec("sed -i 's/clientSecret: .*/clientSecret: \"s3cr3t-value\"/' /root/apheris-gateway-1.5.0/values.yaml");
  const quiet = await ssh(lab, h1, 'root', 'cd /root/apheris-gateway-1.5.0 && ./deploy_gateway');
  await h1.setFault('echo-secret', true);
  const loud = await ssh(lab, h1, 'root', 'cd /root/apheris-gateway-1.5.0 && ./deploy_gateway');
  await h1.setFault('echo-secret', null);
  check(!quiet.stdout.includes('s3cr3t-value') && loud.stdout.includes('s3cr3t-value'), 'secret printed only with fault echo-secret');
  await h1.setFault('kubectl-down', true);
  const kd = await ssh(lab, h1, 'root', kq);
  check(kd.code === 1 && kd.stderr.includes('127.0.0.1:6443 was refused'), 'fault kubectl-down', kd.stderr);
  await h1.setFault('kubectl-down', null);
  await h1.setFault('sleep', 1);
  const ts = Date.now();
  const sl = await ssh(lab, h1, 'root', 'cd /root/apheris-gateway-1.5.0 && ./deploy_gateway');
  check(sl.code === 0 && Date.now() - ts >= 1000, 'fault sleep delays the install');
  await h1.setFault('sleep', null);
  await h1.setFault('hang', true);
  const hangStart = Date.now();
  const hang = await h1.exec('cd /root/apheris-gateway-1.5.0; setsid ./deploy_gateway > /tmp/hang.out 2>&1 < /dev/null & echo $!', { timeoutMs: 10000 });
  const hpid = hang.stdout.trim();
  await new Promise((r) => setTimeout(r, 300));
  const live = (pg) => `ps -e -o pgid=,stat= | awk '$1==${pg} && $2 !~ /^Z/' | wc -l`;
  const running = await h1.exec(`kill -0 ${hpid} && ${live(hpid)}`);
  await h1.exec(`kill -TERM -- -${hpid}`);
  await new Promise((r) => setTimeout(r, 200));
  const dead = await h1.exec(live(hpid));
  check(running.code === 0 && Number(running.stdout) >= 2 && dead.stdout.trim() === '0' && Date.now() - hangStart < 5000, 'fault hang: hangs, killed with its process group', running.stdout + dead.stdout);
  await h1.setFault('hang', null);
  const installs = await h1.readFile('/var/lib/gwlab-k3s/installs.log');
  check(installs.trim().split('\n').length >= 5 && installs.includes('values=/root/apheris-gateway-1.5.0/values.yaml'), 'installs.log records each run');
  const un = await ssh(lab, h1, 'root', 'k3s-uninstall.sh && ! command -v kubectl && ls /srv/datasets');
  check(un.code === 0 && !(await h1.exists('/var/lib/gwlab-k3s')) && !(await h1.exists('/etc/rancher')), 'k3s-uninstall.sh removes the stand-in cluster', un.stdout + un.stderr);

  // sshd stop/start and host key regeneration.
  await h2.stopSshd();
  check(!(await portOpen(h2.address)), 'stopSshd: port refuses');
  check(await h2.exists('/srv/datasets/sample.csv'), 'stopSshd: host files survive');
  await h2.startSshd();
  const back = await ssh(lab, h2, 'root', 'echo back');
  check(back.code === 0 && back.stdout === 'back\n', 'startSshd: login works again');
  const oldLine = h3.hostKeyLine;
  const newLine = await h3.regenerateHostKey();
  check(newLine !== oldLine && h3.hostKeyLine === newLine, 'regenerateHostKey returns a new line');
  const changed = await ssh(lab, h3, 'root', 'true');
  check(changed.code !== 0 && /HOST IDENTIFICATION HAS CHANGED|Host key verification failed/.test(changed.stderr), 'ssh refuses the changed host key', changed.stderr);

  // A session left running while stopping must not survive stop().
  await h5.exec('nohup sleep 1000 >/dev/null 2>&1 &');
} catch (e) {
  check(false, 'unexpected error', e.stack);
} finally {
  var sshdPidsBefore = JSON.parse(fs.readFileSync(path.join(LAB_ROOT, 'selftest.json'), 'utf8')).hosts.map((h) => h.sshdPid).filter(Boolean);
  await lab.stop();
  await lab.stop(); // idempotent
}
process.off('SIGINT', onSignal);

check(labProcesses('selftest').length === 0, 'stop(): no holder processes left');
check(sshdPidsBefore.length === 5 && !sshdPidsBefore.some(alive), 'stop(): no lab sshd left');
check(mountsUnder(path.join(LAB_ROOT, 'selftest')).length === 0 && !fs.existsSync(path.join(LAB_ROOT, 'selftest')), 'stop(): no mounts, lab dir removed');
check(!fs.existsSync(lab.dir), 'stop(): workstation dir removed');
check(!(await portOpen('127.77.199.1')), 'stop(): ports closed');

// Crash safety: a lab left behind (keepOnExit, as after a crash) is cleaned by the next start.
const stale = await startLab({ count: 2, subnet: 199, name: 'selftest', keepOnExit: true });
const stalePid = stale.hosts[0].holderPid;
const again = await startLab({ count: 2, subnet: 199, name: 'selftest' });
const staleAlive = pidAlive(stalePid);
check(!staleAlive && (await portOpen('127.77.199.2')), 'startLab replaces a stale lab of the same name');
await again.stop();
// (cleanupAllLabs() is not exercised here: it would also stop labs of other test runs on this machine.)
void cleanupAllLabs;

if (benchN > 0) {
  const tb = Date.now();
  const big = await startLab({ count: benchN, subnet: 199, name: 'selftest-bench' });
  const tStart = Date.now() - tb;
  const probes = await Promise.all(big.hosts.map((h) => portOpen(h.address)));
  const ts2 = Date.now();
  await big.stop();
  console.log(`started ${benchN} hosts in ${tStart} ms, stopped in ${Date.now() - ts2} ms`);
  check(probes.every(Boolean), `${benchN} hosts all accept TCP`);
}

console.log(failures ? `\n${failures} check(s) FAILED` : '\nall checks passed');
process.exit(failures ? 1 : 0);
