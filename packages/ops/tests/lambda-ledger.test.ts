import { join } from 'node:path';
import { InvokeCommand, type InvokeCommandOutput } from '@aws-sdk/client-lambda';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '@sidestep/db';
import { type FunctionHost, startFunction } from '@sidestep/lambda-runtime';
import { sampleJobDetail } from '@sidestep/ledger/testing';
import { registeredService, WORKSPACE_ROOT } from '@sidestep/registry';
import {
  allRejectedRows,
  describeJob,
  failJob,
  listAudit,
  listJobs,
  listRejectedRows,
} from '../src/index.ts';
import { acceptMail, stagingContext } from './staging-context.ts';

const FUNCTION_NAME = 'sidestep-staging-ops-ledger';
const OPERATOR = 'arn:aws:sts::123456789012:assumed-role/operator/alice';

/** What the stubbed Lambda was asked: function, qualifier and the request it carried. */
function invocations(lambda: ReturnType<typeof stagingContext>['lambda']) {
  return lambda.commandCalls(InvokeCommand).map((call) => ({
    functionName: call.args[0].input.FunctionName,
    qualifier: call.args[0].input.Qualifier,
    request: JSON.parse(new TextDecoder().decode(call.args[0].input.Payload as Uint8Array)) as { op: string },
  }));
}

/** An Invoke payload as the SDK returns it (a Uint8Array with helpers the adapter does not use). */
const payload = (body: unknown) =>
  new TextEncoder().encode(JSON.stringify(body)) as unknown as InvokeCommandOutput['Payload'];
const answer = (body: unknown) => ({ StatusCode: 200, Payload: payload(body) });

describe('the ledger of an AWS environment (LambdaLedger, stubbed Lambda)', () => {
  it('lists jobs by invoking the function itself with a validated query, dates revived', async () => {
    const { context, lambda } = stagingContext();
    lambda.on(InvokeCommand).resolves(
      answer({
        ok: true,
        result: {
          jobs: [
            {
              id: 'imp_1',
              state: 'failed',
              createdAt: '2026-11-24T10:00:00.000Z',
              updatedAt: '2026-11-24T10:01:00.000Z',
            },
          ],
          next: null,
        },
      }),
    );
    const page = await listJobs(context, { status: 'failed', kind: 'import', limit: 5 });
    expect(page.jobs[0]?.createdAt).toEqual(new Date('2026-11-24T10:00:00.000Z'));
    expect(invocations(lambda)).toEqual([
      {
        functionName: FUNCTION_NAME,
        qualifier: undefined,
        request: { op: 'jobs.list', status: 'failed', kind: 'import', limit: 5 },
      },
    ]);
  });

  it("pages an import's rejected rows through the function itself, refusing a bad page before invoking", async () => {
    const { context, lambda } = stagingContext();
    const page = {
      jobId: 'imp_1',
      rowsRejected: 3,
      rows: [{ line: 7, field: 'email', message: 'is empty' }],
      next: 7,
    };
    lambda.on(InvokeCommand).resolves(answer({ ok: true, result: page }));
    expect(await listRejectedRows(context, 'imp_1', { limit: 1, after: 2 })).toEqual(page);
    expect(invocations(lambda)).toEqual([
      {
        functionName: FUNCTION_NAME,
        qualifier: undefined,
        request: { op: 'job.rejected-rows', jobId: 'imp_1', limit: 1, after: 2 },
      },
    ]);
    await expect(listRejectedRows(context, 'imp_1', { limit: 501 })).rejects.toMatchObject({
      field: 'limit',
    });
    await expect(listRejectedRows(context, 'imp_1', { after: -1 })).rejects.toMatchObject({ field: 'after' });
    expect(invocations(lambda)).toHaveLength(1);
  });

  it('reads every rejected row page after page, 500 an invocation', async () => {
    const { context, lambda } = stagingContext();
    const rows = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => ({ line: from + i, field: 'email', message: 'is empty' }));
    const page = { jobId: 'imp_1', state: 'succeeded', rowsRejected: 501 };
    lambda
      .on(InvokeCommand)
      .resolvesOnce(answer({ ok: true, result: { ...page, rows: rows(2, 500), next: 501 } }))
      .resolvesOnce(answer({ ok: true, result: { ...page, rows: rows(502, 1), next: null } }));
    const all = await allRejectedRows(context, 'imp_1');
    expect(all.rows.map((row) => row.line)).toEqual(
      [...rows(2, 500), ...rows(502, 1)].map((row) => row.line),
    );
    expect(all.next).toBeNull();
    expect(invocations(lambda).map((call) => call.request)).toEqual([
      { op: 'job.rejected-rows', jobId: 'imp_1', limit: 500 },
      { op: 'job.rejected-rows', jobId: 'imp_1', limit: 500, after: 501 },
    ]);
  });

  it("revives a job's mail records' dates: their claim, expiry and in-progress window", async () => {
    const { context, lambda } = stagingContext();
    const mail = {
      idempotencyKey: 'import.failed:imp_1',
      recordId: 'sidestep-staging-mail-dispatcher#abc',
      status: 'INPROGRESS',
      createdAt: '2026-12-05T10:00:00.000Z',
      expiresAt: '2026-12-24T10:00:00.000Z',
      inProgressUntil: '2026-12-05T10:01:00.000Z',
    };
    const sent = {
      ...mail,
      idempotencyKey: 'import.completed:imp_1',
      status: 'COMPLETED',
      inProgressUntil: null,
    };
    lambda
      .on(InvokeCommand)
      .resolves(answer({ ok: true, result: { ...sampleJobDetail({ id: 'imp_1' }), mails: [mail, sent] } }));
    expect((await describeJob(context, 'imp_1')).mails).toEqual([
      {
        ...mail,
        createdAt: new Date('2026-12-05T10:00:00Z'),
        expiresAt: new Date('2026-12-24T10:00:00Z'),
        inProgressUntil: new Date('2026-12-05T10:01:00Z'),
      },
      { ...sent, createdAt: new Date('2026-12-05T10:00:00Z'), expiresAt: new Date('2026-12-24T10:00:00Z') },
    ]);
  });

  it('refuses a bad status before invoking anything', async () => {
    const { context, lambda } = stagingContext();
    await expect(listJobs(context, { status: 'lost' })).rejects.toMatchObject({ field: 'status' });
    expect(lambda.calls()).toHaveLength(0);
  });

  it("rebuilds the ledger's named error and reports a function failure as LedgerInvokeError", async () => {
    const { context, lambda } = stagingContext();
    lambda
      .on(InvokeCommand)
      .resolvesOnce(
        answer({
          ok: false,
          error: { name: 'JobNotFoundError', message: 'jobId: no job "imp_x"', field: 'jobId' },
        }),
      )
      .resolvesOnce({
        StatusCode: 200,
        FunctionError: 'Unhandled',
        Payload: payload({ errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out' }),
      });
    await expect(describeJob(context, 'imp_x')).rejects.toMatchObject({
      name: 'JobNotFoundError',
      field: 'jobId',
    });
    await expect(describeJob(context, 'imp_x')).rejects.toMatchObject({
      name: 'LedgerInvokeError',
      message: expect.stringContaining('Sandbox.Timedout: Task timed out'),
    });
  });

  it('fails a job and appends its audit entry through the actions alias, and queues the failure mail', async () => {
    const { context, lambda, sqs } = stagingContext();
    // The job read first (its execution must not be running), through the unqualified queries.
    lambda.on(InvokeCommand).resolves(answer({ ok: true, result: sampleJobDetail({ id: 'exp_1' }) }));
    lambda.on(InvokeCommand, { Qualifier: 'actions' }).callsFake((input: { Payload: Uint8Array }) => {
      const request = JSON.parse(new TextDecoder().decode(input.Payload)) as { op: string };
      return request.op === 'job.fail'
        ? answer({
            ok: true,
            result: {
              jobId: 'exp_1',
              kind: 'export',
              state: 'failed',
              reason: 'worker task gone',
              attempt: 2,
              fileName: 'users-x',
              requestedBy: 'asker@example.com',
              // Kept from the request: the workflow's own failure mail under this key says ja too.
              locale: 'ja',
              recipient: 'asker@example.com',
            },
          })
        : answer({ ok: true, result: null });
    });
    acceptMail(sqs);

    const failed = await failJob(context, 'exp_1', 'worker task gone');

    expect(failed.mail).toEqual({ status: 'queued', id: 'export.failed:exp_1:2', to: 'asker@example.com' });
    expect(invocations(lambda).map(({ qualifier, request }) => [qualifier, request.op])).toEqual([
      [undefined, 'job.describe'],
      ['actions', 'job.fail'],
      ['actions', 'job.fail-mail-queued'],
      ['actions', 'audit.append'],
    ]);
    expect(invocations(lambda)[1]?.request).toMatchObject({ operator: OPERATOR });
    expect(invocations(lambda)[2]?.request).toEqual({
      op: 'job.fail-mail-queued',
      jobId: 'exp_1',
      mailId: 'export.failed:exp_1:2',
    });
    expect(invocations(lambda)[3]?.request).toMatchObject({
      entry: {
        action: 'job-fail',
        target: 'exp_1',
        result: 'ok',
        environment: 'staging',
        operator: OPERATOR,
      },
    });
    const sent = JSON.parse(
      sqs.commandCalls(SendMessageBatchCommand)[0]?.args[0].input.Entries?.[0]?.MessageBody ?? '{}',
    );
    expect(sent).toMatchObject({
      type: 'mail.send',
      id: 'export.failed:exp_1:2',
      payload: {
        template: 'export.failed',
        to: 'asker@example.com',
        locale: 'ja',
        idempotencyKey: 'export.failed:exp_1:2',
      },
    });
  });
});

// The same adapter against the real ops-ledger bundle, run by the local Lambda host on PostgreSQL:
// the stubbed client hands each Invoke to the function, as Lambda would (unqualified: the function
// ARN the host reports; the actions alias cannot be told apart locally, so only queries run here).
describe('LambdaLedger against the ops-ledger bundle', () => {
  let postgres: EmbeddedPostgres;
  let fn: FunctionHost;
  beforeAll(async () => {
    postgres = await startEmbeddedPostgres({});
    const { manifest, bundleDir } = registeredService('ops-ledger');
    fn = await startFunction({
      name: FUNCTION_NAME,
      bundleDir: join(WORKSPACE_ROOT, bundleDir),
      handler: manifest.handler,
      environment: { DATABASE_URL: postgres.url, AWS_REGION: 'us-east-1' },
      timeoutSeconds: manifest.timeoutSeconds,
      isolate: true,
      onLog: () => {},
    });
  }, 60_000);
  afterAll(async () => {
    await fn?.close();
    await postgres?.close();
  });

  /** An ops context whose stubbed Lambda client hands each Invoke to the bundle. */
  function bundleContext() {
    const { context, lambda } = stagingContext();
    lambda.on(InvokeCommand).callsFake(async (input: { Payload: Uint8Array }) => {
      const result = await fn.invoke(JSON.parse(new TextDecoder().decode(input.Payload)));
      return result.ok
        ? answer(result.payload)
        : { StatusCode: 200, FunctionError: 'Unhandled', Payload: payload(result.error) };
    });
    return context;
  }

  it('reads jobs and the audit trail written by the database, and gets a refusal for an action', async () => {
    await postgres.db.query(
      `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name, execution_id)
       VALUES ('exp_bundle', 'export', 'failed', 'req-b', 'asker@example.com', 'users-x', 'arn:e:b')`,
    );
    await postgres.db.query(
      `INSERT INTO operator_audit (operator, environment, action, target, details, result)
       VALUES ('${OPERATOR}', 'staging', 'job-retry', 'exp_bundle', '{}', 'ok')`,
    );
    const context = bundleContext();

    const detail = await describeJob(context, 'exp_bundle');
    expect(detail).toMatchObject({
      id: 'exp_bundle',
      state: 'failed',
      requestedBy: 'asker@example.com',
      rowErrors: [],
    });
    expect(detail.createdAt).toBeInstanceOf(Date);
    expect((await listAudit(context))[0]).toMatchObject({ action: 'job-retry', target: 'exp_bundle' });
    // Locally the host reports the unqualified ARN: the function refuses the action by name.
    await expect(failJob(context, 'exp_bundle', 'x')).rejects.toMatchObject({
      name: 'LedgerRequestError',
      field: 'op',
    });
  }, 60_000);

  it("reads a running import's staging, its date revived", async () => {
    await postgres.db.query(
      `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name)
       VALUES ('imp_bundle', 'import', 'running', 'sidestep-local-imports', 'imports/users.csv', 'v1', 'users.csv')`,
    );
    await postgres.db.query(
      `INSERT INTO import_stagings (job_id, table_name, columns, source_bytes, byte_offset, lines, records, updated_at)
       VALUES ('imp_bundle', 'import_staging_imp_bundle', '[]', 2000, 1000, 11, 10, '2026-12-04T10:21:03Z')`,
    );
    await postgres.db.query(
      `INSERT INTO import_staging_segments (job_id, segment, table_name, records, rejected)
       VALUES ('imp_bundle', 0, 'import_staging_imp_bundle_0', 6, 2), ('imp_bundle', 1, 'import_staging_imp_bundle_1', 4, NULL)`,
    );
    const context = bundleContext();

    expect((await describeJob(context, 'imp_bundle')).staging).toEqual({
      bytesStaged: 1000,
      bytesTotal: 2000,
      recordsStaged: 10,
      segmentsStaged: 2,
      segmentsValidated: 1,
      rowsRejectedSoFar: 2,
      updatedAt: new Date('2026-12-04T10:21:03Z'),
    });
  }, 60_000);

  it("pages a completed import's rejected rows and reads a running export's progress, its date revived", async () => {
    await postgres.db.query(
      `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name, rows_rejected)
       VALUES ('imp_bundle_rejects', 'import', 'succeeded', 'sidestep-local-imports', 'imports/r.csv', 'v1', 'r.csv', 600)`,
    );
    await postgres.db.query(
      `INSERT INTO import_rejected_rows (job_id, line, field, message)
       SELECT 'imp_bundle_rejects', line, 'email', 'is not a valid email address' FROM generate_series(2, 601) AS line`,
    );
    await postgres.db.query(
      `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name)
       VALUES ('exp_bundle_progress', 'export', 'running', 'req-p', 'asker@example.com', 'users-p')`,
    );
    await postgres.db.query(
      `INSERT INTO export_progress (job_id, rows, parts, bytes, updated_at)
       VALUES ('exp_bundle_progress', 1000, 2, 4096, '2026-12-04T10:21:03Z')`,
    );
    const context = bundleContext();

    const all = await allRejectedRows(context, 'imp_bundle_rejects');
    expect(all).toMatchObject({
      jobId: 'imp_bundle_rejects',
      state: 'succeeded',
      rowsRejected: 600,
      next: null,
    });
    expect(all.rows.map((row) => row.line)).toEqual(Array.from({ length: 600 }, (_, i) => i + 2));
    expect((await describeJob(context, 'exp_bundle_progress')).exportProgress).toEqual({
      rows: 1000,
      parts: 2,
      bytes: 4096,
      updatedAt: new Date('2026-12-04T10:21:03Z'),
    });
  }, 60_000);
});
