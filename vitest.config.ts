import { defineConfig } from 'vitest/config';

/** Tests that start whole crowdlens deployments (several role processes, ffmpeg, models) on the 2 cores. */
const PROCESS_TESTS = ['test/roles/**/*.test.ts'];

const shared = {
  testTimeout: 60_000,
  hookTimeout: 60_000,
};

export default defineConfig({
  test: {
    // 2-core machines: model and ffmpeg tests are CPU-heavy, so keep parallelism modest.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      { test: { ...shared, name: 'unit', include: ['test/**/*.test.ts'], exclude: PROCESS_TESTS, sequence: { groupOrder: 0 } } },
      // Run after the others, not beside them: six processes on two cores would starve the timing of the rest.
      { test: { ...shared, name: 'processes', include: PROCESS_TESTS, sequence: { groupOrder: 1 } } },
    ],
  },
});
