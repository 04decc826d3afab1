// The flags the commands share and the typed flags of single commands, with their defaults: oclif
// parses every command line, and the custom flags here turn a value into what the command uses
// (numbers, seconds, batch lists) or refuse it. A refused value is bad input: exit 2 naming the flag
// (GwCommand.catch), before any file is read or host touched. Each default is set here, once.
import {Flags, type Interfaces} from '@oclif/core'

import {parseVersion} from '../release/version.js'
import type {BatchSpec, MaxFail} from '../runner/rollout.js'
import {durationSeconds} from '../util/duration.js'

/** A flag value that does not parse; `reason` says why, and `flag` (set by oclif's parse) which flag it was. */
export class FlagValueError extends Error {
  flag = ''
  constructor(readonly reason: string) {
    super(reason)
    this.name = 'FlagValueError'
  }
}

/** A whole number from 1 to `max`. */
export function parseCount(s: string, max: number): number {
  if (!/^\d+$/.test(s.trim()) || Number(s) < 1 || Number(s) > max) throw new FlagValueError(`"${s}" must be a whole number from 1 to ${max}`)
  return Number(s)
}

/** Seconds from `90s`, `30m`, `2h`, `1h30m` or plain seconds; more than zero. */
export function parseDuration(s: string): number {
  const n = durationSeconds(s)
  if (n === null) throw new FlagValueError(`"${s}" is not a duration (e.g. 90s, 30m, 1h)`)
  return n
}

/** `N` or `N%` (at most 100%): failures tolerated before no further batch starts. */
export function parseMaxFail(s: string): MaxFail {
  const m = /^(\d+)(%?)$/.exec(s.trim())
  if (!m) throw new FlagValueError(`"${s}" is not a count or a percentage (e.g. 0, 2, 10%)`)
  const n = Number(m[1])
  if (!m[2]) return {count: n}
  if (n > 100) throw new FlagValueError(`percentage "${s}" must be at most 100%`)
  return {percent: n}
}

/**
 * A batch list such as `1,25%` (counts of at least 1, percentages from 1% to 100%), or `all`:
 * every gateway at once, each going on as soon as its own plan is made, which is the empty list
 * (no batches).
 */
export function parseBatchSizes(s: string): BatchSpec[] {
  if (s.trim() === 'all') return []
  const parts = s.split(',').map((p) => p.trim())
  if (parts.some((p) => p === '')) throw new FlagValueError(`empty entry in "${s}"`)
  return parts.map((p) => {
    const m = /^(\d+)(%?)$/.exec(p)
    if (!m) throw new FlagValueError(`"${p}" is not a count or a percentage (e.g. 1,25%)`)
    const n = Number(m[1])
    if (m[2]) {
      if (n < 1 || n > 100) throw new FlagValueError(`percentage "${p}" must be between 1% and 100%`)
      return {percent: n}
    }
    if (n < 1) throw new FlagValueError(`batch size "${p}" must be at least 1`)
    return {count: n}
  })
}

/** A release version X.Y.Z, kept as written. */
export function parseVersionFlag(s: string): string {
  if (!parseVersion(s)) throw new FlagValueError(`"${s}" is not a version X.Y.Z`)
  return s
}

/** `--tail`: a number of lines, or `all`. */
export function parseTail(s: string): number | 'all' {
  if (s === 'all') return 'all'
  if (!/^\d+$/.test(s.trim())) throw new FlagValueError(`"${s}" must be a number of lines or "all"`)
  return Number(s)
}

/** The output formats of `audit`. */
export const AUDIT_FORMATS = ['table', 'json', 'csv', 'prometheus'] as const

/** How audit prints its results. */
export type AuditFormat = (typeof AUDIT_FORMATS)[number]

/** One of the audit formats. */
export function parseFormat(s: string): AuditFormat {
  const f = AUDIT_FORMATS.find((x) => x === s)
  if (!f) throw new FlagValueError(`"${s}" is not one of ${AUDIT_FORMATS.join(', ')}`)
  return f
}

/** An oclif parse function from one of the parsers above: a refusal carries the flag's name. */
function oclifParse<T>(parse: (s: string) => T) {
  return async (input: string, _ctx: unknown, opts: {name: string}): Promise<T> => {
    try {
      return parse(input)
    } catch (e) {
      if (e instanceof FlagValueError) e.flag = `--${opts.name}`
      throw e
    }
  }
}

/** A default written as the operator types it: parsed by the flag's parser, shown as written in --help. */
function typedDefault<T>(parse: (s: string) => T, text: string): {default: T; defaultHelp: () => Promise<string>} {
  return {default: parse(text), defaultHelp: async () => text}
}

const count = (max: number) => Flags.custom<number>({parse: oclifParse((s) => parseCount(s, max)), helpValue: 'N'})
const duration = Flags.custom<number>({parse: oclifParse(parseDuration), helpValue: 'DURATION'})
const batchList = Flags.custom<BatchSpec[]>({parse: oclifParse(parseBatchSizes), helpValue: 'LIST'})

/** -i, -l, -c, --json, --accept-new-host-keys, --connect-timeout, --ask-become-pass. */
export const fleetFlags = {
  inventory: Flags.string({char: 'i', description: 'inventory file (else env GWFLEET_INVENTORY, else ./gwfleet.yaml)', env: 'GWFLEET_INVENTORY', helpValue: 'FILE'}),
  limit: Flags.string({char: 'l', description: 'which gateways: names, globs (eu-*), labels (ring=canary), !x excludes, @failed (what the last run of this command did not finish); comma separated', helpValue: 'SELECTOR'}),
  concurrency: count(10_000)({char: 'c', description: 'hosts worked on at once', default: 64}),
  json: Flags.boolean({description: 'print one JSON document on stdout and nothing else there'}),
  'accept-new-host-keys': Flags.boolean({description: 'trust and record keys of hosts not yet known (a changed key is never accepted)'}),
  'connect-timeout': duration({description: 'longest wait for a host to answer the SSH handshake', ...typedDefault(parseDuration, '15s')}),
  'ask-become-pass': Flags.boolean({
    description:
      'ask the sudo password (become: true) on the terminal before the run starts. It goes only to hosts whose sudo asks for one; there, the login account can see it (anything it runs, a ~/.bashrc function too, reads what is typed to its sudo): use it only with login accounts you trust',
  }),
}

/** --timeout's default, which commands without the flag keep too (they run no step it bounds). */
export const STEP_TIMEOUT = typedDefault(parseDuration, '30m')

/** Flags of the commands that change hosts. */
export const changeFlags = {
  timeout: duration({description: 'longest one remote step may run (90s, 30m); past it the step is stopped on the host', ...STEP_TIMEOUT}),
  'dry-run': Flags.boolean({description: 'connect, read every host and print the plan; change nothing'}),
  'reconnect-window': duration({
    description:
      'after a cut connection while an installer runs, keep reaching the host again for this long (the installer goes on on the host meanwhile); past it the host is unreachable and the next deploy picks the install up',
    ...typedDefault(parseDuration, '10m'),
  }),
  'lock-wait': duration({description: "wait up to this long (5m) for another run's lock on a host instead of failing that host at once"}),
  'max-fail': Flags.custom<MaxFail>({parse: oclifParse(parseMaxFail)})({
    description:
      'failed gateways tolerated (N, or N% of the selected gateways, rounded down); unreachable ones count, across all batches; past it no further batch starts (the running one finishes)',
    helpValue: 'N|N%',
    ...typedDefault(parseMaxFail, '0'),
  }),
}

/** deploy --diff: with --dry-run, print what gwfleet diff prints. */
export const diffFlag = Flags.boolean({description: 'with --dry-run: per gateway the version path and the values key by key, as gwfleet diff prints them (secrets masked)'})

/** --batch-size of deploy and uninstall: all at once unless given. */
export const batchSizeFlag = batchList({
  description: 'batches: a list of counts or percentages of the gateways that need a change (rounded up, at least one), the last one repeating; or all (the default): every gateway at once',
})

/** --batch-size of deploy and upgrade: a canary of one, then the rest. */
export const rolloutBatchSizeFlag = batchList({
  description:
    'batches: counts or percentages of the gateways that need a change (rounded up, at least one), the last one repeating; the default is a canary of one, then the rest; all: every gateway at once, each going on as soon as it is read (--max-fail stops nothing)',
  ...typedDefault(parseBatchSizes, '1,100%'),
})

/** A number of releases to keep, 0 (keep all) to 1000. */
export function parseKeepReleases(s: string): number {
  if (!/^\d+$/.test(s.trim()) || Number(s) > 1000) throw new FlagValueError(`"${s}" must be a whole number from 0 (keep all) to 1000`)
  return Number(s)
}

/** --keep-releases of deploy and upgrade (no default here: the inventory's rollout.keepReleases comes first). */
export const keepReleasesFlag = Flags.custom<number>({parse: oclifParse(parseKeepReleases)})({
  description:
    "releases each host keeps after a successful hop, the one it now runs included; older ones are removed, never one in use (default: the inventory's rollout.keepReleases, else 2: the running one and the one before; 0 keeps all)",
  helpValue: 'N',
})

/** --first of deploy and upgrade. */
export const firstFlag = Flags.string({
  description:
    "which gateways go first: a selector as for --limit (ring=canary, names, globs); they fill the first batches, then the rest follow in inventory order (default: the inventory's rollout.first)",
  helpValue: 'SELECTOR',
})

/** upgrade --to. */
export const toFlag = Flags.custom<string>({parse: oclifParse(parseVersionFlag)})({
  description: 'the version to bring installed gateways to',
  required: true,
  helpValue: 'VERSION',
})

/** audit --output. */
export const outputFlag = Flags.custom<AuditFormat>({parse: oclifParse(parseFormat)})({
  char: 'o',
  description: 'table, json, csv, or prometheus (the node_exporter textfile-collector format)',
  helpValue: 'FORMAT',
  ...typedDefault(parseFormat, 'table'),
})

/** --save of the read-only commands: keep a run folder as the changing commands do. */
export const saveFlag = Flags.boolean({description: 'keep a run folder (a log per host, result.json) under ~/.gwfleet/runs; read-only commands keep none otherwise', default: false})

/** audit --output-file. */
export const outputFileFlag = Flags.string({
  description: 'write the output to FILE instead of stdout, atomically (a temporary file in the same folder, then renamed)',
  helpValue: 'FILE',
})

/** history --last. */
export const lastFlag = count(1_000_000)({char: 'n', description: 'only the N most recent changes'})

/** logs --tail. */
export const tailFlag = Flags.custom<number | 'all'>({parse: oclifParse(parseTail)})({
  description: 'start with the last N lines of each agent pod (default: all)',
  helpValue: 'N',
})

/** The parsed values of the fleet flags. */
export type FleetFlagValues = Interfaces.InferredFlags<typeof fleetFlags>

/** The parsed values of the flags of deploy, upgrade and uninstall that all three have. */
export type ChangeFlagValues = FleetFlagValues & Interfaces.InferredFlags<typeof changeFlags>
