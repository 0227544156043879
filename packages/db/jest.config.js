import { jestConfig } from '../../jest.base.js';

// Most of these suites' time is waiting (on sockets, child processes, the database server), not CPU:
// two workers overlap the waits (alone on 2 cores: db 61 s -> 39 s, local-cloud 80 s -> 46 s, for
// +1 to +5 s of CPU, 2026-12-06).
export default jestConfig({ maxWorkers: 2 });
