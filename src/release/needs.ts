// What a run needs from the release folder, worked out from the inventory before any host is read:
// the versions it brings gateways to, and every zip the upgrade policy may install on the way.
import {InputError, type InputLocation} from '../errors.js'
import type {Gateway, Inventory, ReleaseRef} from '../types.js'
import {hopsToward} from './policy.js'
import {checkRelease, findRelease, listReleases} from './releases.js'
import {compareVersions} from './version.js'

/** What a run needs from the release folder: what is there, the versions it brings gateways to, and every zip it may install. */
export interface ReleaseNeeds {
  releases: ReleaseRef[]
  /** Each target version (the selected gateways' desired versions, or --to) and where it is asked for. */
  targets: Map<string, InputLocation>
  /** Every release in the folder the policy may install on the way to a target (whatever the hosts run), ascending. */
  needed: string[]
}

/** Lists the release folder and works out what a run toward the targets needs from it; reads no zip. */
export async function releaseNeeds(inventory: Inventory, gateways: Gateway[], to: string | undefined): Promise<ReleaseNeeds> {
  const at = (key: string) => ({file: inventory.file, line: inventory.lines?.[key], key})
  let releases: ReleaseRef[]
  try {
    releases = await listReleases(inventory.releaseDir)
  } catch (e) {
    if (!(e instanceof InputError)) throw e
    throw new InputError(`release folder ${inventory.releaseDir}: ${e.reason}`, at('release.dir'))
  }
  const targets = new Map<string, InputLocation>()
  if (to !== undefined) targets.set(to, {file: '--to'})
  else {
    for (const gw of gateways) {
      if (targets.has(gw.version)) continue
      const own = `gateways.${gw.name}.version`
      const key = !gw.pinned ? 'release.version' : inventory.lines?.[own] ? own : 'defaults.version'
      targets.set(gw.version, at(key))
    }
  }
  const available = releases.map((r) => r.version)
  const needed = new Set<string>()
  for (const version of targets.keys()) for (const hop of hopsToward(version, available)) needed.add(hop)
  return {releases, targets, needed: [...needed].sort(compareVersions)}
}

/** The error of a target version the release folder does not hold. */
export function missingRelease(inventory: Inventory, version: string, where: InputLocation): InputError {
  return new InputError(`release ${version} not found: no apheris-gateway-${version}.zip in ${inventory.releaseDir}`, where)
}

/**
 * Releases in the folder. The target versions must be there, and every zip a run may install on
 * the way to them must be complete and readable: checked one at a time, in bounded memory, before
 * any host is touched (with --dry-run too). The first problem is bad input naming the file.
 */
export async function checkReleases(inventory: Inventory, gateways: Gateway[], to: string | undefined): Promise<ReleaseRef[]> {
  const {releases, targets, needed} = await releaseNeeds(inventory, gateways, to)
  for (const [version, where] of targets) if (!findRelease(releases, version)) throw missingRelease(inventory, version, where)
  for (const version of needed) await checkRelease(findRelease(releases, version)!)
  return releases
}
