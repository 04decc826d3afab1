// Reading a gateway's deployed values file back, for `gwfleet diff`. The file holds secrets: it is
// printed base64-framed on stdout only (never on a command line, never on stderr), bounded in
// size, and only when it is a regular file root owns and nobody else may write. Its text must
// never reach a log or an error: callers parse it and show only the masked key-by-key diff.
import {shq} from '../ssh/quote.js'
import {layout} from './layout.js'
import {parseKv} from './scripts.js'

/** The largest values file read back (its base64 stays well within what a probe may print). */
export const HOST_VALUES_LIMIT = 4 * 1024 * 1024

/**
 * Lines to append after probeScript (same shell, same round trip): it relies on the probe's
 * gw_safe, set only when remoteDir is safe for root to use. Reads the values as last applied (the
 * copy kept beside the record) when there is one, else the values file: gw.hv_from says which.
 * Prints gw.hv=absent | unsafe | too-large SIZE | not-root-owned, or gw.hv=ok with the file in
 * gw.hv_b64= lines.
 */
export function hostValuesBody(remoteDir: string, gateway: string, limit = HOST_VALUES_LIMIT): string {
  const L = layout(remoteDir, gateway)
  const [v, a] = [shq(L.values), shq(L.applied)]
  return [
    `f=${v}; if [ -n "\${gw_safe:-}" ] && [ -f ${a} ] && [ ! -L ${a} ]; then f=${a}; echo gw.hv_from=applied; else echo gw.hv_from=values; fi`,
    'if [ -z "${gw_safe:-}" ]; then echo gw.hv=unsafe',
    'elif [ -L "$f" ] || { [ -e "$f" ] && [ ! -f "$f" ]; }; then echo gw.hv=not-a-file',
    'elif [ ! -f "$f" ]; then echo gw.hv=absent',
    'elif [ -n "$(find "$f" -maxdepth 0 \\( ! -user 0 -o -perm /022 \\) -print 2>/dev/null)" ]; then echo gw.hv=not-root-owned',
    'else',
    '  gw_hs=$(stat -c %s -- "$f" 2>/dev/null || echo 0)',
    `  if [ "$gw_hs" -gt ${limit} ]; then echo "gw.hv=too-large $gw_hs"`,
    // head bounds the read even if the file grew since the stat; base64 prints short lines.
    `  else echo gw.hv=ok; head -c ${limit + 1} -- "$f" | base64 | sed 's/^/gw.hv_b64=/'; fi`,
    'fi',
    'echo gw.hv_end=1',
  ].join('\n')
}

/** What the host said of its values file. */
export type HostValues =
  | {kind: 'ok'; text: string; /** The copy kept as last applied, or the values file itself. */ from?: 'applied' | 'values'}
  | {kind: 'absent' | 'unsafe' | 'not-a-file' | 'not-root-owned' | 'unreadable'}
  | {kind: 'too-large'; size: number}

/** Pure: the values file from hostValuesBody's output (the probe's lines around it are ignored). */
export function parseHostValues(stdout: string, limit = HOST_VALUES_LIMIT): HostValues {
  const kv = parseKv(stdout)
  if (kv.get('hv_end')?.[0] !== '1') return {kind: 'unreadable'}
  const state = kv.get('hv')?.[0] ?? ''
  if (state === 'ok') {
    const data = Buffer.from((kv.get('hv_b64') ?? []).join(''), 'base64')
    if (data.length > limit) return {kind: 'too-large', size: data.length}
    return {kind: 'ok', text: data.toString('utf8'), from: kv.get('hv_from')?.[0] === 'applied' ? 'applied' : 'values'}
  }
  const big = /^too-large (\d+)$/.exec(state)
  if (big) return {kind: 'too-large', size: Number(big[1])}
  if (state === 'absent' || state === 'unsafe' || state === 'not-a-file' || state === 'not-root-owned') return {kind: state}
  return {kind: 'unreadable'}
}
