import { removeOwnTmpdir } from './jest.tmpdir.ts';

export default removeOwnTmpdir;
