import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../src/config.ts';

describe('loadConfig', () => {
  it('takes DATABASE_URL, else DATABASE_SECRET_ARN', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db' })).toEqual({ database: 'url' });
    expect(
      loadConfig({ DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf' }),
    ).toEqual({ database: 'secret' });
  });

  it('names the variable when the database cannot be found', () => {
    expect(() => loadConfig({})).toThrow(
      expect.objectContaining({ name: 'ConfigError', field: 'DATABASE_URL' }),
    );
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(
      expect.objectContaining({ name: 'ConfigError', field: 'DATABASE_URL' }),
    );
  });
});
