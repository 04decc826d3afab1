// Flags shared by the fleet commands (SPEC section 4). Numbers and durations are parsed by us so a
// bad value is a clear exit-2 input error like every other bad input.
import {Flags} from '@oclif/core'

/** -i, -l, -c, --json, --accept-new-host-keys. */
export const fleetFlags = {
  inventory: Flags.string({char: 'i', description: 'inventory file (or env GWFLEET_INVENTORY)', env: 'GWFLEET_INVENTORY', helpValue: 'FILE'}),
  limit: Flags.string({char: 'l', description: 'which gateways: names, globs (eu-*), labels (ring=canary), !x excludes; comma separated', helpValue: 'SELECTOR'}),
  concurrency: Flags.string({char: 'c', description: 'hosts worked on at once', default: '64', helpValue: 'N'}),
  json: Flags.boolean({description: 'print one JSON document on stdout and nothing else there'}),
  'accept-new-host-keys': Flags.boolean({description: 'trust and record keys of hosts not yet known (a changed key is never accepted)'}),
  'connect-timeout': Flags.string({description: 'longest wait for a host to answer the SSH handshake', default: '15s', helpValue: 'DURATION'}),
  'ask-become-pass': Flags.boolean({description: 'ask the sudo password (become: true) on the terminal before the run starts'}),
}

/** Flags of the commands that change hosts. */
export const changeFlags = {
  timeout: Flags.string({description: 'longest one remote step may run (90s, 30m); past it the step is stopped on the host', default: '30m', helpValue: 'DURATION'}),
  'dry-run': Flags.boolean({description: 'connect, read every host and print the plan; change nothing'}),
  'max-fail': Flags.string({description: 'failures tolerated before no further batch starts (N or N%)', default: '0', helpValue: 'N|N%'}),
}

/** The flag values every fleet command reads. */
export interface FleetFlagValues {
  inventory?: string
  limit?: string
  concurrency: string
  json: boolean
  'accept-new-host-keys': boolean
  'connect-timeout': string
  'ask-become-pass'?: boolean
  timeout?: string
  'dry-run'?: boolean
  'max-fail'?: string
  'batch-size'?: string
  to?: string
  yes?: boolean
  'skip-preflight'?: boolean
  output?: string
}
