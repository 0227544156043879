import { describe, expect, it } from '@jest/globals';
import { MAX_REJECTED_SAMPLES, MailSendJob, validate } from '../src/index.ts';
import { validationErrorOf } from './validation-error.ts';

const completed = (params: Record<string, unknown>) => ({
  type: 'mail.send',
  version: 1,
  id: 'import.completed:imp_01',
  payload: {
    template: 'import.completed',
    to: 'ops@example.com',
    params: { jobId: 'imp_01', fileName: 'users.csv', rows: 299, ...params },
  },
});

describe('import.completed rejected rows', () => {
  it('carries how many rows were rejected and the first ones with line, field and reason', () => {
    const job = validate(
      MailSendJob,
      completed({
        rejectedRows: 1,
        rejectedSamples: [{ line: 152, field: 'email', reason: 'not a valid email address' }],
      }),
    );
    expect(job.payload.params).toMatchObject({
      rejectedRows: 1,
      rejectedSamples: [{ line: 152, field: 'email', reason: 'not a valid email address' }],
    });
  });

  it('still accepts a mail queued before the params existed', () => {
    expect(validate(MailSendJob, completed({})).payload.params).toEqual({
      jobId: 'imp_01',
      fileName: 'users.csv',
      rows: 299,
    });
  });

  it('refuses more samples than a mail lists, and a sample without a line', () => {
    const samples = Array.from({ length: MAX_REJECTED_SAMPLES + 1 }, (_, i) => ({
      line: i + 2,
      reason: 'x',
    }));
    expect(
      validationErrorOf(() =>
        validate(MailSendJob, completed({ rejectedRows: 11, rejectedSamples: samples })),
      ).field,
    ).toBe('payload.params.rejectedSamples');
    expect(
      validationErrorOf(() =>
        validate(MailSendJob, completed({ rejectedRows: 1, rejectedSamples: [{ reason: 'x' }] })),
      ).field,
    ).toBe('payload.params.rejectedSamples[0].line');
  });
});
