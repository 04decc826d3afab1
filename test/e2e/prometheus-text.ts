// A reader of the Prometheus text exposition format, strict enough to catch what a scraper would
// refuse: samples without their TYPE, bad label escapes, duplicate series, non-numeric values.

/** One sample: metric name, labels (unescaped), value. */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

function parseLabels(text: string, line: string): Record<string, string> {
  const out: Record<string, string> = {}
  let i = 0
  while (i < text.length) {
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(text.slice(i))
    if (!m) throw new Error(`bad label at ${i}: ${line}`)
    i += m[0].length
    let v = ''
    for (;;) {
      if (i >= text.length) throw new Error(`unterminated label value: ${line}`)
      const c = text[i++]
      if (c === '"') break
      if (c === '\n') throw new Error(`raw newline in a label value: ${line}`)
      if (c !== '\\') {
        v += c
        continue
      }
      const e = text[i++]
      if (e === 'n') v += '\n'
      else if (e === '\\' || e === '"') v += e
      else throw new Error(`bad escape \\${e}: ${line}`)
    }
    if (m[1] in out) throw new Error(`label ${m[1]} twice: ${line}`)
    out[m[1]] = v
    if (text[i] === ',') i++
    else if (i < text.length) throw new Error(`expected , after a label: ${line}`)
  }
  return out
}

/** Parse a whole file; throws on anything a scraper would refuse. */
export function parseExposition(text: string): {samples: Sample[]; types: Map<string, string>; help: Map<string, string>} {
  if (!text.endsWith('\n')) throw new Error('the file does not end with a newline')
  const types = new Map<string, string>()
  const help = new Map<string, string>()
  const samples: Sample[] = []
  const seen = new Set<string>()
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line)
    if (m) {
      if (m[1] === 'TYPE') {
        if (samples.some((s) => s.name === m![2])) throw new Error(`TYPE after samples: ${line}`)
        types.set(m[2], m[3])
      } else help.set(m[2], m[3])
      continue
    }
    if (line.startsWith('#')) continue
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m) throw new Error(`not a sample: ${line}`)
    if (!types.has(m[1])) throw new Error(`sample before its TYPE: ${line}`)
    const value = Number(m[3])
    if (!Number.isFinite(value)) throw new Error(`bad value: ${line}`)
    const labels = m[2] ? parseLabels(m[2], line) : {}
    const key = `${m[1]}${JSON.stringify(Object.entries(labels).sort())}`
    if (seen.has(key)) throw new Error(`duplicate series: ${line}`)
    seen.add(key)
    samples.push({name: m[1], labels, value})
  }
  return {samples, types, help}
}

/** The value of the one sample of `name` whose labels include `labels` (undefined when none). */
export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`)
  return found[0]?.value
}
