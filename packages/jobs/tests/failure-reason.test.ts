import { describe, expect, it } from '@jest/globals';
import { failureReason, MAX_REASON_LENGTH, UNKNOWN_FAILURE_REASON } from '../src/failure-reason.ts';
import { fileNameOf, sourceIdentity } from '../src/job-source.ts';

describe('failureReason', () => {
  it("prefers the worker's own error", () => {
    expect(
      failureReason('line 1: missing required column email', { Error: 'States.TaskFailed', Cause: '{}' }),
    ).toBe('line 1: missing required column email');
  });

  it("reads a Lambda task's error document", () => {
    const cause = JSON.stringify({
      errorType: 'InvalidTransitionError',
      errorMessage: 'event: cannot finish job imp_1 in state registered',
      trace: ['InvalidTransitionError: ...'],
    });
    expect(failureReason(null, { Error: 'InvalidTransitionError', Cause: cause })).toBe(
      'InvalidTransitionError: event: cannot finish job imp_1 in state registered',
    );
  });

  // Lambda words the errors it reports itself under the invocation's request id ("RequestId: <id>
  // Error: Task timed out after 3.00 seconds", https://repost.aws/knowledge-center/lambda-runtime-error):
  // the reason says what failed, not which request (the execution's history keeps that).
  it('leaves out the request id Lambda puts before the errors it reports itself', () => {
    const lambdaError = (errorType: string, errorMessage: string) => ({
      Error: errorType,
      Cause: JSON.stringify({ errorType, errorMessage }),
    });
    const id = '1234aa1b-cd50-6c78-90cd-ce1234ce9950';
    expect(
      failureReason(
        null,
        lambdaError('Sandbox.Timedout', `RequestId: ${id} Error: Task timed out after 3.00 seconds`),
      ),
    ).toBe('Sandbox.Timedout: Task timed out after 3.00 seconds');
    expect(
      failureReason(
        null,
        lambdaError('Runtime.ExitError', `RequestId: ${id} Error: Runtime exited with error: signal: killed`),
      ),
    ).toBe('Runtime.ExitError: Runtime exited with error: signal: killed');
    // Only that prefix: a message of the function's own is kept whole.
    expect(failureReason(null, lambdaError('JobStateError', 'RequestId: mine is not a prefix'))).toBe(
      'JobStateError: RequestId: mine is not a prefix',
    );
  });

  it("reads a stopped ECS task's exit codes and stopped reason", () => {
    const cause = JSON.stringify({
      StoppedReason: 'Essential container in task exited',
      Containers: [
        { Name: 'batch-worker', ExitCode: 1, Reason: 'OutOfMemoryError' },
        { Name: 'sidecar', ExitCode: 0 },
      ],
    });
    expect(failureReason(undefined, { Error: 'States.TaskFailed', Cause: cause })).toBe(
      'States.TaskFailed: batch-worker exited with code 1 (OutOfMemoryError); Essential container in task exited',
    );
  });

  // ecs:runTask.sync fails a RunTask that started no task as AmazonECS.Unknown, RunTask's answer as the
  // Cause (https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html).
  it("reads the reasons of RunTask's Failures when it started no task", () => {
    const answer = {
      Failures: [
        {
          Arn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/sidestep-staging-batch-worker:7',
          Reason: 'You’ve reached the limit on the number of vCPUs you can run concurrently',
        },
      ],
      Tasks: [],
    };
    expect(failureReason(null, { Error: 'AmazonECS.Unknown', Cause: JSON.stringify(answer) })).toBe(
      'AmazonECS.Unknown: ECS started no task: You’ve reached the limit on the number of vCPUs you can run concurrently',
    );
    const camel = { failures: [{ reason: 'MISSING', detail: 'capacity provider FARGATE_SPOT' }], tasks: [] };
    expect(failureReason(null, { Error: 'AmazonECS.Unknown', Cause: JSON.stringify(camel) })).toBe(
      'AmazonECS.Unknown: ECS started no task: MISSING (capacity provider FARGATE_SPOT)',
    );
    // No reason to read: the Cause as it is.
    expect(failureReason(null, { Error: 'AmazonECS.Unknown', Cause: '{"Failures":[],"Tasks":[]}' })).toBe(
      'AmazonECS.Unknown: {"Failures":[],"Tasks":[]}',
    );
  });

  it('names the signal behind an exit code of 128 + n (a killed task)', () => {
    const cause = (container: Record<string, unknown>) =>
      JSON.stringify({
        StopCode: 'EssentialContainerExited',
        StoppedReason: 'Essential container in task exited',
        Containers: [{ Name: 'batch-worker', ...container }],
      });
    expect(failureReason(null, { Error: 'States.TaskFailed', Cause: cause({ ExitCode: 137 }) })).toBe(
      'States.TaskFailed: batch-worker exited with code 137 (SIGKILL); Essential container in task exited',
    );
    expect(
      failureReason(null, {
        Error: 'States.TaskFailed',
        Cause: cause({ ExitCode: 143, Reason: 'container terminated by SIGTERM' }),
      }),
    ).toBe(
      'States.TaskFailed: batch-worker exited with code 143 (container terminated by SIGTERM); Essential container in task exited',
    );
    expect(
      failureReason(null, {
        Error: 'States.TaskFailed',
        Cause: cause({ ExitCode: 137, Reason: 'OutOfMemoryError' }),
      }),
    ).toBe(
      'States.TaskFailed: batch-worker exited with code 137 (SIGKILL, OutOfMemoryError); Essential container in task exited',
    );
  });

  it('falls back to Error and Cause as text, then to a fixed sentence', () => {
    expect(failureReason(null, { Error: 'States.Timeout' })).toBe('States.Timeout');
    expect(failureReason(null, { Error: 'States.TaskFailed', Cause: 'boom' })).toBe(
      'States.TaskFailed: boom',
    );
    expect(failureReason(null, { Cause: '{"unrelated":true}' })).toBe('{"unrelated":true}');
    expect(failureReason('  ', {})).toBe(UNKNOWN_FAILURE_REASON);
    expect(failureReason(null, undefined)).toBe(UNKNOWN_FAILURE_REASON);
  });

  // PostgreSQL text cannot hold U+0000 (22021) nor jsonb a \u0000 (22P05): a reason with a NUL could
  // not be recorded, and the fail step would fail instead of failing the job.
  it('writes a NUL of the Cause (a Lambda error message, a plain Cause) as \\u0000', () => {
    const lambda = JSON.stringify({ errorType: 'X', errorMessage: 'bad \u0000 byte' });
    expect(failureReason(null, { Error: 'X', Cause: lambda })).toBe('X: bad \\u0000 byte');
    expect(failureReason(null, { Error: 'States.TaskFailed', Cause: 'a\u0000b' })).toBe(
      'States.TaskFailed: a\\u0000b',
    );
    expect(failureReason('worker \u0000', undefined)).toBe('worker \\u0000');
  });

  it('cuts a reason with NULs to what the failure mail accepts, counting them as written', () => {
    const reason = failureReason('\u0000'.repeat(1000), undefined);
    expect(reason).toHaveLength(MAX_REASON_LENGTH);
    expect(reason).not.toContain('\u0000');
  });

  it('cuts a reason to what the failure mail accepts', () => {
    const reason = failureReason('x'.repeat(5000), undefined);
    expect(reason).toHaveLength(MAX_REASON_LENGTH);
    expect(reason.endsWith('…')).toBe(true);
  });
});

describe('sourceIdentity', () => {
  it('prefers the versionId and drops the quotes of an ETag', () => {
    const base = { bucket: 'sidestep-local-imports', key: 'imports/2026/users.csv' };
    expect(sourceIdentity({ ...base, versionId: 'v1', etag: '"e"' }).version).toBe('v1');
    expect(sourceIdentity({ ...base, etag: '"abc"' })).toEqual({
      ...base,
      version: 'abc',
      fileName: 'users.csv',
    });
    expect(sourceIdentity({ ...base, etag: 'abc' }).version).toBe('abc');
    expect(() => sourceIdentity(base)).toThrow('versionId or etag');
  });

  it("identifies an unversioned upload by its S3 event's sequencer rather than its ETag", () => {
    const base = { bucket: 'sidestep-local-imports', key: 'imports/users.csv', etag: 'abc' };
    expect(sourceIdentity({ ...base, sequencer: '0062A1B2C3D4E5F601' }).version).toBe('0062A1B2C3D4E5F601');
    expect(sourceIdentity({ ...base, versionId: 'v1', sequencer: '0062A1B2C3D4E5F601' }).version).toBe('v1');
  });

  it('names the file by the last key segment, printable and bounded', () => {
    expect(fileNameOf('imports/users.csv')).toBe('users.csv');
    expect(fileNameOf('users.csv')).toBe('users.csv');
    expect(fileNameOf('imports/')).toBe('imports/');
    expect(fileNameOf('imports/a\r\nBcc: x.csv')).toBe('a\uFFFD\uFFFDBcc: x.csv');
    expect(fileNameOf(`imports/${'a'.repeat(1020)}`)).toHaveLength(1000);
  });

  it('cuts a long file name between characters, never inside a surrogate pair', () => {
    // The 999th UTF-16 unit is the first half of 📊 (U+1F4CA): a cut there would leave a lone
    // surrogate, which is no character: UTF-8 cannot encode it, so the mail and the database got U+FFFD.
    const name = fileNameOf(`imports/${'a'.repeat(998)}📊${'b'.repeat(10)}.csv`);
    expect(name).toBe(`${'a'.repeat(998)}…`);
    expect(name.isWellFormed()).toBe(true);
    expect(fileNameOf(`imports/${'a'.repeat(997)}📊${'b'.repeat(10)}.csv`)).toBe(`${'a'.repeat(997)}📊…`);
  });
});
