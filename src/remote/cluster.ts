// The gateway's cluster as a host shell reaches it: which kubectl, and the one query for the agent's
// version that the probe, the installer's round trip and `status` all run (parseProbe() reads it).
import {shq} from '../ssh/quote.js'

/** The agent's deployment and pods, as the vendor guide selects them. */
export const AGENT_SELECTOR = 'apheris-component=agent'

/** The vendor's query for the installed agent image (SPEC section 1). */
export const AGENT_VERSION_TEMPLATE =
  '{{if and (index .items 0).spec.template.spec.containers (index (index .items 0).spec.template.spec.containers 0).image }}{{ (index (index .items 0).spec.template.spec.containers 0).image }}{{ "\\n" }}{{end}}'

/** Sets $K to `kubectl`, else `k3s kubectl`, else empty (unquoted on purpose: it may be two words). */
export const KUBECTL_PICK = [
  'if command -v kubectl >/dev/null 2>&1; then K=kubectl',
  'elif command -v k3s >/dev/null 2>&1; then K="k3s kubectl"',
  'else K=""; fi',
].join('\n')

/**
 * Asks the cluster (through a non-empty $K) for the agent image: leaves kubectl's answer in $out and
 * $rc and prints them as gw.kubectl_rc / gw.kubectl_out, the answer folded onto one line (at most
 * 600 bytes) so nothing kubectl prints can pose as a key of ours.
 */
export function agentVersionQuery(): string {
  return [
    `out=$($K get deploy -n apheris -l ${shq(AGENT_SELECTOR)} -o go-template=${shq(AGENT_VERSION_TEMPLATE)} 2>&1); rc=$?`,
    'echo "gw.kubectl_rc=$rc"',
    'printf "gw.kubectl_out=%s\\n" "$(printf %s "$out" | head -c 600 | tr "\\n\\r" "  ")"',
  ].join('\n')
}
