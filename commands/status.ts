import {Args} from '@oclif/core'

import {GwCommand} from '../src/cli/base.js'
import {fleetFlags, saveFlag} from '../src/cli/flags.js'

export default class Status extends GwCommand {
  static override summary = 'What runs on a gateway: its pods and the computations per job.'
  static override description = `For one gateway (the argument) or the gateways --limit selects: whether a gateway is installed (decided as audit and logs decide it), the installed agent version, the pods of the gateway's cluster with kubectl's columns (read as kubectl's JSON, "kubectl get pod --all-namespaces -o json") and the computation pods grouped by their apheris_job_id label, with their readiness, restarts, age and resource requests, as the vendor guide's "Operating" section shows. Changes nothing.

Exit code 1 when a gateway is unreachable, has no gateway installed, or its cluster does not answer.`
  static override examples = [
    {description: 'One gateway', command: '<%= config.bin %> status berlin-1 -i fleet.yaml'},
    {description: 'The canary ring', command: '<%= config.bin %> status -i fleet.yaml -l ring=canary'},
    {description: 'As JSON, for a dashboard', command: '<%= config.bin %> status -i fleet.yaml --json'},
  ]
  static override args = {
    gateway: Args.string({description: 'one gateway, by its name in the inventory (else --limit, else the whole fleet)', required: false}),
  }
  static override flags = {...fleetFlags, save: saveFlag}

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Status)
    const {statusCommand} = await import('../src/cli/ops.js')
    await this.perform(flags.json, () => statusCommand(args.gateway, flags))
  }
}
