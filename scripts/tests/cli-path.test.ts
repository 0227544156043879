import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import {
  DeleteMessageCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Database } from '@sidestep/db';
import { insertStagedImport } from '@sidestep/ledger/testing';
import { type CollectingReporter, createVirtualClock, type LocalCloud } from '@sidestep/local-cloud';
import {
  LOCAL_NOTIFY_ADDRESS,
  LOCAL_SERVICES,
  LOCAL_TASKS,
  SCHEDULE_SETUP,
  WORKFLOWS,
} from '../src/services.ts';
import {
  decodedMails,
  holdImportUntilAborted,
  jobBySourceKey,
  type PathCloud,
  putLargeImport,
  queueDrained,
  runSidestep,
  settle,
  startPathCloud,
} from './start-path-cloud.ts';

// The operator's CLI as a person uses it: the real `sidestep` bin, spawned with the workspace's
// Node, against a local cloud running the real bundles, with the operator's credentials (local/local).
const run = randomBytes(4).toString('hex');

let path: PathCloud;
let cloud: LocalCloud;
let collecting: CollectingReporter;
let sqs: SQSClient;
let s3: S3Client;
let db: Database;

beforeAll(async () => {
  path = await startPathCloud('cli-path', {
    services: LOCAL_SERVICES,
    tasks: LOCAL_TASKS,
    workflows: WORKFLOWS,
    // Far from any fire time: only the operator's `fire` runs a schedule here.
    schedules: { ...SCHEDULE_SETUP, clock: createVirtualClock(new Date('2026-11-24T10:07:00Z')) },
    // Lambda waits one and two minutes between the attempts of an asynchronous invocation; here a
    // moment (sidestep async-failures).
    asyncRetryDelaysMs: [50, 50],
  });
  ({ cloud, collecting, sqs, s3 } = path);
  db = await path.openDatabase(1);
}, 90_000);

afterAll(async () => {
  await path?.stop();
});

/** Runs `sidestep <args>` against this test's cloud. */
function sidestep(...args: string[]) {
  return runSidestep(cloud, ...args);
}

/**
 * Waits until the mail queue holds nothing more to deliver: a mail counted after this is counted
 * with every copy of it that was queued before.
 */
function mailQueueDrained(): Promise<void> {
  return queueDrained(sqs, cloud.queueUrl('mail'));
}

function mailJob(id: string, to: string, template = 'import.completed') {
  return {
    type: 'mail.send',
    version: 1,
    id,
    payload: { template, to, params: { jobId: `imp_${id}`, fileName: 'users.csv', rows: 10 } },
  };
}

/** The import job of the upload at `key`, as the ledger has it (undefined until registered). */
async function importJob(key: string) {
  return (
    await db.query<{ id: string; state: string; attempt: number; error: string | null }>(
      'SELECT id, state, attempt, error FROM jobs WHERE source_key = $1',
      [key],
    )
  ).rows[0];
}

/** Runs `act` with the users table renamed away (where the worker writes: its imports fail), then puts it back. */
async function withUsersMovedAway<T>(act: () => Promise<T>): Promise<T> {
  await db.query('ALTER TABLE users RENAME TO users_moved_away');
  try {
    return await act();
  } finally {
    await db.query('ALTER TABLE users_moved_away RENAME TO users');
  }
}

/**
 * Uploads a one-user import (`row` under the usual header) to `key` while the users table is away
 * ({@link withUsersMovedAway}) and waits until its job failed; resolves with the upload's version id.
 */
async function uploadFailingImport(key: string, row: string): Promise<string | undefined> {
  const { VersionId } = await s3.send(
    new PutObjectCommand({
      Bucket: 'sidestep-local-imports',
      Key: key,
      Body: `external_id,email,name\n${row}\n`,
      ContentType: 'text/csv',
    }),
  );
  await settle(async () => (await importJob(key))?.state === 'failed', 90_000);
  return VersionId;
}

/**
 * Retries the failed import of the upload at `key` (`sidestep job retry`) and waits until its second
 * attempt failed too; resolves with the job's id.
 */
async function retryFailingAgain(key: string): Promise<string> {
  const jobId = (await importJob(key))?.id ?? '';
  const retried = await sidestep('job', 'retry', jobId, '--json');
  expect(JSON.parse(retried.stdout)).toMatchObject({ jobId, attempt: 2 });
  await settle(async () => {
    const now = await importJob(key);
    return now?.attempt === 2 && now.state === 'failed';
  }, 90_000);
  return jobId;
}

// `sidestep async-failures` and `status`, where the job-sweeper's asynchronous invocation fails every
// attempt and Lambda's invocation record lands in sidestep-local-job-sweeper-async-failures
// (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html). First in the
// file, while nothing else runs: the jobs table is renamed away meanwhile (and back, whatever happens),
// and a job-sweeper invoked by anything else then would leave a record of its own.
describe('sidestep async-failures', () => {
  it("lists the job-sweeper's failed invocations with why, attempts and trigger, counts them in status, and re-invokes one once through the local Lambda Invoke", async () => {
    const before = await sidestep('async-failures', 'show', 'job-sweeper');
    expect(before.code).toBe(0);
    expect(before.stdout).toContain('no failed asynchronous invocations');
    expect((await sidestep('status')).stdout).toMatch(/^job-sweeper\s+0\s+-$/m);

    // The sweep cannot read the jobs ledger: each of its three attempts fails.
    await db.query('ALTER TABLE jobs RENAME TO jobs_moved_away');
    try {
      expect((await sidestep('fire', 'stale-job-sweeper')).code).toBe(0);
      let listed: { requestId: string }[] = [];
      for (let wait = 0; listed.length === 0 && wait < 120; wait += 1) {
        await sleep(500);
        listed = JSON.parse((await sidestep('async-failures', 'show', 'job-sweeper', '--json')).stdout);
      }
      expect(listed).toHaveLength(1);
    } finally {
      await db.query('ALTER TABLE jobs_moved_away RENAME TO jobs');
    }

    const [failure] = JSON.parse((await sidestep('async-failures', 'show', 'job-sweeper', '--json')).stdout);
    expect(failure).toMatchObject({
      service: 'job-sweeper',
      functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:sidestep-local-job-sweeper:$LATEST',
      condition: 'RetriesExhausted',
      attempts: 3,
      trigger: { kind: 'schedule', schedule: 'stale-job-sweeper' },
      errorType: expect.any(String),
      errorMessage: expect.stringContaining('jobs'),
    });
    // The record as Lambda sends it, the event included: --json shows it, as dlq show --json a body.
    expect(JSON.parse(failure.body)).toMatchObject({
      version: '1.0',
      requestContext: { requestId: failure.requestId, approximateInvokeCount: 3 },
      requestPayload: {},
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    });

    const table = await sidestep('async-failures', 'show', 'job-sweeper');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      new RegExp(
        `${failure.requestId}\\s+sidestep-local-job-sweeper:\\$LATEST\\s+RetriesExhausted\\s+3\\s+schedule stale-job-sweeper\\s+${failure.errorType}`,
      ),
    );
    expect((await sidestep('status')).stdout).toMatch(/^job-sweeper\s+1\s+\d+s$/m);

    // Re-invoked through the local endpoint's Lambda Invoke (InvocationType Event, the record's
    // event), as on AWS: with the table back, the sweep succeeds and the record is deleted.
    const swept = () =>
      collecting
        .ofType('log')
        .filter((event) => event.service === 'job-sweeper' && event.line.includes('stale jobs swept'));
    const failedSweeps = () =>
      collecting
        .ofType('log')
        .filter((event) => event.service === 'job-sweeper' && event.line.includes('sweep failed')).length;
    const failedBefore = failedSweeps();
    expect(swept()).toEqual([]);
    const reinvoke = await sidestep('async-failures', 'reinvoke', 'job-sweeper', failure.requestId, '--json');
    expect(reinvoke.stderr).toBe('');
    expect(reinvoke.code).toBe(0);
    expect(JSON.parse(reinvoke.stdout)).toEqual({
      service: 'job-sweeper',
      records: [
        {
          requestId: failure.requestId,
          outcome: 'reinvoked',
          invocationId: expect.stringMatching(/^[0-9a-f-]{36}$/),
          error: null,
        },
      ],
    });
    await collecting.waitFor('log', () => swept().length > 0, 30_000);
    expect(failedSweeps()).toBe(failedBefore);
    expect(JSON.parse((await sidestep('async-failures', 'show', 'job-sweeper', '--json')).stdout)).toEqual(
      [],
    );

    // Run again (its answer lost): the audit entry says it was re-invoked; nothing is invoked twice.
    const again = await sidestep('async-failures', 'reinvoke', 'job-sweeper', failure.requestId, '--json');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).records).toEqual([
      { requestId: failure.requestId, outcome: 'already-reinvoked', invocationId: null, error: null },
    ]);
    await sleep(1_000);
    expect(swept()).toHaveLength(1);
    expect((await sidestep('status')).stdout).toMatch(/^job-sweeper\s+0\s+-$/m);
  }, 180_000);
});

describe('sidestep job', () => {
  it("shows a running import's staging: records, bytes, segments validated, rows rejected so far", async () => {
    const jobId = `imp_staged_${run}`;
    const remove = await insertStagedImport(db, jobId);
    try {
      const shown = await sidestep('job', 'show', jobId);
      expect(shown.code).toBe(0);
      expect(shown.stdout.split('\n')).toContain(
        '  staging  4,200,000 records, 412.0 of 553.4 MiB (74%), 52 of 53 segments validated, 3 rows rejected so far (updated 2026-12-04T10:21:03Z)',
      );
      const json = await sidestep('job', jobId, '--json');
      expect(JSON.parse(json.stdout).staging).toEqual({
        bytesStaged: 432013312,
        bytesTotal: 580280729,
        recordsStaged: 4200000,
        segmentsStaged: 53,
        segmentsValidated: 52,
        rowsRejectedSoFar: 3,
        updatedAt: '2026-12-04T10:21:03.000Z',
      });
      // The staging dropped (as when the job completes or fails): the line goes with it.
      await db.query('SELECT drop_import_staging($1)', [jobId]);
      const after = await sidestep('job', 'show', jobId);
      expect(after.stdout).toContain(`import ${jobId}`);
      expect(after.stdout).not.toContain('staging');
    } finally {
      await remove();
    }
  }, 60_000);
});

describe('sidestep job rejected', () => {
  it('lists every row a completed import left out, page by page and as CSV, where the job shows the first 100', async () => {
    const fileName = `rejects-${run}.csv`;
    const key = `imports/${run}/${fileName}`;
    // 150 rows with a bad email (lines 2-151), then two good rows and one without an id (line 154).
    const bad = Array.from({ length: 150 }, (_, i) => `bad-${run}-${i},not-an-address-${i},Bad`);
    const csv = [
      'external_id,email,name',
      ...bad,
      `good-${run}-1,g1.${run}@example.com,Good`,
      `good-${run}-2,g2.${run}@example.com,Good`,
      `,nobody.${run}@example.com,No id`,
      '',
    ].join('\n');
    await s3.send(
      new PutObjectCommand({
        Bucket: 'sidestep-local-imports',
        Key: key,
        Body: csv,
        ContentType: 'text/csv',
      }),
    );
    const job = () => jobBySourceKey(db, key);
    await settle(async () => (await job())?.state === 'succeeded', 90_000);
    const jobId = (await job())?.id ?? '';
    // The mail lists the first ten and says where the rest are.
    const subject = `Import finished: ${fileName}`;
    await collecting.waitFor('mail-delivered', (event) => event.subject === subject, 30_000);
    const [mail] = decodedMails(cloud.outboxDir, LOCAL_NOTIFY_ADDRESS, subject);
    expect(mail).toContain('151 rows were rejected and not imported:');
    expect(mail).toContain(`141 more are kept with the job (sidestep job rejected ${jobId}).`);

    const shown = await sidestep('job', jobId);
    expect(shown.stdout).toContain(
      `row errors (the first 100 of 151; every one: sidestep job rejected ${jobId})`,
    );
    // The two good rows: two new users, as the batch-worker's merge counted them.
    expect(shown.stdout.split('\n')).toContain('  written  2 users new or changed');
    // And where its story is told.
    expect(shown.stdout.split('\n')).toContain(`  logs: sidestep job logs ${jobId}`);

    const first = await sidestep('job', 'rejected', jobId, '--limit', '100');
    expect(first.code).toBe(0);
    const firstLines = first.stdout.trimEnd().split('\n');
    expect(firstLines[0]).toBe(`job ${jobId}: 151 rows rejected`);
    expect(
      firstLines.filter((line) => /^\d+\s+email\s+is not a valid email address$/.test(line)),
    ).toHaveLength(100);
    expect(firstLines.at(-1)).toBe('more: --after 101');
    const rest = await sidestep('job', 'rejected', jobId, '--limit', '100', '--after', '101');
    const restLines = rest.stdout.trimEnd().split('\n');
    expect(restLines.filter((line) => /^\d+\s+email\s+/.test(line))).toHaveLength(50);
    expect(restLines.at(-1)).toMatch(/^154\s+external_id\s+is empty$/);
    expect(rest.stdout).not.toContain('more:');

    const csvOut = await sidestep('job', 'rejected', jobId, '--csv');
    const rows = csvOut.stdout.trimEnd().split('\n');
    expect(rows).toHaveLength(152);
    // A byte order mark first, so Excel reads the file as UTF-8 (f4a3251).
    expect(rows[0]).toBe('\uFEFFline,field,message');
    expect(rows[1]).toBe('2,email,is not a valid email address');
    expect(rows.at(-1)).toBe('154,external_id,is empty');

    const missing = await sidestep('job', 'rejected', 'imp_nope', '--json');
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toEqual({
      error: { name: 'JobNotFoundError', message: expect.any(String), field: 'jobId' },
    });
    const badPage = await sidestep('job', 'rejected', jobId, '--after', 'x');
    expect(badPage.code).not.toBe(0);
    expect(badPage.stderr).toContain(
      "option '--after <line>' argument 'x' is invalid. must be a whole number",
    );

    // `job logs`: the job's story from every function's and the task's log group (FilterLogEvents on
    // the local cloud's CloudWatch Logs, as on AWS), oldest first: registered and started by the
    // status-updater, imported by the batch-worker (its lines carry the execution), mailed.
    let logs: { lines: { source: string; message: string; at: string; fields: Record<string, unknown> }[] } =
      {
        lines: [],
      };
    await settle(async () => {
      logs = JSON.parse((await sidestep('job', 'logs', jobId, '--json')).stdout);
      return logs.lines.some((line) => line.source === 'mail-dispatcher' && line.message === 'mail sent');
    }, 30_000);
    const sources = logs.lines.map((line) => line.source);
    expect(sources).toEqual(expect.arrayContaining(['status-updater', 'batch-worker', 'mail-dispatcher']));
    expect(sources.indexOf('status-updater')).toBeLessThan(sources.indexOf('batch-worker'));
    const times = logs.lines.map((line) => Date.parse(line.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const workerLines = logs.lines.filter((line) => line.source === 'batch-worker');
    expect(workerLines.map((line) => line.message)).toContain('import finished');
    for (const line of workerLines) {
      expect(line.fields).toMatchObject({ jobId, executionId: expect.stringMatching(/^arn:aws:states:/) });
    }
    const human = await sidestep('job', 'logs', jobId);
    expect(human.stdout.split('\n')[0]).toMatch(
      new RegExp(`^job ${jobId}: [\\d,]+ lines from 6 log groups$`),
    );
    expect(human.stdout).toMatch(/batch-worker\s+INFO\s+import finished/);
    const tooMany = await sidestep('job', 'logs', jobId, '--limit', '10001', '--json');
    expect(JSON.parse(tooMany.stdout)).toMatchObject({
      error: { name: 'InvalidOptionError', field: 'limit' },
    });
  }, 150_000);
});

describe('sidestep dlq', () => {
  // Infra creates every rule target's and the schedule group's DLQ with the stack; so does the local
  // cloud as it starts, so `dlq show` answers for each as it would on AWS (this cloud has no
  // workflow-ended rule: iam-path's whole cloud has its DLQ). The mail-events rule's holds SES's
  // records on AWS; none come locally, but `dlq show mail-events` answers as it does there.
  it.each(['schedules', 'import-trigger', 'mail-events'])(
    'reads the %s DLQ the cloud created with its rules, empty',
    async (name) => {
      const shown = await sidestep('dlq', 'show', name);
      expect(shown.stderr).toBe('');
      expect([shown.code, shown.stdout.trim()]).toEqual([0, 'no dead letters']);
    },
    30_000,
  );

  it('names the field of a poison mail and says a dry-run redrive would fail again, moving nothing', async () => {
    const poison = mailJob(`poison-${run}`, 'poison@example.com', 'welcome');
    await sqs.send(
      new SendMessageCommand({ QueueUrl: cloud.queueUrl('mail'), MessageBody: JSON.stringify(poison) }),
    );
    await collecting.waitFor('dead-lettered', () => true, 30_000);

    const shown = await sidestep('dlq', 'show', 'mail');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`poison-${run}`);
    expect(shown.stdout).toContain('SchemaViolationError');
    expect(shown.stdout).toContain('payload.template');

    const dryRun = await sidestep('dlq', 'redrive', 'mail', '--dry-run');
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toContain('1 would fail again');
    expect(dryRun.stdout).toMatch(/payload\.template/);

    // Reading and the dry run lost nothing: the message is still there, once.
    const again = await sidestep('dlq', 'show', 'mail', '--json');
    const listed = JSON.parse(again.stdout) as { id: string }[];
    expect(listed.filter((message) => message.id === `poison-${run}`)).toHaveLength(1);
  }, 60_000);

  it('redrives a mail that failed only because SMTP was down, and it is delivered once', async () => {
    // The stand-in for "SMTP was down": the fixture's SMTP sink cannot be stopped, so the message the
    // mail-dispatcher would have dead-lettered after its receives is put in the DLQ as it leaves it.
    const to = `smtp-down-${run}@example.com`;
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: cloud.queueUrl('sidestep-local-mail-dlq'),
        MessageBody: JSON.stringify(mailJob(`smtp-down-${run}`, to)),
        MessageAttributes: {
          'sidestep.error.type': { DataType: 'String', StringValue: 'MailTransportError' },
          'sidestep.error.message': {
            DataType: 'String',
            StringValue: 'connect ECONNREFUSED 127.0.0.1:2525',
          },
        },
      }),
    );
    const dryRun = await sidestep('dlq', 'redrive', 'mail', '--dry-run', '--json');
    const checks = (JSON.parse(dryRun.stdout) as { checks: { valid: boolean; message: { id: string } }[] })
      .checks;
    expect(checks.find((check) => check.message.id === `smtp-down-${run}`)?.valid).toBe(true);

    const redriven = await sidestep('dlq', 'redrive', 'mail', '--rate', '10');
    expect(redriven.code).toBe(0);
    expect(redriven.stdout).toContain('COMPLETED');
    expect(redriven.stderr).toMatch(/moved \d+/);
    // The audit trail is read while the mail goes out: nothing else writes to it meanwhile.
    const [audit] = await Promise.all([
      sidestep('audit', '--json'),
      collecting
        .waitFor('mail-delivered', (event) => event.to.includes(to), 30_000)
        .then(() => mailQueueDrained()),
    ]);
    expect(decodedMails(cloud.outboxDir, to, 'Import finished: users.csv')).toHaveLength(1);

    const entries = JSON.parse(audit.stdout) as {
      action: string;
      target: string;
      result: string;
      operator: string;
    }[];
    expect(entries[0]).toMatchObject({ action: 'dlq-redrive', target: 'mail', result: 'ok' });
    expect(entries[0]?.operator).toMatch(/^local:/);
  }, 90_000);
});

describe('sidestep status', () => {
  it("shows each queue's oldest message age from the messages' SentTimestamp, receiving nothing", async () => {
    const queue = cloud.queueUrl('sidestep-local-mail-dlq');
    await sqs.send(new SendMessageCommand({ QueueUrl: queue, MessageBody: JSON.stringify({ aged: run }) }));
    await new Promise((resolve) => setTimeout(resolve, 2_200));

    // Both forms at once; the receive below then shows that neither received the message.
    const [shown, table] = await Promise.all([sidestep('status', '--json'), sidestep('status')]);
    expect({ code: shown.code, stdout: shown.code === 0 ? '' : shown.stdout }).toEqual({
      code: 0,
      stdout: '',
    });
    const status = JSON.parse(shown.stdout) as {
      queues: { queue: string; deadLetters: number; deadLetterOldestAgeSeconds: number | null }[];
    };
    const mail = status.queues.find((entry) => entry.queue === 'mail');
    expect(mail?.deadLetters).toBeGreaterThanOrEqual(1);
    expect(mail?.deadLetterOldestAgeSeconds).toBeGreaterThanOrEqual(2);
    // Read without a receive: the message is still there, never received.
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queue,
        MaxNumberOfMessages: 10,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const aged = Messages.find((message) => message.Body === JSON.stringify({ aged: run }));
    expect(aged?.Attributes?.ApproximateReceiveCount).toBe('1');
    expect(table.stdout).toMatch(/^mail\s.*\d+s$/m);
  }, 60_000);

  // The ended executions' counts come from CloudWatch's AWS/States metrics, on AWS and from the
  // local cloud's CloudWatch here (its executions, when asked): they agree with ListExecutions.
  it("counts an import execution that failed in the last day's failed executions, and not as succeeded", async () => {
    const importStatus = async () => {
      const shown = await sidestep('status', '--json');
      expect(shown.code).toBe(0);
      return (
        JSON.parse(shown.stdout) as {
          workflows: { workflow: string; running: number; failed24h: number; succeeded24h: number }[];
        }
      ).workflows.find((entry) => entry.workflow === 'import');
    };
    const before = await importStatus();
    // One that fails at once (an input with no upload event).
    const stateMachineArn = cloud.stepFunctions.stateMachineArn('sidestep-local-import');
    const { executionArn } = await path.sfn.send(
      new StartExecutionCommand({ stateMachineArn, name: `status-count-${run}`, input: '{}' }),
    );
    let status = 'RUNNING';
    for (let tries = 0; status === 'RUNNING' && tries < 100; tries += 1) {
      await sleep(100);
      status = (await path.sfn.send(new DescribeExecutionCommand({ executionArn }))).status ?? 'RUNNING';
    }
    expect(status).toBe('FAILED');
    expect(await importStatus()).toEqual({
      ...before,
      failed24h: (before?.failed24h ?? 0) + 1,
    });
  });
});

describe('sidestep status, the DLQs without a source queue', () => {
  // Each is alarmed on AWS (schedule-group.ts, s3-trigger.ts): the overview shows what they hold.
  it('shows what the schedules DLQ holds and how old, beside the job queues', async () => {
    const { QueueUrl } = await sqs.send(
      new GetQueueUrlCommand({ QueueName: 'sidestep-local-schedules-dlq' }),
    );
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: JSON.stringify({ firing: run }) }));
    const [shown, table] = await Promise.all([sidestep('status', '--json'), sidestep('status')]);
    const status = JSON.parse(shown.stdout) as {
      ruleDeadLetters: { queue: string; deadLetters: number }[];
    };
    expect(status.ruleDeadLetters).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ queue: 'schedules', deadLetters: 1 }),
        expect.objectContaining({ queue: 'import-trigger', deadLetters: 0 }),
      ]),
    );
    expect(table.stdout).toMatch(/^dead letters of\s+held\s+oldest$/m);
    expect(table.stdout).toMatch(/^schedules\s+1\s+\d+m?s$/m);
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10 }),
    );
    for (const message of Messages) {
      await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: message.ReceiptHandle }));
    }
  }, 60_000);
});

describe('sidestep job retry', () => {
  it('retries a failed import after its cause is fixed: attempt 2 completes and is mailed', async () => {
    const fileName = `retry-${run}.csv`;
    const key = `imports/${run}/${fileName}`;
    // The cause: the users table is not where the worker writes (a migration half done, say).
    await db.query('ALTER TABLE users RENAME TO users_moved_away');
    await s3.send(
      new PutObjectCommand({
        Bucket: 'sidestep-local-imports',
        Key: key,
        Body: `external_id,email,name\nr-${run}-1,r1.${run}@example.com,R 1\nr-${run}-2,r2.${run}@example.com,R 2\n`,
        ContentType: 'text/csv',
      }),
    );
    const jobId = () => jobBySourceKey(db, key);
    await settle(async () => (await jobId())?.state === 'failed', 90_000);
    const failed = await jobId();

    const listed = await sidestep('jobs', '--status', 'failed', '--kind', 'import');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(failed?.id);

    await db.query('ALTER TABLE users_moved_away RENAME TO users');
    const retried = await sidestep('job', 'retry', failed?.id ?? '', '--json');
    expect(retried.code).toBe(0);
    expect(JSON.parse(retried.stdout)).toMatchObject({ jobId: failed?.id, attempt: 2 });

    await settle(async () => (await jobId())?.state === 'succeeded', 90_000);
    await collecting.waitFor(
      'mail-delivered',
      (event) => event.subject === `Import finished: ${fileName}`,
      30_000,
    );
    expect(decodedMails(cloud.outboxDir, LOCAL_NOTIFY_ADDRESS, `Import finished: ${fileName}`)).toHaveLength(
      1,
    );

    const shown = await sidestep('job', failed?.id ?? '', '--json');
    const detail = JSON.parse(shown.stdout) as {
      attempt: number;
      state: string;
      executions: string[];
      rowsImported: number;
    };
    expect(detail).toMatchObject({ attempt: 2, state: 'succeeded', rowsImported: 2 });
    expect(detail.executions).toHaveLength(2);
    const execution = await sidestep('execution', detail.executions[1] ?? '');
    expect(execution.stdout).toContain('SUCCEEDED');
    expect(execution.stdout).toContain('StartJob');
  }, 200_000);
});

describe('sidestep job retry of a job that fails again', () => {
  it('mails each attempt’s failure: fail, retry, fail again is two failure mails', async () => {
    const fileName = `fails-twice-${run}.csv`;
    const key = `imports/${run}/${fileName}`;
    const subject = `Import failed: ${fileName}`;
    await withUsersMovedAway(async () => {
      await uploadFailingImport(key, `f-${run}-1,f1.${run}@example.com,F 1`);
      await collecting.waitFor('mail-delivered', (event) => event.subject === subject, 30_000);
      const jobId = await retryFailingAgain(key);
      await settle(() => decodedMails(cloud.outboxDir, LOCAL_NOTIFY_ADDRESS, subject).length >= 2, 30_000);
      // The workflow queues its failure mail before it ends: once the retry's execution has ended and
      // the mail queue is empty, every mail of both attempts has been delivered.
      await collecting.waitFor(
        'execution-finished',
        (event) => event.execution === `${jobId}-attempt-2`,
        30_000,
      );
      await mailQueueDrained();
      expect(decodedMails(cloud.outboxDir, LOCAL_NOTIFY_ADDRESS, subject)).toHaveLength(2);

      const shown = JSON.parse((await sidestep('job', jobId, '--json')).stdout) as {
        mails: { idempotencyKey: string; status: string }[];
      };
      expect(shown.mails.map((mail) => mail.idempotencyKey).sort()).toEqual(
        [`import.failed:${jobId}`, `import.failed:${jobId}:2`].sort(),
      );
    });
  }, 240_000);
});

// The upload's version expired (the imports bucket's lifecycle) or was deleted before an operator's
// retry: the worker reads it by its version id, and S3 answers NoSuchVersion only to a caller that may
// list the bucket, 403 AccessDenied to any other
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions"). The job must
// say the upload is gone, not that the worker was refused.
describe('sidestep job retry of an import whose upload is gone', () => {
  it('fails the retry saying the upload version no longer exists and must be uploaded again', async () => {
    const key = `imports/${run}/gone-${run}.csv`;
    const versionId = await withUsersMovedAway(() =>
      uploadFailingImport(key, `g-${run}-1,g1.${run}@example.com,G 1`),
    );
    await s3.send(
      new DeleteObjectCommand({ Bucket: 'sidestep-local-imports', Key: key, VersionId: versionId }),
    );
    await retryFailingAgain(key);
    const failed = await importJob(key);
    expect(failed?.error).toContain(
      `the upload version ${versionId} of s3://sidestep-local-imports/${key} no longer exists (expired or deleted); upload the file again`,
    );
    expect(failed?.error).not.toContain('AccessDenied');
  }, 200_000);
});

describe('sidestep job fail', () => {
  it('ends a stuck export, mails its requester the failure once, and records both', async () => {
    const jobId = `exp_gone_${run}`;
    const requester = `gone-${run}@example.com`;
    await db.query(
      `insert into jobs (id, kind, state, request_id, requested_by, file_name, started_at, deadline_at)
       values ($1, 'export', 'running', $2, $3, 'gone', now(), now() + interval '1 hour')`,
      [jobId, `gone-${run}`, requester],
    );

    const failed = await sidestep('job', 'fail', jobId, '--reason', 'worker task gone', '--json');
    expect(failed.code).toBe(0);
    expect(JSON.parse(failed.stdout)).toMatchObject({
      jobId,
      state: 'failed',
      mail: { status: 'queued', id: `export.failed:${jobId}`, to: requester },
    });
    await collecting.waitFor('mail-delivered', (event) => event.to.includes(requester), 30_000);
    // Failing it again is refused, and mails nothing more.
    const again = await sidestep('job', 'fail', jobId, '--reason', 'again', '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ error: { name: 'JobStateError', field: 'jobId' } });
    await mailQueueDrained();
    expect(decodedMails(cloud.outboxDir, requester, 'Your export failed')).toHaveLength(1);

    // Newest first: the refused second attempt, then the failing that mailed.
    const entries = (await auditTrail()).filter(
      (candidate) => candidate.action === 'job-fail' && candidate.target === jobId,
    );
    expect(entries).toMatchObject([
      { result: 'error' },
      {
        result: 'ok',
        details: { reason: 'worker task gone', mail: { status: 'queued', id: `export.failed:${jobId}` } },
      },
    ]);
  }, 60_000);
});

describe('sidestep mail release', () => {
  it('releases a mail whose send was cut mid-way, so a redrive delivers it exactly once', async () => {
    // A mail the dispatcher handles normally first: its record shows the prefix the dispatcher keys by.
    const warmTo = `warm-${run}@example.com`;
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: cloud.queueUrl('mail'),
        MessageBody: JSON.stringify(mailJob(`warm-${run}`, warmTo)),
      }),
    );
    await collecting.waitFor('mail-delivered', (event) => event.to.includes(warmTo), 30_000);
    const [prefix] = (
      await db.query<{ prefix: string }>(
        `SELECT split_part(id, '#', 1) AS prefix FROM idempotency_records WHERE status = 'COMPLETED' LIMIT 1`,
      )
    ).rows.map((row) => row.prefix);

    // The cut send: the dispatcher claimed the key (INPROGRESS) and died before marking it sent; the
    // claim's invocation time is over. Its message, delivered again, is dead-lettered as outcome unknown.
    const to = `cut-${run}@example.com`;
    const mail = mailJob(`cut-${run}`, to);
    const key = `cut-${run}`;
    const hash = createHash('md5').update(JSON.stringify(key)).digest('base64');
    await db.query(
      `INSERT INTO idempotency_records (id, status, expiry_timestamp, in_progress_expiry_timestamp)
       VALUES ($1, 'INPROGRESS', $2, $3)`,
      [`${prefix}#${hash}`, Math.floor(Date.now() / 1000) + 3600, Date.now() - 60_000],
    );
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: cloud.queueUrl('mail'),
        MessageBody: JSON.stringify({ ...mail, payload: { ...mail.payload, idempotencyKey: key } }),
      }),
    );
    await collecting.waitFor(
      'dead-lettered',
      (event) =>
        event.errorType === 'DeliveryOutcomeUnknownError' && (event.errorMessage ?? '').includes(key),
      30_000,
    );
    const shown = await sidestep('dlq', 'show', 'mail');
    expect(shown.stdout).toContain('DeliveryOutcomeUnknownError');
    expect(decodedMails(cloud.outboxDir, to, 'Import finished: users.csv')).toHaveLength(0);

    // Not delivered, as the release's own search of the outbox finds first. Release, then redrive.
    const released = await sidestep('mail', 'release', key, '--state-dir', path.stateDir, '--json');
    expect(released.code).toBe(0);
    expect(JSON.parse(released.stdout)).toMatchObject({
      idempotencyKey: key,
      released: 'deleted INPROGRESS record',
      checked: 'no record',
    });
    const releasedAgain = await sidestep('mail', 'release', key, '--state-dir', path.stateDir, '--json');
    expect(JSON.parse(releasedAgain.stdout)).toMatchObject({
      error: { name: 'MailRecordNotReleasableError' },
    });

    const redriven = await sidestep('dlq', 'redrive', 'mail');
    expect(redriven.code).toBe(0);
    await collecting.waitFor('mail-delivered', (event) => event.to.includes(to), 30_000);
    await mailQueueDrained();
    expect(decodedMails(cloud.outboxDir, to, 'Import finished: users.csv')).toHaveLength(1);
    expect(
      (await auditTrail()).filter((entry) => entry.action === 'mail-release' && entry.target === key),
    ).toMatchObject([{ result: 'error' }, { result: 'ok' }]);
  }, 90_000);
});

// The check before `mail release`, as an operator runs it locally: the outbox the SMTP sink wrote,
// found from the state dir the cloud was started with.
describe('sidestep mail find', () => {
  it('says a mail that went out was sent, naming its outbox file, and a key no mail carries has no record', async () => {
    const to = `find-${run}@example.com`;
    const key = `find-${run}`;
    const mail = mailJob(`find-${run}`, to);
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: cloud.queueUrl('mail'),
        MessageBody: JSON.stringify({ ...mail, payload: { ...mail.payload, idempotencyKey: key } }),
      }),
    );
    await collecting.waitFor('mail-delivered', (event) => event.to.includes(to), 30_000);

    const found = await sidestep('mail', 'find', key, '--state-dir', path.stateDir, '--json');
    expect(found.code).toBe(0);
    const search = JSON.parse(found.stdout) as { verdict: string; outbox: { file: string; to: string }[] };
    expect(search).toMatchObject({ verdict: 'sent', searched: [cloud.outboxDir], caveats: [] });
    expect(search.outbox).toEqual([expect.objectContaining({ to })]);
    expect(readdirSync(cloud.outboxDir)).toContain(search.outbox[0]?.file);
    const table = await sidestep('mail', 'find', key, '--state-dir', path.stateDir);
    expect(table.stdout).toMatch(/^verdict: sent$/m);
    expect(table.stdout).toContain('do not release it');
    expect(table.stdout).toContain(search.outbox[0]?.file ?? '-');

    // Its release is refused before the ledger is asked: the search says it went out.
    const release = await sidestep('mail', 'release', key, '--state-dir', path.stateDir);
    expect(release.code).toBe(1);
    expect(release.stderr).toMatch(
      new RegExp(
        `^error: MailMaybeSentError: idempotencyKey: ${key} not released: a mail with it went out .*sidestep mail find ${key}.*--force`,
      ),
    );

    // A key that only begins like it, and one nothing has: no record, and the search ran (exit 0).
    for (const unknown of [`find-${run.slice(0, 4)}`, `never-${run}`]) {
      const none = await sidestep('mail', 'find', unknown, '--state-dir', path.stateDir);
      expect(none.code).toBe(0);
      expect(none.stdout).toMatch(/^verdict: no record$/m);
      expect(none.stdout).toContain(`sidestep mail release ${unknown}, then sidestep dlq redrive mail`);
    }

    // A state dir without an outbox is said, not taken for "no record".
    const wrong = await sidestep('mail', 'find', key, '--state-dir', join(path.stateDir, 'nowhere'));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('MailSearchError: stateDir: no outbox at');
  }, 60_000);
});

/** `sidestep audit --json`, newest first. */
async function auditTrail() {
  return JSON.parse((await sidestep('audit', '--json')).stdout) as {
    action: string;
    target: string;
    result: string;
    details: Record<string, unknown>;
  }[];
}

describe('sidestep fire', () => {
  it('runs the sweeper by hand: it fails a stuck job, and the audit trail records the firing', async () => {
    const jobId = `exp_stuck_${run}`;
    await db.query(
      `insert into jobs (id, kind, state, request_id, requested_by, file_name, started_at, deadline_at)
       values ($1, 'export', 'running', $2, $3, 'stuck', now() - interval '3 hours', now() - interval '1 hour')`,
      [jobId, `stuck-${run}`, `stuck-${run}@example.com`],
    );
    // The async-failures case fired it before: this firing is the next one.
    const byOperator = (event: { schedule: string; trigger: string }) =>
      event.schedule === 'stale-job-sweeper' && event.trigger === 'operator';
    const firings = () => collecting.ofType('schedule-fired').filter(byOperator).length;
    const firingsBefore = firings();

    const fired = await sidestep('fire', 'stale-job-sweeper');
    expect(fired.stdout).toMatch(
      new RegExp(`^fired stale-job-sweeper: event ([0-9a-f-]{36}) on sidestep-local \\(${cloud.endpoint}\\)`),
    );
    expect({ code: fired.code, stderr: fired.stderr }).toEqual({ code: 0, stderr: '' });
    await collecting.waitFor('schedule-fired', (event) => byOperator(event) && firings() > firingsBefore);

    const job = async () =>
      JSON.parse((await sidestep('job', jobId, '--json')).stdout) as { state: string; error: string };
    await settle(async () => (await job()).state === 'failed', 30_000);
    const [failed, trail] = await Promise.all([job(), auditTrail()]);
    expect(failed.error).toMatch(/no progress before the deadline/);

    const eventId = fired.stdout.split(' ')[3];
    expect(trail.find((entry) => entry.action === 'schedule-fire')).toMatchObject({
      target: 'stale-job-sweeper',
      result: 'ok',
      details: { eventId, eventBusName: 'sidestep-local', endpoint: cloud.endpoint },
    });
  }, 60_000);
});

describe('sidestep start, executions, redrive', () => {
  it('lists an import that failed uncaught and redrives it from the state that failed', async () => {
    // An uncaught failure: the import workflow's first Pass state reads the S3 event's
    // `$.detail.object`, and a Pass state has no Catch, so an input without it fails the execution
    // with States.Runtime before any job exists. Its input cannot change, so the redrive fails again
    // at the same state: what is checked is that RedriveExecution reran it, not that it succeeded.
    const input = join(path.stateDir, `not-an-s3-event-${run}.json`);
    writeFileSync(input, JSON.stringify({ note: 'not an S3 event' }));
    const name = `uncaught-${run}`;
    const finished = (count: number) =>
      settle(
        () =>
          collecting.events.filter((event) => event.type === 'execution-finished' && event.execution === name)
            .length >= count,
        30_000,
      );

    const started = await sidestep('start', 'import', '--input', input, '--name', name, '--json');
    expect(started.code).toBe(0);
    const { executionArn } = JSON.parse(started.stdout) as { executionArn: string };
    expect(executionArn).toMatch(new RegExp(`:execution:sidestep-local-import:${name}$`));
    await finished(1);

    // Three reads of the ended execution, independent of each other: run at once.
    const [failed, succeeded, shown] = await Promise.all([
      sidestep('executions', 'import', '--status', 'FAILED'),
      sidestep('executions', 'import', '--status', 'SUCCEEDED'),
      sidestep('execution', `import:${name}`, '--json'),
    ]);
    expect(failed.code).toBe(0);
    expect(failed.stdout).toMatch(new RegExp(`${name}\\s+FAILED`));
    expect(succeeded.stdout).not.toContain(name);

    const detail = JSON.parse(shown.stdout) as {
      status: string;
      error: string;
      redriveCount: number;
      steps: { name: string; status: string }[];
    };
    expect(detail).toMatchObject({ status: 'FAILED', error: 'States.Runtime', redriveCount: 0 });
    expect(detail.steps.at(-1)?.name).toBe('ReadUnversionedUpload');

    const redriven = await sidestep('redrive', `import:${name}`, '--json');
    expect(redriven.code).toBe(0);
    expect(JSON.parse(redriven.stdout)).toMatchObject({ executionArn });
    await finished(2);
    const [afterRedrive, trail] = await Promise.all([
      sidestep('execution', executionArn, '--json'),
      auditTrail(),
    ]);
    const after = JSON.parse(afterRedrive.stdout) as {
      status: string;
      redriveCount: number;
      steps: { name: string }[];
    };
    expect(after).toMatchObject({ status: 'FAILED', redriveCount: 1 });
    // Redriven from the state that failed, not from the start: ReadUpload ran once.
    expect(after.steps.filter((step) => step.name === 'ReadUpload')).toHaveLength(1);
    expect(after.steps.filter((step) => step.name === 'ReadUnversionedUpload')).toHaveLength(2);

    expect(trail.find((entry) => entry.action === 'execution-redrive')).toMatchObject({
      target: `import:${name}`,
      result: 'ok',
      details: { executionArn },
    });
    expect(trail.find((entry) => entry.action === 'execution-start')).toMatchObject({
      target: 'import',
      result: 'ok',
      details: { executionArn },
    });
  }, 60_000);
});

describe('sidestep stop', () => {
  // What follows a stop on AWS (the status rule hands the ABORTED execution to the job-sweeper, which
  // fails the job and mails it) is import-path.test.ts's, with the raw StopExecution; here, the CLI.
  it('stops a running import with a cause: the execution ends ABORTED with it, nothing is imported, the stop is audited', async () => {
    const fileName = `stop-${run}.csv`;
    const key = `imports/${run}/${fileName}`;
    await putLargeImport(s3, key, `s-${run}-`);
    const job = async () =>
      (
        await db.query<{ id: string; state: string; execution_id: string | null }>(
          'SELECT id, state, execution_id FROM jobs WHERE source_key = $1',
          [key],
        )
      ).rows[0];
    await settle(async () => (await job())?.state === 'running', 60_000);
    const executionArn = (await job())?.execution_id ?? '';
    const name = executionArn.split(':').at(-1) ?? '';
    const task = await holdImportUntilAborted(collecting, name, (await job())?.id ?? '');

    const stopped = await sidestep('stop', name, '--cause', 'wrong file uploaded', '--json');
    expect(stopped.code).toBe(0);
    expect(JSON.parse(stopped.stdout)).toMatchObject({ executionArn });

    const shown = JSON.parse((await sidestep('execution', name, '--json')).stdout) as Record<string, unknown>;
    expect(shown).toMatchObject({ status: 'ABORTED', error: 'StoppedByOperator' });
    expect(shown.cause).toMatch(/^local:[^:]*: wrong file uploaded$/);
    await task.continued;
    // Step Functions stopped the task it waited for: SIGTERM, which the worker answers by rolling
    // back and exiting 143. Once it has exited, none of the file's rows is in `users`.
    const ended = await collecting.waitFor('task-stopped', (event) => event.taskArn === task.taskArn, 60_000);
    expect(ended.exitCode).toBe(143);
    const imported = await db.query<{ n: string }>(
      'SELECT count(*) AS n FROM users WHERE external_id LIKE $1',
      [`s-${run}-%`],
    );
    expect(Number(imported.rows[0]?.n)).toBe(0);
    expect((await auditTrail()).find((entry) => entry.action === 'execution-stop')).toMatchObject({
      target: name,
      result: 'ok',
      details: { executionArn, cause: 'wrong file uploaded' },
    });
  }, 120_000);
});
