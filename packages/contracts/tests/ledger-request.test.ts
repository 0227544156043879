import { describe, expect, it } from '@jest/globals';
import { LedgerAction, LedgerQuery, validate } from '../src/index.ts';

describe('LedgerQuery and LedgerAction', () => {
  it('refuses a misspelled field, naming it, instead of dropping it and listing every job', () => {
    expect(() => validate(LedgerQuery, { op: 'jobs.list', statuss: 'failed' })).toThrow(
      expect.objectContaining({ name: 'ContractValidationError', field: 'statuss' }),
    );
  });

  it('refuses an unknown key in every query and action, nested ones too', () => {
    const arn = 'arn:aws:states:us-east-1:1:execution:sidestep-staging-import:x';
    const queries = [
      { op: 'jobs.list' },
      { op: 'job.describe', jobId: 'imp_1' },
      { op: 'job.rejected-rows', jobId: 'imp_1' },
      { op: 'jobs.status', since: '2026-12-05T00:00:00Z' },
      { op: 'audit.list' },
    ];
    const entry = {
      operator: 'o',
      environment: 'staging',
      action: 'job-fail',
      target: 't',
      details: {},
      result: 'ok',
      error: null,
    };
    const actions = [
      { op: 'job.fail', jobId: 'imp_1', reason: 'r', operator: 'o' },
      {
        op: 'job.hand-over',
        jobId: 'imp_1',
        fromExecutionArn: arn,
        executionArn: arn,
        attempt: 2,
        operator: 'o',
      },
      {
        op: 'job.take-back',
        jobId: 'imp_1',
        executionArn: arn,
        previous: { executionArn: arn, attempt: 1, error: null },
      },
      { op: 'mail.release', idempotencyKey: 'k' },
      { op: 'mail.release', idempotencyKey: 'k', requestId: '0f8e6c1e-3c1b-4c39-9a53-8f0f3c2a9b1d' },
      { op: 'audit.append', entry },
    ];
    for (const query of queries) {
      expect(() => validate(LedgerQuery, query)).not.toThrow();
      expect(() => validate(LedgerQuery, { ...query, extra: 1 })).toThrow(
        expect.objectContaining({ field: 'extra' }),
      );
    }
    for (const action of actions) {
      expect(() => validate(LedgerAction, action)).not.toThrow();
      expect(() => validate(LedgerAction, { ...action, extra: 1 })).toThrow(
        expect.objectContaining({ field: 'extra' }),
      );
    }
    expect(() => validate(LedgerAction, { op: 'audit.append', entry: { ...entry, extra: 1 } })).toThrow(
      expect.objectContaining({ field: 'entry.extra' }),
    );
  });

  it('refuses a hand-over as attempt 1, naming attempt: a retry is attempt 2 or later', () => {
    const arn = 'arn:aws:states:us-east-1:1:execution:sidestep-staging-import:x';
    const handOver = {
      op: 'job.hand-over',
      jobId: 'imp_1',
      fromExecutionArn: arn,
      executionArn: `${arn}-2`,
      operator: 'o',
    };
    expect(validate(LedgerAction, { ...handOver, attempt: 2 })).toMatchObject({ attempt: 2 });
    expect(() => validate(LedgerAction, { ...handOver, attempt: 1 })).toThrow(
      expect.objectContaining({ name: 'ContractValidationError', field: 'attempt' }),
    );
  });
});
