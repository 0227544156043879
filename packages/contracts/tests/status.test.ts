import { describe, expect, it } from '@jest/globals';
import {
  ContractValidationError,
  ExecutionStatusChange,
  JobSweeperInput,
  StatusUpdateInput,
  StatusUpdateOutput,
  SweepStaleJobsInput,
  SweepStaleJobsOutput,
  validate,
} from '../src/index.ts';
import { fieldOf } from './validation-error.ts';

const executionId = 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:e1';
const register = {
  event: 'register',
  kind: 'import',
  expectedState: 'registered',
  executionId,
  source: { bucket: 'sidestep-local-imports', key: 'imports/users.csv', etag: '"abc"', size: 10 },
};

describe('StatusUpdateInput', () => {
  it('accepts each documented event shape', () => {
    expect(validate(StatusUpdateInput, register).event).toBe('register');
    for (const event of ['start', 'finish'] as const) {
      expect(
        validate(StatusUpdateInput, { event, jobId: 'imp_1', expectedState: 'running', executionId }),
      ).toEqual({
        event,
        jobId: 'imp_1',
        expectedState: 'running',
        executionId,
      });
    }
    const fail = validate(StatusUpdateInput, {
      event: 'fail',
      jobId: 'imp_1',
      expectedState: 'failed',
      executionId,
      error: { Error: 'States.TaskFailed', Cause: '{}' },
    });
    expect(fail.event === 'fail' && fail.error).toEqual({ Error: 'States.TaskFailed', Cause: '{}' });
  });

  it('requires a version of the source object and names the field', () => {
    expect(
      fieldOf(StatusUpdateInput, {
        ...register,
        source: { bucket: 'sidestep-local-imports', key: 'imports/a.csv' },
      }),
    ).toBe('source.versionId');
    expect(
      validate(StatusUpdateInput, {
        ...register,
        source: { ...register.source, etag: undefined, versionId: 'v1' },
      }),
    ).toMatchObject({ source: { versionId: 'v1' } });
  });

  it('names the missing job id, the unknown event and the unknown state', () => {
    expect(fieldOf(StatusUpdateInput, { event: 'start', expectedState: 'running', executionId })).toBe(
      'jobId',
    );
    expect(
      fieldOf(StatusUpdateInput, { event: 'explode', jobId: 'imp_1', expectedState: 'running', executionId }),
    ).toBe('event');
    expect(
      fieldOf(StatusUpdateInput, { event: 'start', jobId: 'imp_1', expectedState: 'done', executionId }),
    ).toBe('expectedState');
  });
});

describe('StatusUpdateOutput', () => {
  it('accepts the documented sample', () => {
    const output = {
      jobId: 'imp_1',
      kind: 'import',
      state: 'succeeded',
      executionId,
      attemptKey: 'imp_1',
      duplicate: false,
      fileName: 'users.csv',
      rows: { total: 1000, imported: 1000, rejected: 0, written: 12 },
      rejectedSamples: [],
      reason: null,
      requestedBy: null,
      downloadUrl: null,
      resultKey: null,
      bytes: 2048,
    };
    expect(validate(StatusUpdateOutput, output)).toEqual(output);
  });
});

describe('StatusUpdateInput for exports', () => {
  const registerExport = {
    event: 'register',
    kind: 'export',
    expectedState: 'registered',
    executionId,
    request: {
      id: 'req-2026-11-24-0001',
      requestedBy: 'ops@example.com',
      fileName: 'users-2026-11-24',
      filter: { emailDomain: 'example.com' },
    },
  };

  it('accepts an export register keyed by the request, with or without a filter', () => {
    expect(validate(StatusUpdateInput, registerExport)).toEqual(registerExport);
    for (const filter of [null, undefined]) {
      const request = { ...registerExport.request, filter };
      expect(validate(StatusUpdateInput, { ...registerExport, request })).toMatchObject({ request });
    }
  });

  it('accepts an export register in a mail locale, or without one', () => {
    for (const locale of ['en', 'ja', undefined]) {
      const request = { ...registerExport.request, locale };
      expect(validate(StatusUpdateInput, { ...registerExport, request })).toMatchObject({ request });
    }
  });

  it('names the field of a bad export request, and refuses a source-less import', () => {
    const request = (fields: Record<string, unknown>) => ({
      ...registerExport,
      request: { ...registerExport.request, ...fields },
    });
    expect(fieldOf(StatusUpdateInput, request({ id: 'has space' }))).toBe('request.id');
    expect(fieldOf(StatusUpdateInput, request({ requestedBy: 'not-an-address' }))).toBe(
      'request.requestedBy',
    );
    expect(fieldOf(StatusUpdateInput, request({ fileName: '../other-job/users' }))).toBe('request.fileName');
    expect(fieldOf(StatusUpdateInput, request({ fileName: undefined }))).toBe('request.fileName');
    expect(fieldOf(StatusUpdateInput, request({ locale: 'fr' }))).toBe('request.locale');
    expect(fieldOf(StatusUpdateInput, request({ filter: { emailDomain: 'example.com', owner: 'x' } }))).toBe(
      'request.filter.owner',
    );
    expect(fieldOf(StatusUpdateInput, { ...registerExport, kind: 'import', request: undefined })).toBe(
      'source',
    );
    expect(fieldOf(StatusUpdateInput, { ...registerExport, kind: 'sync' })).toBe('kind');
  });

  it("takes the finalizer's whole output as an export's finish result", () => {
    const finalized = {
      jobId: 'exp_1',
      bucket: 'sidestep-local-exports',
      key: 'exports/exp_1/users-2026-11-24.csv.gz',
      rows: 1000,
      bytes: 31234,
      sha256: 'a'.repeat(64),
      manifestKey: 'exports/exp_1/manifest.json',
      downloadUrl: 'http://127.0.0.1:4566/_sidestep/exports/exp_1?token=t',
      downloadExpiresAt: '2026-12-01T09:00:00.000Z',
    };
    const finish = { event: 'finish', jobId: 'exp_1', expectedState: 'succeeded', executionId };
    expect(validate(StatusUpdateInput, { ...finish, result: finalized })).toMatchObject({
      result: { key: finalized.key, rows: 1000, bytes: 31234, downloadUrl: finalized.downloadUrl },
    });
    expect(
      fieldOf(StatusUpdateInput, { ...finish, result: { ...finalized, downloadUrl: 'javascript:alert(1)' } }),
    ).toBe('result.downloadUrl');
    expect(fieldOf(StatusUpdateInput, { ...finish, result: { ...finalized, rows: -1 } })).toBe('result.rows');
  });
});

describe('SweepStaleJobs', () => {
  it("accepts the schedule's empty input and the documented output", () => {
    expect(validate(SweepStaleJobsInput, {})).toEqual({});
    const swept = {
      jobId: 'exp_01',
      kind: 'export',
      deadlineAt: '2026-11-24T12:00:00.000Z',
      reason: 'no progress before the deadline (2026-11-24T12:00:00.000Z)',
      mailId: 'export.failed:exp_01',
    };
    const output = { sweptAt: '2026-11-24T12:15:00.000Z', failed: [swept], mailed: [swept] };
    expect(validate(SweepStaleJobsOutput, output)).toEqual(output);
    expect(() => validate(SweepStaleJobsOutput, { ...output, failed: [{ ...swept, kind: 'sync' }] })).toThrow(
      ContractValidationError,
    );
  });

  it("accepts a scheduled sweep's purge counts and refuses a negative one, naming it", () => {
    const purged = {
      olderThan: '2026-08-26T12:15:00.000Z',
      idempotencyRecords: 3,
      jobs: 2,
      jobTransitions: 8,
      importRejectedRows: 40,
      exportProgress: 1,
      operatorAudit: 0,
      complete: true,
    };
    const output = { sweptAt: '2026-11-24T12:15:00.000Z', failed: [], mailed: [], purged };
    expect(validate(SweepStaleJobsOutput, output)).toEqual(output);
    expect(fieldOf(SweepStaleJobsOutput, { ...output, purged: { ...purged, jobs: -1 } })).toBe('purged.jobs');
  });

  it('accepts the jobs a stale status change left as they are, and names a count below the first redrive', () => {
    const ignored = [{ jobId: 'imp_01', redriveCount: 0, latestRedriveCount: 1 }];
    const output = { sweptAt: '2026-11-24T12:15:00.000Z', failed: [], mailed: [], ignored };
    expect(validate(SweepStaleJobsOutput, output)).toEqual(output);
    expect(
      fieldOf(SweepStaleJobsOutput, { ...output, ignored: [{ ...ignored[0], latestRedriveCount: 0 }] }),
    ).toBe('ignored[0].latestRedriveCount');
  });
});

describe('ExecutionStatusChange', () => {
  const ended = {
    version: '0',
    source: 'aws.states',
    'detail-type': 'Step Functions Execution Status Change',
    detail: {
      executionArn: executionId,
      stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import',
      name: 'e1',
      status: 'ABORTED',
      stopDate: 1795510805000,
      error: null,
      cause: null,
    },
  };

  // Step Functions' events carry the execution's redriveCount, 0 until it is redriven
  // (https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html).
  it('takes the redrive count of a redriven execution, and an event without one', () => {
    const redriven = { ...ended, detail: { ...ended.detail, redriveCount: 2, redriveStatus: 'REDRIVABLE' } };
    expect(validate(ExecutionStatusChange, redriven).detail.redriveCount).toBe(2);
    expect(validate(ExecutionStatusChange, ended).detail).not.toHaveProperty('redriveCount');
  });

  it('refuses a redrive count that is not a non-negative integer, naming it', () => {
    for (const redriveCount of [-1, 1.5, '1', null]) {
      const event = { ...ended, detail: { ...ended.detail, redriveCount } };
      expect(fieldOf(ExecutionStatusChange, event)).toBe('detail.redriveCount');
      expect(() => validate(JobSweeperInput, event)).toThrow(ContractValidationError);
    }
  });
});
