// Secrets are replaced before any text leaves the process: output, logs, JSON and errors.

const MASK = '[redacted]'

/** Masks every known secret in a string; secrets are added as they are resolved. */
export class Redactor {
  private secrets: string[] = []

  /** Remember secrets to mask (empty and very short strings are ignored: they would mask noise). */
  add(values: Iterable<string>): void {
    for (const v of values) {
      if (typeof v !== 'string' || v.length < 3 || this.secrets.includes(v)) continue
      this.secrets.push(v)
    }
    // Longest first, so a secret that contains another is masked whole.
    this.secrets.sort((a, b) => b.length - a.length)
  }

  /** The text with every secret replaced. */
  redact(text: string): string {
    let out = text
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join(MASK)
    return out
  }

  get size(): number {
    return this.secrets.length
  }
}
