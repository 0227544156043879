import { randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetExecutionHistoryCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FARGATE_VCPU_LIMIT_REASON } from '@sidestep/workflows';
import {
  endedExecutions,
  IMPORT_STATE_MACHINE_ARN,
  IMPORTS_BUCKET,
  jobBySourceKey,
  type PathCloud,
  runSidestep,
  startQuotaPathCloud,
  usersCsv,
} from './start-path-cloud.ts';

// A new account's Fargate vCPU quota may fit a single batch task
// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html): the local
// cloud refuses a RunTask past it as ECS does (its Failures, AmazonECS.Unknown to Step Functions),
// and the import workflow waits for room instead of failing the job.
const run = randomBytes(4).toString('hex');

let path: PathCloud;

beforeAll(async () => {
  // Room for one batch task. The workflow's waits for room, shortened: its 62 retries come every second
  // instead of 10 s to a minute, 62 s in all for the first import to end on a busy machine (its task is
  // frozen meanwhile until the second's refusal and a run of the CLI).
  path = await startQuotaPathCloud('fargate-quota', { batchTasks: 1, retryIntervalMs: 1000 });
}, 90_000);

afterAll(async () => {
  await path?.stop();
});

describe('imports past the account’s Fargate vCPU quota', () => {
  it('waits for room: an import uploaded while another’s task holds the quota has its RunTask refused and retried, and both succeed', async () => {
    const uploads = [
      { n: 1, rows: 40 },
      { n: 2, rows: 60 },
    ];
    const upload = ({ n, rows }: { n: number; rows: number }) =>
      path.s3.send(
        new PutObjectCommand({
          Bucket: IMPORTS_BUCKET,
          Key: `imports/${run}/quota-${n}.csv`,
          Body: usersCsv(`q-${run}-${n}`, rows),
        }),
      );
    // The first import's task holds the quota, frozen (SIGSTOP) until the second import's RunTask has
    // been refused: two uploaded at once need not overlap on a slow machine, where the first task can
    // end before the second workflow reaches its RunTask.
    const db = await path.openDatabase(1);
    const [first, second] = uploads as [(typeof uploads)[0], (typeof uploads)[0]];
    await upload(first);
    const { pid } = await path.collecting.waitFor(
      'task-started',
      (event) => event.task === 'batch-worker',
      60_000,
    );
    if (pid === undefined) throw new Error('the batch task reported no process id');
    process.kill(pid, 'SIGSTOP');
    try {
      await upload(second);
      await path.collecting.waitFor(
        'state-failed',
        (event) => event.error === 'AmazonECS.Unknown' && event.cause.includes(FARGATE_VCPU_LIMIT_REASON),
        60_000,
      );
      // The operator's `sidestep job` says the second import waits for room, and why: between its
      // tries and during one (a RunTask in flight has no TaskSubmitted yet) alike.
      const job = await jobBySourceKey(db, `imports/${run}/quota-${second.n}.csv`);
      const read = await runSidestep(path.cloud, 'job', job?.id ?? 'none');
      expect({ code: read.code, stderr: read.stderr }).toEqual({ code: 0, stderr: '' });
      const shown = read.stdout;
      expect(shown).toMatch(
        new RegExp(
          `\\n  waiting  for room to start its task: ImportRows's RunTask refused \\d+ time\\(s\\) since \\S+ \\(AmazonECS\\.Unknown: ECS started no task: ${FARGATE_VCPU_LIMIT_REASON}\\); the workflow tries again as other tasks stop, until about \\S+, then fails the job\\n`,
        ),
      );
    } finally {
      // Gone already (the test failed and its cloud stopped it): nothing to continue.
      try {
        process.kill(pid, 'SIGCONT');
      } catch {}
    }
    const executions = await endedExecutions(
      path.sfn,
      IMPORT_STATE_MACHINE_ARN,
      (input) => input.includes(run),
      {
        count: uploads.length,
        timeoutMs: 60_000,
      },
    );
    expect(executions.map((execution) => ({ status: execution.status, cause: execution.cause }))).toEqual([
      { status: 'SUCCEEDED' },
      { status: 'SUCCEEDED' },
    ]);

    // The refusals, from the executions' histories: RunTask's Failures in the cause, the reason ECS's.
    const histories = await Promise.all(
      executions.map(async ({ executionArn }) => {
        const { events = [] } = await path.sfn.send(
          new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }),
        );
        return events;
      }),
    );
    const refusals = histories.map((events) =>
      events.flatMap((event) =>
        event.taskFailedEventDetails?.error === 'AmazonECS.Unknown'
          ? [event.taskFailedEventDetails.cause]
          : [],
      ),
    );
    const refused = refusals.flat();
    expect(refused.length).toBeGreaterThan(0);
    for (const cause of refused) {
      expect(JSON.parse(cause ?? '{}')).toMatchObject({
        Failures: [{ Reason: FARGATE_VCPU_LIMIT_REASON }],
        Tasks: [],
      });
    }
    // A refused RunTask started no task: one task ran for each import, and each execution's history
    // has one TaskSubmitted, RunTask's answer naming that task (none for a refused attempt).
    const started = path.collecting.ofType('task-started').filter((event) => event.task === 'batch-worker');
    expect(started).toHaveLength(2);
    const submitted = histories.map((events) =>
      events.flatMap((event) =>
        event.type === 'TaskSubmitted'
          ? [JSON.parse(event.taskSubmittedEventDetails?.output ?? '{}').Tasks?.[0]?.TaskArn]
          : [],
      ),
    );
    expect(submitted.flat().sort()).toEqual(started.map((event) => event.taskArn).sort());

    const { rows: jobs } = await db.query<{ file_name: string; state: string; rows_imported: string }>(
      'select file_name, state, rows_imported from jobs where source_key like $1 order by file_name',
      [`imports/${run}/%`],
    );
    expect(jobs).toEqual([
      { file_name: 'quota-1.csv', state: 'succeeded', rows_imported: '40' },
      { file_name: 'quota-2.csv', state: 'succeeded', rows_imported: '60' },
    ]);
  }, 90_000);
});
