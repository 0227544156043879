import { jestConfig } from '../jest.base.js';

// The end-to-end suites mostly wait on the local cloud's child processes and sockets, not on the
// CPU: two workers finish them about a third sooner on two cores.
export default jestConfig({ maxWorkers: 2 });
