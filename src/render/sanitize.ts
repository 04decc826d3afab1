// Text from a host (installer lines, kubectl output, agent logs, error messages) is shown on the
// operator's terminal and opened in spreadsheets. A host can print escape sequences that move the
// cursor, rewrite the screen, set the window title or hide text, and cells a spreadsheet would run
// as a formula. These pure functions make such text inert where it becomes display text.

/**
 * Terminal escape sequences: CSI (ESC [ or 0x9b, parameters, intermediates, final byte); OSC, DCS,
 * SOS, PM and APC strings up to their terminator (BEL, ESC \ or 0x9c) or, unterminated, the end
 * of the line (so one host's text cannot hide the lines after it);
 * and the other ESC sequences (ESC, intermediates, one final byte: charset changes, reset, ...).
 */
const ESCAPES =
  /(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\n]*?(?:\x07|\x1b\\|\x9c|(?=\n)|$)|\x1b[\x20-\x2f]*[\x30-\x7e]?/g

/** C0 controls but tab and newline, DEL, C1 controls, and the invisible marks that reorder text (bidi). */
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/** Text for the terminal: escape sequences and control characters removed; newlines and tabs kept. */
export function displayText(s: string): string {
  return s.replace(ESCAPES, '').replace(CONTROLS, '')
}

/** One line for the terminal (a table cell, a progress line): as displayText, newlines and tabs become spaces. */
export function displayLine(s: string): string {
  return displayText(s).replace(/[\n\t]/g, ' ')
}

/** At most `width` characters (not bytes), the last one "…" when something was cut. */
export function ellipsize(s: string, width: number): string {
  const chars = [...s]
  if (chars.length <= width) return s
  return width <= 1 ? chars.slice(0, Math.max(0, width)).join('') : `${chars.slice(0, width - 1).join('')}…`
}

/** Characters that JSON leaves as they are but a terminal acts on (DEL, C1 controls, bidi marks, line separators). */
const JSON_UNSAFE = /[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/** JSON text with those characters written as \u escapes: the same data, inert on a terminal. */
export function jsonForTerminal(json: string): string {
  return json.replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** A string token of JSON text already known to be valid (so no raw quote or control character sits in a string). */
const JSON_STRING = /"(?:[^"\\]|\\.)*"/g

/** Control characters, which valid JSON has outside its strings only as whitespace (tab, CR, newline). */
const JSON_SPACE_CONTROLS = /[\x00-\x1f]/g

/**
 * A line of JSON from a host (an agent's log record) made inert with its data kept: each string in
 * it, keys too, as displayText makes it (no escape sequence or control character, also where the
 * JSON wrote them as \u escapes, which a reader such as `jq -r` would turn back into live ones), no
 * control character between the tokens (a CR there rewrites the terminal's line), and what a
 * terminal acts on escaped (jsonForTerminal). Numbers and the rest stay exactly as written, so a
 * large integer keeps its digits. `line` must parse as JSON.
 */
export function inertJsonLine(line: string): string {
  const text = line.trim()
  let out = ''
  let last = 0
  for (const m of text.matchAll(JSON_STRING)) {
    out += text.slice(last, m.index).replace(JSON_SPACE_CONTROLS, '')
    const s = JSON.parse(m[0]) as string
    const clean = displayText(s)
    out += clean === s ? m[0] : JSON.stringify(clean)
    last = m.index + m[0].length
  }
  out += text.slice(last).replace(JSON_SPACE_CONTROLS, '')
  return jsonForTerminal(out)
}

/**
 * A CSV cell a spreadsheet will not run, whichever separator it splits on: the cell, and every part
 * of it after a comma, semicolon or pipe, that starts with =, +, -, @ (after any blanks) gets a
 * leading single quote (OWASP's advice on CSV injection): `x;=cmd|...` opened with `;` would
 * otherwise give a cell `=cmd|...`. Control characters go first, so a tab or carriage return (the
 * other two such prefixes) is never left anywhere in it.
 */
export function csvText(s: string): string {
  const t = displayLine(s).replace(/([,;|])(\s*[=+\-@])/g, "$1'$2")
  return /^\s*[=+\-@]/.test(t) ? `'${t}` : t
}

/** One CSV cell: made inert (csvText), and quoted when it holds a quote, a line break or any separator a spreadsheet may pick. */
export function csvCell(cell: string): string {
  const s = csvText(cell)
  return /[",;\t|\n\r]/.test(s) || s.startsWith("'") ? `"${s.replace(/"/g, '""')}"` : s
}
