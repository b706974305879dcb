import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // A deadline only for a test that hangs: a loaded machine (CI, suites side by side) is slow, not wrong.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Suites are isolated (own key prefix, database, folders), so files run in parallel.
    pool: 'forks',
    env: { NODE_ENV: 'test' },
  },
});
