import { defineConfig } from 'vitest/config';

export default defineConfig({
  // `import … from 'voxgrad'` inside the repo resolves to src/ through tsconfig's paths (consumers get dist/)
  resolve: { tsconfigPaths: true },
  test: {
    include: ['test/**/*.test.ts'],
    // toThrow(matcher) fails on a thrown undefined (chai does not check its message): see the file
    setupFiles: ['test/setup/strict-throws.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
