import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { DescribeExecutionCommandOutput, SFNClient } from '@aws-sdk/client-sfn';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Database } from '@sidestep/db';
import {
  type CollectingReporter,
  executionStatusChangeEvent,
  type LocalCloud,
  type LocalCloudEvent,
} from '@sidestep/local-cloud';
import { LOCAL_NOTIFY_ADDRESS } from '../src/services.ts';
import {
  cliDatabase,
  decodedMails,
  endedExecutions,
  type PathCloud,
  queueDrained,
  reclaimAsSpot,
  runScriptWith,
  settle,
  startWholePathCloud,
  statesVisited,
} from './start-path-cloud.ts';

// The export issue's "done when", as a test: with the cloud `pnpm start` runs (the real
// status-updater, batch-worker, export-finalizer, job-sweeper and mail-dispatcher bundles built by
// turbo before this test; the import and export workflows from @sidestep/workflows; the
// export-requests pipe; the schedules and their operator rules), driven only through the raw AWS
// SDK and the operator command. The schedules run on a virtual clock that is never moved, so
// nothing fires by itself during the test. With TEST_DATABASE_URL the services use that server.
const IMPORTS = 'sidestep-local-imports';
const EXPORTS = 'sidestep-local-exports';
const EXPORT_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-export';
const IMPORT_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import';
// One run's users share an email domain, which the export's filter selects: a real server keeps
// earlier runs' users.
const run = randomBytes(4).toString('hex');
const domain = `run${run}.example.com`;
const ROWS = 500;
const HEADER = 'external_id,email,name,attributes,created_at,updated_at';
/**
 * Names a spreadsheet would run as formulas, and the cell the export must hold instead: prefixed
 * with `'` (OWASP's CSV injection advice), in a quoted cell.
 */
const FORMULAS: readonly [string, string][] = [
  ['=1+2', "'=1+2"],
  ['+SUM(A1)', "'+SUM(A1)"],
  ['-3', "'-3"],
  ['@cmd', "'@cmd"],
];

let path: PathCloud;
let stateDir: string;
let cloud: LocalCloud;
let collecting: CollectingReporter;
let s3: S3Client;
let sfn: SFNClient;
let sqs: SQSClient;
let db: Database;
/** Called with every event of the cloud as it happens, in its turn: a test's hold on an execution. */
let onCloudEvent: ((event: LocalCloudEvent) => void) | undefined;

beforeAll(async () => {
  const traceFile = process.env.EXPORT_PATH_TRACE;
  path = await startWholePathCloud(
    'export-path',
    (event) => {
      // EXPORT_PATH_TRACE=<file>: every cloud event as a JSON line while the test runs (jest prints
      // nothing until a test ends, which does not help with a hang).
      if (traceFile) appendFileSync(traceFile, `${JSON.stringify(event)}\n`);
      onCloudEvent?.(event);
    },
    // Parts of S3's 5 MiB minimum instead of 8 MiB, so the Spot test's export of a few hundred thousand
    // rows is more than one part; the other tests' exports are one part either way.
    { EXPORT_PART_BYTES: String(5 * 1024 * 1024) },
  );
  ({ cloud, collecting, stateDir, s3, sfn, sqs } = path);
  db = await path.openDatabase();
}, 90_000);

afterAll(async () => {
  await path?.stop();
});

/** The users CSV: `ROWS` users of this run's domain, the first ones with formula-like names. */
function usersCsv(): string {
  const lines = ['external_id,email,name,plan'];
  for (let i = 1; i <= ROWS; i++) {
    const name = FORMULAS[i - 1]?.[0] ?? `User ${i}`;
    lines.push(`u-${run}-${String(i).padStart(4, '0')},user${i}@${domain},"${name}",gold`);
  }
  return `${lines.join('\n')}\n`;
}

/** The fields of one CSV line (RFC 4180 quoting; the test's cells hold no line breaks). */
function csvFields(line: string): string[] {
  const fields: string[] = [];
  const cell = /(?:^|,)(?:"((?:[^"]|"")*)"|([^,]*))/g;
  for (const match of line.matchAll(cell)) {
    fields.push(match[1] !== undefined ? match[1].replaceAll('""', '"') : (match[2] ?? ''));
  }
  return fields;
}

/** The ended execution of `stateMachineArn` whose input contains `needle`. */
async function finishedExecution(
  stateMachineArn: string,
  needle: string,
): Promise<DescribeExecutionCommandOutput> {
  const [execution] = await endedExecutions(sfn, stateMachineArn, (input) => input.includes(needle), {
    timeoutMs: 90_000,
  });
  return execution as DescribeExecutionCommandOutput;
}

/** The .eml files to `to` with `subject`, decoded. */
function mails(to: string, subject: string): string[] {
  return decodedMails(cloud.outboxDir, to, subject);
}

/** An `export.requested` job on the export-requests queue, as any producer sends it: raw client-sqs. */
async function requestExport(id: string, payload: Record<string, unknown>): Promise<void> {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: `${cloud.endpoint}/000000000000/sidestep-local-export-requests`,
      MessageBody: JSON.stringify({ type: 'export.requested', version: 1, id, payload }),
    }),
  );
}

async function objectBytes(key: string): Promise<Buffer> {
  const object = await s3.send(new GetObjectCommand({ Bucket: EXPORTS, Key: key }));
  return Buffer.from((await object.Body?.transformToByteArray()) ?? []);
}

/**
 * The download link of a new export of this run's users (the first test imported them), requested by
 * `rotation-<label>@<domain>`, read from its mail.
 */
async function exportLink(label: string): Promise<string> {
  const requestedBy = `rotation-${label}@${domain}`;
  const requestId = `req-rotation-${label}-${run}`;
  await requestExport(requestId, {
    requestedBy,
    fileName: `rotation-${label}-${run}`,
    filter: { emailDomain: domain },
  });
  expect((await finishedExecution(EXPORT_MACHINE, requestId)).status).toBe('SUCCEEDED');
  await collecting.waitFor(
    'mail-delivered',
    (event) => event.to.includes(requestedBy) && event.subject === 'Your export is ready',
    30_000,
  );
  const [mail] = mails(requestedBy, 'Your export is ready');
  return /Download: (\S+)/.exec(mail ?? '')?.[1] ?? '';
}

/** The key id (`i`) of a download link's token claims (`<claims>.<mac>`, base64url JSON). */
function keyIdOf(link: string): unknown {
  const token = new URL(link).searchParams.get('token') ?? '';
  return JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')).i;
}

/**
 * Step Functions' status change of ended execution `executionArn` as if it had ended ABORTED (an
 * operator's stop), field for field as the local Step Functions sends it to the workflow-ended rule.
 */
function abortedEvent(executionArn: string) {
  const execution = cloud.stepFunctions.describeExecution(executionArn);
  const { output: _output, ...ended } = execution;
  return executionStatusChangeEvent(
    { ...ended, status: 'ABORTED', error: 'Deploy', cause: 'release 42' },
    { region: cloud.region, accountId: '000000000000' },
  );
}

/**
 * What the mail-dispatcher did with the mails under idempotency key `key` so far: its log of each
 * (`mail sent`, `mail replayed`) and each dead letter naming the key (`IdempotencyKeyReusedError`
 * for another payload under it), with its reason.
 */
function dispatched(key: string): { logs: string[]; deadLettered: string[] } {
  const logs = collecting
    .ofType('log')
    .filter(
      (event) => event.service === 'mail-dispatcher' && event.line.includes(`"idempotencyKey":"${key}"`),
    )
    .map((event) => (JSON.parse(event.line) as { message: string }).message)
    .filter((message) => message === 'mail sent' || message === 'mail replayed');
  const deadLettered = collecting
    .ofType('dead-lettered')
    .filter((event) => event.errorMessage?.includes(key))
    .map((event) => `${event.errorType}: ${event.errorMessage}`);
  return { logs, deadLettered };
}

/** {@link dispatched} once the mail-dispatcher has dealt with `count` mails under `key` and the mail queue is empty. */
async function dispatchedOnce(key: string, count: number) {
  await settle(() => {
    const { logs, deadLettered } = dispatched(key);
    return logs.length + deadLettered.length >= count;
  }, 60_000);
  await queueDrained(sqs, cloud.queueUrl('mail'));
  return dispatched(key);
}

describe('the export path in the local cloud', () => {
  it('exports every imported row to one .csv.gz with escaped formulas, mails the link, and SUCCEEDS', async () => {
    // An import first: the users the export will find.
    const importKey = `imports/${run}/users.csv`;
    await s3.send(new PutObjectCommand({ Bucket: IMPORTS, Key: importKey, Body: usersCsv() }));
    const imported = await finishedExecution(IMPORT_MACHINE, importKey);
    expect(imported.status).toBe('SUCCEEDED');

    // The request, as any producer sends it: raw client-sqs with the documented JSON.
    const requestId = `req-${run}`;
    const requestedBy = `ops@${domain}`;
    await requestExport(requestId, {
      requestedBy,
      fileName: `users-${run}`,
      filter: { emailDomain: domain },
    });

    const execution = await finishedExecution(EXPORT_MACHINE, requestId);
    expect({ status: execution.status, error: execution.error, cause: execution.cause }).toEqual({
      status: 'SUCCEEDED',
      error: undefined,
      cause: undefined,
    });
    expect(await statesVisited(sfn, execution.executionArn)).toEqual(
      expect.arrayContaining(['RegisterJob', 'ExportRows', 'FinalizeExport', 'FinishJob']),
    );

    // The one combined file (parts and manifests aside) under exports/ in the exports bucket.
    const { Contents = [] } = await s3.send(
      new ListObjectsV2Command({ Bucket: EXPORTS, Prefix: 'exports/' }),
    );
    const files = Contents.map((object) => object.Key ?? '').filter(
      (key) => key.endsWith(`/users-${run}.csv.gz`) && !key.includes('/parts/'),
    );
    expect(files).toHaveLength(1);
    const stored = await objectBytes(files[0] as string);
    const file = join(stateDir, `users-${run}.csv.gz`);
    writeFileSync(file, stored);
    const gzipTest = spawnSync('gzip', ['-t', file], { encoding: 'utf8' });
    expect({ status: gzipTest.status, stderr: gzipTest.stderr }).toEqual({ status: 0, stderr: '' });

    // The UTF-8 byte order mark (the request's byteOrderMark defaults to true), once, at byte 0.
    const csv = gunzipSync(stored);
    expect([...csv.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(csv.indexOf(Buffer.from([0xef, 0xbb, 0xbf]), 1)).toBe(-1);
    const lines = csv.subarray(3).toString('utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    expect(lines[0]).toBe(HEADER);
    expect(lines.filter((line) => line === HEADER)).toHaveLength(1);
    expect(lines).toHaveLength(ROWS + 1);
    const rows = lines.slice(1).map(csvFields);
    expect(rows.map((fields) => fields[0])).toEqual(
      Array.from({ length: ROWS }, (_, i) => `u-${run}-${String(i + 1).padStart(4, '0')}`),
    );
    for (const [index, [, escaped]] of FORMULAS.entries()) {
      expect(rows[index]?.[2]).toBe(escaped);
      expect(lines[index + 1]).toContain(`"${escaped}"`);
    }
    expect(rows[FORMULAS.length]?.[2]).toBe(`User ${FORMULAS.length + 1}`);
    expect(rows.every((fields) => fields.length === 6 && fields[1]?.endsWith(`@${domain}`))).toBe(true);

    // The mail to the requester, with a link that downloads the same bytes.
    await collecting.waitFor(
      'mail-delivered',
      (event) => event.to.includes(requestedBy) && event.subject === 'Your export is ready',
      30_000,
    );
    const [mail] = mails(requestedBy, 'Your export is ready');
    expect(mail).toMatch(new RegExp(`Your export of ${ROWS} rows is ready`));
    const link = /Download: (\S+)/.exec(mail ?? '')?.[1] ?? '';
    expect(link.startsWith(cloud.functionUrl('export-download'))).toBe(true);
    const redirect = await fetch(link, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    const download = await fetch(redirect.headers.get('location') ?? '');
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(stored)).toBe(true);

    const job = await db.query<{ state: string; rows_total: string; result_key: string }>(
      'select state, rows_total::text, result_key from jobs where request_id = $1',
      [requestId],
    );
    expect(job.rows).toEqual([{ state: 'succeeded', rows_total: String(ROWS), result_key: files[0] }]);
  }, 180_000);

  // The job-sweeper queues the success mail of a job whose execution ended ABORTED, TIMED_OUT or
  // FAILED after it succeeded, not knowing whether the workflow's Notify step had queued it: the
  // mail-dispatcher sends once per key and payload, and dead-letters another payload under a key.
  // So the sweeper's envelope must be the workflow's to the byte the dispatcher compares.
  it("queues, for executions ending ABORTED after their jobs succeeded and mailed, the workflows' very import.completed and export.ready: replayed, no second mail, nothing dead-lettered", async () => {
    const importKey = `imports/${run}/users.csv`;
    const requestId = `req-${run}`;
    const imported = await finishedExecution(IMPORT_MACHINE, importKey);
    const exported = await finishedExecution(EXPORT_MACHINE, requestId);
    expect([imported.status, exported.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    const { rows: jobs } = await db.query<{ id: string; kind: string }>(
      'select id, kind from jobs where source_key = $1 or request_id = $2 order by kind desc',
      [importKey, requestId],
    );
    const [importJob, exportJob] = jobs.map((job) => job.id);
    const importMail = `import.completed:${importJob}`;
    const exportMail = `export.ready:${exportJob}`;
    // The workflows mailed them: sent once each.
    expect(await dispatchedOnce(importMail, 1)).toEqual({ logs: ['mail sent'], deadLettered: [] });
    expect(await dispatchedOnce(exportMail, 1)).toEqual({ logs: ['mail sent'], deadLettered: [] });

    // The job-sweeper, as the workflow-ended rule invokes it, with each execution's status change.
    for (const [execution, mail] of [
      [imported, importMail],
      [exported, exportMail],
    ] as const) {
      const swept = await cloud.invoke('job-sweeper', abortedEvent(execution.executionArn as string));
      expect(swept).toMatchObject({ ok: true, payload: { failed: [], completed: [mail] } });
    }

    expect(await dispatchedOnce(importMail, 2)).toEqual({
      logs: ['mail sent', 'mail replayed'],
      deadLettered: [],
    });
    expect(await dispatchedOnce(exportMail, 2)).toEqual({
      logs: ['mail sent', 'mail replayed'],
      deadLettered: [],
    });
    expect(mails(LOCAL_NOTIFY_ADDRESS, 'Import finished: users.csv')).toHaveLength(1);
    expect(mails(`ops@${domain}`, 'Your export is ready')).toHaveLength(1);
  }, 120_000);

  it('mails an import stopped after its job succeeded but before NotifyCompleted once: the workflow-ended rule hands the ABORTED execution to the job-sweeper, which queues its import.completed', async () => {
    const fileName = `held-${run}.csv`;
    const importKey = `imports/${run}/${fileName}`;
    // Stopped as FinishJob is entered, in the cloud's turn: the batch-worker has committed the rows
    // and the job `succeeded`, and the execution reaches neither FinishJob's answer nor its mail.
    const held = new Promise<string>((resolve) => {
      onCloudEvent = (event) => {
        if (event.type !== 'state-entered' || event.state !== 'FinishJob') return;
        const executionArn = `${IMPORT_MACHINE.replace(':stateMachine:', ':execution:')}:${event.execution}`;
        if (!cloud.stepFunctions.describeExecution(executionArn).input.includes(importKey)) return;
        onCloudEvent = undefined;
        cloud.stepFunctions.stopExecution(executionArn, { error: 'Deploy', cause: 'release 42' });
        resolve(executionArn);
      };
    });
    await s3.send(
      new PutObjectCommand({
        Bucket: IMPORTS,
        Key: importKey,
        Body: `external_id,email,name\nheld-${run},held-${run}@${domain},Held\n`,
      }),
    );
    const executionArn = await held;
    const stopped = await finishedExecution(IMPORT_MACHINE, importKey);
    expect(stopped.status).toBe('ABORTED');
    const visited = await statesVisited(sfn, executionArn);
    expect(visited).toContain('FinishJob');
    expect(visited).not.toContain('NotifyCompleted');
    const { rows } = await db.query<{ id: string; state: string }>(
      'select id, state from jobs where source_key = $1',
      [importKey],
    );
    expect(rows).toEqual([{ id: expect.any(String), state: 'succeeded' }]);

    expect(await dispatchedOnce(`import.completed:${rows[0]?.id}`, 1)).toEqual({
      logs: ['mail sent'],
      deadLettered: [],
    });
    const [mail, ...more] = mails(LOCAL_NOTIFY_ADDRESS, `Import finished: ${fileName}`);
    expect(more).toEqual([]);
    expect(mail).toMatch(/1 row was imported: 1 user new or changed\./);
  }, 120_000);

  // The signing key is infra's secret, read by the finalizer and the download endpoint with
  // GetSecretValue as their own roles, as deployed; put-secret-value rotates it: AWSCURRENT signs the
  // next link, the version it replaced becomes AWSPREVIOUS and still opens the links it signed
  // (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html).
  it('signs links with the secret’s AWSCURRENT key and still opens the old links after PutSecretValue rotates it', async () => {
    const secrets = new SecretsManagerClient(path.client);
    try {
      const SecretId = 'sidestep-local-export-download-key';
      const first = await secrets.send(new GetSecretValueCommand({ SecretId }));
      expect(first.SecretString).toMatch(/^[0-9a-f]{64}$/);
      const before = await exportLink('before');
      expect((await fetch(before, { redirect: 'manual' })).status).toBe(302);

      const put = await secrets.send(
        new PutSecretValueCommand({ SecretId, SecretString: randomBytes(32).toString('hex') }),
      );
      const { VersionIdsToStages } = await secrets.send(new DescribeSecretCommand({ SecretId }));
      expect(VersionIdsToStages).toMatchObject({
        [put.VersionId as string]: ['AWSCURRENT'],
        [first.VersionId as string]: ['AWSPREVIOUS'],
      });
      const after = await exportLink('after');
      // Signed with the new key: its token names another key id than the first link's.
      expect(keyIdOf(after)).not.toBe(keyIdOf(before));
      // The download endpoint holds the old key as current (cached): the new key id makes it fetch again.
      expect((await fetch(after, { redirect: 'manual' })).status).toBe(302);
      // The old link: its key is AWSPREVIOUS now.
      expect((await fetch(before, { redirect: 'manual' })).status).toBe(302);
    } finally {
      secrets.destroy();
    }
  }, 180_000);

  it('mails a request in Japanese when it asks for ja, through the real status-updater and mail-dispatcher', async () => {
    // The cheapest Japanese mail of the path: a request the status-updater refuses (its fileName is
    // not ASCII) is mailed export.failed at once, in the request's locale, with no export run.
    const requestId = `req-ja-${run}`;
    const requestedBy = `ja-${run}@${domain}`;
    await requestExport(requestId, { requestedBy, fileName: 'ユーザー一覧', locale: 'ja' });

    const execution = await finishedExecution(EXPORT_MACHINE, requestId);
    expect([execution.status, execution.error]).toEqual(['FAILED', 'InvalidInputError']);
    // The outbox's .eml, its Subject decoded from its encoded words by the sink (mailparser).
    const delivered = await collecting.waitFor(
      'mail-delivered',
      (event) => event.to.includes(requestedBy),
      30_000,
    );
    expect(delivered.subject).toBe('エクスポートに失敗しました');
    expect(delivered.file.startsWith(cloud.outboxDir) && existsSync(delivered.file)).toBe(true);
  }, 120_000);

  it('mails every refusal of one request id, each under its own key: none dead-lettered as a reused key', async () => {
    // Two requests under one id, from two requesters, each breaking its contract in its own way: two
    // different refusals. Keyed by the request id, the second was a reused key to the mail-dispatcher,
    // dead-lettered and never sent; each is keyed by its own SQS message now.
    const requestId = `req-refused-${run}`;
    const requesters = [`refused-1-${run}@${domain}`, `refused-2-${run}@${domain}`];
    const deadBefore = collecting.ofType('dead-lettered').length;
    await requestExport(requestId, { requestedBy: requesters[0], fileName: 'ユーザー一覧' });
    await finishedExecution(EXPORT_MACHINE, requesters[0] as string);
    await requestExport(requestId, { requestedBy: requesters[1], filter: { emailDomain: 'not a domain' } });
    const second = await finishedExecution(EXPORT_MACHINE, requesters[1] as string);
    expect([second.status, second.error]).toEqual(['FAILED', 'InvalidInputError']);

    for (const requester of requesters) {
      await collecting.waitFor('mail-delivered', (event) => event.to.includes(requester), 30_000);
    }
    expect(mails(requesters[0] as string, 'Your export failed')[0]).toMatch(/request\.fileName/);
    expect(mails(requesters[1] as string, 'Your export failed')[0]).toMatch(/request\.filter\.emailDomain/);
    expect(collecting.ofType('dead-lettered').slice(deadBefore)).toEqual([]);
  }, 120_000);

  it('reruns an export whose Fargate Spot task is reclaimed after its first part: the rerun resumes in the same upload', async () => {
    // Issue 13 item 3 through the product: the export workflow reruns a task ECS stopped with stop
    // code SpotInterruption; the rerun lists the file's multipart upload (ListParts, with the task
    // role's permissions enforced), keeps the parts the first task uploaded, and the finalizer
    // completes one file of every row.
    const spotDomain = `spot${run}.example.com`;
    const users = 300_000;
    // md5 cells compress about as real emails and names do (~2.5x at gzip -1, where a counter's
    // repeats compress ~10x): a few parts of 5 MiB from a few hundred thousand rows.
    await db.query(
      `INSERT INTO users (external_id, email, name)
       SELECT 's-' || $1 || '-' || lpad(g::text, 6, '0'), md5(g::text) || '@' || $2, md5('n' || g)
       FROM generate_series(1, $3::int) g`,
      [run, spotDomain, users],
    );
    const requestId = `req-spot-${run}`;
    await requestExport(requestId, {
      requestedBy: `ops@${spotDomain}`,
      fileName: `spot-${run}`,
      filter: { emailDomain: spotDomain },
    });
    // The job, once the workflow registered and started it, and the task its execution runs.
    const startedJob = async () =>
      (
        await db.query<{ id: string; execution_id: string | null }>(
          'select id, execution_id from jobs where request_id = $1',
          [requestId],
        )
      ).rows[0];
    await settle(async () => Boolean((await startedJob())?.execution_id), 60_000, 20);
    const job = (await startedJob()) as { id: string; execution_id: string };
    const jobId = job.id;
    const started = await collecting.waitFor(
      'task-started',
      (event) => event.execution === job.execution_id.split(':').at(-1),
      60_000,
    );
    // Reclaimed once the progress record lists an uploaded part; frozen meanwhile, so it lands
    // mid-export on any machine.
    const uploadedParts = async (): Promise<number> => {
      try {
        const text = (await objectBytes(`exports/${jobId}/parts/progress.json`)).toString('utf8');
        return (JSON.parse(text) as { parts: unknown[] }).parts.length;
      } catch {
        return 0;
      }
    };
    await settle(async () => (await uploadedParts()) > 0, 60_000, 10);
    const stopped = await reclaimAsSpot(cloud, collecting, started);
    expect(stopped).toMatchObject({ exitCode: 143, stoppedReason: 'Your Spot Task was interrupted.' });

    const execution = await finishedExecution(EXPORT_MACHINE, requestId);
    expect({ status: execution.status, error: execution.error }).toEqual({
      status: 'SUCCEEDED',
      error: undefined,
    });
    const finished = collecting
      .ofType('log')
      .filter((event) => event.line.includes('"message":"export finished"') && event.line.includes(jobId))
      .map((event) => JSON.parse(event.line) as { resumedParts: number; rowsWritten: number; parts: number });
    expect(finished).toHaveLength(1);
    expect(finished[0]?.resumedParts).toBeGreaterThan(0);
    expect(finished[0]?.parts).toBeGreaterThan(finished[0]?.resumedParts ?? 0);
    expect(finished[0]?.rowsWritten).toBeLessThan(users);

    // One file of every row, in order, the header once.
    const csv = gunzipSync(await objectBytes(`exports/${jobId}/spot-${run}.csv.gz`));
    const lines = csv.subarray(3).toString('utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    expect(lines[0]).toBe(HEADER);
    expect(lines).toHaveLength(users + 1);
    const ids = lines.slice(1).map((line) => csvFields(line)[0]);
    expect(ids[0]).toBe(`s-${run}-000001`);
    expect(ids.at(-1)).toBe(`s-${run}-${String(users).padStart(6, '0')}`);
    expect(new Set(ids).size).toBe(users);
    expect(collecting.ofType('access-denied')).toEqual([]);
  }, 180_000);

  it('fails a stuck job with a mail when an operator fires the sweeper by hand', async () => {
    const jobId = `exp_stuck_${run}`;
    const requestedBy = `stuck@${domain}`;
    await db.query(
      `insert into jobs (id, kind, state, request_id, requested_by, file_name, started_at, deadline_at)
       values ($1, 'export', 'running', $2, $3, 'stuck', now() - interval '3 hours', now() - interval '1 hour')`,
      [jobId, `stuck-${run}`, requestedBy],
    );

    // The operator command, as README shows it (`pnpm fire-schedule stale-job-sweeper`).
    const database = cliDatabase(cloud.databaseUrl);
    const fired = await runScriptWith(
      database.env,
      'scripts/fire-schedule.ts',
      'stale-job-sweeper',
      '--endpoint',
      cloud.endpoint,
      ...database.args,
    );
    expect({ code: fired.code, stderr: fired.stderr }).toEqual({ code: 0, stderr: '' });
    expect(fired.stdout).toMatch(/^fired stale-job-sweeper: event /);

    await collecting.waitFor(
      'mail-delivered',
      (event) => event.to.includes(requestedBy) && event.subject === 'Your export failed',
      30_000,
    );
    const [mail] = mails(requestedBy, 'Your export failed');
    expect(mail).toMatch(/Reason: no progress before the deadline/);
    const { rows } = await db.query<{ state: string; error: string }>(
      'select state, error from jobs where id = $1',
      [jobId],
    );
    expect(rows[0]?.state).toBe('failed');
    expect(rows[0]?.error).toMatch(/no progress before the deadline/);
  }, 60_000);
});
