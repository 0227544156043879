import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { describe, expect, it } from '@jest/globals';
import { createOpsContext, fireSchedule, LOCAL_CLOUD, serviceEndpoint } from '../src/index.ts';
import { stagingContext } from './staging-context.ts';

// The operator event path of `sidestep fire` against a stubbed EventBridge (the local cloud's answers
// are tested through the bin in scripts/tests), and the endpoint rule every command's clients follow.

describe('fireSchedule', () => {
  it('puts the Schedule Fired operator event on sidestep-<env>, naming the schedule and the operator', async () => {
    const { context, eventBridge, warnings } = stagingContext();
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-1' }] });

    const fired = await fireSchedule(context, 'nightly-export');

    expect(fired).toEqual({
      schedule: 'nightly-export',
      eventId: 'event-1',
      eventBusName: 'sidestep-staging',
      endpoint: null,
    });
    const [entry] = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries ?? [];
    expect(entry).toMatchObject({
      EventBusName: 'sidestep-staging',
      Source: 'sidestep.operator',
      DetailType: 'Schedule Fired',
    });
    expect(JSON.parse(entry?.Detail ?? '{}')).toEqual({
      schedule: 'nightly-export',
      operator: 'arn:aws:sts::123456789012:assumed-role/operator/alice',
    });
    expect(warnings.join('\n')).toMatch(/not recorded in the audit trail.*schedule-fire nightly-export/);
  });

  // The schedule's run id comes from the event's time (`nightly-export:<time>`), which EventBridge
  // stamps when it receives an entry without `Time`: an SDK retry of a PutEvents whose answer was
  // lost, arriving a second later, would be another run (a second export). The entry carries the
  // time of the operator's request, fixed once, so every send of it is the same run.
  it('fixes the event time once, in whole seconds, so a resent PutEvents is the same run', async () => {
    const { context, eventBridge } = stagingContext();
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-1' }] });
    const before = Math.floor(Date.now() / 1000) * 1000;

    await fireSchedule(context, 'nightly-export');

    const [entry] = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries ?? [];
    expect(entry?.Time).toBeInstanceOf(Date);
    const time = entry?.Time?.getTime() ?? Number.NaN;
    expect(time % 1000).toBe(0);
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(Date.now());
  });

  it('refuses a schedule the repository does not declare, naming it, without calling AWS', async () => {
    const { context, eventBridge } = stagingContext();
    await expect(fireSchedule(context, 'nightly-exprot')).rejects.toMatchObject({
      name: 'UnknownNameError',
      field: 'schedule',
      value: 'nightly-exprot',
    });
    expect(eventBridge.calls()).toHaveLength(0);
  });

  it('fails when EventBridge refuses the entry (PutEvents answers it, not as an error)', async () => {
    const { context, eventBridge } = stagingContext();
    eventBridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [
        {
          ErrorCode: 'ResourceNotFoundException',
          ErrorMessage: 'Event bus sidestep-staging does not exist.',
        },
      ],
    });
    await expect(fireSchedule(context, 'nightly-export')).rejects.toMatchObject({
      name: 'OperatorEventRejectedError',
      field: 'schedule',
      errorCode: 'ResourceNotFoundException',
      eventBusName: 'sidestep-staging',
    });
  });

  it('still fires when the audit trail cannot be written, and says it went unrecorded', async () => {
    const { context, eventBridge, warnings } = stagingContext(
      {},
      // Nothing listens on port 1: the ledger does not answer.
      { databaseUrl: 'postgres://postgres@127.0.0.1:1/postgres' },
    );
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-2' }] });
    await expect(fireSchedule(context, 'stale-job-sweeper')).resolves.toMatchObject({ eventId: 'event-2' });
    expect(warnings.join('\n')).toMatch(
      /not recorded in the audit trail \(.*ECONNREFUSED.*\): schedule-fire stale-job-sweeper/,
    );
    await context.close();
  });
});

describe('serviceEndpoint', () => {
  const local = { environment: 'local' };

  it('takes --endpoint over anything the environment names', () => {
    expect(
      serviceEndpoint(
        'eventBridge',
        { ...local, endpoint: 'http://127.0.0.1:1' },
        { AWS_ENDPOINT_URL: 'http://127.0.0.1:2', AWS_ENDPOINT_URL_EVENTBRIDGE: 'http://127.0.0.1:3' },
      ),
    ).toBe('http://127.0.0.1:1');
  });

  it('reads AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL, as the AWS SDK does', () => {
    const both = {
      AWS_ENDPOINT_URL: 'http://127.0.0.1:2',
      AWS_ENDPOINT_URL_EVENTBRIDGE: 'http://127.0.0.1:3',
    };
    expect(serviceEndpoint('eventBridge', local, both)).toBe('http://127.0.0.1:3');
    // Another service's variable is not this one's.
    expect(serviceEndpoint('sqs', local, both)).toBe('http://127.0.0.1:2');
    expect(serviceEndpoint('sfn', local, { ...both, AWS_ENDPOINT_URL_SFN: 'http://127.0.0.1:4' })).toBe(
      'http://127.0.0.1:4',
    );
    expect(serviceEndpoint('eventBridge', local, { AWS_ENDPOINT_URL: 'http://127.0.0.1:2' })).toBe(
      'http://127.0.0.1:2',
    );
    expect(
      serviceEndpoint('eventBridge', { environment: 'staging' }, { AWS_ENDPOINT_URL: 'http://127.0.0.1:2' }),
    ).toBe('http://127.0.0.1:2');
    expect(
      serviceEndpoint('eventBridge', local, { ...both, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }),
    ).toBe(LOCAL_CLOUD.endpoint);
  });

  it("falls back to the local cloud's default port locally and to AWS elsewhere", () => {
    expect(serviceEndpoint('eventBridge', local, {})).toBe(LOCAL_CLOUD.endpoint);
    expect(
      serviceEndpoint('eventBridge', { environment: 'production' }, { AWS_ENDPOINT_URL: '' }),
    ).toBeUndefined();
  });

  it("is the endpoint each of the context's clients talks to", async () => {
    const context = createOpsContext({
      environment: 'local',
      env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:2', AWS_ENDPOINT_URL_EVENTBRIDGE: 'http://127.0.0.1:3' },
    });
    expect(context.endpoints).toMatchObject({ eventBridge: 'http://127.0.0.1:3', sqs: 'http://127.0.0.1:2' });
    const resolved = await context.clients.eventBridge.config.endpoint?.();
    expect(resolved).toMatchObject({ hostname: '127.0.0.1', port: 3 });
    await context.close();
  });
});
