// What to do on one gateway, decided from the inventory, the host's facts and the releases: pure data.
import {planHops} from '../release/policy.js'
import type {Gateway, HostFacts} from '../types.js'

/** The actions of SPEC section 4. */
export type Action = 'install' | 'reconfigure' | 'upgrade' | 'uninstall' | 'none'

/** The decision for one gateway. */
export interface HostPlan {
  action: Action
  fromVersion: string | null
  toVersion: string | null
  /** Installer runs in order; empty for none/uninstall. */
  hops: string[]
  /** Set when the policy refuses the gateway; nothing changes on it. */
  refused?: string
  /** Why the action was chosen, for the plan view. */
  reason: string
  /**
   * Action none, but the host's values file and record carry the old byte hash of the same values:
   * the canonical values are uploaded and the record rewritten, without running the installer.
   */
  migrateValues?: boolean
  /** deploy --reinstall: the installer runs again whatever the cluster reports (no prerequisite checks: a gateway ran here). */
  reinstall?: boolean
}

/** The hashes of the values the inventory renders now (the legacy one is optional). */
export interface ValuesHashes {
  sha256: string
  legacySha256?: string
}

/**
 * How the host's values compare with the rendered ones: `same` (file and record carry the canonical
 * hash), `legacy` (both carry the old byte hash of the same values: an earlier gwfleet deployed
 * them) or `differ`.
 */
export function valuesMatch(facts: HostFacts, values: ValuesHashes): 'same' | 'legacy' | 'differ' {
  const both = (sha: string) => facts.valuesSha256 === sha && facts.record?.valuesSha256 === sha
  if (both(values.sha256)) return 'same'
  if (values.legacySha256 && both(values.legacySha256)) return 'legacy'
  return 'differ'
}

/** deploy: install, reconfigure, upgrade hop by hop, nothing, or refuse. */
export function planDeploy(gw: Gateway, facts: HostFacts, values: string | ValuesHashes, available: string[]): HostPlan {
  const hashes = typeof values === 'string' ? {sha256: values} : values
  const from = facts.version
  const desired = gw.version
  const hp = planHops(from, desired, available)
  switch (hp.kind) {
    case 'refused':
      return {action: 'none', fromVersion: from, toVersion: desired, hops: [], refused: hp.reason, reason: hp.reason}
    case 'install':
      // A cluster that cannot say what runs on it is not a host without a gateway: installing over it could destroy one.
      if (facts.installed === 'unknown') {
        const why = `cannot tell whether a gateway is installed (${facts.versionNote ?? 'no answer'}): deploy does not install over a cluster it cannot read; fix the cluster, or uninstall first`
        return {action: 'install', fromVersion: null, toVersion: desired, hops: [], refused: why, reason: why}
      }
      return {action: 'install', fromVersion: null, toVersion: desired, hops: hp.hops, reason: `no gateway installed (${facts.versionNote ?? 'none found'})`}
    case 'upgrade':
      return {action: 'upgrade', fromVersion: from, toVersion: desired, hops: hp.hops, reason: `${from} is older than ${desired}`}
    case 'none':
      if (facts.record?.version === desired) {
        const match = valuesMatch(facts, hashes)
        if (match === 'same') return {action: 'none', fromVersion: from, toVersion: desired, hops: [], reason: 'in sync'}
        if (match === 'legacy')
          return {action: 'none', fromVersion: from, toVersion: desired, hops: [], migrateValues: true, reason: 'in sync; values recorded with the old byte hash: rewritten in canonical form, no reinstall'}
      }
      if (!available.includes(desired))
        return {action: 'none', fromVersion: from, toVersion: desired, hops: [], refused: `values changed but release ${desired} is not in the release folder`, reason: 'values changed'}
      return {
        action: 'reconfigure',
        fromVersion: from,
        toVersion: desired,
        hops: [desired],
        reason: facts.record ? 'values changed since the last deploy' : 'values on the host were not deployed by gwfleet',
      }
  }
}

/** upgrade --to: only gateways that are installed; pins win over --to. */
export function planUpgrade(gw: Gateway, facts: HostFacts, to: string, available: string[]): HostPlan {
  const from = facts.version
  if (from === null)
    return {action: 'none', fromVersion: null, toVersion: to, hops: [], refused: `no gateway installed (${facts.versionNote ?? 'none found'}); upgrade never installs, use deploy`, reason: 'not installed'}
  if (gw.pinned && gw.version !== to)
    return {action: 'none', fromVersion: from, toVersion: to, hops: [], refused: `pinned to ${gw.version} in the inventory`, reason: 'pinned'}
  const hp = planHops(from, to, available)
  if (hp.kind === 'refused') return {action: 'none', fromVersion: from, toVersion: to, hops: [], refused: hp.reason, reason: hp.reason}
  if (hp.kind === 'none') return {action: 'none', fromVersion: from, toVersion: to, hops: [], reason: `already at ${to}`}
  return {action: 'upgrade', fromVersion: from, toVersion: to, hops: hp.hops, reason: `${from} is older than ${to}`}
}

/** uninstall: remove what is installed; nothing to do where nothing is. */
export function planUninstall(facts: HostFacts): HostPlan {
  if (facts.version === null && facts.record === null && facts.k3sUninstall === null)
    return {action: 'none', fromVersion: null, toVersion: null, hops: [], reason: `no gateway installed (${facts.versionNote ?? 'none found'})`}
  return {action: 'uninstall', fromVersion: facts.version, toVersion: null, hops: [], reason: 'remove the gateway'}
}

/**
 * deploy --reinstall: the desired version's installer runs again whatever the cluster reports (a
 * version off the chain, a broken install, or none): the way out without uninstalling first.
 */
export function planReinstall(gw: Gateway, facts: HostFacts, available: string[]): HostPlan {
  const desired = gw.version
  const now = facts.version ?? `no version (${facts.versionNote ?? 'none found'})`
  if (!available.includes(desired))
    return {action: 'install', fromVersion: facts.version, toVersion: desired, hops: [], refused: `release ${desired} is not in the release folder`, reason: 'reinstall'}
  return {action: 'install', fromVersion: facts.version, toVersion: desired, hops: [desired], reinstall: true, reason: `reinstall asked: the installer of ${desired} runs again (the cluster reports ${now})`}
}

/** A gateway marked state: absent, in a command that does not remove gateways: left alone. */
export function planLeaveAbsent(facts: HostFacts): HostPlan {
  return {action: 'none', fromVersion: facts.version, toVersion: null, hops: [], reason: 'marked state: absent in the inventory (deploy removes it)'}
}
