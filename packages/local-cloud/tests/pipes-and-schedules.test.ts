import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import type { LocalCloud } from '../src/local-cloud.ts';
import { createVirtualClock, type ScheduleDefinition } from '../src/scheduler.ts';
import { type FixtureCloud, startFixtureCloud } from './fixtures/fixture-cloud.ts';
import { echoService, fixtureDir, queuelessService } from './fixtures/manifests.ts';
import { everyMinutes } from './fixtures/schedules.ts';
import { type LocalClientConfig, localClientConfig } from './fixtures/sqs-endpoint.ts';

// The export side of the local cloud with fixtures: a queue -> EventBridge Pipe -> Step Functions,
// schedules fired on a virtual clock, and operator events put with the unchanged
// @aws-sdk/client-eventbridge routed by one rule per schedule to the schedule's target.

/** Mails every record it gets: what reached the queue or the function. */
const echo = echoService({ batchSize: 1 });

const urlService = queuelessService('url-service', 'Answers HTTP through a function URL');

const SCHEDULES: ScheduleDefinition[] = [
  {
    name: 'queue-schedule',
    expression: 'rate(60 minutes)',
    timezone: 'UTC',
    target: { kind: 'queue', queue: 'echo' },
    input: { say: 'queued <aws.scheduler.scheduled-time> <aws.scheduler.execution-id>' },
  },
  {
    name: 'function-schedule',
    expression: 'rate(15 minutes)',
    timezone: 'UTC',
    target: { kind: 'function', service: 'echo-service' },
    // The echo service reads SQS records: the schedule's input is one.
    input: {
      Records: [{ messageId: '<aws.scheduler.execution-id>', body: 'invoked <aws.scheduler.execution-id>' }],
    },
  },
];

/** The operator pattern the workflows package declares, as a fixture. */
const operatorEventPattern = (schedule: string) => ({
  source: ['sidestep.operator'],
  'detail-type': ['Schedule Fired'],
  detail: { schedule: [schedule] },
});

const clock = createVirtualClock(new Date('2026-11-24T10:07:00Z'));
const report = createCollectingReporter();
const PIPE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-export';
let fixture: FixtureCloud;
let cloud: LocalCloud;
let client: LocalClientConfig;

beforeAll(async () => {
  fixture = await startFixtureCloud('local-cloud-pipes-', {
    reporter: report.reporter,
    services: [{ manifest: echo, bundleDir: fixtureDir('echo-service') }],
    workflows: [
      {
        name: 'export',
        // Whatever the pipe delivers, as the execution's output.
        definition: () => ({ StartAt: 'Received', States: { Received: { Type: 'Pass', End: true } } }),
      },
    ],
    pipes: [{ source: { name: 'export-requests', maxReceiveCount: 3 }, workflow: 'export' }],
    buckets: ['sidestep-local-exports'],
    functionUrls: [
      {
        name: 'echo-url',
        handler: 'index.handler',
        service: {
          manifest: urlService,
          bundleDir: fixtureDir('url-service'),
          environment: ({ functionUrl }) => ({ SELF_URL: functionUrl('echo-url') }),
        },
      },
    ],
    schedules: { definitions: SCHEDULES, nextFireTimes: everyMinutes, operatorEventPattern, clock },
  });
  cloud = fixture.cloud;
  client = localClientConfig(cloud.endpoint);
}, 30_000);

afterAll(async () => {
  await fixture?.stop();
});

describe('the export-requests pipe', () => {
  it('creates the queue and its DLQ, and starts the workflow with [record] per message, deleting it', async () => {
    expect(cloud.queueUrl('export-requests')).toBe(
      `${cloud.endpoint}/000000000000/sidestep-local-export-requests`,
    );
    expect(cloud.queueUrl('sidestep-local-export-requests-dlq')).toMatch(/-dlq$/);
    expect(cloud.pipes.map(({ workflow, queue }) => [workflow, queue.name, queue.deadLetter.name])).toEqual([
      ['export', 'sidestep-local-export-requests', 'sidestep-local-export-requests-dlq'],
    ]);
    const sqs = new SQSClient(client);
    const sfn = new SFNClient(client);
    const body = JSON.stringify({ type: 'export.requested', version: 1, id: 'req-1', payload: {} });
    const sent = await sqs.send(
      new SendMessageCommand({ QueueUrl: cloud.queueUrl('export-requests'), MessageBody: body }),
    );
    const delivered = await report.waitFor(
      'pipe-delivered',
      (event) => event.messageId === sent.MessageId,
      10_000,
    );
    expect(delivered.pipe).toBe('sidestep-local-export-requests-pipe');

    const { executions = [] } = await sfn.send(new ListExecutionsCommand({ stateMachineArn: PIPE_MACHINE }));
    expect(executions.map((execution) => execution.executionArn)).toContain(delivered.executionArn);
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn: delivered.executionArn }));
    const input = JSON.parse(execution.input ?? 'null');
    expect(input).toEqual([
      expect.objectContaining({
        messageId: sent.MessageId,
        body,
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:sidestep-local-export-requests',
        awsRegion: 'us-east-1',
        attributes: expect.objectContaining({ ApproximateReceiveCount: '1' }),
      }),
    ]);
    // Deleted once the execution started: nothing left in the queue, in flight or not.
    expect(await peekCount('sidestep-local-export-requests')).toBe(0);
    sqs.destroy();
    sfn.destroy();
  }, 20_000);

  it('reports what lands in its DLQ, as for a service queue', async () => {
    const sqs = new SQSClient(client);
    try {
      const sent = await sqs.send(
        new SendMessageCommand({
          QueueUrl: cloud.queueUrl('sidestep-local-export-requests-dlq'),
          MessageBody: '{}',
        }),
      );
      const dead = await report.waitFor(
        'dead-lettered',
        (event) => event.messageId === sent.MessageId,
        5_000,
      );
      expect(dead.queue).toBe('sidestep-local-export-requests-dlq');
    } finally {
      sqs.destroy();
    }
  });

  it('creates the extra buckets', () => {
    expect(cloud.buckets).toContain('sidestep-local-exports');
  });
});

describe('the scheduler in the local cloud', () => {
  it('sends a queue schedule’s input to the queue and invokes a function schedule’s target', async () => {
    await clock.advanceTo(new Date('2026-11-24T11:00:00Z'));
    await report.waitFor('mail-delivered', (m) => m.subject.includes('queued 2026-11-24T11:00:00Z'), 10_000);
    // 10:15, 10:30, 10:45, 11:00: four invocations of the function target.
    for (const time of ['10:15', '10:30', '10:45', '11:00']) {
      await report.waitFor(
        'schedule-fired',
        (event) =>
          event.schedule === 'function-schedule' &&
          event.scheduledTime === `2026-11-24T${time}:00.000Z` &&
          event.trigger === 'scheduler',
        5_000,
      );
    }
    await waitForMails((subject) => subject.startsWith('processed invoked '), 4);
  }, 20_000);
});

/** An operator's "Schedule Fired" entry with the given detail text, put on `bus` (the local bus by default). */
const scheduleFired = (detail: string, bus = cloud.eventBusName): PutEventsRequestEntry => ({
  Source: 'sidestep.operator',
  DetailType: 'Schedule Fired',
  Detail: detail,
  EventBusName: bus,
});

describe('PutEvents on the endpoint', () => {
  it('routes an operator event through the schedule’s rule to the same target with the same input', async () => {
    const events = new EventBridgeClient(client);
    const output = await events.send(
      new PutEventsCommand({
        Entries: [scheduleFired(JSON.stringify({ schedule: 'queue-schedule' }))],
      }),
    );
    expect(output.FailedEntryCount).toBe(0);
    const eventId = output.Entries?.[0]?.EventId ?? '';
    expect(eventId).toMatch(/^[0-9a-f-]{36}$/);
    const routed = await report.waitFor(
      'event-routed',
      (event) => event.eventBus === 'sidestep-local',
      5_000,
    );
    expect(routed.rules).toEqual(['sidestep-local-queue-schedule-operator']);
    expect(routed.subject).toBe('schedule queue-schedule');
    // The execution id of a manual run is the event's id: replaying the event replays the run.
    await report.waitFor('mail-delivered', (mail) => mail.subject.includes(` ${eventId}"`), 10_000);
    events.destroy();
  }, 20_000);

  it('accepts an ARN as the bus, and fails bad entries one by one as EventBridge does', async () => {
    const events = new EventBridgeClient(client);
    const output = await events.send(
      new PutEventsCommand({
        Entries: [
          scheduleFired(
            JSON.stringify({ schedule: 'no-such-schedule' }),
            `arn:aws:events:us-east-1:000000000000:event-bus/${cloud.eventBusName}`,
          ),
          scheduleFired('{not json'),
          scheduleFired('{}', 'sidestep-nope'),
          { Source: 'aws.s3', DetailType: 'Object Created', Detail: '{}' },
          { DetailType: 'Schedule Fired', Detail: '{}' },
        ],
      }),
    );
    expect(output.FailedEntryCount).toBe(4);
    expect(output.Entries?.map((entry) => entry.ErrorCode ?? 'ok')).toEqual([
      'ok',
      'MalformedDetail',
      'ResourceNotFoundException',
      'NotAuthorizedForSourceException',
      'InvalidArgument',
    ]);
    // Accepted, routed, matched no rule: dropped, as EventBridge drops it.
    const routed = await report.waitFor(
      'event-routed',
      (event) => event.eventBus === 'sidestep-local' && event.rules.length === 0,
      5_000,
    );
    expect(routed.detailType).toBe('Schedule Fired');
    events.destroy();
  }, 20_000);

  it('refuses an empty or oversized batch with ValidationException', async () => {
    const events = new EventBridgeClient(client);
    await expect(events.send(new PutEventsCommand({ Entries: [] }))).rejects.toMatchObject({
      name: 'ValidationException',
    });
    const entry = { Source: 'sidestep.operator', DetailType: 'x', Detail: '{}' };
    await expect(
      events.send(new PutEventsCommand({ Entries: Array.from({ length: 11 }, () => entry) })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
    events.destroy();
  });
});

describe('function URLs on the endpoint', () => {
  it('invoke the function with the payload 2.0 event and answer with its response', async () => {
    const url = cloud.functionUrl('echo-url');
    expect(url).toBe(`${cloud.endpoint}/lambda-url/echo-url/`);
    const response = await fetch(`${url}files/a?token=abc&x=1&x=2`, { headers: { 'x-thing': 'yes' } });
    expect(response.status).toBe(200);
    const { event, selfUrl } = (await response.json()) as {
      event: { headers: Record<string, string> };
      selfUrl: string;
    };
    expect(selfUrl).toBe(url);
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/files/a',
      rawQueryString: 'token=abc&x=1&x=2',
      queryStringParameters: { token: 'abc', x: '1,2' },
      isBase64Encoded: false,
      requestContext: { http: { method: 'GET', path: '/files/a' }, stage: '$default' },
    });
    expect(event.headers['x-thing']).toBe('yes');
  });

  it('pass a redirect through, wrap a plain result as JSON, and answer 502 for a function error', async () => {
    const url = cloud.functionUrl('echo-url');
    const redirect = await fetch(`${url}?to=${encodeURIComponent('http://example.com/x')}`, {
      redirect: 'manual',
    });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('http://example.com/x');
    const plain = await fetch(`${url}?plain`);
    expect(await plain.json()).toEqual({ plain: true });
    const failed = await fetch(`${url}?fail`);
    expect(failed.status).toBe(502);
  });

  it('answer 404 for a function URL that does not exist', async () => {
    const response = await fetch(cloud.functionUrl('nope'));
    expect(response.status).toBe(404);
  });
});

describe('a JSON-protocol request whose body is not JSON', () => {
  it('is refused with SerializationException', async () => {
    const response = await fetch(cloud.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.PutEvents' },
      body: '{"Entries": [',
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('x-amzn-errortype')).toBe('SerializationException');
  });
});

async function peekCount(queue: string): Promise<number> {
  const response = await fetch(`${cloud.endpoint}/_fauxqs/queues/${queue}`);
  const body = (await response.json()) as {
    messages: { ready: unknown[]; delayed: unknown[]; inflight: unknown[] };
  };
  return body.messages.ready.length + body.messages.delayed.length + body.messages.inflight.length;
}

async function waitForMails(match: (subject: string) => boolean, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (
    report.events.filter((event) => event.type === 'mail-delivered' && match(event.subject)).length < count
  ) {
    if (Date.now() > deadline) throw new Error(`fewer than ${count} matching mails within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
