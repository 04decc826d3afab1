import {Args, Flags} from '@oclif/core'

import {GwCommand} from '../src/cli/base.js'

export default class Completion extends GwCommand {
  static override summary = 'Print a shell completion script for bash or zsh.'
  static override description = `Prints a script that completes gwfleet's commands and flags, the values of --output, file names for --inventory and --output-file, run ids for "runs show", and gateway names and labels (for --limit and the GATEWAY argument) from the inventory given with -i on the command line, else $GWFLEET_INVENTORY, else ./gwfleet.yaml. To list gateways the script runs gwfleet, which reads the inventory only (no values file, no secret, no host).

bash (4.3 or later): add "source <(gwfleet completion bash)" to ~/.bashrc, or save the script as ~/.local/share/bash-completion/completions/gwfleet. zsh: add "source <(gwfleet completion zsh)" to ~/.zshrc after compinit, or save the script as _gwfleet in a folder of $fpath.`
  static override examples = [
    {description: 'Completion in every new bash', command: `echo 'source <(<%= config.bin %> completion bash)' >> ~/.bashrc`},
    {description: 'zsh, as a file in $fpath', command: '<%= config.bin %> completion zsh > ~/.zsh/completions/_gwfleet'},
  ]
  static override args = {
    shell: Args.string({description: 'bash or zsh', options: ['bash', 'zsh'], required: false}),
  }
  static override flags = {
    inventory: Flags.string({char: 'i', description: 'inventory file (else env GWFLEET_INVENTORY, else ./gwfleet.yaml), for --list-gateways', env: 'GWFLEET_INVENTORY', helpValue: 'FILE', hidden: true}),
    'list-gateways': Flags.boolean({description: 'print the gateway names and key=value labels of the inventory, one a line (used by the scripts)', hidden: true}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Completion)
    const {completionCommand} = await import('../src/cli/completion.js')
    await this.perform(false, () => completionCommand(this.config, args.shell, flags))
  }
}
