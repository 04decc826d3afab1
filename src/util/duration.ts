// Durations as operators write them in flags and the inventory, and as gwfleet writes them back.

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

/** "1h05m", "3m20s", "42s", "2d03h" for a number of seconds (whole seconds, never negative). */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`
}
