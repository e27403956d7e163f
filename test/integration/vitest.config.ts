import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Decides which Redis / NATS / Postgres the tests use (environment first, else testcontainers).
    globalSetup: ['src/global-setup.ts'],
    // Kills service processes and closes client connections a test left behind.
    setupFiles: ['src/harness/setup.ts'],
    // Some tests stop and start the shared servers: test files must never overlap.
    fileParallelism: false,
    // Tests inside a file run one after another anyway; make it explicit.
    sequence: { concurrent: false },
    // Real processes and real servers: each test needs a few seconds.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    teardownTimeout: 30_000,
    // A test that restarted a server must not be retried blindly; failures should be looked at.
    retry: 0,
  },
});
