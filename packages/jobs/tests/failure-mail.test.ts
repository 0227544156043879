import { describe, expect, it } from '@jest/globals';
import { MailSendJob, validate } from '@sidestep/contracts';
import { failureMail, jobMailKey } from '../src/index.ts';

describe('jobMailKey', () => {
  it("keys a first attempt's mail as before retries existed, and each retry's apart", () => {
    expect(jobMailKey('import.failed', 'imp_1', 1)).toBe('import.failed:imp_1');
    expect(jobMailKey('import.failed', 'imp_1', 2)).toBe('import.failed:imp_1:2');
    expect(jobMailKey('import.completed', 'imp_1', 3)).toBe('import.completed:imp_1:3');
  });
});

describe('failureMail', () => {
  it("sends a retried export's failure to its requester under the attempt's key", () => {
    const mail = failureMail(
      {
        jobId: 'exp_1',
        kind: 'export',
        attempt: 2,
        fileName: 'x',
        requestedBy: 'a@example.com',
        reason: 'gone',
        locale: null,
      },
      'ops@example.com',
    );
    expect(validate(MailSendJob, mail)).toMatchObject({
      id: 'export.failed:exp_1:2',
      payload: { to: 'a@example.com', idempotencyKey: 'export.failed:exp_1:2', params: { reason: 'gone' } },
    });
  });

  it("names the job's locale, en for a job registered without one, as the workflow's envelope does", () => {
    const facts = (kind: 'import' | 'export', locale: string | null) => ({
      jobId: `${kind}_1`,
      kind,
      attempt: 1,
      fileName: 'users.csv',
      requestedBy: 'a@example.com',
      reason: 'gone',
      locale,
    });
    // As queued, not as the contract's default fills it in: the workflow's envelope always names it.
    expect(
      [facts('import', 'ja'), facts('export', 'ja'), facts('import', null), facts('export', null)].map(
        (job) => failureMail(job, 'ops@example.com').payload.locale,
      ),
    ).toEqual(['ja', 'ja', 'en', 'en']);
  });
});
