import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../src/config.ts';

describe('ops-ledger config', () => {
  it('reads the database from a URL or a secret, and names a missing one', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db' })).toEqual({ database: 'url' });
    expect(loadConfig({ DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:x' })).toEqual({ database: 'secret' });
    expect(() => loadConfig({})).toThrow(expect.objectContaining({ name: 'ConfigError' }));
  });
});
