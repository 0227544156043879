import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Database } from '@sidestep/db';
import { createVirtualClock } from '@sidestep/local-cloud';
import { LOCAL_SERVICES, LOCAL_TASKS, SCHEDULE_SETUP, WORKFLOWS } from '../src/services.ts';
import { type PathCloud, rootDir, runScript, startPathCloud, TEST_DATABASE } from './start-path-cloud.ts';

// `sidestep async-failures` and `status` as an operator runs them: the real bin against a local cloud
// running the real bundles, where the job-sweeper's asynchronous invocation fails every attempt and
// Lambda's invocation record lands in sidestep-local-job-sweeper-async-failures
// (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
const BIN = join(rootDir, 'packages', 'cli', 'bin', 'sidestep.ts');

let path: PathCloud;
let db: Database;

beforeAll(async () => {
  path = await startPathCloud('async-failures-path', {
    services: LOCAL_SERVICES,
    tasks: LOCAL_TASKS,
    workflows: WORKFLOWS,
    // Far from any fire time: only the operator's `fire` runs the sweeper here.
    schedules: { ...SCHEDULE_SETUP, clock: createVirtualClock(new Date('2026-11-24T10:07:00Z')) },
    // Lambda waits one and two minutes between attempts; here a moment.
    asyncRetryDelaysMs: [50, 50],
    ...TEST_DATABASE,
  });
  db = await path.openDatabase(1);
}, 90_000);

afterAll(async () => {
  await path?.stop();
});

function sidestep(...args: string[]) {
  return runScript(
    BIN,
    ...args,
    '--endpoint',
    path.cloud.endpoint,
    '--database-url',
    path.cloud.databaseUrl ?? '',
  );
}

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
      path.collecting
        .ofType('log')
        .filter((event) => event.service === 'job-sweeper' && event.line.includes('stale jobs swept'));
    const failedSweeps = () =>
      path.collecting
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
    await path.collecting.waitFor('log', () => swept().length > 0, 30_000);
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
