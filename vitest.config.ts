import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Suites are isolated (own key prefix, database, folders), so files run in parallel.
    pool: 'forks',
    env: { NODE_ENV: 'test' },
  },
});
