import { copyFileSync, globSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '@sidestep/db';
import { type FunctionHost, startFunction } from '@sidestep/lambda-runtime';
import { service } from '../service.ts';

// The image contract: the files the Dockerfile copies (and nothing else) run through the Lambda
// Runtime API with a read-only task root, as the Lambda Node.js base image runs them, against
// PostgreSQL over the wire. What Step Functions sees of a failure is the runtime's error document:
// its `errorType` becomes the task's `Error`, which the workflow's Catch matches.
const packageDir = join(import.meta.dirname, '..');
const dockerfile = readFileSync(join(packageDir, 'Dockerfile'), 'utf8');

/** The sources of the Dockerfile's COPY into ${LAMBDA_TASK_ROOT}. */
function copiedFiles(): string[] {
  const copy = dockerfile.split('\n').find((line) => /^COPY\s.*\$\{LAMBDA_TASK_ROOT\}/.test(line));
  if (!copy) throw new Error('Dockerfile has no COPY into the Lambda task root');
  return copy.trim().split(/\s+/).slice(1, -1);
}

let taskRoot: string;
let postgres: EmbeddedPostgres;
let fn: FunctionHost;

beforeAll(async () => {
  taskRoot = mkdtempSync(join(tmpdir(), 'status-updater-task-'));
  // COPY sources are globs (the bundle's lazily loaded chunks are dist/chunk-*.mjs), as Docker expands them.
  for (const file of copiedFiles().flatMap((pattern) => globSync(pattern, { cwd: packageDir })))
    copyFileSync(join(packageDir, file), join(taskRoot, file.split('/').at(-1) as string));
  postgres = await startEmbeddedPostgres({});
  fn = await startFunction({
    name: 'sidestep-test-status-updater',
    bundleDir: taskRoot,
    handler: service.handler,
    memoryMb: service.memoryMb,
    timeoutSeconds: service.timeoutSeconds,
    readOnly: true,
    isolate: true,
    onLog: () => {},
    environment: { DATABASE_URL: postgres.url, POWERTOOLS_SERVICE_NAME: service.name },
  });
}, 60_000);

afterAll(async () => {
  await fn?.close();
  await postgres?.close();
  rmSync(taskRoot, { recursive: true, force: true });
});

const executionId = 'arn:aws:states:us-east-1:000000000000:execution:sidestep-test-import:image-1';

describe('status-updater image', () => {
  it('copies only the bundle and names the manifest handler as CMD', () => {
    expect(copiedFiles()).toEqual(['dist/*.mjs', 'dist/*.mjs.map']);
    expect(dockerfile).toMatch(/^FROM public\.ecr\.aws\/lambda\/nodejs:24\b/m);
    // The base image's Amazon CAs (RDS's among them) are loaded only through this variable.
    expect(/^ENV NODE_EXTRA_CA_CERTS=(\S+)$/m.exec(dockerfile)?.[1]).toBe('/var/runtime/ca-cert.pem');
    const cmd = /^CMD \["([^"]+)"\]/m.exec(dockerfile)?.[1];
    expect(cmd).toBe(service.handler);
  });

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
