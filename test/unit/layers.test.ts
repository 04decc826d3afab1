// The source's layers only point down, and no module imports itself around a circle. Read from the
// import statements of src/ and commands/, so a new upward import fails here, not in review.
import fs from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

const ROOT = path.resolve(import.meta.dirname, '../..')

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), {withFileTypes: true}).flatMap((e) => {
    const rel = path.join(dir, e.name)
    if (e.isDirectory()) return sources(rel)
    return e.name.endsWith('.ts') ? [rel] : []
  })
}

/** Each source file's relative imports (type-only ones too: they shape the layers as much), resolved to files. */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>()
  for (const file of [...sources('src'), ...sources('commands')]) {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8')
    const deps = [...text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)].map((m) => path.join(path.dirname(file), m[1].replace(/\.js$/, '.ts')))
    g.set(file, deps)
  }
  return g
}

describe('layers', () => {
  const g = graph()

  it('finds the sources and their imports', () => {
    expect(g.size).toBeGreaterThan(40)
    expect(g.get('src/runner/change.ts')).toContain('src/runner/phases.ts')
    for (const deps of g.values()) for (const d of deps) expect(g.has(d), d).toBe(true)
  })

  it('nothing in the lower layers imports runner/, cli/ or render/', () => {
    const lower = /^src\/(steps|remote|ssh|release|inventory|host|plan|preflight|util)\//
    const upper = /^src\/(runner|cli|render)\//
    const wrong = [...g].flatMap(([file, deps]) => (lower.test(file) ? deps.filter((d) => upper.test(d)).map((d) => `${file} -> ${d}`) : []))
    expect(wrong).toEqual([])
  })

  it('no import circle', () => {
    const circles: string[] = []
    const state = new Map<string, 'open' | 'done'>()
    const walk = (file: string, trail: string[]) => {
      if (state.get(file) === 'done') return
      if (state.get(file) === 'open') {
        circles.push([...trail.slice(trail.indexOf(file)), file].join(' -> '))
        return
      }
      state.set(file, 'open')
      for (const d of g.get(file) ?? []) walk(d, [...trail, file])
      state.set(file, 'done')
    }
    for (const file of g.keys()) walk(file, [])
    expect(circles).toEqual([])
  })
})
