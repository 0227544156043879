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
// Runtime API with a read-only task root, against PostgreSQL over the wire, as operators' tools
// invoke the function on AWS (unqualified: the queries).
const image = stageLambdaImage(join(import.meta.dirname, '..'), service);
let postgres: EmbeddedPostgres;
let fn: FunctionHost;

beforeAll(async () => {
  postgres = await startEmbeddedPostgres({});
  fn = await image.start({ environment: { DATABASE_URL: postgres.url, AWS_REGION: 'us-east-1' } });
}, 60_000);

afterAll(async () => {
  await image.close();
  await postgres?.close();
});

describe('ops-ledger image', () => {
  itKeepsTheImageContract(image, { environment: BASE_IMAGE_CA_CERTS });

  it('answers a jobs query and refuses an action invoked without the alias', async () => {
    await postgres.db.query(
      `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name, execution_id)
       VALUES ('exp_img', 'export', 'failed', 'req-img', 'asker@example.com', 'users-x', 'arn:e:img')`,
    );
    const listed = await fn.invoke({ op: 'jobs.list', status: 'failed' });
    expect(listed.ok && listed.payload).toMatchObject({
      ok: true,
      result: { jobs: [{ id: 'exp_img' }], next: null },
    });
    const refused = await fn.invoke({ op: 'mail.release', idempotencyKey: 'export.failed:exp_img' });
    expect(refused.ok && refused.payload).toMatchObject({ ok: false, error: { field: 'op' } });
  }, 30_000);
});
