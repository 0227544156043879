import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '@sidestep/db';
import type { FunctionHost } from '@sidestep/lambda-runtime';
import {
  BASE_IMAGE_CA_CERTS,
  itKeepsTheImageContract,
  stageLambdaImage,
} from '@sidestep/lambda-runtime/testing';
import { type LocalSqs, startLocalSqs } from '@sidestep/runtime/testing';
import { service } from '../service.ts';

// The image contract: the files the Dockerfile copies (and nothing else) run through the Lambda
// Runtime API with a read-only task root, against PostgreSQL over the wire and SQS over HTTP, as the
// scheduled function runs on AWS.
const image = stageLambdaImage(join(import.meta.dirname, '..'), service);
let postgres: EmbeddedPostgres;
let local: LocalSqs;
let queueUrl: string;
let fn: FunctionHost;
/** A Step Functions stand-in on the loopback: answers every ListExecutions with none, records the calls. */
let stepFunctions: Server;
const listed: { target: string; stateMachineArn: string; statusFilter: string }[] = [];
const IMPORT_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-test-import';

beforeAll(async () => {
  [postgres, local] = await Promise.all([startEmbeddedPostgres({}), startLocalSqs()]);
  ({ QueueUrl: queueUrl = '' } = await local.sqs.send(
    new CreateQueueCommand({ QueueName: 'sidestep-test-mail' }),
  ));
  stepFunctions = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    request.on('end', () => {
      listed.push({ target: String(request.headers['x-amz-target']), ...JSON.parse(body) });
      response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end('{"executions":[]}');
    });
  });
  await new Promise<void>((resolve) => stepFunctions.listen(0, '127.0.0.1', resolve));
  fn = await image.start({
    environment: {
      DATABASE_URL: postgres.url,
      MAIL_QUEUE_URL: queueUrl,
      NOTIFY_ADDRESS: 'ops@example.com',
      AWS_ENDPOINT_URL: local.endpoint,
      // Step Functions' own endpoint (the SDK's service-specific variable): the stand-in above.
      AWS_ENDPOINT_URL_SFN: `http://127.0.0.1:${(stepFunctions.address() as AddressInfo).port}`,
      WORKFLOW_STATE_MACHINE_ARNS: IMPORT_MACHINE,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 't',
      AWS_SECRET_ACCESS_KEY: 't',
    },
  });
}, 60_000);

afterAll(async () => {
  await image.close();
  await Promise.all([
    postgres?.close(),
    local?.stop(),
    new Promise((resolve) => (stepFunctions ? stepFunctions.close(resolve) : resolve(undefined))),
  ]);
});

describe('job-sweeper image', () => {
  itKeepsTheImageContract(image, { environment: BASE_IMAGE_CA_CERTS });

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
    const bodies = await local.receiveAll(queueUrl);
    expect(bodies.map((body) => JSON.parse(body).id)).toEqual(['export.failed:exp_img']);
    // Each sweep listed the workflow's ended executions through the Step Functions client the image
    // loads with the first sweep (its lazy chunk read from the read-only task root).
    const ended = { stateMachineArn: IMPORT_MACHINE, maxResults: 1000 };
    expect(listed).toEqual(
      [1, 2].flatMap(() =>
        ['FAILED', 'ABORTED', 'TIMED_OUT'].map((statusFilter) => ({
          target: 'AWSStepFunctions.ListExecutions',
          ...ended,
          statusFilter,
        })),
      ),
    );

    const refused = await fn.invoke('not an object');
    expect(!refused.ok && refused.error.errorType).toBe('InvalidInputError');
  }, 30_000);
});
