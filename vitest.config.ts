import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2-core machines: model and ffmpeg tests are CPU-heavy, so keep parallelism modest.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
