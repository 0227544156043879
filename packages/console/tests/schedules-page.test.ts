import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createOpsContext, LedgerInvokeError, type OpsContext } from '@sidestep/ops';
import { mockClient } from 'aws-sdk-client-mock';
import { type RunningConsole, startConsole } from '../src/index.ts';
import { type ConsoleFetch, formFields, signIn } from '../src/testing.ts';

// The schedules page of an AWS environment (staging), whose EventBridge Scheduler is stubbed:
// GetSchedule answers each schedule's State, UpdateSchedule sets it: a schedule is enabled or
// disabled (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-state.html).
// The local cloud has no Scheduler API, so only here do Pause and Resume act.
let context: OpsContext;
let running: RunningConsole;
/** The operator, signed in as by opening the console's URL. */
let get: ConsoleFetch;
/** Each schedule's State by its Scheduler name, and the UpdateSchedule inputs the console sent. */
const states = new Map([
  ['sidestep-staging-nightly-export', 'DISABLED'],
  ['sidestep-staging-stale-job-sweeper', 'ENABLED'],
]);
let updates: Record<string, unknown>[] = [];

beforeAll(async () => {
  context = {
    ...createOpsContext({ environment: 'staging', env: { AWS_REGION: 'us-east-1' }, warn: () => undefined }),
    ledger: () => Promise.reject(new LedgerInvokeError('ops-ledger: no answer')),
  };
  mockClient(context.clients.sts)
    .onAnyCommand()
    .resolves({ Account: '123456789012', Arn: 'arn:aws:sts::123456789012:assumed-role/operator/tester' });
  // The console has no Scheduler client of its own: each call is told by its input.
  mockClient(context.clients.scheduler)
    .onAnyCommand()
    .callsFake((input: Record<string, unknown>) => {
      if (input.State) {
        updates.push(input);
        return {};
      }
      return {
        Name: input.Name,
        GroupName: input.GroupName,
        ScheduleExpression: 'cron(0 3 * * ? *)',
        State: states.get(String(input.Name)),
      };
    });
  running = await startConsole({ context, port: 0 });
  get = await signIn(running.url);
});

afterAll(async () => {
  await running.close();
  await context.close();
});

beforeEach(() => {
  updates = [];
});

const page = async () => (await get('/schedules')).text();

/** The schedule's row of the page. */
const row = (text: string, schedule: string) =>
  new RegExp(`<tr><td><strong>${schedule}</strong>[\\s\\S]*?</tr>`).exec(text)?.[0] ?? '';

describe('the schedules page', () => {
  it('offers Resume for a paused (DISABLED) schedule and Pause for an enabled one', async () => {
    const text = await page();
    expect(row(text, 'nightly-export')).toContain('action="/schedules/nightly-export/resume"');
    expect(row(text, 'nightly-export')).not.toContain('/pause"');
    expect(row(text, 'stale-job-sweeper')).toContain('action="/schedules/stale-job-sweeper/pause"');
    expect(row(text, 'stale-job-sweeper')).not.toContain('/resume"');
  });

  it.each([
    ['pause', 'stale-job-sweeper', 'DISABLED'],
    ['resume', 'nightly-export', 'ENABLED'],
  ])('%s of %s sends UpdateSchedule with State %s', async (change, schedule, state) => {
    const answer = await get(`/schedules/${schedule}/${change}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' },
      body: String(formFields(await page(), `/schedules/${schedule}/${change}`)),
    });
    expect(answer.status).toBe(303);
    expect(updates.map(({ Name, GroupName, State }) => ({ Name, GroupName, State }))).toEqual([
      { Name: `sidestep-staging-${schedule}`, GroupName: 'sidestep-staging', State: state },
    ]);
    const shown = await (await get(answer.headers.get('location') ?? '')).text();
    expect(shown).toContain(
      `<p class="flash flash-ok" role="status" tabindex="-1" autofocus>${schedule} is now ${state}</p>`,
    );
  });
});
