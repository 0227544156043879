import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type CollectingReporter,
  createVirtualClock,
  type LocalCloud,
  type ScheduleDefinition,
} from '@sidestep/local-cloud';
import { createOpsContext, fireSchedule, LOCAL_CLOUD } from '@sidestep/ops';
import { nextFireTimes, operatorEventPattern, SCHEDULES } from '@sidestep/workflows';
import { fireScheduleCommand } from '../src/fire-schedule.ts';
import { type PathCloud, runScriptWith, startPathCloud } from './start-path-cloud.ts';

// The operator command against the local cloud: the operator event goes through PutEvents on the
// endpoint and the schedule's operator rule, which sends the schedule's input to its target (here
// the export-requests queue, whose pipe starts a fixture workflow that only records its input).
const nightly = SCHEDULES.find((schedule) => schedule.name === 'nightly-export') as ScheduleDefinition;

let path: PathCloud;
let cloud: LocalCloud;
let collecting: CollectingReporter;
// Far from any real fire time at start: only operator events fire, until a test moves it.
const clock = createVirtualClock(new Date('2026-11-24T10:07:00Z'));

beforeAll(async () => {
  path = await startPathCloud('fire-schedule', {
    services: [],
    workflows: [
      {
        name: 'export',
        definition: () => ({ StartAt: 'Received', States: { Received: { Type: 'Pass', End: true } } }),
      },
    ],
    pipes: [{ source: { name: 'export-requests' }, workflow: 'export' }],
    schedules: {
      definitions: SCHEDULES,
      nextFireTimes,
      operatorEventPattern,
      clock,
    },
  });
  ({ cloud, collecting } = path);
}, 30_000);

afterAll(async () => {
  await path?.stop();
});

// `npm run fire-schedule` is an alias of the operator CLI's `sidestep fire`. This fixture cloud has no
// jobs ledger: its runs name one where nothing listens, so the audit trail is reported unwritten.
const NO_LEDGER = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/postgres' };
const fire = (variables: Readonly<Record<string, string | undefined>>, ...args: string[]) =>
  runScriptWith({ ...NO_LEDGER, ...variables }, 'scripts/fire-schedule.ts', ...args);

describe('npm run fire-schedule', () => {
  it("puts the operator event that the schedule's rule routes to its target with its input", async () => {
    const { code, stdout } = await fire({}, 'nightly-export', '--endpoint', cloud.endpoint);
    expect(stdout).toMatch(
      new RegExp(`^fired nightly-export: event [0-9a-f-]{36} on sidestep-local \\(${cloud.endpoint}\\)`),
    );
    expect(code).toBe(0);
    const routed = await collecting.waitFor('event-routed', (event) => event.eventBus === 'sidestep-local');
    expect(routed).toMatchObject({ source: 'sidestep.operator', detailType: 'Schedule Fired' });
    expect(routed.rules).toEqual(['sidestep-local-nightly-export-operator']);

    const delivered = await collecting.waitFor('pipe-delivered', () => true, 10_000);
    const execution = cloud.stepFunctions.describeExecution(delivered.executionArn);
    const [record] = JSON.parse(execution.input) as { body: string }[];
    const body = JSON.parse(record?.body ?? '{}') as { type?: string; id?: string };
    // The schedule's input, with the run's context attributes filled from the operator event.
    expect(body.type).toBe((nightly.input as { type: string }).type);
    expect(JSON.stringify(body)).not.toContain('<aws.scheduler.');
    // The id comes from the operator event's time: one run per event, the same run if replayed.
    expect(body.id).toMatch(/^nightly-export:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  }, 20_000);

  it('fires the sweeper, and says the action went unrecorded when the ledger does not answer', async () => {
    const { code, stdout, stderr } = await fire({}, 'stale-job-sweeper', '--endpoint', cloud.endpoint);
    expect(stdout).toMatch(/^fired stale-job-sweeper: event [0-9a-f-]{36} on sidestep-local/);
    expect(stderr).toMatch(
      /not recorded in the audit trail \(.*ECONNREFUSED.*\): schedule-fire stale-job-sweeper/,
    );
    expect(code).toBe(0);
    const routed = await collecting.waitFor('event-routed', (event) =>
      event.rules.includes('sidestep-local-stale-job-sweeper-operator'),
    );
    expect(routed.eventBus).toBe('sidestep-local');
  }, 20_000);

  it('fires at the endpoint AWS_ENDPOINT_URL names when no --endpoint is given', async () => {
    const { code, stdout } = await fire(
      { AWS_ENDPOINT_URL: cloud.endpoint, AWS_ENDPOINT_URL_EVENTBRIDGE: undefined },
      'nightly-export',
    );
    expect(stdout).toMatch(
      new RegExp(`^fired nightly-export: event [0-9a-f-]{36} on sidestep-local \\(${cloud.endpoint}\\)`),
    );
    expect(code).toBe(0);
  }, 20_000);

  it('exits 1 naming an unknown schedule and its field', async () => {
    const { code, stderr } = await fire({}, 'no-such-schedule', '--endpoint', cloud.endpoint);
    expect(code).toBe(1);
    expect(stderr).toMatch(/UnknownNameError: schedule: no schedule named "no-such-schedule"/);
  }, 20_000);

  it('refuses an environment sidestep does not have', async () => {
    const { code, stderr } = await fire({}, 'nightly-export', '--env', 'prod');
    expect(code).not.toBe(0);
    expect(stderr).toContain("'prod' is invalid");
  }, 20_000);
});

/** Resolves just after the wall clock's next whole second. */
const untilNextSecond = () => new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 10));

describe('fireSchedule', () => {
  // PutEvents answered but the answer lost (a connection reset on the way back), a second later: the
  // SDK sends the same request again, and EventBridge puts a second event. The run's request id comes
  // from the event's time, so both events must carry one time to be one export, not two.
  it('makes one request id of a PutEvents the SDK resends after its answer was lost', async () => {
    const eventBridge = new EventBridgeClient({
      region: LOCAL_CLOUD.region,
      endpoint: cloud.endpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    let answers = 0;
    eventBridge.middlewareStack.add(
      (next) => async (args) => {
        const answer = await next(args);
        answers += 1;
        if (answers > 1) return answer;
        await untilNextSecond();
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      },
      { step: 'deserialize', name: 'loseFirstAnswer' },
    );
    const context = createOpsContext({
      environment: 'local',
      endpoint: cloud.endpoint,
      clients: { eventBridge },
      databaseUrl: NO_LEDGER.DATABASE_URL,
      warn: () => undefined,
    });
    // From the start of a second: events put before this test carry earlier times.
    await untilNextSecond();
    const since = `${new Date().toISOString().slice(0, 19)}Z`;
    const seen = collecting.ofType('pipe-delivered').length;

    await fireSchedule(context, 'nightly-export');
    await context.close();
    eventBridge.destroy();
    expect(answers).toBe(2);

    const requestIds = () =>
      collecting
        .ofType('pipe-delivered')
        .slice(seen)
        .map((delivered) => {
          const { input } = cloud.stepFunctions.describeExecution(delivered.executionArn);
          const [record] = JSON.parse(input) as { body: string }[];
          return JSON.parse(record?.body ?? '{}') as { id?: string; createdAt?: string };
        })
        .filter((body) => (body.createdAt ?? '') >= since)
        .map((body) => body.id);
    await collecting.waitFor('pipe-delivered', () => requestIds().length >= 2, 10_000);
    expect(requestIds()).toEqual([`nightly-export:${since}`, `nightly-export:${since}`]);
  }, 20_000);
});

describe('fireScheduleCommand', () => {
  it('names the endpoint only when the local cloud is not on the default port', () => {
    expect(fireScheduleCommand('nightly-export', LOCAL_CLOUD.endpoint)).toBe(
      'npm run fire-schedule -- nightly-export',
    );
    expect(fireScheduleCommand('nightly-export', `${LOCAL_CLOUD.endpoint}/`)).toBe(
      'npm run fire-schedule -- nightly-export',
    );
    expect(fireScheduleCommand('nightly-export', 'http://127.0.0.1:45123')).toBe(
      'npm run fire-schedule -- nightly-export --endpoint http://127.0.0.1:45123',
    );
  });
});

describe('the schedules on the local clock', () => {
  it('fire nightly-export at 03:00 Tokyo time with its scheduled time in the request id', async () => {
    expect(cloud.scheduler?.nextFire('nightly-export')).toEqual(new Date('2026-11-24T18:00:00Z'));
    await clock.advanceTo(new Date('2026-11-24T18:00:00Z'));
    const fired = await collecting.waitFor(
      'schedule-fired',
      (event) => event.schedule === 'nightly-export' && event.trigger === 'scheduler',
    );
    expect(fired.scheduledTime).toBe('2026-11-24T18:00:00.000Z');
    const delivered = await collecting.waitFor(
      'pipe-delivered',
      (event) => cloud.stepFunctions.describeExecution(event.executionArn).input.includes('18:00:00Z'),
      10_000,
    );
    const [record] = JSON.parse(cloud.stepFunctions.describeExecution(delivered.executionArn).input) as {
      body: string;
    }[];
    expect(JSON.parse(record?.body ?? '{}')).toMatchObject({
      type: 'export.requested',
      id: 'nightly-export:2026-11-24T18:00:00Z',
    });
    // The sweeper fired every 15 minutes on the way (its function is not running here: reported).
    const sweeps = collecting.events.filter(
      (event) =>
        event.type === 'schedule-fired' &&
        event.schedule === 'stale-job-sweeper' &&
        event.trigger === 'scheduler',
    );
    expect(sweeps).toHaveLength(32);
    expect(cloud.scheduler?.nextFire('nightly-export')).toEqual(new Date('2026-11-25T18:00:00Z'));
  }, 20_000);
});
