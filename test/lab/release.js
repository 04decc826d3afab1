// Builds fake vendor release zips (apheris-gateway-<VERSION>.zip) for the gwfleet test lab.
// The installer inside is the lab's stand-in deploy_gateway, with the stand-in kubectl,
// k3s and k3s-uninstall.sh embedded after its final `exit` (it extracts them when run).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const STANDINS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'standins');

/** The vendor guide's example values.yaml, placeholders included. */
export const TEMPLATE_VALUES = `cilium:
  egressToHost: true
tenant: APHERIS_PROVIDED_TENANT_ID
gpu:
  enabled: false
auth:
  domain: auth.app.apheris.net
  orchestrator:
    clientId: "REDACTED"
    clientSecret: "REDACTED"
dal:
  sources:
    files:
      folder: "/home/datastore"
helmRepoUsername: "REDACTED"
helmRepoPassword: "REDACTED"
`;

/** The stand-in installer with its payload embedded (what goes into a release zip). */
export function buildInstaller() {
  let text = fs.readFileSync(path.join(STANDINS, 'deploy_gateway'), 'utf8');
  if (!text.endsWith('\n')) text += '\n';
  text += '# ---- gwlab stand-in payload (never executed: the script exits above) ----\n';
  for (const name of ['kubectl', 'k3s', 'k3s-uninstall.sh']) {
    let body = fs.readFileSync(path.join(STANDINS, name), 'utf8');
    if (!body.endsWith('\n')) body += '\n';
    text += `#@@gwlab-file ${name}\n${body}`;
  }
  return text + '#@@gwlab-end\n';
}

/**
 * Create `dir/apheris-gateway-<version>.zip`; returns its path.
 * @param {string} dir
 * @param {string} version  X.Y.Z (not checked: tests may want odd ones)
 * @param {{layout?: 'flat'|'nested', withoutInstaller?: boolean, corrupt?: boolean, values?: string, extraFiles?: Record<string,string>}} [opts]
 */
export async function makeRelease(dir, version, { layout = 'flat', withoutInstaller = false, corrupt = false, values = TEMPLATE_VALUES, extraFiles = {} } = {}) {
  await fsp.mkdir(dir, { recursive: true });
  const zipPath = path.resolve(dir, `apheris-gateway-${version}.zip`);
  await fsp.rm(zipPath, { force: true });
  if (corrupt) {
    await fsp.writeFile(zipPath, Buffer.concat([Buffer.from('PK\x03\x04garbage'), randomBytes(512)]));
    return zipPath;
  }
  const stage = await fsp.mkdtemp(path.join(os.tmpdir(), 'gwlab-release-'));
  try {
    const top = layout === 'nested' ? `apheris-gateway-${version}` : '.';
    const base = path.join(stage, top);
    await fsp.mkdir(base, { recursive: true });
    if (!withoutInstaller) await fsp.writeFile(path.join(base, 'deploy_gateway'), buildInstaller(), { mode: 0o755 });
    await fsp.writeFile(path.join(base, 'VERSION'), `${version}\n`, { mode: 0o644 });
    await fsp.writeFile(path.join(base, 'values.yaml'), values, { mode: 0o644 });
    for (const [name, content] of Object.entries(extraFiles)) {
      await fsp.mkdir(path.dirname(path.join(base, name)), { recursive: true });
      await fsp.writeFile(path.join(base, name), content);
    }
    if (!withoutInstaller) await fsp.chmod(path.join(base, 'deploy_gateway'), 0o755);
    const entries = layout === 'nested' ? [top] : fs.readdirSync(stage);
    const r = spawnSync('zip', ['-q', '-r', '-X', zipPath, ...entries], { cwd: stage, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`zip failed: ${r.stderr || r.error}`);
  } finally {
    await fsp.rm(stage, { recursive: true, force: true });
  }
  return zipPath;
}
