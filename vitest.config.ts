import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/e2e/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // End-to-end files each start their own lab on their own loopback subnet; two at a time suits 2 cores.
    maxWorkers: 2,
    minWorkers: 1,
  },
})
