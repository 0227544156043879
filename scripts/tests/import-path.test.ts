import { randomBytes } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  ListExecutionsCommand,
  type SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Database } from '@sidestep/db';
import type { CollectingReporter, LocalCloud } from '@sidestep/local-cloud';
import { executionStatusRule } from '@sidestep/workflows';
import { LOCAL_NOTIFY_ADDRESS, LOCAL_SERVICES, LOCAL_TASKS, WORKFLOWS } from '../src/services.ts';
import {
  decodedMails,
  endedExecutions,
  type PathCloud,
  reclaimAsSpot,
  settle,
  startPathCloud,
  statesVisited,
  TEST_DATABASE,
  withTaskEnvironment,
} from './start-path-cloud.ts';

// The import issue's "done when", as a test: the real status-updater, batch-worker and
// mail-dispatcher bundles (built by turbo before this test) and the import workflow from
// @sidestep/workflows in the local cloud, driven only through the raw AWS SDK.
// With TEST_DATABASE_URL the services use that PostgreSQL server instead of embedded PGlite.
const BUCKET = 'sidestep-local-imports';
const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import';
// Keys, file names and external ids of this run: a real server keeps the ledger between runs.
const run = randomBytes(4).toString('hex');

let path: PathCloud;
let cloud: LocalCloud;
let collecting: CollectingReporter;
let s3: S3Client;
let sfn: SFNClient;
let db: Database;

beforeAll(async () => {
  path = await startPathCloud('import-path', {
    ...TEST_DATABASE,
    services: LOCAL_SERVICES,
    // Staging committed every MiB instead of every 32, so an import of a few MiB is resumable mid-way
    // (the Spot interruption below); the files of the other tests fit in one segment either way.
    tasks: withTaskEnvironment(LOCAL_TASKS, 'batch-worker', { IMPORT_SEGMENT_BYTES: String(1024 * 1024) }),
    workflows: WORKFLOWS,
    executionStatusRule,
  });
  ({ cloud, collecting, s3, sfn } = path);
  db = await path.openDatabase();
}, 90_000);

afterAll(async () => {
  await path?.stop();
});

/** A users CSV: the required columns, a name and one extra column that lands in `attributes`. */
function usersCsv(rows: number, header = 'external_id,email,name,plan'): string {
  const lines = [header];
  for (let i = 1; i <= rows; i++) lines.push(`u-${run}-${i},user${i}.${run}@example.com,User ${i},gold`);
  return `${lines.join('\n')}\n`;
}

async function upload(fileName: string, body: string): Promise<string> {
  const key = `imports/${run}/${fileName}`;
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentType: 'text/csv' }));
  return key;
}

/** The ended executions (`count` at least) for `key`: the execution input is the S3 event, so it names the key. */
function finishedExecutions(key: string, count = 1) {
  return endedExecutions(sfn, STATE_MACHINE_ARN, (input) => JSON.parse(input).detail?.object?.key === key, {
    count,
  });
}

/** The .eml files to the import address whose subject is `subject`, decoded. */
function mails(subject: string): string[] {
  return decodedMails(cloud.outboxDir, LOCAL_NOTIFY_ADDRESS, subject);
}

/**
 * The ARN of the execution started for `key`, once it is listed. Each execution is described once
 * (its input does not change): describing every listed one each round passes DescribeExecution's
 * quota, which the local cloud enforces (see endedExecutions).
 */
async function runningExecution(key: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  const keys = new Map<string, string | undefined>();
  while (Date.now() < deadline) {
    const { executions = [] } = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE_ARN }),
    );
    for (const { executionArn } of executions) {
      if (!executionArn) continue;
      if (!keys.has(executionArn)) {
        const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
        keys.set(executionArn, JSON.parse(described.input ?? '{}').detail?.object?.key);
      }
      if (keys.get(executionArn) === key) return executionArn;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no execution started for ${key}`);
}

async function job(key: string) {
  const { rows } = await db.query<{
    id: string;
    state: string;
    rows_imported: string | null;
    users_written: string | null;
    error: string | null;
  }>(
    'select id, state, rows_imported, users_written, error from jobs where source_bucket = $1 and source_key = $2',
    [BUCKET, key],
  );
  return rows;
}

describe('the import path in the local cloud', () => {
  it('imports a 1,000-row CSV uploaded with the raw S3 client, mails the row count and SUCCEEDS', async () => {
    const fileName = `users-${run}.csv`;
    const key = await upload(fileName, usersCsv(1_000));

    const [execution] = await finishedExecutions(key);
    expect(execution?.status).toBe('SUCCEEDED');
    expect(execution?.stateMachineArn).toBe(STATE_MACHINE_ARN);
    expect(await statesVisited(sfn, execution?.executionArn)).toEqual(
      expect.arrayContaining([
        'RegisterJob',
        'StartJob',
        'ImportRows',
        'FinishJob',
        'NotifyCompleted',
        'Imported',
      ]),
    );

    await collecting.waitFor(
      'mail-delivered',
      (event) => event.subject === `Import finished: ${fileName}`,
      30_000,
    );
    const [mail] = mails(`Import finished: ${fileName}`);
    // Every row a new user: the count the batch-worker's merge wrote, through FinishJob's output.
    expect(mail).toMatch(/1,000 rows were imported: 1,000 users new or changed\./);

    const [registered] = await job(key);
    expect(registered).toMatchObject({ state: 'succeeded', rows_imported: '1000', users_written: '1000' });
    const { rows } = await db.query<{ count: string; plan: string }>(
      "select count(*)::text as count, min(attributes->>'plan') as plan from users where external_id like $1",
      [`u-${run}-%`],
    );
    expect(rows[0]).toEqual({ count: '1000', plan: 'gold' });
  }, 90_000);

  it('fails a CSV with a bad header: import.failed mail with the reason, a failed job, a FAILED execution', async () => {
    const fileName = `bad-header-${run}.csv`;
    const key = await upload(fileName, usersCsv(3, 'id,mail,name'));

    const [execution] = await finishedExecutions(key);
    expect(execution?.status).toBe('FAILED');
    expect(execution?.error).toBe('States.TaskFailed');

    await collecting.waitFor(
      'mail-delivered',
      (event) => event.subject === `Import failed: ${fileName}`,
      30_000,
    );
    const [mail] = mails(`Import failed: ${fileName}`);
    const reason = /Reason: (.+)/.exec(mail ?? '')?.[1] ?? '';
    expect(reason).toMatch(/external_id/);
    expect(execution?.cause).toBe(reason.trim());

    const [failed] = await job(key);
    expect(failed?.state).toBe('failed');
    expect(failed?.error).toMatch(/external_id/);
  }, 90_000);

  it('imports a key with a dot segment (S3 keeps `imports/../x.csv` literally) rather than doing nothing', async () => {
    const fileName = `dotdot-${run}.csv`;
    const key = `imports/${run}/../${fileName}`;
    await s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: usersCsv(5), ContentType: 'text/csv' }),
    );

    const [execution] = await finishedExecutions(key);
    expect(execution?.status).toBe('SUCCEEDED');
    await collecting.waitFor(
      'mail-delivered',
      (event) => event.subject === `Import finished: ${fileName}`,
      30_000,
    );
    expect(await job(key)).toEqual([expect.objectContaining({ state: 'succeeded', rows_imported: '5' })]);
  }, 90_000);

  it('imports the same bytes uploaded twice as two jobs: every PUT is a new import', async () => {
    const fileName = `twice-${run}.csv`;
    const body = usersCsv(10);
    const key = await upload(fileName, body);
    await finishedExecutions(key);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentType: 'text/csv' }));

    const executions = await finishedExecutions(key, 2);
    expect(executions.map((execution) => execution.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    const paths = await Promise.all(
      executions.map((execution) => statesVisited(sfn, execution.executionArn)),
    );
    expect(paths.filter((states) => states.includes('ImportRows'))).toHaveLength(2);
    expect((await job(key)).map((registered) => registered.state)).toEqual(['succeeded', 'succeeded']);
  }, 90_000);

  it('imports the version uploaded though the key is overwritten at once: the local bucket is versioned, as on AWS', async () => {
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html: the event names the
    // version written (`version-id`), the workflow passes it to the task as SOURCE_VERSION_ID, and
    // the batch-worker's GetObject reads that version (VersionId) whatever the key holds by then.
    const fileName = `overwritten-${run}.csv`;
    const key = `imports/${run}/${fileName}`;
    const uploaded = await s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: usersCsv(7), ContentType: 'text/csv' }),
    );
    const overwrite = await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: key,
        Body: usersCsv(2, 'id,mail,name'),
        ContentType: 'text/csv',
      }),
    );
    expect(uploaded.VersionId).toBeDefined();
    expect(overwrite.VersionId).not.toBe(uploaded.VersionId);

    const executions = await finishedExecutions(key, 2);
    const versionOf = (input: string | undefined) => JSON.parse(input ?? '{}').detail?.object?.['version-id'];
    const first = executions.find((execution) => versionOf(execution.input) === uploaded.VersionId);
    const second = executions.find((execution) => versionOf(execution.input) === overwrite.VersionId);
    expect(first?.status).toBe('SUCCEEDED');
    expect(await statesVisited(sfn, first?.executionArn)).toContain('ImportRows');
    // The overwrite is its own import, of its own (bad) bytes.
    expect(second).toMatchObject({ status: 'FAILED', error: 'States.TaskFailed' });
    const { rows } = await db.query<{ source_version: string; state: string; rows_imported: string | null }>(
      'select source_version, state, rows_imported from jobs where source_bucket = $1 and source_key = $2',
      [BUCKET, key],
    );
    expect(rows).toEqual(
      expect.arrayContaining([
        { source_version: uploaded.VersionId, state: 'succeeded', rows_imported: '7' },
        { source_version: overwrite.VersionId, state: 'failed', rows_imported: null },
      ]),
    );
  }, 90_000);

  it('imports nothing for a second execution of the same event, and says so when its job failed', async () => {
    const fileName = `rerun-${run}.csv`;
    const key = await upload(fileName, usersCsv(3, 'id,mail,name'));
    const [first] = await finishedExecutions(key);
    expect(first?.status).toBe('FAILED');

    // What a redelivered S3 event, or an operator re-running the execution's input, starts.
    await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input: first?.input }));
    const executions = await finishedExecutions(key, 2);
    const again = executions.find((execution) => execution.executionArn !== first?.executionArn);
    expect(again).toMatchObject({ status: 'FAILED', error: 'DuplicateOfFailedJobError' });
    const [failed] = await job(key);
    expect(again?.cause).toContain(`job ${failed?.id}`);
    expect(again?.cause).toContain('upload the file again');
    expect(await statesVisited(sfn, again?.executionArn)).not.toContain('ImportRows');
    expect(await job(key)).toHaveLength(1);
  }, 90_000);

  it('reruns an import whose Fargate Spot task is reclaimed mid-file: the rerun reads only the rest, every row lands once', async () => {
    // Issue 13 item 3 through the product: the import workflow reruns a task ECS stopped with stop
    // code SpotInterruption (SIGTERM, the two-minute warning); the rerun resumes from the staging the
    // first task committed, with the task role's permissions enforced.
    const rows = 150_000;
    const prefix = `spot-${run}-`;
    const lines = ['external_id,email,name'];
    for (let i = 1; i <= rows; i++) lines.push(`${prefix}${i},${prefix}${i}@example.com,User ${i}`);
    const csv = `${lines.join('\n')}\n`;
    const fileName = `spot-${run}.csv`;
    const key = await upload(fileName, csv);
    const executionArn = await runningExecution(key);
    const name = executionArn.split(':').pop() ?? '';
    const first = await collecting.waitFor('task-started', (event) => event.execution === name, 60_000);
    const jobId = (await job(key))[0]?.id;
    // Reclaimed once a segment is committed; frozen meanwhile, so it lands mid-file on any machine.
    const staged = async () =>
      Number(
        (
          await db.query<{ byte_offset: string }>(
            'SELECT byte_offset FROM import_stagings WHERE job_id = $1',
            [jobId],
          )
        ).rows[0]?.byte_offset ?? 0,
      );
    await settle(async () => (await staged()) > 0, 60_000, 10);
    const stopped = await reclaimAsSpot(cloud, collecting, first);
    expect(stopped).toMatchObject({ exitCode: 143, stoppedReason: 'Your Spot Task was interrupted.' });

    const [finished] = await finishedExecutions(key);
    expect(finished?.status).toBe('SUCCEEDED');
    expect(collecting.ofType('task-started').filter((event) => event.execution === name)).toHaveLength(2);
    const report = collecting
      .ofType('log')
      .filter(
        (event) => event.line.includes('"message":"import finished"') && event.line.includes(jobId ?? '-'),
      )
      .map(
        (event) => JSON.parse(event.line) as { resumedAt: number; bytesRead: number; rowsImported: number },
      );
    expect(report).toHaveLength(1);
    const size = Buffer.byteLength(csv);
    expect(report[0]?.resumedAt).toBeGreaterThan(0);
    expect(report[0]?.resumedAt).toBeLessThan(size);
    expect(report[0]?.bytesRead).toBe(size - (report[0]?.resumedAt ?? 0));
    const imported = await db.query<{ n: string }>(
      'SELECT count(*) AS n FROM users WHERE external_id LIKE $1',
      [`${prefix}%`],
    );
    expect(Number(imported.rows[0]?.n)).toBe(rows);
    expect((await job(key))[0]).toMatchObject({ state: 'succeeded', rows_imported: String(rows) });
    expect(collecting.ofType('access-denied')).toEqual([]);
  }, 120_000);

  it('fails the job of an import stopped with StopExecution, with the reason, and mails once', async () => {
    const fileName = `stopped-${run}.csv`;
    const key = await upload(fileName, usersCsv(100_000));
    const executionArn = await runningExecution(key);
    const name = executionArn.split(':').pop();
    // Stopped while its Fargate task imports: the rows roll back, the job is left `running`.
    await collecting.waitFor('task-started', (event) => event.execution === name, 60_000);
    await sfn.send(new StopExecutionCommand({ executionArn, error: 'Deploy', cause: 'release 42' }));

    const [stopped] = await finishedExecutions(key);
    expect(stopped?.status).toBe('ABORTED');
    await collecting.waitFor(
      'mail-delivered',
      (event) => event.subject === `Import failed: ${fileName}`,
      30_000,
    );
    const [failed] = await job(key);
    expect(failed?.state).toBe('failed');
    expect(failed?.error).toBe(`aborted: execution ${name} was stopped (Deploy: release 42)`);
    // A wrong second failure mail would come from another path (the sweeper reacting to the aborted
    // execution's event): give it the time to arrive.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const sent = mails(`Import failed: ${fileName}`);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContain('aborted: execution');
  }, 120_000);
});
