// Shared jest settings for every workspace package. Tests are ESM TypeScript transformed by
// @swc/jest (ts-jest does not support TypeScript 7); jest runs with --experimental-vm-modules.
/** @param {{ setupFiles?: string[], testTimeout?: number, maxWorkers?: number, globalSetup?: string, globalTeardown?: string }} [options] */
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
    reporters: ['default', new URL('./jest-summary-reporter.js', import.meta.url).pathname],
    testTimeout: options.testTimeout ?? 30_000,
    maxWorkers: options.maxWorkers ?? 1,
    ...(options.globalSetup ? { globalSetup: options.globalSetup } : {}),
    ...(options.globalTeardown ? { globalTeardown: options.globalTeardown } : {}),
  };
}
