import {Args, Flags} from '@oclif/core'

import {GwCommand} from '../src/cli/base.js'
import {fleetFlags, saveFlag, tailFlag} from '../src/cli/flags.js'

// One gateway is named by the argument, so the selector and concurrency flags do not apply.
const {limit: _limit, concurrency: _concurrency, ...connectFlags} = fleetFlags

export default class Logs extends GwCommand {
  static override summary = "Show a gateway agent's logs, pretty-printed."
  static override description = `First asks whether a gateway is installed, as audit and status do (exit 1 with the reason when not, or when its cluster cannot tell); then runs the vendor guide's "kubectl logs --namespace=apheris --selector=apheris-component=agent" on the gateway's host (as root, with k3s's kubeconfig). The agent logs one JSON object per line; each is shown as time, level and message, then the other fields as key=value. Lines that are not JSON are shown as they are.

--follow keeps streaming until Ctrl-C. --raw prints the lines untouched (for jq). --json prints only the JSON lines, untouched, one per line (jsonlines), and anything else on stderr. Kubernetes rotates container logs, so an agent that has run for a while shows only its recent history.`
  static override examples = [
    {description: 'The agent logs of one gateway', command: '<%= config.bin %> logs berlin-1 -i fleet.yaml'},
    {description: 'Follow them live (Ctrl-C to stop)', command: '<%= config.bin %> logs berlin-1 -i fleet.yaml --follow'},
    {description: 'The computation requests and their resources, with jq', command: `<%= config.bin %> logs berlin-1 -i fleet.yaml --raw | jq 'select(.request.resources) | {id: .request.id, resources: .request.resources}'`},
  ]
  static override args = {
    gateway: Args.string({description: 'the gateway, by its name in the inventory', required: true}),
  }
  static override flags = {
    ...connectFlags,
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
