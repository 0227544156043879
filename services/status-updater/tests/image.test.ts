import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '@sidestep/db';
import type { FunctionHost } from '@sidestep/lambda-runtime';
import {
  BASE_IMAGE_CA_CERTS,
  itKeepsTheImageContract,
  stageLambdaImage,
} from '@sidestep/lambda-runtime/testing';
import { service } from '../service.ts';

// The image contract: the files the Dockerfile copies (and nothing else) run through the Lambda
// Runtime API with a read-only task root, as the Lambda Node.js base image runs them, against
// PostgreSQL over the wire. What Step Functions sees of a failure is the runtime's error document:
// its `errorType` becomes the task's `Error`, which the workflow's Catch matches.
const image = stageLambdaImage(join(import.meta.dirname, '..'), service);
let postgres: EmbeddedPostgres;
let fn: FunctionHost;

beforeAll(async () => {
  postgres = await startEmbeddedPostgres({});
  fn = await image.start({ environment: { DATABASE_URL: postgres.url } });
}, 60_000);

afterAll(async () => {
  await image.close();
  await postgres?.close();
});

const executionId = 'arn:aws:states:us-east-1:000000000000:execution:sidestep-test-import:image-1';

describe('status-updater image', () => {
  itKeepsTheImageContract(image, { environment: BASE_IMAGE_CA_CERTS });

  it('registers a job twice with one result and reports a refused transition by its error name', async () => {
    const register = {
      event: 'register',
      kind: 'import',
      expectedState: 'registered',
      executionId,
      source: { bucket: 'sidestep-test-imports', key: 'imports/users.csv', etag: '"e1"', size: 10 },
    };
    const first = await fn.invoke(register);
    const second = await fn.invoke(register);
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    expect(first.payload).toMatchObject({ state: 'registered', duplicate: false, fileName: 'users.csv' });
    expect(second.ok && second.payload).toEqual(first.payload);
    const { jobId } = first.payload as { jobId: string };

    const refused = await fn.invoke({ event: 'finish', jobId, expectedState: 'succeeded', executionId });
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.error.errorType).toBe('InvalidTransitionError');
    expect(refused.error.errorMessage).toContain(`cannot finish job ${jobId} in state registered`);

    const invalid = await fn.invoke({ event: 'start', expectedState: 'running', executionId });
    expect(!invalid.ok && invalid.error.errorType).toBe('InvalidInputError');

    // Warm after failures: the same sandbox goes on serving.
    const started = await fn.invoke({ event: 'start', jobId, expectedState: 'running', executionId });
    expect(started.ok && started.payload).toMatchObject({ jobId, state: 'running' });
  }, 30_000);

  it('registers an export by its request twice with one job and finishes it with the finalizer result', async () => {
    const exportExecution = 'arn:aws:states:us-east-1:000000000000:execution:sidestep-test-export:image-1';
    const register = {
      event: 'register',
      kind: 'export',
      expectedState: 'registered',
      executionId: exportExecution,
      request: { id: 'req-image-1', requestedBy: 'ops@example.com', fileName: 'users-image' },
    };
    const first = await fn.invoke(register);
    const second = await fn.invoke(register);
    expect(first.ok && first.payload).toMatchObject({ kind: 'export', requestedBy: 'ops@example.com' });
    expect(second.ok && second.payload).toEqual(first.ok && first.payload);
    const { jobId } = (first.ok ? first.payload : {}) as { jobId: string };
    await fn.invoke({ event: 'start', jobId, expectedState: 'running', executionId: exportExecution });
    const result = {
      key: `exports/${jobId}/users-image.csv.gz`,
      rows: 3,
      bytes: 99,
      downloadUrl: 'https://d.example/x',
    };
    const finished = await fn.invoke({
      event: 'finish',
      jobId,
      expectedState: 'succeeded',
      executionId: exportExecution,
      result,
    });
    expect(finished.ok && finished.payload).toMatchObject({
      state: 'succeeded',
      downloadUrl: result.downloadUrl,
      resultKey: result.key,
      rows: { total: 3 },
    });
  }, 30_000);
});
