import { describe, expect, it } from '@jest/globals';
import { SidestepError } from '@sidestep/contracts';
import { DatabaseOptionsError, MigrationFailedError, MigrationMismatchError } from '../src/errors.ts';

describe('database errors', () => {
  it('belong to the SidestepError family, so handlers see whether to retry without duck typing', () => {
    const options = new DatabaseOptionsError('max', 'must be a positive integer');
    expect(options).toBeInstanceOf(SidestepError);
    expect(options).toMatchObject({ name: 'DatabaseOptionsError', permanent: true, field: 'max' });
    expect(new MigrationFailedError(3, 'jobs', new Error('connection lost'))).toMatchObject({
      name: 'MigrationFailedError',
      permanent: false,
      version: 3,
      migrationName: 'jobs',
    });
  });

  it('keeps the field a mismatched migration names', () => {
    const error = new MigrationMismatchError(2, 'checksum', 'abc', 'def');
    expect(error).toMatchObject({ name: 'MigrationMismatchError', field: 'checksum', permanent: true });
    expect(error.message).toBe('migration 2: checksum in the database (abc) differs from the code (def)');
  });
});
