import { copyFileSync, globSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '@sidestep/db';
import { type FunctionHost, startFunction } from '@sidestep/lambda-runtime';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { service } from '../service.ts';

// The image contract: the files the Dockerfile copies (and nothing else) run through the Lambda
// Runtime API with a read-only task root, against PostgreSQL over the wire and SQS over HTTP, as the
// scheduled function runs on AWS.
const packageDir = join(import.meta.dirname, '..');
const dockerfile = readFileSync(join(packageDir, 'Dockerfile'), 'utf8');

function copiedFiles(): string[] {
  const copy = dockerfile.split('\n').find((line) => /^COPY\s.*\$\{LAMBDA_TASK_ROOT\}/.test(line));
  if (!copy) throw new Error('Dockerfile has no COPY into the Lambda task root');
  return copy.trim().split(/\s+/).slice(1, -1);
}

let taskRoot: string;
let postgres: EmbeddedPostgres;
let sqsServer: FauxqsServer;
let sqs: SQSClient;
let queueUrl: string;
let fn: FunctionHost;

beforeAll(async () => {
  taskRoot = mkdtempSync(join(tmpdir(), 'job-sweeper-task-'));
  // COPY sources are globs (the bundle's lazily loaded chunks are dist/chunk-*.mjs), as Docker expands them.
  for (const file of copiedFiles().flatMap((pattern) => globSync(pattern, { cwd: packageDir })))
    copyFileSync(join(packageDir, file), join(taskRoot, file.split('/').at(-1) as string));
  [postgres, sqsServer] = await Promise.all([
    startEmbeddedPostgres({}),
    startFauxqs({ port: 0, host: '127.0.0.1', logger: false }),
  ]);
  const endpoint = `http://127.0.0.1:${sqsServer.port}`;
  sqs = new SQSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 't', secretAccessKey: 't' },
  });
  ({ QueueUrl: queueUrl = '' } = await sqs.send(new CreateQueueCommand({ QueueName: 'sidestep-test-mail' })));
  fn = await startFunction({
    name: 'sidestep-test-job-sweeper',
    bundleDir: taskRoot,
    handler: service.handler,
    memoryMb: service.memoryMb,
    timeoutSeconds: service.timeoutSeconds,
    readOnly: true,
    isolate: true,
    onLog: () => {},
    environment: {
      DATABASE_URL: postgres.url,
      MAIL_QUEUE_URL: queueUrl,
      NOTIFY_ADDRESS: 'ops@example.com',
      POWERTOOLS_SERVICE_NAME: service.name,
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 't',
      AWS_SECRET_ACCESS_KEY: 't',
    },
  });
}, 60_000);

afterAll(async () => {
  await fn?.close();
  sqs?.destroy();
  await Promise.all([postgres?.close(), sqsServer?.stop()]);
  rmSync(taskRoot, { recursive: true, force: true });
});

describe('job-sweeper image', () => {
  it('copies only the bundle and names the manifest handler as CMD', () => {
    expect(copiedFiles()).toEqual(['dist/*.mjs', 'dist/*.mjs.map']);
    expect(dockerfile).toMatch(/^FROM public\.ecr\.aws\/lambda\/nodejs:24\b/m);
    // The base image's Amazon CAs (RDS's among them) are loaded only through this variable.
    expect(/^ENV NODE_EXTRA_CA_CERTS=(\S+)$/m.exec(dockerfile)?.[1]).toBe('/var/runtime/ca-cert.pem');
    expect(/^CMD \["([^"]+)"\]/m.exec(dockerfile)?.[1]).toBe(service.handler);
  });

  it('fails a job stuck past its deadline and queues its mail, once for two invocations', async () => {
    await postgres.db.query(
      `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name, execution_id, deadline_at)
       VALUES ('exp_img', 'export', 'running', 'req-img', 'asker@example.com', 'users-x', 'arn:e:img', now() - interval '1 minute')`,
    );
    const first = await fn.invoke({});
    if (!first.ok) throw new Error(JSON.stringify(first.error));
    const second = await fn.invoke({});
    expect(first.ok && first.payload).toMatchObject({ failed: [{ jobId: 'exp_img', kind: 'export' }] });
    expect(second.ok && second.payload).toMatchObject({ failed: [], mailed: [] });
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    expect(Messages.map((message) => JSON.parse(message.Body as string).id)).toEqual([
      'export.failed:exp_img',
    ]);

    const refused = await fn.invoke('not an object');
    expect(!refused.ok && refused.error.errorType).toBe('InvalidInputError');
  }, 30_000);
});
