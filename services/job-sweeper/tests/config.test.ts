import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../src/config.ts';

const complete = {
  DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db',
  MAIL_QUEUE_URL: 'http://127.0.0.1:4566/000000000000/sidestep-local-mail',
  NOTIFY_ADDRESS: 'ops@example.com',
};

describe('job-sweeper config', () => {
  it('reads the database, the mail queue and the notify address', () => {
    expect(loadConfig(complete)).toEqual({
      database: 'url',
      mailQueueUrl: complete.MAIL_QUEUE_URL,
      notifyAddress: 'ops@example.com',
    });
    const { DATABASE_URL: _, ...onAws } = complete;
    expect(loadConfig({ ...onAws, DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:x' }).database).toBe('secret');
  });

  it('names the missing or invalid variable', () => {
    const without = (name: keyof typeof complete) => {
      const env: Record<string, string> = { ...complete };
      delete env[name];
      return env;
    };
    expect(() => loadConfig(without('DATABASE_URL'))).toThrow(
      expect.objectContaining({ name: 'ConfigError', field: 'DATABASE_URL' }),
    );
    expect(() => loadConfig(without('MAIL_QUEUE_URL'))).toThrow(
      expect.objectContaining({ field: 'MAIL_QUEUE_URL' }),
    );
    expect(() => loadConfig({ ...complete, NOTIFY_ADDRESS: 'nobody' })).toThrow(
      expect.objectContaining({ field: 'NOTIFY_ADDRESS' }),
    );
  });
});
