// Durations as operators write them in flags and the inventory.

/** Seconds from `90s`, `30m`, `2h`, `1h30m` or plain seconds; null when it is not a duration above zero. */
export function durationSeconds(s: string): number | null {
  const t = s.trim()
  if (/^\d+$/.test(t)) return Number(t) > 0 ? Number(t) : null
  const re = /(\d+)(h|m|s)/gy
  let total = 0
  let consumed = 0
  let m: RegExpExecArray | null
  while ((m = re.exec(t))) {
    total += Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1)
    consumed = re.lastIndex
  }
  return consumed === t.length && t.length > 0 && total > 0 ? total : null
}
