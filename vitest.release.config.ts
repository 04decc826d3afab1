import {defineConfig} from 'vitest/config'

// The release check (`npm run test:release`): packaging and a global install of the packed tarball.
export default defineConfig({
  test: {
    include: ['test/release/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
})
