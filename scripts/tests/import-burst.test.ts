import { randomBytes } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Database } from '@sidestep/db';
import type { CollectingReporter, LocalCloud } from '@sidestep/local-cloud';
import { FARGATE_VCPU_LIMIT_REASON } from '@sidestep/workflows';
import { LOCAL_NOTIFY_ADDRESS } from '../src/services.ts';
import {
  endedExecutions,
  IMPORT_STATE_MACHINE_ARN,
  IMPORTS_BUCKET,
  mailsBySubject,
  type PathCloud,
  startQuotaPathCloud,
  usersCsv,
} from './start-path-cloud.ts';

// Issue 11 item 3: about 20 imports uploaded at once on the embedded database (the default of
// `npm start`, one session at a time) all end, each with its own true outcome and one mail. Always
// on the embedded database, whatever TEST_DATABASE_URL says: that is what is under test. Under a
// Fargate vCPU quota that fits two batch tasks, as a new account's may
// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html): the tasks past it
// are refused as ECS refuses them, and their workflows wait for room.
const run = randomBytes(4).toString('hex');
const GOOD = 15;
const BAD = 5;

let path: PathCloud;
let cloud: LocalCloud;
let collecting: CollectingReporter;
let s3: S3Client;
let sfn: SFNClient;
let db: Database;

beforeAll(async () => {
  // Room for two batch tasks: one runs, one waits for the embedded database's slot. The waits for
  // room, a second each instead of 10 s to a minute: 62 retries, a minute in all.
  path = await startQuotaPathCloud('import-burst', { batchTasks: 2, retryIntervalMs: 1000 });
  ({ cloud, collecting, s3, sfn } = path);
  db = await path.openDatabase(1);
}, 90_000);

afterAll(async () => {
  await path?.stop();
});

describe('a burst of imports on the embedded database', () => {
  it(`ends ${GOOD + BAD} concurrent uploads each with its own outcome, reason and one mail`, async () => {
    expect(cloud.databaseKind).toBe('embedded');
    const uploads = Array.from({ length: GOOD + BAD }, (_, n) => ({
      n,
      bad: n % 4 === 3,
      rows: 100 + n * 20,
      fileName: `burst-${run}-${n}.csv`,
    }));
    expect(uploads.filter((upload) => upload.bad)).toHaveLength(BAD);
    const started = Date.now();
    await Promise.all(
      uploads.map(({ n, bad, rows, fileName }) =>
        s3.send(
          new PutObjectCommand({
            Bucket: IMPORTS_BUCKET,
            Key: `imports/${run}/${fileName}`,
            Body: usersCsv(`b-${run}-${n}`, rows, bad ? 'id,mail,name' : undefined),
            ContentType: 'text/csv',
          }),
        ),
      ),
    );
    const executions = await endedExecutions(sfn, IMPORT_STATE_MACHINE_ARN, (input) => input.includes(run), {
      count: uploads.length,
      timeoutMs: 240_000,
    });
    const byKey = new Map(executions.map((e) => [JSON.parse(e.input ?? '{}').detail.object.key, e]));
    for (const { bad, fileName } of uploads) {
      const execution = byKey.get(`imports/${run}/${fileName}`);
      const expected = bad ? 'FAILED' : 'SUCCEEDED';
      // The cause goes into the comparison only when the status is wrong: the failure then says why.
      expect({
        fileName,
        status: execution?.status,
        ...(execution?.status === expected ? {} : { error: execution?.error, cause: execution?.cause }),
      }).toEqual({ fileName, status: expected });
    }

    const { rows: jobs } = await db.query<{
      file_name: string;
      state: string;
      rows_imported: string | null;
      error: string | null;
    }>('select file_name, state, rows_imported, error from jobs where source_key like $1', [
      `imports/${run}/%`,
    ]);
    expect(jobs).toHaveLength(uploads.length);
    for (const { bad, rows, fileName } of uploads) {
      const job = jobs.find((j) => j.file_name === fileName);
      if (bad) {
        expect({ fileName, state: job?.state }).toEqual({ fileName, state: 'failed' });
        // The worker's own reason, not a timeout's or another import's.
        expect(job?.error).toMatch(/external_id/);
      } else {
        expect({ fileName, state: job?.state, rows: job?.rows_imported }).toEqual({
          fileName,
          state: 'succeeded',
          rows: String(rows),
        });
      }
    }

    const expected = uploads.map(({ bad, fileName }) =>
      bad ? `Import failed: ${fileName}` : `Import finished: ${fileName}`,
    );
    expect(await mailsBySubject(path, LOCAL_NOTIFY_ADDRESS, expected)).toEqual(
      expected.map((subject) => ({ subject, mails: 1 })),
    );
    // Each import's task ran once: the RunTasks past the quota started nothing, and were refused as
    // ECS refuses them (AmazonECS.Unknown, RunTask's Failures), then retried.
    expect(collecting.ofType('task-started').filter((event) => event.task === 'batch-worker')).toHaveLength(
      uploads.length,
    );
    const refused = collecting
      .ofType('state-failed')
      .filter(
        (event) => event.error === 'AmazonECS.Unknown' && event.cause.includes(FARGATE_VCPU_LIMIT_REASON),
      );
    expect(refused.length).toBeGreaterThan(0);
    // How long the burst takes, for the report (seen in the test output).
    console.info(
      `${uploads.length} imports ended in ${Date.now() - started} ms, ${refused.length} RunTasks refused for the vCPU quota`,
    );
  }, 300_000);
});
