import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/e2e/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // End-to-end files each start their own lab on their own loopback subnet. They wait on sshd,
    // remote shells and installers for much of their time: four files at a time keep 2 cores busy
    // (`bash .ci/run` on a fresh clone: 206 s with four, 202 s with five, the same within noise);
    // no assertion depends on how busy the machine is.
    maxWorkers: 4,
    minWorkers: 1,
    // The built CLI (dist/) is loaded by Node itself, not transformed by the test runner: the e2e
    // cases that run gwfleet in their own process (test/e2e/inprocess.ts) then share one copy of
    // each module with the command classes oclif loads, so forgetRunState() resets what they keep.
    server: {deps: {external: [/\/dist\//]}},
  },
})
