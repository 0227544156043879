import { randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetExecutionHistoryCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startConsole } from '@sidestep/console';
import { launchChromium } from '@sidestep/console/testing';
import { createOpsContext } from '@sidestep/ops';
import { LOCAL_NOTIFY_ADDRESS } from '../src/services.ts';
import {
  endedExecutions,
  IMPORT_STATE_MACHINE_ARN,
  IMPORTS_BUCKET,
  mailsBySubject,
  type PathCloud,
  runSidestep,
  startQuotaPathCloud,
  usersCsv,
} from './start-path-cloud.ts';

// A new account's Lambda concurrency may be 10 invocations at once
// (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html); past it Lambda runs
// nothing and answers 429 TooManyRequestsException, which Step Functions reports as
// Lambda.TooManyRequestsException. Here 2, so imports uploaded together are throttled: their
// workflow steps retry it (with the definitions' own waits), the status change events and the
// mail queue's batches are tried again, and every import ends as it should, mailed once.
const IMPORTS = 4;
const run = randomBytes(4).toString('hex');

let path: PathCloud;

beforeAll(async () => {
  path = await startQuotaPathCloud('lambda-concurrency', { lambdaConcurrency: 2 });
}, 90_000);

afterAll(async () => {
  await path?.stop();
});

describe('imports past the account’s Lambda concurrency', () => {
  it('are throttled as Lambda throttles them, retried, and each succeeds with one mail; status and the console show the throttles', async () => {
    const uploads = Array.from({ length: IMPORTS }, (_, n) => ({
      n,
      rows: 10 + n,
      fileName: `concurrency-${run}-${n}.csv`,
    }));
    await Promise.all(
      uploads.map(({ n, rows, fileName }) =>
        path.s3.send(
          new PutObjectCommand({
            Bucket: IMPORTS_BUCKET,
            Key: `imports/${run}/${fileName}`,
            Body: usersCsv(`c-${run}-${n}`, rows),
          }),
        ),
      ),
    );
    const executions = await endedExecutions(
      path.sfn,
      IMPORT_STATE_MACHINE_ARN,
      (input) => input.includes(run),
      {
        count: IMPORTS,
        timeoutMs: 150_000,
      },
    );
    expect(
      executions.map((execution) => ({
        status: execution.status,
        ...(execution.status === 'SUCCEEDED' ? {} : { error: execution.error, cause: execution.cause }),
      })),
    ).toEqual(uploads.map(() => ({ status: 'SUCCEEDED' })));

    // The throttles: the cloud refused invocations past its 2, and some were a workflow's steps, which
    // failed as Step Functions reports Lambda's 429 and were retried.
    expect(path.collecting.ofType('lambda-throttled').length).toBeGreaterThan(0);
    const throttledSteps = (
      await Promise.all(
        executions.map(async ({ executionArn }) => {
          const { events = [] } = await path.sfn.send(
            new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }),
          );
          return events.flatMap((event) =>
            event.taskFailedEventDetails?.error === 'Lambda.TooManyRequestsException'
              ? [event.taskFailedEventDetails.cause]
              : [],
          );
        }),
      )
    ).flat();
    expect(throttledSteps.length).toBeGreaterThan(0);
    for (const cause of throttledSteps) {
      expect(cause).toMatch(
        /^Rate Exceeded\. \(Service: AWSLambda; Status Code: 429; Error Code: TooManyRequestsException;/,
      );
    }

    // The operator sees them: `sidestep status` reads Lambda's Throttles metric of each function.
    const shown = await runSidestep(path.cloud, 'status');
    // (This cloud runs no export pipe or schedules: status warns that their queues do not exist.)
    expect({
      code: shown.code,
      throttled: Number(/^status-updater +(\d+)$/m.exec(shown.stdout)?.[1]) > 0,
    }).toEqual({ code: 0, throttled: true });

    // And the console's overview, in a browser: the status-updater's row, its count in bold.
    const context = createOpsContext({
      environment: 'local',
      endpoint: path.cloud.endpoint,
      databaseUrl: path.cloud.databaseUrl ?? '',
      env: { USER: 'test' },
    });
    const operatorConsole = await startConsole({ context, port: 0, outboxDir: path.cloud.outboxDir });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(operatorConsole.url);
      await page.waitForURL(new URL('/', operatorConsole.url).toString());
      const row = page.locator('#functions tr', { hasText: 'status-updater' });
      expect(Number(await row.locator('strong.bad').textContent())).toBeGreaterThan(0);
      expect(await page.locator('#functions h2').textContent()).toBe('Functions');
    } finally {
      await browser.close();
      await operatorConsole.close();
      await context.close();
    }

    const db = await path.openDatabase(1);
    const { rows: jobs } = await db.query<{ file_name: string; state: string; rows_imported: string }>(
      'select file_name, state, rows_imported from jobs where source_key like $1 order by file_name',
      [`imports/${run}/%`],
    );
    expect(jobs).toEqual(
      uploads.map(({ fileName, rows }) => ({
        file_name: fileName,
        state: 'succeeded',
        rows_imported: String(rows),
      })),
    );

    // One mail each, throttled batches of the mail queue included.
    const subjects = uploads.map(({ fileName }) => `Import finished: ${fileName}`);
    expect(await mailsBySubject(path, LOCAL_NOTIFY_ADDRESS, subjects)).toEqual(
      subjects.map((subject) => ({ subject, mails: 1 })),
    );
    expect(path.collecting.ofType('dead-lettered')).toEqual([]);
  }, 180_000);
});
