import { describe, expect, it } from 'vitest'
import { imageTagVersion, isPrereleaseLike, parseVersion } from '../../src/release/version.js'

describe('the one version module', () => {
  it('parseVersion takes strict X.Y.Z only', () => {
    expect(parseVersion('1.5.0')).toEqual({ major: 1, minor: 5, patch: 0 })
    expect(parseVersion('0.0.0')).toEqual({ major: 0, minor: 0, patch: 0 })
    for (const bad of ['01.5.0', '1.05.0', '1.5', '1.5.0.1', '1.5.0-rc1', '1.5.0+b', 'v1.5.0', ' 1.5.0', '1.5.0\n', '99999999999999999999.0.0']) {
      expect(parseVersion(bad), bad).toBeNull()
    }
  })

  it('isPrereleaseLike spots suffixed semver only', () => {
    expect(isPrereleaseLike('1.5.0-rc1')).toBe(true)
    expect(isPrereleaseLike('1.5.0+build7')).toBe(true)
    expect(isPrereleaseLike('1.5.0')).toBe(false)
    expect(isPrereleaseLike('01.5.0-rc1')).toBe(false)
  })

  it('imageTagVersion reads the tag of an image reference, suffix kept', () => {
    expect(imageTagVersion('quay.io/apheris/gateway-agent:1.5.0')).toBe('1.5.0')
    expect(imageTagVersion('quay.io/apheris/gateway-agent:1.5.0-rc1 ')).toBe('1.5.0-rc1')
    expect(imageTagVersion('registry:5000/agent:2.0.1')).toBe('2.0.1')
    expect(imageTagVersion('quay.io/apheris/gateway-agent:latest')).toBeNull()
    expect(imageTagVersion('quay.io/apheris/gateway-agent@sha256:abc')).toBeNull()
    expect(imageTagVersion('')).toBeNull()
  })
})
