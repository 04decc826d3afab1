// deploy: every selected gateway to the inventory's version and values (install, reconfigure,
// upgrade hop by hop); a gateway marked state: absent is removed; --reinstall runs the installer
// again on the others whatever their cluster reports. Removals and reinstalls are confirmed.
import {deployKind, reinstallKind, uninstallKind, type ChangeCommand, type Confirmation} from './host.js'

export const deploy: ChangeCommand = {
  name: 'deploy',
  title: () => 'deploy',
  kindFor: (job, req) => (job.gw.state === 'absent' ? uninstallKind : req.reinstall ? reinstallKind : deployKind),
  usesReleases: true,
  confirmations(jobs, req) {
    const absent = jobs.filter((j) => j.gw.state === 'absent').map((j) => j.gw.name)
    const again = req.reinstall ? jobs.filter((j) => j.gw.state !== 'absent').map((j) => j.gw.name) : []
    const out: Confirmation[] = []
    if (absent.length) out.push({what: 'remove the gateway (state: absent in the inventory) from', names: absent})
    if (again.length) out.push({what: 'reinstall (run the installer again, whatever the cluster reports) on', names: again})
    return out
  },
  picksUp: 'deploy',
}
