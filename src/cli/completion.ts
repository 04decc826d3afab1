// Shell completion: `gwfleet completion bash|zsh` prints a script built from the commands' own
// flag definitions, so it never lists a flag gwfleet does not have. Gateway names and labels come
// from the inventory at completion time, through the hidden `gwfleet completion --list-gateways`
// (which reads the inventory only: no values, no secrets, no host).
import {InputError} from '../errors.js'
import {AUDIT_FORMATS} from './flags.js'

/** One command as completion sees it. */
export interface CompletionCommand {
  /** As typed: `deploy`, `locks list`. */
  id: string
  flags: {name: string; char?: string; takesValue: boolean}[]
  /** Names of the positional arguments, in order (gateway, id, shell). */
  args: string[]
}

/** Values a flag or argument completes to, by its name; anything else completes to nothing. */
const VALUE_KIND: Record<string, 'file' | 'selector' | 'gateway' | 'run' | 'shell' | 'format'> = {
  inventory: 'file',
  'output-file': 'file',
  limit: 'selector',
  output: 'format',
  gateway: 'gateway',
  id: 'run',
  shell: 'shell',
}

/** The shells a script is printed for. */
export const SHELLS = ['bash', 'zsh'] as const

/** Words safe to put in a generated script unquoted: gwfleet's own command and flag names. */
function checkWord(w: string): string {
  if (!/^[a-z0-9][a-z0-9 -]*$/i.test(w)) throw new Error(`not a completion word: ${w}`)
  return w
}

function model(commands: CompletionCommand[]) {
  const cmds = [...commands].sort((a, b) => a.id.localeCompare(b.id))
  const tops = [...new Set(cmds.map((c) => c.id.split(' ')[0]))]
  const subs = new Map<string, string[]>()
  for (const c of cmds) {
    const [top, sub] = c.id.split(' ')
    if (sub) subs.set(top, [...(subs.get(top) ?? []), sub])
  }
  const valued = new Map<string, string>()
  for (const c of cmds)
    for (const f of c.flags)
      if (f.takesValue) {
        valued.set(`--${f.name}`, f.name)
        if (f.char) valued.set(`-${f.char}`, f.name)
      }
  for (const w of [...tops, ...cmds.map((c) => c.id), ...valued.keys()]) checkWord(w.replace(/^-+/, ''))
  return {cmds, tops, subs, valued}
}

/** The bash completion script (bash 4.3 or later). */
export function bashScript(commands: CompletionCommand[]): string {
  const {cmds, tops, subs, valued} = model(commands)
  const kindOf = (name: string) => VALUE_KIND[name] ?? 'none'
  return `# bash completion for gwfleet, printed by "gwfleet completion bash".
# Load it in ~/.bashrc with:  source <(gwfleet completion bash)
# or save it as ~/.local/share/bash-completion/completions/gwfleet
# Gateway names and labels come from the inventory given with -i on the line, else $GWFLEET_INVENTORY,
# else ./gwfleet.yaml.

# Keep the candidates that start with $2, each written as $1 followed by it; readline replaces only
# the text after the last word-break character (such as = or :), so that much is taken off.
_gwfleet_reply() {
  local pre="$1" typed="$2" c word cut="" i
  shift 2
  COMPREPLY=()
  for c in "$@"; do
    [[ "$c" == "$typed"* ]] && COMPREPLY+=("$pre$c")
  done
  word="$pre$typed"
  for (( i = \${#word} - 1; i >= 0; i-- )); do
    if [[ "$COMP_WORDBREAKS" == *"\${word:i:1}"* ]]; then
      cut="\${word:0:i+1}"
      break
    fi
  done
  if [[ -n "$cut" ]]; then
    for i in "\${!COMPREPLY[@]}"; do COMPREPLY[i]="\${COMPREPLY[i]#"$cut"}"; done
  fi
  # readline inserts a reply as it is: quote it for the shell, so a label such as $(touch /tmp/x)
  # is text and a "!" in a selector is not history expansion. File names are quoted by readline
  # itself (compopt -o filenames), so those are left alone.
  if [[ -z "\${_gwfleet_files:-}" ]]; then
    local q
    for i in "\${!COMPREPLY[@]}"; do printf -v q '%q' "\${COMPREPLY[i]}"; COMPREPLY[i]="$q"; done
  fi
}

# Gateway names and key=value labels of the inventory named on the line (or $GWFLEET_INVENTORY, or ./gwfleet.yaml).
_gwfleet_gateways() {
  local -a args=(completion --list-gateways)
  local i
  for (( i = 1; i < \${#words[@]} - 1; i++ )); do
    case "\${words[i]}" in
      -i|--inventory) args+=(--inventory "\${words[i+1]/#\\~/$HOME}") ;;
      --inventory=*) args+=(--inventory "\${words[i]#--inventory=}") ;;
      -i?*) args+=(--inventory "\${words[i]#-i}") ;;
    esac
  done
  "\${words[0]/#\\~/$HOME}" "\${args[@]}" 2>/dev/null
}

# The ids of the run folders.
_gwfleet_runs() {
  local f
  for f in "\${GWFLEET_HOME:-$HOME/.gwfleet}"/runs/*; do
    [[ -d "$f" ]] && printf '%s\\n' "\${f##*/}"
  done
}

# Complete the value $2 of a flag or argument of kind $3; $1 is typed before it in the same word.
_gwfleet_value() {
  local pre="$1" typed="$2" kind="$3" head piece
  local -a list
  case "$kind" in
    file)
      compopt -o filenames 2>/dev/null
      mapfile -t list < <(compgen -f -- "$typed")
      _gwfleet_files=1 _gwfleet_reply "$pre" "$typed" "\${list[@]}" ;;
    format) _gwfleet_reply "$pre" "$typed" ${AUDIT_FORMATS.join(' ')} ;;
    shell) _gwfleet_reply "$pre" "$typed" ${SHELLS.join(' ')} ;;
    run)
      mapfile -t list < <(_gwfleet_runs)
      _gwfleet_reply "$pre" "$typed" "\${list[@]}" ;;
    gateway)
      mapfile -t list < <(_gwfleet_gateways | grep -v =)
      _gwfleet_reply "$pre" "$typed" "\${list[@]}" ;;
    selector)
      # Comma-separated terms; the last one is completed, with its "!" kept.
      head=""
      [[ "$typed" == *,* ]] && head="\${typed%,*},"
      piece="\${typed##*,}"
      if [[ "$piece" == '!'* ]]; then head+='!'; piece="\${piece#!}"; fi
      mapfile -t list < <(_gwfleet_gateways)
      _gwfleet_reply "$pre$head" "$piece" "\${list[@]}" ;;
    *) COMPREPLY=() ;;
  esac
}

_gwfleet_complete() {
  local line="\${COMP_LINE:0:COMP_POINT}"
  local -a words
  read -r -a words <<< "$line"
  [[ \${#words[@]} -eq 0 || "$line" =~ [[:space:]]$ ]] && words+=("")
  local n=$(( \${#words[@]} - 1 ))
  local cur="\${words[n]}" prev="\${words[n-1]}" cmd="" argstart=2 i pos
  COMPREPLY=()
  if (( n == 1 )); then
    _gwfleet_reply "" "$cur" ${tops.join(' ')}
    return
  fi
  cmd="\${words[1]}"
  case "$cmd" in
${[...subs.entries()]
  .map(([top, s]) => `    ${top}) if (( n >= 3 )) && [[ " ${s.join(' ')} " == *" \${words[2]} "* ]]; then cmd="${top} \${words[2]}"; argstart=3; fi ;;`)
  .join('\n')}
  esac
  if [[ "$cur" == --*=* ]]; then
    _gwfleet_value "\${cur%%=*}=" "\${cur#*=}" "$(_gwfleet_kind "\${cur%%=*}")"
    return
  fi
  if (( n - 1 >= argstart )) && [[ -n "$(_gwfleet_kind "$prev")" ]]; then
    _gwfleet_value "" "$cur" "$(_gwfleet_kind "$prev")"
    return
  fi
  if [[ "$cur" == -* ]]; then
    case "$cmd" in
${cmds.map((c) => `      "${c.id}") _gwfleet_reply "" "$cur" ${[...c.flags.map((f) => `--${f.name}`), '--help'].join(' ')} ;;`).join('\n')}
    esac
    return
  fi
  # A subcommand of a topic (locks list, runs show) right after it.
  if (( n == 2 )); then
    case "$cmd" in
${[...subs.entries()].map(([top, s]) => `      ${top}) _gwfleet_reply "" "$cur" ${s.join(' ')}${cmds.some((c) => c.id === top) ? '; [[ \${#COMPREPLY[@]} -gt 0 ]] && return' : '; return'} ;;`).join('\n')}
    esac
  fi
  # The positional arguments: count the words before this one that are neither flags nor their values.
  pos=0
  for (( i = argstart; i < n; i++ )); do
    if [[ "\${words[i]}" == -* ]]; then
      [[ "\${words[i]}" != *=* && -n "$(_gwfleet_kind "\${words[i]}")" ]] && (( i++ ))
    else
      (( pos++ ))
    fi
  done
  case "$cmd" in
${cmds
  .filter((c) => c.args.length)
  .map((c) => `    "${c.id}") case $pos in ${c.args.map((a, i) => `${i}) _gwfleet_value "" "$cur" ${kindOf(a)} ;;`).join(' ')} esac ;;`)
  .join('\n')}
  esac
}

# The kind of value a flag takes, empty for a flag that takes none.
_gwfleet_kind() {
  case "$1" in
${[...valued.entries()].map(([flag, name]) => `    ${flag}) echo ${kindOf(name)} ;;`).join('\n')}
  esac
}

complete -F _gwfleet_complete gwfleet
`
}

/** The zsh completion script: a completion function for compinit. */
export function zshScript(commands: CompletionCommand[]): string {
  const {cmds, tops, subs, valued} = model(commands)
  const kindOf = (name: string) => VALUE_KIND[name] ?? 'none'
  return `#compdef gwfleet
# zsh completion for gwfleet, printed by "gwfleet completion zsh".
# Load it in ~/.zshrc (after compinit) with:  source <(gwfleet completion zsh)
# or save it as _gwfleet in a folder of $fpath.
# Gateway names and labels come from the inventory given with -i on the line, else $GWFLEET_INVENTORY,
# else ./gwfleet.yaml.

# Gateway names and key=value labels of the inventory named on the line (or $GWFLEET_INVENTORY, or ./gwfleet.yaml).
_gwfleet_gateways() {
  local -a args
  args=(completion --list-gateways)
  local i
  for (( i = 2; i < CURRENT; i++ )); do
    case "\${words[i]}" in
      -i|--inventory) args+=(--inventory "\${words[i+1]/#\\~/$HOME}") ;;
      --inventory=*) args+=(--inventory "\${words[i]#--inventory=}") ;;
      -i?*) args+=(--inventory "\${words[i]#-i}") ;;
    esac
  done
  "\${words[1]/#\\~/$HOME}" "\${args[@]}" 2>/dev/null
}

# Complete a value of kind $1 (the current word, after any prefix already taken off with compset).
_gwfleet_value() {
  local -a list
  case "$1" in
    file) _files ;;
    format) compadd -- ${AUDIT_FORMATS.join(' ')} ;;
    shell) compadd -- ${SHELLS.join(' ')} ;;
    run)
      list=("\${GWFLEET_HOME:-$HOME/.gwfleet}"/runs/*(N/:t))
      compadd -- "\${list[@]}" ;;
    gateway)
      list=("\${(@f)$(_gwfleet_gateways)}")
      compadd -- "\${(@)list:#*=*}" ;;
    selector)
      compset -P '*,'
      compset -P '!'
      list=("\${(@f)$(_gwfleet_gateways)}")
      compadd -- "\${list[@]}" ;;
  esac
}

# The kind of value a flag takes, empty for a flag that takes none.
_gwfleet_kind() {
  case "$1" in
${[...valued.entries()].map(([flag, name]) => `    ${flag}) echo ${kindOf(name)} ;;`).join('\n')}
  esac
}

_gwfleet() {
  local cur="\${words[CURRENT]}" prev="\${words[CURRENT-1]}" cmd argstart=3 i pos kind
  if (( CURRENT == 2 )); then
    compadd -- ${tops.join(' ')}
    return
  fi
  cmd="\${words[2]}"
  case "$cmd" in
${[...subs.entries()]
  .map(([top, s]) => `    ${top}) if (( CURRENT >= 4 )) && [[ " ${s.join(' ')} " == *" \${words[3]} "* ]]; then cmd="${top} \${words[3]}"; argstart=4; fi ;;`)
  .join('\n')}
  esac
  if [[ "$cur" == --*=* ]]; then
    kind="$(_gwfleet_kind "\${cur%%=*}")"
    compset -P '--*='
    _gwfleet_value "$kind"
    return
  fi
  kind="$(_gwfleet_kind "$prev")"
  if [[ -n "$kind" ]] && (( CURRENT - 1 >= argstart )); then
    _gwfleet_value "$kind"
    return
  fi
  if [[ "$cur" == -* ]]; then
    case "$cmd" in
${cmds.map((c) => `      "${c.id}") compadd -- ${[...c.flags.map((f) => `--${f.name}`), '--help'].join(' ')} ;;`).join('\n')}
    esac
    return
  fi
  if (( CURRENT == 3 )); then
    case "$cmd" in
${[...subs.entries()].map(([top, s]) => `      ${top}) compadd -- ${s.join(' ')}${cmds.some((c) => c.id === top) ? '' : '; return'} ;;`).join('\n')}
    esac
  fi
  pos=0
  for (( i = argstart; i < CURRENT; i++ )); do
    if [[ "\${words[i]}" == -* ]]; then
      [[ "\${words[i]}" != *=* && -n "$(_gwfleet_kind "\${words[i]}")" ]] && (( i++ ))
    else
      (( pos++ ))
    fi
  done
  case "$cmd" in
${cmds
  .filter((c) => c.args.length)
  .map((c) => `    "${c.id}") case $pos in ${c.args.map((a, i) => `${i}) _gwfleet_value ${kindOf(a)} ;;`).join(' ')} esac ;;`)
  .join('\n')}
  esac
}

if [[ "\${funcstack[1]}" == _gwfleet ]]; then
  _gwfleet "$@"
else
  compdef _gwfleet gwfleet
fi
`
}

/** The lines `--list-gateways` prints: every gateway name, then each distinct label as key=value (sorted). */
export function gatewayWords(gateways: {name: string; labels: Record<string, string>}[]): string[] {
  const labels = new Set<string>()
  for (const g of gateways)
    for (const [k, v] of Object.entries(g.labels))
      // A term of --limit cannot hold a comma, and a shell word no space: such labels are left out.
      if (/^[^\s,!=]+$/.test(k) && /^[^\s,]+$/.test(v)) labels.add(`${k}=${v}`)
  return [...gateways.map((g) => g.name), ...[...labels].sort()]
}

/** The commands as completion sees them, from oclif's loaded commands (hidden ones and hidden flags left out). */
export function completionCommands(
  commands: {id: string; hidden?: boolean; flags: Record<string, {type: string; char?: string; hidden?: boolean}>; args: Record<string, unknown>}[],
): CompletionCommand[] {
  return commands
    .filter((c) => !c.hidden)
    .map((c) => ({
      id: c.id.replace(/:/g, ' '),
      flags: Object.entries(c.flags)
        .filter(([, f]) => !f.hidden)
        .map(([name, f]) => ({name, ...(f.char ? {char: f.char} : {}), takesValue: f.type === 'option'})),
      args: Object.keys(c.args),
    }))
}

/** completion bash|zsh, or (hidden) --list-gateways; returns the exit code. */
export async function completionCommand(
  config: {commands: Parameters<typeof completionCommands>[0]},
  shell: string | undefined,
  flags: {inventory?: string; 'list-gateways': boolean},
): Promise<number> {
  if (flags['list-gateways']) {
    // Loaded only here: printing a script needs none of the inventory code.
    const {loadGateways} = await import('./common.js')
    const {inventory} = await loadGateways({inventory: flags.inventory}, 'completion')
    for (const w of gatewayWords(inventory.gateways)) process.stdout.write(`${w}\n`)
    return 0
  }
  // oclif refuses any shell but bash and zsh; only a missing one is left to say.
  if (shell === undefined) throw new InputError('name the shell: gwfleet completion bash, or gwfleet completion zsh', {file: 'SHELL'})
  const cmds = completionCommands(config.commands)
  process.stdout.write(shell === 'bash' ? bashScript(cmds) : zshScript(cmds))
  return 0
}
