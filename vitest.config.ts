import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // A deadline only for a test that hangs: a loaded machine (CI, suites side by side) is slow, not wrong.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Suites are isolated (own key prefix, database, folders), so files run in parallel: two at a time,
    // as many as the machine's cores (vitest's default leaves one core idle).
    pool: 'forks',
    maxWorkers: 2,
    env: { NODE_ENV: 'test' },
  },
});
