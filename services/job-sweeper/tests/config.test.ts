import { describe, expect, it } from '@jest/globals';
import { MAX_EMAIL_LENGTH } from '@sidestep/contracts';
import { emailAddressOfLength } from '@sidestep/contracts/testing';
import { loadConfig } from '../src/config.ts';

const complete = {
  DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db',
  MAIL_QUEUE_URL: 'http://127.0.0.1:4566/000000000000/sidestep-local-mail',
  NOTIFY_ADDRESS: 'ops@example.com',
};

describe('job-sweeper config', () => {
  it('reads the database, the mail queue, the notify address and the job retention (90 days unless set)', () => {
    expect(loadConfig(complete)).toEqual({
      database: 'url',
      mailQueueUrl: complete.MAIL_QUEUE_URL,
      notifyAddress: 'ops@example.com',
      jobRetentionDays: 90,
    });
    expect(loadConfig({ ...complete, JOB_RETENTION_DAYS: '30' }).jobRetentionDays).toBe(30);
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
    // Not an address, or longer than the mail contract takes (its failure mails would all be refused).
    for (const address of ['nobody', emailAddressOfLength(MAX_EMAIL_LENGTH + 1)]) {
      expect(() => loadConfig({ ...complete, NOTIFY_ADDRESS: address })).toThrow(
        expect.objectContaining({ field: 'NOTIFY_ADDRESS' }),
      );
    }
    // Shorter than the 14 days an execution may be redriven, not whole days, not a number.
    for (const days of ['13', '30.5', 'ninety']) {
      expect(() => loadConfig({ ...complete, JOB_RETENTION_DAYS: days })).toThrow(
        expect.objectContaining({ name: 'ConfigError', field: 'JOB_RETENTION_DAYS' }),
      );
    }
  });
});
