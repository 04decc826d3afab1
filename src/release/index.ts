// The release module's public surface: versions, the upgrade policy, and release zips.

export { parseVersion, compareVersions, formatVersion, formatSeries, seriesOf, compareSeries, sameSeries, isPrereleaseLike } from './version.js'
export type { Version, Series } from './version.js'
export { planHops, allowedHop, hopsToward } from './policy.js'
export type { HopPlan } from './policy.js'
export { listReleases, readRelease, checkRelease, findRelease, releaseFileName, INSTALLER } from './releases.js'
export { releaseNeeds, checkReleases, missingRelease } from './needs.js'
export type { ReleaseNeeds } from './needs.js'
