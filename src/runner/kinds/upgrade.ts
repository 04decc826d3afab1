// upgrade --to: installed gateways hop by hop to a version; never installs, leaves gateways marked
// state: absent alone.
import {leaveAbsentKind, upgradeToKind, type ChangeCommand} from './host.js'

export const upgrade: ChangeCommand = {
  name: 'upgrade',
  title: (req) => `upgrade to ${req.to ?? '?'}`,
  kindFor(job, req) {
    if (job.gw.state === 'absent') return leaveAbsentKind
    if (req.to === undefined) throw new Error('upgrade needs the version to upgrade to (--to)')
    return upgradeToKind(req.to)
  },
  usesReleases: true,
  confirmations: () => [],
  picksUp: 'deploy',
}
