// What each command does once its flags and args are parsed, by command id. The oclif command
// classes and the fast start path (fast.ts) both call this table, so a command line does the same
// thing whichever of them parsed it. Nothing here may import @oclif/core.
import type {FleetFlagValues} from './flags.js'
import type {HistoryFlagValues, LogsFlagValues} from './ops.js'

/** Parsed flags and args as oclif gives them: flags without a value are absent. */
export type ParsedFlags = Record<string, string | boolean | undefined>
export type ParsedArgs = Record<string, string | undefined>

/** Runs a parsed command line; resolves to the exit code. Errors are reported here, not thrown. */
export type Action = (flags: ParsedFlags, args: ParsedArgs) => Promise<number>

type Actions = typeof import('./actions.js')
type Ops = typeof import('./ops.js')
type Module = Actions | Ops

/** An action from a module loaded when the command runs; its errors become a report and an exit code. */
function from<M extends Module>(load: () => Promise<M>, run: (m: M, flags: ParsedFlags, args: ParsedArgs) => Promise<number>): Action {
  return async (flags, args) => {
    const m = await load()
    return run(m, flags, args).catch((e) => m.reportError(e, flags.json === true))
  }
}

const actions = () => import('./actions.js')
const ops = () => import('./ops.js')
const fleet = (f: ParsedFlags) => f as unknown as FleetFlagValues

export const COMMANDS: Record<string, Action> = {
  audit: from(actions, (m, f) => m.auditCommand(fleet(f))),
  deploy: from(actions, (m, f) => m.changeCommand('deploy', fleet(f))),
  upgrade: from(actions, (m, f) => m.changeCommand('upgrade', fleet(f))),
  uninstall: from(actions, (m, f) => m.changeCommand('uninstall', fleet(f))),
  preflight: from(ops, (m, f) => m.preflightCommand(fleet(f))),
  status: from(ops, (m, f, a) => m.statusCommand(a.gateway, fleet(f))),
  logs: from(ops, (m, f, a) => m.logsCommand(a.gateway as string, f as unknown as LogsFlagValues)),
  history: from(ops, (m, f, a) => m.historyCommand(a.gateway, f as unknown as HistoryFlagValues)),
  'locks:list': from(ops, (m, f) => m.locksCommand('list', fleet(f))),
  'locks:clear': from(ops, (m, f) => m.locksCommand('clear', f as unknown as FleetFlagValues & {yes?: boolean})),
}

/**
 * Output that cannot be written (`| head -1` left, the terminal closed: EPIPE, EIO) is dropped
 * quietly: the run still completes on the hosts, writes its run folder and releases its locks.
 */
export function dropUnwritableOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.removeAllListeners('error')
    stream.on('error', () => undefined)
  }
}

/** Runs command `id` with its parsed flags and args and sets the process exit code. */
export async function runParsed(id: string, flags: ParsedFlags, args: ParsedArgs = {}): Promise<void> {
  dropUnwritableOutput()
  process.exitCode = await COMMANDS[id](flags, args)
}
