// Secrets are replaced before any text leaves the process: output, logs, JSON and errors. A secret
// is masked in every form it can take there, not only as it is: the installer may print the values
// file (YAML-escaped), text with a secret may be put into JSON (JSON-escaped), a multi-line secret
// (a PEM key from ${file:}) reaches the logs one line at a time, and a cluster keeps secrets base64-encoded.

import {stringify} from 'yaml'

const MASK = '[redacted]'
/** Shorter secrets would mask noise. */
const MIN_SECRET = 3
/** A line of a multi-line secret shorter than this carries next to nothing of it. */
const MIN_LINE = 4
/** Base64 forms shorter than this (under 6 bytes of the secret) would match unrelated base64. */
const MIN_BASE64 = 8

/** PEM armour ("-----BEGIN RSA PRIVATE KEY-----", "-----END ...-----"): the same in every key, not secret. */
const PEM_ARMOUR = /^-{3,}\s*(BEGIN|END)\b[^-]*-{3,}$/

/** The text between the quotes of a YAML double-quoted scalar, as the yaml library writes values files. */
function yamlDoubleQuoted(s: string): string {
  const out = stringify(s, {defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN', lineWidth: 0}).replace(/\n$/, '')
  return out.startsWith('"') && out.endsWith('"') ? out.slice(1, -1) : s
}

/** The text between the quotes of a YAML single-quoted scalar. */
function yamlSingleQuoted(s: string): string {
  return s.replace(/'/g, "''")
}

/** The text between the quotes of a JSON string. */
function jsonEscaped(s: string): string {
  return JSON.stringify(s).slice(1, -1)
}

/** A string as it is and as YAML and JSON write it (also JSON holding the YAML form: installer text in an error). */
function escapedForms(s: string): string[] {
  const dq = yamlDoubleQuoted(s)
  const sq = yamlSingleQuoted(s)
  return [s, dq, sq, jsonEscaped(s), jsonEscaped(dq), jsonEscaped(sq)]
}

/** Base64 of a string as it is and as YAML writes it (a values file encoded whole, as a Kubernetes Secret holds it). */
function encodedForms(s: string): string[] {
  return [...new Set([s, yamlDoubleQuoted(s), yamlSingleQuoted(s)])].flatMap(base64Forms)
}

/**
 * The base64 text of a secret wherever it sits in the encoded data: at each of the three byte
 * offsets, the characters that depend on the secret's bytes alone (whole groups of three), and the
 * padded encoding of the secret on its own (a Kubernetes Secret, `user:pass` basic auth).
 */
function base64Forms(s: string): string[] {
  const bytes = Buffer.from(s, 'utf8')
  const out = [bytes.toString('base64')]
  for (const shift of [0, 1, 2]) {
    const enc = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64')
    // The first group holds `shift` bytes of what came before; the last one, unless whole, what comes after.
    const start = shift === 0 ? 0 : 4
    const end = Math.floor((shift + bytes.length) / 3) * 4
    out.push(enc.slice(start, end))
  }
  return out.filter((f) => f.length >= MIN_BASE64)
}

/** True for a line of a multi-line secret that is worth masking on its own. */
function secretLine(line: string): boolean {
  return line.length >= MIN_LINE && !PEM_ARMOUR.test(line)
}

/** A form to mask, and how much of its start a text cut short must end in to be masked (Infinity: never). */
interface Form {
  text: string
  cut: number
}

/**
 * A text cut short (a line shortened for an error, a capped log) may end in the start of a secret.
 * That start is masked when it is at least half the form, or 8 characters; shorter ones would mask
 * ordinary words ending a line. The whole of a multi-line secret starts with what is not secret
 * (PEM armour): only its lines count.
 */
function cutLength(form: string): number {
  return Math.max(MIN_LINE, Math.min(8, Math.ceil(form.length / 2)))
}

/** Every form of a secret to mask, with the start that counts when a text ends inside it. */
function formsOf(secret: string): Form[] {
  const forms = new Map<string, number>()
  const lines = secret.split(/\r?\n/)
  const whole = lines.length > 1 ? Infinity : undefined
  for (const f of [...escapedForms(secret), ...encodedForms(secret)]) forms.set(f, whole ?? cutLength(f))
  if (lines.length > 1) {
    for (const raw of lines) {
      const line = raw.trim()
      if (secretLine(line)) for (const f of [...escapedForms(line), ...encodedForms(line)]) if (!forms.has(f)) forms.set(f, cutLength(f))
    }
  }
  return [...forms].filter(([f]) => f.length >= MIN_SECRET).map(([text, cut]) => ({text, cut}))
}

/** Every form of a secret to mask in output (the secret itself first). */
export function secretForms(secret: string): string[] {
  return formsOf(secret).map((f) => f.text)
}

/** Below this many masks a native search of each one beats the indexed scan (kept for lines with a hit). */
const FEW = 48

/** The first three characters of a mask as one number, the key of the index. */
function head(s: string, i: number): number {
  return s.charCodeAt(i) * 2 ** 32 + s.charCodeAt(i + 1) * 2 ** 16 + s.charCodeAt(i + 2)
}

/** The first two characters of a text at i, folded to 16 bits: a quick, lossy pre-check before the index. */
function pair(s: string, i: number): number {
  return ((s.charCodeAt(i) & 0xff) << 8) | (s.charCodeAt(i + 1) & 0xff)
}

/** Masks every known secret, in every form it can take, in a string; secrets are added as they are resolved. */
export class Redactor {
  private readonly secrets = new Set<string>()
  private readonly forms: Form[] = []
  /** What any text with something to mask holds: each form, or the start of it that counts when cut. */
  private probes: string[] = []
  /** Forms by their first three characters, longest first in each list. */
  private readonly index = new Map<number, Form[]>()
  /** Set for the pair() of every form's start: most places in a text are passed over without a lookup. */
  private readonly starts = new Uint8Array(65536)

  /** Remember secrets to mask (empty and very short strings are ignored: they would mask noise). */
  add(values: Iterable<string>): void {
    for (const v of values) {
      if (typeof v !== 'string' || v.length < MIN_SECRET || this.secrets.has(v)) continue
      this.secrets.add(v)
      for (const f of formsOf(v)) {
        const k = head(f.text, 0)
        const list = this.index.get(k) ?? []
        const known = list.find((o) => o.text === f.text)
        if (known) {
          known.cut = Math.min(known.cut, f.cut)
          continue
        }
        list.push(f)
        // Longest first, so a secret that contains another is masked whole.
        list.sort((a, b) => b.text.length - a.text.length)
        this.index.set(k, list)
        this.starts[pair(f.text, 0)] = 1
        this.forms.push(f)
      }
    }
    this.probes = this.forms.map((f) => f.text.slice(0, Math.min(f.text.length, f.cut)))
  }

  /** The text with every form of every secret replaced, leftmost first, the longest at each place. */
  redact(text: string): string {
    if (this.forms.length === 0 || text.length < MIN_SECRET) return text
    // Few forms: a native search finds the lines with nothing to mask (most of them) at once.
    if (this.forms.length <= FEW && !this.probes.some((p) => text.includes(p))) return text
    let out = ''
    let done = 0
    for (let i = 0; i + MIN_SECRET <= text.length; ) {
      const list = this.starts[pair(text, i)] === 1 ? this.index.get(head(text, i)) : undefined
      if (list === undefined) {
        i++
        continue
      }
      const hit = list.find((f) => text.startsWith(f.text, i))
      if (hit !== undefined) {
        out += text.slice(done, i) + MASK
        i += hit.text.length
        done = i
        continue
      }
      const rest = text.length - i
      if (list.some((f) => f.text.length > rest && rest >= f.cut && f.text.startsWith(text.slice(i)))) {
        // The text was cut inside a secret: its start goes too.
        out += text.slice(done, i) + MASK
        done = text.length
        break
      }
      i++
    }
    return done === 0 ? text : out + text.slice(done)
  }

  /** How many secrets are known. */
  get size(): number {
    return this.secrets.size
  }
}

/**
 * The part of an error message gwfleet wrote itself, for records kept on a host (history): every
 * gwfleet message puts what came from elsewhere (an installer's last line, a remote or network
 * error) after its first ": ", so only the text before it is kept, at most 160 characters.
 */
export function ownWords(error: string): string {
  const cut = error.indexOf(': ')
  const own = (cut === -1 ? error : error.slice(0, cut)).replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim()
  return own.length > 160 ? `${own.slice(0, 159)}…` : own
}
