// Shared jest settings for every workspace package. Tests are ESM TypeScript transformed by
// @swc/jest (ts-jest does not support TypeScript 7); jest runs with --experimental-vm-modules.
/**
 * `slotPriority`: where the suite goes in `npm test`'s queue of jest runs (jest-test-slots.js): its
 * usual seconds in a full run, set for the long suites so that they start first.
 * @param {{ setupFiles?: string[], testTimeout?: number, maxWorkers?: number, globalSetup?: string, globalTeardown?: string, slotPriority?: number }} [options]
 */
export function jestConfig(options = {}) {
  return {
    testEnvironment: 'node',
    extensionsToTreatAsEsm: ['.ts'],
    moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
    testMatch: ['<rootDir>/tests/**/*.test.ts'],
    transform: {
      '^.+\\.ts$': [
        '@swc/jest',
        {
          jsc: { parser: { syntax: 'typescript' }, target: 'es2024' },
          module: { type: 'es6' },
        },
      ],
    },
    setupFiles: options.setupFiles ?? [],
    setupFilesAfterEnv: [new URL('./jest.matchers.js', import.meta.url).pathname],
    reporters: [
      'default',
      new URL('./jest-summary-reporter.js', import.meta.url).pathname,
      [new URL('./jest-test-slots.js', import.meta.url).pathname, { priority: options.slotPriority ?? 0 }],
    ],
    testTimeout: options.testTimeout ?? 30_000,
    maxWorkers: options.maxWorkers ?? 1,
    ...(options.globalSetup ? { globalSetup: options.globalSetup } : {}),
    ...(options.globalTeardown ? { globalTeardown: options.globalTeardown } : {}),
  };
}
