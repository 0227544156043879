import { jestConfig } from '../../jest.base.js';

// Most of these suites wait on child processes (the task bundle, PGlite's socket server) and on
// PostgreSQL, not on the CPU: two workers finish them sooner on two cores, as in scripts/. Every
// database is a schema of its own on the shared server (@sidestep/db/testing).
export default jestConfig({ maxWorkers: 2 });
