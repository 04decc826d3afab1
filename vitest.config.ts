import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/e2e/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // End-to-end files each start their own lab on their own loopback subnet. They wait on sshd,
    // remote shells and installers for much of their time (two workers kept 2 cores ~55% busy), so
    // three files at a time; no assertion depends on how busy the machine is.
    maxWorkers: 5,
    minWorkers: 1,
  },
})
