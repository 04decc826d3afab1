// gwfleet demo on the test lab: `npm run build && node test/lab/demo.js` (as root).
// Starts 3 lab hosts (real sshd, stand-in installer), writes a workspace with a release,
// an inventory and per-gateway values (secrets via ${env:...}), runs `gwfleet deploy` and
// `gwfleet audit`, then stops the lab. Exits with the deploy's exit code.
// The workspace is kept for inspection; the lab (hosts, keys) is removed at the end.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLab } from './lab.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(repo, 'bin', 'run.js');
const VERSION = '1.5.0';

let lab;
let child;
async function shutdown(code) {
  if (child && child.exitCode === null) child.kill('SIGTERM');
  if (lab) await lab.stop();
  process.exit(code);
}
process.on('SIGINT', () => { console.error('\ninterrupted: stopping the lab'); shutdown(130); });
process.on('SIGTERM', () => shutdown(143));

function runCli(args, env) {
  console.log(`\n$ gwfleet ${args.join(' ')}`);
  return new Promise((resolve) => {
    child = spawn(process.execPath, [cli, ...args], { cwd: repo, env, stdio: 'inherit' });
    child.on('error', (e) => { console.error(`cannot run ${cli}: ${e.message}`); resolve(2); });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

try {
  if (!fs.existsSync(cli)) console.error(`warning: ${cli} not found (run npm run build first)`);
  console.log('starting 3 lab hosts on 127.77.200.1-3 ...');
  lab = await startLab({ count: 3, subnet: 200, name: 'demo' });

  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'gwfleet-demo-'));
  console.log(`demo workspace: ${ws}`);
  await lab.makeRelease(path.join(ws, 'releases'), VERSION);
  fs.mkdirSync(path.join(ws, 'values'));

  const env = { ...process.env, GW_HELM_PASSWORD: 'demo-helm-password' };
  const gateways = lab.hosts.map((h, i) => ({ name: `demo-${i + 1}`, host: h }));
  for (const { name } of gateways) {
    const secretVar = `GW_CLIENT_SECRET_${name.toUpperCase().replace(/-/g, '_')}`;
    env[secretVar] = `demo-secret-${name}-${Math.random().toString(36).slice(2, 10)}`;
    fs.writeFileSync(path.join(ws, 'values', `${name}.yaml`), `cilium:
  egressToHost: true
tenant: gwlab-demo-tenant
gpu:
  enabled: false
auth:
  domain: auth.app.apheris.net
  orchestrator:
    clientId: "${name}-client"
    clientSecret: "\${env:${secretVar}}"
dal:
  sources:
    files:
      folder: "/srv/datasets"
helmRepoUsername: "gwlab-demo"
helmRepoPassword: "\${env:GW_HELM_PASSWORD}"
`);
  }

  const gwYaml = gateways.map(({ name, host }, i) => {
    const lines = [`  ${name}:`, `    host: ${host.address}`, `    values: values/${name}.yaml`,
      `    labels: { site: lab, ring: ${i === 0 ? 'canary' : 'main'} }`];
    if (i === gateways.length - 1) lines.push('    user: ops', '    become: true');
    return lines.join('\n');
  }).join('\n');
  const inventory = path.join(ws, 'fleet.yaml');
  fs.writeFileSync(inventory, `# gwfleet demo inventory (test lab hosts)
release:
  dir: ./releases
  version: ${VERSION}
defaults:
  user: root
  port: 22
  identityFile: ${lab.clientKey}
  knownHosts: ${lab.knownHostsFile}
  become: false
  remoteDir: /opt/gwfleet
gateways:
${gwYaml}
`);
  console.log(`inventory: ${inventory}`);

  const deployCode = await runCli(['deploy', '-i', inventory], env);
  console.log(`\ndeploy exited with ${deployCode}`);
  const auditCode = await runCli(['audit', '-i', inventory], env);
  console.log(`audit exited with ${auditCode}`);

  console.log('\non the hosts (read directly from the lab):');
  for (const { name, host } of gateways) {
    const r = await host.exec('cat /var/lib/gwlab-k3s/agent-image 2>/dev/null || echo "(no agent installed)"; wc -l < /var/lib/gwlab-k3s/installs.log 2>/dev/null || echo 0');
    const [image, runs] = r.stdout.trim().split('\n');
    console.log(`  ${name} (${host.address}): ${image}, installer runs: ${runs}`);
  }
  await shutdown(deployCode);
} catch (e) {
  console.error(`demo failed: ${e.stack || e}`);
  await shutdown(1);
}
