import { jestConfig } from '../../jest.base.js';

export default jestConfig({ slotPriority: 103 });
