import { describe, expect, it } from '@jest/globals';
import { MAX_EMAIL_LENGTH } from '@sidestep/contracts';
import { emailAddressOfLength } from '@sidestep/contracts/testing';
import { loadConfig } from '../src/config.ts';

describe('ops-ledger config', () => {
  it('reads the database from a URL or a secret, and names a missing one', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db' })).toEqual({
      database: 'url',
      notifyAddress: undefined,
    });
    expect(
      loadConfig({ DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:x', NOTIFY_ADDRESS: 'ops@example.com' }),
    ).toEqual({ database: 'secret', notifyAddress: 'ops@example.com' });
    // Not an address, or longer than the mail contract takes (the import failure mails it answers
    // with would be refused).
    for (const address of ['nobody', emailAddressOfLength(MAX_EMAIL_LENGTH + 1)]) {
      expect(() => loadConfig({ DATABASE_URL: 'postgres://h/db', NOTIFY_ADDRESS: address })).toThrow(
        expect.objectContaining({ field: 'NOTIFY_ADDRESS' }),
      );
    }
    expect(() => loadConfig({})).toThrow(expect.objectContaining({ name: 'ConfigError' }));
  });
});
