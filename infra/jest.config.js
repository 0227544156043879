import { jestConfig } from '../jest.base.js';

export default jestConfig({
  slotPriority: 89,
  globalSetup: '<rootDir>/jest.tmpdir.ts',
  globalTeardown: '<rootDir>/jest.tmpdir-teardown.ts',
});
