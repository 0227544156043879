import { describe, expect, it } from '@jest/globals';
import { MAX_EMAIL_LENGTH } from '@sidestep/contracts';
import { emailAddressOfLength } from '@sidestep/contracts/testing';
import { loadConfig } from '../src/config.ts';

const complete = {
  DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db',
  MAIL_QUEUE_URL: 'http://127.0.0.1:4566/000000000000/sidestep-local-mail',
  NOTIFY_ADDRESS: 'ops@example.com',
  WORKFLOW_STATE_MACHINE_ARNS:
    'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import,arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-export',
};

describe('job-sweeper config', () => {
  it('reads the database, the mail queue, the notify address, the workflows and the job retention (90 days unless set)', () => {
    expect(loadConfig(complete)).toEqual({
      database: 'url',
      mailQueueUrl: complete.MAIL_QUEUE_URL,
      notifyAddress: 'ops@example.com',
      jobRetentionDays: 90,
      workflowEndGraceMs: 60_000,
      workflowStateMachineArns: [
        'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import',
        'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-export',
      ],
    });
    expect(loadConfig({ ...complete, JOB_RETENTION_DAYS: '30' }).jobRetentionDays).toBe(30);
    expect(loadConfig({ ...complete, WORKFLOW_END_GRACE_SECONDS: '0' }).workflowEndGraceMs).toBe(0);
    // A stack without workflows: nothing to list.
    expect(loadConfig({ ...complete, WORKFLOW_STATE_MACHINE_ARNS: '' }).workflowStateMachineArns).toEqual([]);
    expect(() => loadConfig({ ...complete, WORKFLOW_END_GRACE_SECONDS: '-1' })).toThrow(
      expect.objectContaining({ field: 'WORKFLOW_END_GRACE_SECONDS' }),
    );
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
    // Not there, or not state machine ARNs (an execution's, a list with an empty entry).
    for (const arns of [
      undefined,
      'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:e1',
      'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import,',
    ]) {
      const env: Record<string, string> = { ...complete };
      if (arns === undefined) delete env.WORKFLOW_STATE_MACHINE_ARNS;
      else env.WORKFLOW_STATE_MACHINE_ARNS = arns;
      expect(() => loadConfig(env)).toThrow(
        expect.objectContaining({ name: 'ConfigError', field: 'WORKFLOW_STATE_MACHINE_ARNS' }),
      );
    }
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
