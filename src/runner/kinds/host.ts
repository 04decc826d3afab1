// The kinds of change, in two layers. A ChangeKind is what one host of a changing run is asked:
// its plan from the host's facts, the version it aims at (which release files the probe hashes),
// and whether its change is the uninstall job or an installer run per hop. The phases in
// change.ts run whichever kind a host is given. A ChangeCommand is a changing command (deploy,
// upgrade, uninstall: one file each beside this one): which kind each selected host gets (one
// deploy may install some gateways and remove others), whether it reads releases, and what the
// operator confirms first. A new changing command is one file here plus its command class.
import {planDeploy, planLeaveAbsent, planReinstall, planUninstall, planUpgrade, type HostPlan} from '../../plan/plan.js'
import type {HostFacts, Job} from '../../types.js'

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

export const deployKind: ChangeKind = {
  plan: (job, facts, available) => planDeploy(job.gw, facts, job.values, available),
  target: (job) => job.gw.version,
  removes: false,
  locksFreshHost: true,
}

export const reinstallKind: ChangeKind = {
  plan: (job, facts, available) => planReinstall(job.gw, facts, available),
  target: (job) => job.gw.version,
  removes: false,
  locksFreshHost: true,
}

export const uninstallKind: ChangeKind = {
  plan: (_job, facts) => planUninstall(facts),
  target: () => null,
  removes: true,
  locksFreshHost: false,
}

/** A gateway marked state: absent, in a command that does not remove gateways: left alone. */
export const leaveAbsentKind: ChangeKind = {
  plan: (_job, facts) => planLeaveAbsent(facts),
  target: () => null,
  removes: false,
  locksFreshHost: false,
}

export const upgradeToKind = (to: string): ChangeKind => ({
  plan: (job, facts, available) => planUpgrade(job.gw, facts, to, available),
  target: () => to,
  removes: false,
  locksFreshHost: false,
})

/** What a changing command was asked on its command line, beside the gateways. */
export interface CommandRequest {
  /** upgrade --to */
  to?: string
  /** deploy --reinstall: the installer runs again on the selected gateways whatever their cluster reports. */
  reinstall?: boolean
}

/** What the operator confirms before a command takes gateways down or replaces them. */
export interface Confirmation {
  /** "remove the gateway from" */
  what: string
  names: string[]
}

/** One changing command: deploy, upgrade, uninstall. */
export interface ChangeCommand {
  /** Its name in run folders, JSON, history, hooks and messages. */
  name: string
  /** The run's title in the progress view. */
  title(req: CommandRequest): string
  /** The change one selected gateway gets. */
  kindFor(job: Job, req: CommandRequest): ChangeKind
  /** It installs releases (their zips are checked before any host is touched). */
  usesReleases: boolean
  /** What the operator confirms first (empty: nothing to ask). */
  confirmations(jobs: Job[], req: CommandRequest): Confirmation[]
  /** The command that picks up a job a run of this one leaves on a host. */
  picksUp: string
}
