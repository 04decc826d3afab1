// What one host of a changing run is asked, as a small object per kind: its plan from the host's
// facts, the version it aims at (which release files the probe hashes), and whether its change is
// the uninstall job or an installer run per hop. The phases in change.ts run whichever kind a host
// is given; the kind is chosen per host because one deploy may install some gateways and remove
// others (state: absent).
import {planDeploy, planLeaveAbsent, planReinstall, planUninstall, planUpgrade, type HostPlan} from '../plan/plan.js'
import type {HostFacts, Job} from '../types.js'

/** One kind of change on a host. */
export interface ChangeKind {
  /** The plan from the host's facts and the release versions in the folder. */
  plan(job: Job, facts: HostFacts, available: string[]): HostPlan
  /** The version the plan may install up to (the probe hashes release files up to it); null when nothing is installed. */
  target(job: Job): string | null
  /** The change is the uninstall job (else an upload and an installer run per hop). */
  removes: boolean
  /** A host without a gateway is locked in the same round trip as its first read (it will be installed). */
  locksFreshHost: boolean
}

const deploy: ChangeKind = {
  plan: (job, facts, available) => planDeploy(job.gw, facts, job.values, available),
  target: (job) => job.gw.version,
  removes: false,
  locksFreshHost: true,
}

const reinstall: ChangeKind = {
  plan: (job, facts, available) => planReinstall(job.gw, facts, available),
  target: (job) => job.gw.version,
  removes: false,
  locksFreshHost: true,
}

const uninstall: ChangeKind = {
  plan: (_job, facts) => planUninstall(facts),
  target: () => null,
  removes: true,
  locksFreshHost: false,
}

const leaveAbsent: ChangeKind = {
  plan: (_job, facts) => planLeaveAbsent(facts),
  target: () => null,
  removes: false,
  locksFreshHost: false,
}

const upgradeTo = (to: string): ChangeKind => ({
  plan: (job, facts, available) => planUpgrade(job.gw, facts, to, available),
  target: () => to,
  removes: false,
  locksFreshHost: false,
})

/** What a changing command asks of each host. */
export interface KindRequest {
  kind: 'deploy' | 'upgrade' | 'uninstall'
  to?: string
  /** deploy --reinstall */
  reinstall?: boolean
}

/**
 * The kind of change for one gateway: deploy removes a gateway marked state: absent and, with
 * --reinstall, runs the installer again on the others; upgrade leaves absent ones alone.
 */
export function kindFor(req: KindRequest, job: Job): ChangeKind {
  const absent = job.gw.state === 'absent'
  switch (req.kind) {
    case 'uninstall':
      return uninstall
    case 'upgrade':
      return absent ? leaveAbsent : upgradeTo(req.to!)
    case 'deploy':
      return absent ? uninstall : req.reinstall ? reinstall : deploy
  }
}
