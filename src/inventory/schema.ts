// The inventory's JSON Schema (draft-07, what editors' YAML language servers read), generated from
// the zod schema load.ts validates with, so the two cannot disagree on keys or types. Checks that
// are code (host names, jump syntax, remoteDir rules) stay in load.ts; the schema carries what
// JSON Schema can say, plus descriptions for completion.
import {z} from 'zod'

import {VERSION_PATTERN} from '../release/version.js'
import {inventorySchema, semverSchema} from './load.js'

/** A JSON Schema node (the subset this module writes). */
export type JsonSchema = {[key: string]: unknown}

// Shown by editors on hover and completion; keyed by the dotted path, `*` for a map's entries.
const DESCRIPTIONS: Record<string, string> = {
  release: 'Where the vendor release zips are and the version deploy brings gateways to.',
  'release.dir': 'Folder holding apheris-gateway-<VERSION>.zip files; relative to this file.',
  'release.version': 'The version `gwfleet deploy` brings gateways to (X.Y.Z).',
  defaults: 'Any gateway field except host; a gateway\'s own value wins.',
  gateways: 'The gateways, by name (letters, digits, ".", "_", "-").',
  host: 'SSH host name or address of the gateway host.',
  port: 'SSH port (default: ~/.ssh/config, else 22).',
  user: 'SSH user (default: ~/.ssh/config, else the local user).',
  identityFile: 'Private key file (~ expanded; relative to this file); else ssh-agent, then ~/.ssh defaults.',
  knownHosts: 'Extra known_hosts file, checked besides ~/.ssh/known_hosts.',
  become: 'true: reach root through sudo.',
  remoteDir: 'Absolute folder on the host for releases, values and state (default /opt/gwfleet).',
  jump: 'ProxyJump: [user@]host[:port], a comma chain allowed.',
  version: 'Pins the version (X.Y.Z); overrides release.version.',
  values: 'The gateway\'s values file (vendor YAML; ${env:NAME} and ${file:PATH} references allowed).',
  labels: 'Labels for --limit selectors (ring=canary).',
  state: 'absent: deploy removes the gateway from its host (asking as uninstall does) and audit expects nothing there; default present.',
  hooks: 'Local commands run on the workstation at points of deploy, upgrade and uninstall.',
  'hooks.before-run': 'Runs once before any host is contacted; when it fails no host is touched.',
  'hooks.before-host': 'Runs per gateway that will change, before anything on it changes; when it fails that gateway fails.',
  'hooks.after-host': 'Runs per gateway after its change ended (GWFLEET_STATUS has the outcome).',
  'hooks.after-batch': 'Runs after each batch.',
  'hooks.after-run': 'Runs once at the end.',
  rollout: 'How deploy and upgrade roll out.',
  'rollout.first': 'Default for --first: a selector (ring=canary, names, globs) whose gateways fill the first batches, before the rest in inventory order.',
  'rollout.keepReleases': 'Default for --keep-releases: how many releases each host keeps after a successful hop, the one it runs included (default 2: it and the one before; 0 keeps all).',
  command: 'A command for sh -c, run in the inventory\'s folder.',
  timeout: 'Stop the hook after this long (90s, 5m; default 5m).',
}

/** The inventory's JSON Schema, generated from the zod schema. */
export function inventoryJsonSchema(): JsonSchema {
  const root = toJson(inventorySchema, [])
  // load.ts checks these in code: a gateway must name its host, and the map must not be empty.
  const gateways = (root.properties as Record<string, JsonSchema>).gateways!
  gateways.minProperties = 1
  const gateway = gateways.additionalProperties as JsonSchema
  gateway.required = ['host']
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'gwfleet inventory',
    ...root,
  }
}

function describe(path: string[], out: JsonSchema): JsonSchema {
  const last = path[path.length - 1]
  const text = DESCRIPTIONS[path.join('.')] ?? (last !== undefined ? DESCRIPTIONS[last] : undefined)
  return text && path[0] !== '*key' ? {description: text, ...out} : out
}

/** A zod 4 schema's definition, as far as this walk reads it. */
type Def = {type: string; checks?: {_zod: {def: {check: string; [k: string]: any}}}[]; [k: string]: any}
const defOf = (schema: z.core.$ZodType): Def => schema._zod.def as unknown as Def

function toJson(schema: z.core.$ZodType, path: string[]): JsonSchema {
  if (schema === semverSchema) return describe(path, {type: 'string', pattern: VERSION_PATTERN})
  const def = defOf(schema)
  // Refinements ('custom' checks) are code; the type under them is what JSON Schema can say.
  const checks = (def.checks ?? []).map((c) => c._zod.def).filter((c) => c.check !== 'custom')
  switch (def.type) {
    case 'optional':
      return toJson(def.innerType, path)
    case 'string': {
      const out: JsonSchema = {type: 'string'}
      for (const c of checks) {
        if (c.check === 'min_length') out.minLength = c.minimum
        else if (c.check === 'max_length') out.maxLength = c.maximum
        else if (c.check === 'string_format' && c.format === 'regex') out.pattern = (c.pattern as RegExp).source
        else throw new Error(`inventory schema: string check ${c.check} has no JSON Schema form`)
      }
      return describe(path, out)
    }
    case 'number': {
      const out: JsonSchema = {type: 'number'}
      for (const c of checks) {
        if (c.check === 'number_format' && (c.format === 'safeint' || c.format === 'int32')) out.type = 'integer'
        else if (c.check === 'greater_than') out[c.inclusive ? 'minimum' : 'exclusiveMinimum'] = c.value
        else if (c.check === 'less_than') out[c.inclusive ? 'maximum' : 'exclusiveMaximum'] = c.value
        else throw new Error(`inventory schema: number check ${c.check} has no JSON Schema form`)
      }
      return describe(path, out)
    }
    case 'boolean':
      return describe(path, {type: 'boolean'})
    case 'enum':
      return describe(path, {type: 'string', enum: Object.values(def.entries as Record<string, string>)})
    case 'object': {
      const properties: Record<string, JsonSchema> = {}
      const required: string[] = []
      for (const [key, value] of Object.entries(def.shape as Record<string, z.core.$ZodType>)) {
        properties[key] = toJson(value, [...path, key])
        if (value._zod.optin !== 'optional') required.push(key)
      }
      const out: JsonSchema = {type: 'object', properties}
      if (required.length) out.required = required
      // .strict(): every other key is refused (zod 4 says so with a catch-all that accepts nothing).
      if (def.catchall && defOf(def.catchall).type === 'never') out.additionalProperties = false
      return describe(path, out)
    }
    case 'record': {
      const names = toJson(def.keyType, ['*key'])
      delete names.type
      const out: JsonSchema = {type: 'object', additionalProperties: toJson(def.valueType, [...path, '*'])}
      if (Object.keys(names).length) out.propertyNames = names
      return describe(path, out)
    }
    case 'union':
      return describe(path, {anyOf: (def.options as z.core.$ZodType[]).map((o) => toJson(o, path))})
    default:
      throw new Error(`inventory schema: a zod ${def.type} has no JSON Schema form`)
  }
}
