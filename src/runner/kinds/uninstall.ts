// uninstall: the gateway removed from every selected host (k3s-uninstall.sh and Cilium's
// leftovers; never the datasets); confirmed first.
import {uninstallKind, type ChangeCommand} from './host.js'

export const uninstall: ChangeCommand = {
  name: 'uninstall',
  title: () => 'uninstall',
  kindFor: () => uninstallKind,
  usesReleases: false,
  confirmations: (jobs) => [{what: 'remove the gateway from', names: jobs.map((j) => j.gw.name)}],
  picksUp: 'uninstall',
}
