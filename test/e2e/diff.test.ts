// End to end on the lab (subnet 36): values compared as data and `gwfleet diff`.
// - a comment/quoting/order/whitespace edit of a values file deploys nothing (the installer does not run);
// - a host deployed by an earlier gwfleet (values file and record carrying the old byte hash, written
//   here as that version wrote them) is migrated by the next deploy without an installer run;
// - diff shows a changed plain value, a changed secret and unchanged secrets, with exit codes, JSON
//   and `deploy --dry-run --diff`; no secret appears in any output, the run folders or under HOME.
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {isScalar, parseDocument, visit} from 'yaml'

import {renderValues} from '../../src/inventory/values.js'
import {byName, type CliResult, findSecrets, installs, type Lab, lab as startLab, type LabHost, SECRETS, Workspace} from './fleet.js'

const VERSION = '1.5.0'
/** The new client secret of d-diff, and the one it was deployed with (also a secret). */
const NEW_SECRET = 'nEw-cl1ent-s3cret-for-diff'

let lab: Lab
let ws: Workspace
let inv: string
const runs: CliResult[] = []
const H = {comment: 0, legacy: 1, diff: 2} as const
const host = (n: keyof typeof H): LabHost => lab.hosts[H[n]]
const NAME = {comment: 'd-comment', legacy: 'd-legacy', diff: 'd-diff'} as const
const env = {GW_NEW_SECRET: NEW_SECRET}

/** The commands run in this process (inprocess.ts): the cases check what they do and report. */
async function gw(args: string[]): Promise<CliResult> {
  const r = await ws.runHere(args, {env})
  runs.push(r)
  return r
}

const sha = (t: string) => createHash('sha256').update(t, 'utf8').digest('hex')

/** The values text gwfleet before canonical values uploaded: the file itself, references resolved into double-quoted strings. */
function legacyText(text: string, dir: string): string {
  const doc = parseDocument(text)
  visit(doc, {
    Scalar(_k, node) {
      if (!isScalar(node) || typeof node.value !== 'string' || !node.value.includes('${')) return
      node.value = node.value.replace(/\$\{(env|file):([^}]*)\}/g, (_m, kind: string, arg: string) =>
        kind === 'env' ? (SECRETS as Record<string, string>)[arg] : fs.readFileSync(path.resolve(dir, arg), 'utf8').replace(/\r?\n$/, ''),
      )
      node.type = 'QUOTE_DOUBLE'
    },
  })
  return doc.toString({lineWidth: 0})
}

beforeAll(async () => {
  lab = await startLab(3, 36, 'e2e-diff')
  ws = new Workspace(lab, 'diff')
  await ws.releasesOf(VERSION)
  inv = ws.inventory(VERSION, (Object.keys(H) as (keyof typeof H)[]).map((k) => ({host: host(k), name: NAME[k]})))
  const d = await gw(['deploy', '-i', inv, '--json'])
  expect(d.code, d.stdout + d.stderr).toBe(0)
  for (const k of Object.keys(H) as (keyof typeof H)[]) expect(await installs(host(k)), k).toHaveLength(1)
}, 170_000)

afterAll(async () => {
  await lab?.stop()
  if (ws && !process.env.GWFLEET_E2E_KEEP) fs.rmSync(ws.dir, {recursive: true, force: true})
})

describe('values as data and gwfleet diff (lab subnet 36)', () => {
  it('deploys nothing after a comment, quoting, key order and whitespace edit; the host file is the canonical text', async () => {
    const name = NAME.comment
    const before = await host('comment').readFile(`/opt/gwfleet/values/${name}.yaml`)
    const rec = JSON.parse(await host('comment').readFile(`/opt/gwfleet/state/${name}.json`))
    // The host holds exactly the canonical text, and its record carries that text's sha256.
    expect(rec.valuesSha256).toBe(sha(before))
    expect(before).not.toMatch(/^#/m)
    const edited = [
      '# edited by hand: comments, quotes, order and blank lines only',
      'helmRepoPassword: "${env:GW_HELM_PASSWORD}"',
      `tenant: 'tenant-${name}'`,
      'dal: {sources: {files: {folder: "/srv/datasets"}}}',
      '',
      'auth:',
      '    orchestrator:',
      '        clientSecret: ${env:GW_CLIENT_SECRET}   # from the vault',
      `        clientId: "client-${name}"`,
      '    domain:    auth.example.net',
      'helmRepoUsername: ${file:../client-secret.txt}',
      '',
    ].join('\n')
    ws.writeValues(name, edited)
    const diff = await gw(['diff', '-i', inv, '-l', name, '--json'])
    expect(diff.code, diff.stdout + diff.stderr).toBe(0)
    expect(byName(diff)[name]).toMatchObject({status: 'no-changes', action: 'none', values: {state: 'same'}})
    const r = await gw(['deploy', '-i', inv, '-l', name, '--json'])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(byName(r)[name]).toMatchObject({status: 'unchanged', action: 'none'})
    expect(await installs(host('comment'))).toHaveLength(1)
    expect(await host('comment').readFile(`/opt/gwfleet/values/${name}.yaml`)).toBe(before)
  })

  it('migrates a host recorded with the old byte hash without running the installer', async () => {
    const name = NAME.legacy
    const file = path.join(ws.dir, 'values', `${name}.yaml`)
    const text = legacyText(fs.readFileSync(file, 'utf8'), path.dirname(file))
    const rendered = await renderValues(file, {env: {...process.env, ...SECRETS}})
    // What this test writes is what the earlier version uploaded (its hash is the legacy one).
    expect(sha(text)).toBe(rendered.legacySha256)
    expect(rendered.legacySha256).not.toBe(rendered.sha256)
    const h = host('legacy')
    const old = JSON.parse(await h.readFile(`/opt/gwfleet/state/${name}.json`))
    await h.writeFile(`/opt/gwfleet/values/${name}.yaml`, text, 0o600)
    await h.writeFile(`/opt/gwfleet/state/${name}.json`, `${JSON.stringify({gateway: name, version: VERSION, valuesSha256: rendered.legacySha256, deployedAt: old.deployedAt, operator: old.operator, command: 'deploy'})}\n`, 0o600)

    const audit = await gw(['audit', '-i', inv, '-l', name, '--json'])
    expect(audit.code, audit.stdout + audit.stderr).toBe(0)
    expect(byName(audit)[name]).toMatchObject({status: 'in-sync', valuesInSync: true})
    expect(byName(audit)[name].reasons.join(' ')).toMatch(/old byte hash/)

    const plan = await gw(['deploy', '-i', inv, '-l', name, '--dry-run'])
    expect(plan.code, plan.stdout + plan.stderr).toBe(0)
    expect(plan.stdout).toMatch(/would migrate values .*old byte hash/)

    const r = await gw(['deploy', '-i', inv, '-l', name, '--json'])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(byName(r)[name]).toMatchObject({status: 'ok', action: 'none'})
    expect(byName(r)[name].notes.join(' ')).toMatch(/installer did not run/)
    expect(await installs(h)).toHaveLength(1)
    const now = await h.readFile(`/opt/gwfleet/values/${name}.yaml`)
    expect(sha(now)).toBe(rendered.sha256)
    const rec = JSON.parse(await h.readFile(`/opt/gwfleet/state/${name}.json`))
    expect(rec).toMatchObject({valuesSha256: rendered.sha256, version: VERSION, deployedAt: old.deployedAt})
    const hist = (await h.readFile('/opt/gwfleet/state/history.jsonl')).trim().split('\n').map((l) => JSON.parse(l))
    expect(hist.at(-1)).toMatchObject({gateway: name, action: 'migrate values', result: 'ok'})
    // Migrated: the next deploy finds it in sync.
    const again = await gw(['deploy', '-i', inv, '-l', name, '--json'])
    expect(byName(again)[name]).toMatchObject({status: 'unchanged'})
    expect(await installs(h)).toHaveLength(1)
  })

  it('diffs a changed plain value, a changed secret and unchanged secrets, never showing a secret', async () => {
    const name = NAME.diff
    ws.writeValues(name, Workspace.valuesText(name).replace('domain: auth.example.net', 'domain: auth2.example.net').replace('${env:GW_CLIENT_SECRET}', '${env:GW_NEW_SECRET}'))
    const j = await gw(['diff', '-i', inv, '--json'])
    expect(j.code, j.stdout + j.stderr).toBe(1)
    expect(j.json).toMatchObject({command: 'diff', changes: true, summary: {changes: 1, same: 2}})
    const d = byName(j)[name]
    expect(d).toMatchObject({status: 'changes', action: 'reconfigure', fromVersion: VERSION, toVersion: VERSION, hops: [VERSION], values: {state: 'changed'}})
    const byKey = Object.fromEntries((d.values.changes as any[]).map((c) => [c.key, c]))
    expect(byKey['auth.domain']).toEqual({key: 'auth.domain', kind: 'changed', secret: false, from: '"auth.example.net"', to: '"auth2.example.net"'})
    expect(byKey['auth.orchestrator.clientSecret']).toEqual({key: 'auth.orchestrator.clientSecret', kind: 'changed', secret: true})
    expect(byKey.helmRepoPassword).toEqual({key: 'helmRepoPassword', kind: 'unchanged', secret: true})
    expect(byKey.helmRepoUsername).toEqual({key: 'helmRepoUsername', kind: 'unchanged', secret: true})
    expect(Object.keys(byKey).sort()).toEqual(['auth.domain', 'auth.orchestrator.clientSecret', 'helmRepoPassword', 'helmRepoUsername'])

    const t = await gw(['diff', '-i', inv, '-l', name])
    expect(t.code, t.stderr).toBe(1)
    expect(t.stdout).toContain(`${name} (${host('diff').address}): changes`)
    expect(t.stdout).toContain('~ auth.domain: "auth.example.net" -> "auth2.example.net"')
    expect(t.stdout).toContain('~ auth.orchestrator.clientSecret: <secret changed>')
    expect(t.stdout).toContain('= helmRepoPassword: <secret unchanged>')

    // deploy --dry-run --diff prints the same; --diff without --dry-run is bad input.
    const dd = await gw(['deploy', '-i', inv, '-l', name, '--dry-run', '--diff', '--json'])
    expect(dd.code).toBe(1)
    expect(byName(dd)[name].values).toEqual(d.values)
    const bad = await gw(['deploy', '-i', inv, '-l', name, '--diff'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--dry-run/)
    expect(await installs(host('diff'))).toHaveLength(1)

    // After the deploy, nothing is left to change: exit 0.
    const dep = await gw(['deploy', '-i', inv, '-l', name, '--json'])
    expect(dep.code, dep.stdout + dep.stderr).toBe(0)
    const after = await gw(['diff', '-i', inv, '--json'])
    expect(after.code, after.stdout + after.stderr).toBe(0)
    expect(byName(after)[name].values.state).toBe('same')
  })

  it('puts no secret in any output, run folder or file under HOME', () => {
    const secrets = [...Object.values(SECRETS), NEW_SECRET]
    expect(runs.length).toBeGreaterThan(8)
    // The runs did work with the secrets: the diff compared them (else this test proves nothing).
    expect(runs.some((r) => r.stdout.includes('<secret changed>'))).toBe(true)
    expect(findSecrets(runs, [ws.home], secrets)).toEqual([])
    expect(fs.readdirSync(path.join(ws.home, '.gwfleet'), {recursive: true}).some((f) => String(f).endsWith('result.json'))).toBe(true)
  })
})
