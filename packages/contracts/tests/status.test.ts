import { describe, expect, it } from '@jest/globals';
import { ContractValidationError, StatusUpdateInput, StatusUpdateOutput, validate } from '../src/index.ts';

const executionId = 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:e1';
const register = {
  event: 'register',
  kind: 'import',
  expectedState: 'registered',
  executionId,
  source: { bucket: 'sidestep-local-imports', key: 'imports/users.csv', etag: '"abc"', size: 10 },
};

function fieldOf(value: unknown): string {
  try {
    validate(StatusUpdateInput, value);
  } catch (error) {
    if (error instanceof ContractValidationError) return error.field;
    throw error;
  }
  throw new Error('expected a ContractValidationError');
}

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
    expect(fieldOf({ ...register, source: { bucket: 'sidestep-local-imports', key: 'imports/a.csv' } })).toBe(
      'source.versionId',
    );
    expect(
      validate(StatusUpdateInput, {
        ...register,
        source: { ...register.source, etag: undefined, versionId: 'v1' },
      }),
    ).toMatchObject({ source: { versionId: 'v1' } });
  });

  it('names the missing job id, the unknown event and the unknown state', () => {
    expect(fieldOf({ event: 'start', expectedState: 'running', executionId })).toBe('jobId');
    expect(fieldOf({ event: 'explode', jobId: 'imp_1', expectedState: 'running', executionId })).toBe(
      'event',
    );
    expect(fieldOf({ event: 'start', jobId: 'imp_1', expectedState: 'done', executionId })).toBe(
      'expectedState',
    );
  });
});

describe('StatusUpdateOutput', () => {
  it('accepts the documented sample', () => {
    const output = {
      jobId: 'imp_1',
      kind: 'import',
      state: 'succeeded',
      executionId,
      duplicate: false,
      fileName: 'users.csv',
      rows: { total: 1000, imported: 1000, rejected: 0 },
      reason: null,
    };
    expect(validate(StatusUpdateOutput, output)).toEqual(output);
  });
});
