// `gwfleet validate`: every check a deploy makes on the workstation, for CI, without a fleet. It
// opens no SSH connection and reads no host: the inventory, each values file and its secret
// references, the release zips a run may need, the upgrade ways to each desired version, and
// whether ~/.ssh/config routes a gateway in a way gwfleet cannot follow (ProxyCommand, Match).
import {InputError} from '../errors.js'
import {renderValues, unknownKeyText, valuesKeyWarnings, valuesReferences, type UnknownValuesKey, type ValuesReference} from '../inventory/index.js'
import {planHops} from '../release/policy.js'
import {checkRelease, findRelease, releaseFileName} from '../release/releases.js'
import {compareVersions, formatSeries, parseVersion} from '../release/version.js'
import {table} from '../render/output.js'
import {jsonForTerminal} from '../render/sanitize.js'
import {Redactor} from '../runner/redact.js'
import {missingRelease, releaseNeeds} from '../release/needs.js'
import {loadUserSshConfig} from '../ssh/sshconfig.js'
import {resolveTarget} from '../ssh/target.js'
import {homeDir} from '../util/local.js'
import {EXIT, inputProblemOf, loadGateways, tableView, write} from './common.js'

/** One values file: the gateways using it, whether it renders, and its secret references (never their values). */
export interface ValuesCheck {
  file: string
  gateways: string[]
  ok: boolean
  error: string | null
  references: ValuesReference[]
  /** Keys the vendor's installation guide does not document (warnings; errors with --strict). */
  unknownKeys: UnknownValuesKey[]
}

/** One release zip a run may need. */
export interface ReleaseCheck {
  version: string
  file: string
  /** `target`: a version gateways are brought to; `hop`: installed only on the way to one. */
  role: 'target' | 'hop'
  ok: boolean
  error: string | null
}

/** The way to a desired version from a host on one older series the folder holds. */
export interface WayCheck {
  to: string
  from: string
  hops: string[] | null
  refused: string | null
}

/** The validate JSON document. */
export interface ValidateReport {
  command: 'validate'
  ok: boolean
  inventory: {file: string; gateways: number; selected: number}
  values: ValuesCheck[]
  releases: ReleaseCheck[]
  policy: WayCheck[]
  problems: string[]
  warnings: string[]
  /** --strict: values keys the vendor guide does not know are problems. */
  strict: boolean
}

/** validate: returns 0 when a deploy of the selection would accept all its input, else 2. */
export async function validateCommand(flags: {inventory?: string; limit?: string; json: boolean; strict?: boolean}): Promise<number> {
  const report = await validate(flags)
  const redactor = new Redactor()
  // The checks never put a value into the report; this keeps it so should one ever slip through.
  for (const s of report.secrets) redactor.add([s])
  const doc = report.doc
  if (flags.json) write(jsonForTerminal(redactor.redact(JSON.stringify(doc, null, 2))))
  else {
    write(validateTable(doc, tableView((s) => redactor.redact(s))))
    const counts = `${doc.problems.length} problem(s), ${doc.warnings.length} warning(s)`
    write(`\n${doc.ok ? 'valid' : 'not valid'}: ${counts}`)
    for (const p of doc.problems) process.stderr.write(`gwfleet: error: ${redactor.redact(p)}\n`)
    for (const w of doc.warnings) process.stderr.write(`gwfleet: warning: ${redactor.redact(w)}\n`)
  }
  return doc.ok ? EXIT.ok : EXIT.badInput
}

/**
 * Runs every check; an inventory that does not load is thrown (bad input), the rest is collected.
 * Values keys the vendor guide does not know are warnings, or problems with `strict`.
 */
export async function validate(flags: {inventory?: string; limit?: string; strict?: boolean}, env: NodeJS.ProcessEnv = process.env): Promise<{doc: ValidateReport; secrets: string[]}> {
  const {inventory, gateways} = await loadGateways(flags, 'validate')
  const problems: string[] = []
  const warnings: string[] = []
  const secrets: string[] = []

  // Values: each file once, however many gateways share it.
  const byFile = new Map<string, string[]>()
  for (const g of gateways) {
    // A values file that cannot be read is reported where the inventory names it.
    const bad = inputProblemOf(g)
    if (bad) {
      if (!problems.includes(bad.message)) problems.push(bad.message)
      continue
    }
    // A state: absent gateway may name no values.
    if (g.valuesFile === '') continue
    byFile.set(g.valuesFile, [...(byFile.get(g.valuesFile) ?? []), g.name])
  }
  const values: ValuesCheck[] = []
  for (const [file, names] of byFile) {
    const check: ValuesCheck = {file, gateways: names, ok: true, error: null, references: [], unknownKeys: []}
    try {
      check.references = await valuesReferences(file, {env, inventory: inventory.file})
      check.unknownKeys = valuesKeyWarnings(file, {inventory: inventory.file})
      for (const u of check.unknownKeys) (flags.strict ? problems : warnings).push(`${unknownKeyText(u)}${flags.strict ? ' (--strict)' : ''}`)
      const rendered = await renderValues(file, {env, inventory: inventory.file})
      secrets.push(...rendered.secrets)
    } catch (e) {
      if (!(e instanceof InputError)) throw e
      check.ok = false
      check.error = e.message
      problems.push(e.message)
    }
    for (const r of check.references) {
      if (r.resolvable) continue
      const msg = `${file}:${r.line} (${r.key}): ${r.problem}`
      // renderValues stops at the first; report each one, once.
      if (!problems.includes(msg)) problems.push(msg)
    }
    values.push(check)
  }

  // Releases: the targets must be there; every zip a run may install must be whole.
  const releases: ReleaseCheck[] = []
  const policy: WayCheck[] = []
  try {
    const needs = await releaseNeeds(inventory, gateways, undefined)
    const available = needs.releases.map((r) => r.version)
    for (const [version, where] of needs.targets) {
      if (findRelease(needs.releases, version)) continue
      const err = missingRelease(inventory, version, where)
      problems.push(err.message)
      releases.push({version, file: `${inventory.releaseDir}/${releaseFileName(version)}`, role: 'target', ok: false, error: err.message})
    }
    for (const version of needs.needed) {
      const ref = findRelease(needs.releases, version)!
      const check: ReleaseCheck = {version, file: ref.path, role: needs.targets.has(version) ? 'target' : 'hop', ok: true, error: null}
      try {
        await checkRelease(ref)
      } catch (e) {
        if (!(e instanceof InputError)) throw e
        check.ok = false
        check.error = e.message
        problems.push(e.message)
      }
      releases.push(check)
    }
    for (const to of needs.targets.keys()) {
      for (const way of waysTo(to, available)) {
        policy.push(way)
        if (way.refused) warnings.push(`a gateway on ${way.from} cannot be brought to ${to}: ${way.refused}`)
      }
    }
  } catch (e) {
    if (!(e instanceof InputError)) throw e
    problems.push(e.message)
  }

  // Reaching the hosts: the same refusal a run makes before it contacts any host.
  try {
    const sshConfig = await loadUserSshConfig({home: homeDir(env)})
    for (const g of gateways) {
      try {
        resolveTarget(g, sshConfig)
      } catch (e) {
        if (!(e instanceof InputError)) throw e
        if (!problems.includes(e.message)) problems.push(e.message)
      }
    }
  } catch (e) {
    if (!(e instanceof InputError)) throw e
    problems.push(e.message)
  }

  const doc: ValidateReport = {
    command: 'validate',
    ok: problems.length === 0,
    inventory: {file: inventory.file, gateways: inventory.gateways.length, selected: gateways.length},
    values,
    releases,
    policy,
    problems,
    warnings,
    strict: Boolean(flags.strict),
  }
  return {doc, secrets}
}

/**
 * The way to `to` for a host on each older series the folder holds (`1.4.x`), as the upgrade
 * policy plans it. A series whose way is refused is a warning: no host may run it.
 */
export function waysTo(to: string, available: string[]): WayCheck[] {
  const target = parseVersion(to)
  if (!target) return []
  const series = new Map<string, string>()
  for (const a of available) {
    const v = parseVersion(a)
    if (!v || compareVersions(v, target) >= 0) continue
    // The way depends on the installed series only; its .0 stands for every patch of it.
    series.set(formatSeries(v), `${v.major}.${v.minor}.0`)
  }
  return [...series.entries()]
    .sort((a, b) => compareVersions(b[1], a[1]))
    .map(([name, installed]) => {
      const plan = planHops(installed, to, available)
      const from = `${name}.x`
      if (plan.kind === 'refused') return {to, from, hops: null, refused: plan.reason.replace(`from ${installed} `, `from ${from} `)}
      return {to, from, hops: plan.kind === 'upgrade' ? plan.hops : [], refused: null}
    })
}

/** The validate table: one row per check, problems first. */
export function validateTable(doc: ValidateReport, view: Parameters<typeof table>[2] = {}): string {
  const rows: string[][] = []
  rows.push(['inventory', doc.inventory.file, 'ok', `${doc.inventory.gateways} gateway(s), ${doc.inventory.selected} selected`])
  for (const v of doc.values) {
    const refs = v.references.length
    const resolved = v.references.filter((r) => r.resolvable).length
    rows.push(['values', v.file, v.ok ? 'ok' : 'error', v.error ?? `for ${v.gateways.join(', ')}; ${resolved} of ${refs} secret reference(s) resolve`])
    for (const u of v.unknownKeys) {
      rows.push(['values key', `${u.key} (line ${u.line})`, doc.strict ? 'error' : 'warning', `not in the vendor installation guide${u.suggestion ? `; did you mean ${u.suggestion}?` : ''}`])
    }
    for (const r of v.references) {
      rows.push(['secret', `${r.ref} (line ${r.line}, ${r.key})`, r.resolvable ? 'resolvable' : 'error', r.resolvable ? '' : (r.problem ?? '')])
    }
  }
  for (const r of doc.releases) rows.push(['release', r.file, r.ok ? 'ok' : 'error', r.error ?? (r.role === 'target' ? `target ${r.version}` : `hop on the way`)])
  for (const w of doc.policy) rows.push(['policy', `${w.from} -> ${w.to}`, w.refused ? 'warning' : 'ok', w.refused ?? (w.hops!.join(' > ') || '-')])
  const rank = (status: string) => (status === 'error' ? 0 : status === 'warning' ? 1 : 2)
  const order = ['inventory', 'values', 'values key', 'secret', 'release', 'policy']
  rows.sort((a, b) => rank(a[2]!) - rank(b[2]!) || order.indexOf(a[0]!) - order.indexOf(b[0]!))
  return table(['CHECK', 'SUBJECT', 'RESULT', 'DETAIL'], rows, view)
}
