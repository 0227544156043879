import { jestConfig } from '../jest.base.js';

// The end-to-end suites mostly wait on the local cloud's child processes and sockets, not on the
// CPU, and this suite ends `npm test`, mostly alone: on two cores, alone, one run each at 2026-12-07
// 18:55 (dd58f658), two workers took 117.6 s (139.5 s of CPU), three 100.0 s (145.0 s), four 93.5 s
// (153.4 s). Three: most of the gain for little more CPU where other suites still run beside it.
export default jestConfig({ maxWorkers: 3, testSequencer: '<rootDir>/jest.sequencer.ts' });
