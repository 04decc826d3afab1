import {Flags} from '@oclif/core'

import {GwCommand} from '../src/cli/base.js'
import {fleetFlags, saveFlag} from '../src/cli/flags.js'

export default class Preflight extends GwCommand {
  static override summary = 'Check the vendor prerequisites on every selected host before a rollout.'
  static override description = `Reads each selected host (one SSH round trip, as root) and checks what the vendor's installation guide asks for: the OS and version from /etc/os-release (Red Hat 8+ or Ubuntu 20.04+; a warning under 9 / 22.04), bash and curl, root or working sudo, CPUs, memory and free disk where releases and datasets live against the recommended 8 CPUs / 32 GB / 200 GB (warnings), the datasets folder (dal.sources.files.folder) present and readable, and port 6443 free where k3s is not installed yet. It warns about what the guide warns about: ufw or firewalld active (the installer changes their rules), other iptables/nftables rules (port 6443 and the service route must be allowed), the host's proxy variables against the values' proxy.httpsProxy / proxy.httpProxy / proxy.noProxy, and outbound HTTPS from the host to auth.domain, quay.io and helm.cilium.io (all at once, at most 3 s each).

Each check is pass, warn or fail. The table lists the problems: each check that warns or fails, and one line for a host whose checks all pass (--all lists every check); below it the hosts by status and the checks counted. --json always holds every check. Changes nothing. Exit code 1 when any check fails or a host is unreachable, so it can gate a rollout in CI. deploy runs the same checks on hosts it is about to install (--skip-preflight to bypass).`
  static override examples = [
    {description: 'Check the whole fleet', command: '<%= config.bin %> preflight -i fleet.yaml'},
    {description: 'Check the hosts of one site before installing them', command: '<%= config.bin %> preflight -i fleet.yaml -l site=berlin'},
    {description: 'Every check of every host, passing ones too', command: '<%= config.bin %> preflight -i fleet.yaml --all'},
    {description: 'Gate a rollout in CI', command: '<%= config.bin %> preflight -i fleet.yaml --json > preflight.json'},
  ]
  static override flags = {
    ...fleetFlags,
    all: Flags.boolean({description: 'list every check in the table, passing ones too (default: only the checks that warn or fail)', default: false}),
    save: saveFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Preflight)
    const {preflightCommand} = await import('../src/cli/ops.js')
    await this.perform(flags.json, () => preflightCommand(flags))
  }
}
