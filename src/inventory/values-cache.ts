// What checking and rendering a values file found, remembered by the file's bytes. A values file
// without ${env:}/${file:} references renders the same every time, so an unchanged one is not
// parsed again: its rendered sha256 and the facts gwfleet reads from it come from here, and its
// text is rendered only when a host needs it uploaded. Nothing secret is kept: hashes, booleans
// and two paths.
import {createHash} from 'node:crypto'
import {mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {gwfleetHome} from '../util/local.js'

/** Bump when rendering or checking values changes (test/unit/inventory-values.test.ts pins it). */
export const VALUES_RENDER_FORMAT = 'gwfleet-values-1'

/** The version in the nearest package.json named `name` at or above `dir`. */
function versionAbove(dir: string, name: string): string {
  for (let d = dir, i = 0; i < 6; i++, d = path.dirname(d)) {
    try {
      const p = JSON.parse(readFileSync(path.join(d, 'package.json'), 'utf8')) as {name?: string; version?: string}
      if (p.name === name) return String(p.version)
    } catch {
      // not here
    }
  }
  return 'unknown'
}

/** Set by the fast start bundle (scripts/bundle-fast.mjs): the version of the yaml bundled with it. */
declare const GWFLEET_BUNDLED_YAML: string | undefined

/** The version of the yaml code this process runs: the bundled copy's, else the installed one's. */
function yamlVersion(): string {
  if (typeof GWFLEET_BUNDLED_YAML === 'string') return GWFLEET_BUNDLED_YAML
  try {
    return String((JSON.parse(readFileSync(createRequire(import.meta.url).resolve('yaml/package.json'), 'utf8')) as {version?: string}).version)
  } catch {
    return 'unknown'
  }
}

/** What rendering depends on besides the file: the format, gwfleet's checks and yaml's output. */
function renderer(): string {
  return `${VALUES_RENDER_FORMAT} gwfleet@${versionAbove(path.dirname(fileURLToPath(import.meta.url)), 'gwfleet')} yaml@${yamlVersion()}`
}

/** At most this many files are remembered; the oldest are dropped first. */
const MAX_ENTRIES = 5000

/** What a checked, rendered values file without references gave. */
export interface ValuesFacts {
  sha256: string
  ciliumEnabled: boolean
  datasetsFolder?: string
  dalStoragePath?: string
}

export class ValuesCache {
  private changed = false

  private constructor(
    private readonly file: string | null,
    private readonly entries: Map<string, ValuesFacts>,
    private readonly format: string,
  ) {}

  /** The cache in $GWFLEET_HOME/cache (empty when missing or unreadable). */
  static load(file = path.join(gwfleetHome(), 'cache', 'values.json')): ValuesCache {
    const entries = new Map<string, ValuesFacts>()
    const format = renderer()
    try {
      const doc = JSON.parse(readFileSync(file, 'utf8')) as {format?: string; entries?: Record<string, ValuesFacts>}
      if (doc.format === format && doc.entries && typeof doc.entries === 'object') {
        for (const [k, v] of Object.entries(doc.entries)) if (typeof v?.sha256 === 'string' && typeof v.ciliumEnabled === 'boolean') entries.set(k, v)
      }
    } catch {
      // no cache yet, or not readable: everything is rendered
    }
    return new ValuesCache(file, entries, format)
  }

  /** A cache that only lives in memory. */
  static memory(): ValuesCache {
    return new ValuesCache(null, new Map(), renderer())
  }

  /** The key for a file's text. */
  key(text: string): string {
    return createHash('sha256').update(`${this.format}\0${text}`, 'utf8').digest('hex')
  }

  get(key: string): ValuesFacts | undefined {
    return this.entries.get(key)
  }

  set(key: string, facts: ValuesFacts): void {
    if (this.entries.has(key)) return
    this.entries.set(key, facts)
    while (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!)
    this.changed = true
  }

  /** Write it back (temp file, then rename) when something was added; failures are ignored. */
  save(): void {
    if (!this.file || !this.changed) return
    try {
      mkdirSync(path.dirname(this.file), {recursive: true, mode: 0o700})
      const tmp = `${this.file}.${process.pid}.tmp`
      writeFileSync(tmp, JSON.stringify({format: this.format, entries: Object.fromEntries(this.entries)}), {mode: 0o600})
      renameSync(tmp, this.file)
      this.changed = false
    } catch {
      // a read-only home: the next run renders again
    }
  }
}
