import {Args, Flags} from '@oclif/core'

import {GwCommand} from '../src/cli/base.js'
import {fleetFlags, saveFlag, tailFlag} from '../src/cli/flags.js'

export default class Logs extends GwCommand {
  static override summary = "Show the gateway agents' logs, pretty-printed: one gateway, or several with each line prefixed."
  static override description = `For one gateway (the argument) or the gateways --limit selects (else the whole fleet): first asks whether a gateway is installed, as audit and status do (the reason on stderr when not, or when its cluster cannot tell); then runs the vendor guide's "kubectl logs --namespace=apheris --selector=apheris-component=agent" on the gateway's host (as root, with k3s's kubeconfig). The agent logs one JSON object per line; each is shown as time, level and message, then the other fields as key=value. Lines that are not JSON are shown as they are. With --limit (or no argument) every line starts with its gateway's name ("berlin-1 | ..."), and the gateways are read at once (up to --concurrency; with --follow all of them).

--follow keeps streaming until Ctrl-C. --raw prints the lines as kubectl gives them (for jq). --json prints only the JSON lines, one per line (jsonlines; with --limit each as {"gateway": NAME, "log": LINE}), and anything else on stderr. Whatever the format, the host's text reaches neither the terminal nor a JSON reader with escape sequences or control characters: they are taken out of every string (data and numbers otherwise as written). Kubernetes rotates container logs, so an agent that has run for a while shows only its recent history. Exit code 1 when the logs of any gateway could not be read.`
  static override examples = [
    {description: 'The agent logs of one gateway', command: '<%= config.bin %> logs berlin-1 -i fleet.yaml'},
    {description: 'Follow them live (Ctrl-C to stop)', command: '<%= config.bin %> logs berlin-1 -i fleet.yaml --follow'},
    {description: 'The canary ring, each line prefixed with its gateway', command: '<%= config.bin %> logs -i fleet.yaml -l ring=canary --tail 50'},
    {description: 'The computation requests and their resources, with jq', command: `<%= config.bin %> logs berlin-1 -i fleet.yaml --raw | jq 'select(.request.resources) | {id: .request.id, resources: .request.resources}'`},
  ]
  static override args = {
    gateway: Args.string({description: 'one gateway, by its name in the inventory (else --limit, else the whole fleet)', required: false}),
  }
  static override flags = {
    ...fleetFlags,
    follow: Flags.boolean({char: 'f', description: 'keep streaming new lines until Ctrl-C'}),
    raw: Flags.boolean({description: 'print the lines exactly as kubectl gives them'}),
    tail: tailFlag,
    save: saveFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Logs)
    const {logsCommand} = await import('../src/cli/ops.js')
    await this.perform(flags.json, () => logsCommand(args.gateway, flags))
  }
}
