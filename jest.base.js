// Shared jest settings for every workspace package. Tests are ESM TypeScript transformed by
// @swc/jest (ts-jest does not support TypeScript 7); jest runs with --experimental-vm-modules.

// cdktn records a "creation stack" for every token it makes (each reference, attribute, Lazy: thousands
// a stack), a full stack trace (Error.stackTraceLimit = MAX_SAFE_INTEGER) shown only in the error of a
// token that fails to resolve. Under jest each capture goes through jest's source-mapping
// Error.prepareStackTrace (@jest/source-map), which made half of the infra suite's CPU (34.6 s of user
// CPU, 13.6 s without) and ~0.75 s of CPU of each path test's local cloud. CDKTN_DISABLE_CREATION_STACK
// is cdktn's own switch (cdktn/lib/tokens/private/stack-trace.js); the synthesized JSON is the same either
// way (infra's synth-stacks test compares the two). Set here, in the process that forks jest's workers,
// so every suite's synthesis runs without it; a variable already set wins (turbo.json passes it to the
// test tasks, and keys their cache by it).
process.env.CDKTN_DISABLE_CREATION_STACK ??= '1';

/** @param {{ setupFiles?: string[], testTimeout?: number, maxWorkers?: number, globalSetup?: string, globalTeardown?: string, testSequencer?: string }} [options] */
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
    ...(options.testSequencer ? { testSequencer: options.testSequencer } : {}),
  };
}
