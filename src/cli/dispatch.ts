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

export const COMMANDS: Record<string, Action> = {
  async audit(flags) {
    const f = flags as unknown as FleetFlagValues
    const {auditCommand, reportError} = await import('./actions.js')
    return auditCommand(f).catch((e) => reportError(e, f.json))
  },
  async deploy(flags) {
    const f = flags as unknown as FleetFlagValues
    const {changeCommand, reportError} = await import('./actions.js')
    return changeCommand('deploy', f).catch((e) => reportError(e, f.json))
  },
  async upgrade(flags) {
    const f = flags as unknown as FleetFlagValues
    const {changeCommand, reportError} = await import('./actions.js')
    return changeCommand('upgrade', f).catch((e) => reportError(e, f.json))
  },
  async uninstall(flags) {
    const f = flags as unknown as FleetFlagValues
    const {changeCommand, reportError} = await import('./actions.js')
    return changeCommand('uninstall', f).catch((e) => reportError(e, f.json))
  },
  async preflight(flags) {
    const f = flags as unknown as FleetFlagValues
    const {preflightCommand, reportError} = await import('./ops.js')
    return preflightCommand(f).catch((e) => reportError(e, f.json))
  },
  async status(flags, args) {
    const f = flags as unknown as FleetFlagValues
    const {statusCommand, reportError} = await import('./ops.js')
    return statusCommand(args.gateway, f).catch((e) => reportError(e, f.json))
  },
  async logs(flags, args) {
    const f = flags as unknown as LogsFlagValues
    const {logsCommand, reportError} = await import('./ops.js')
    return logsCommand(args.gateway as string, f).catch((e) => reportError(e, f.json))
  },
  async history(flags, args) {
    const f = flags as unknown as HistoryFlagValues
    const {historyCommand, reportError} = await import('./ops.js')
    return historyCommand(args.gateway, f).catch((e) => reportError(e, f.json))
  },
  async 'locks:list'(flags) {
    const f = flags as unknown as FleetFlagValues
    const {locksCommand, reportError} = await import('./ops.js')
    return locksCommand('list', f).catch((e) => reportError(e, f.json))
  },
  async 'locks:clear'(flags) {
    const f = flags as unknown as FleetFlagValues & {yes?: boolean}
    const {locksCommand, reportError} = await import('./ops.js')
    return locksCommand('clear', f).catch((e) => reportError(e, f.json))
  },
}

/** Runs command `id` with its parsed flags and args and sets the process exit code. */
export async function runParsed(id: string, flags: ParsedFlags, args: ParsedArgs = {}): Promise<void> {
  process.exitCode = await COMMANDS[id](flags, args)
}
