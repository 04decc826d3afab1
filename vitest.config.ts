import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/e2e/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // End-to-end files each start their own lab on their own loopback subnet. They wait on sshd,
    // remote shells and installers for much of their time: four files at a time keep 2 cores ~85%
    // busy (three: 4m58s for the suite, four: 4m25s, five: no faster); no assertion depends on how
    // busy the machine is.
    maxWorkers: 4,
    minWorkers: 1,
  },
})
