import { jestConfig } from '../jest.base.js';

export default jestConfig({
  globalSetup: '<rootDir>/jest.tmpdir.ts',
  globalTeardown: '<rootDir>/jest.tmpdir-teardown.ts',
});
