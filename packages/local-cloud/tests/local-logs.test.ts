import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { FILTER_LOG_EVENTS_PER_SECOND } from '@sidestep/manifest';
import { compileFilterPattern, createLocalLogs } from '../src/local-logs.ts';
import { type FixtureCloud, startFixtureCloud } from './fixtures/fixture-cloud.ts';
import { fixtureDir, queuelessService } from './fixtures/manifests.ts';

const line = (fields: Record<string, unknown>) => JSON.stringify({ level: 'INFO', ...fields });

/** A directory of its own for each test's log groups, removed after it. */
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'local-logs-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const DAY = 24 * 3600_000;

/** The file a group is kept in, in the test's directory. */
const groupFile = (group: string) => join(dir, `${encodeURIComponent(group)}.jsonl`);

/** The `message` of each line a group's file keeps, in order. */
async function keptMessages(file: string): Promise<string[]> {
  const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
  return lines.map((text) => JSON.parse(JSON.parse(text).message).message);
}

// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html
describe('createLocalLogs: FilterLogEvents over the kept log groups', () => {
  it('answers the events of a group that match a JSON pattern, oldest first, within the times asked', async () => {
    // Eight calls at once: more than CloudWatch Logs' 5 a second, which a test below holds it to.
    const logs = createLocalLogs({ dir: join(dir, 'a'), now: () => 10_000, filterRate: 100 });
    logs.createGroup('/aws/lambda/sidestep-local-status-updater');
    const group = '/aws/lambda/sidestep-local-status-updater';
    logs.append(group, 's', line({ message: 'started', jobId: 'imp_1' }), 3_000);
    logs.append(group, 's', line({ message: 'other job', jobId: 'imp_2' }), 2_000);
    logs.append(group, 's', line({ message: 'by execution', executionId: 'arn:x' }), 1_000);
    logs.append(group, 's', 'START RequestId: 1 (not JSON)', 1_500);
    const filter = (input: Record<string, unknown>) =>
      logs.api('FilterLogEvents', { logGroupName: group, ...input }) as Promise<{
        events: { message: string; timestamp: number; logStreamName: string }[];
        nextToken?: string;
      }>;
    const either = '{ ($.jobId = "imp_1") || ($.executionId = "arn:x") }';
    expect((await filter({ filterPattern: either })).events.map((event) => event.timestamp)).toEqual([
      1_000, 3_000,
    ]);
    expect((await filter({ filterPattern: either, startTime: 2_000 })).events).toHaveLength(1);
    expect((await filter({ filterPattern: either, endTime: 2_000 })).events).toHaveLength(1);
    expect((await filter({ filterPattern: '{ $.jobId = "imp_*" }' })).events).toHaveLength(2);
    expect((await filter({ filterPattern: 'RequestId "not JSON"' })).events).toHaveLength(1);
    expect((await filter({})).events).toHaveLength(4);
    // Pages of `limit`, the next by `nextToken`.
    const first = await filter({ limit: 3 });
    expect(first.events).toHaveLength(3);
    const second = await filter({ limit: 3, nextToken: first.nextToken });
    expect([second.events.length, second.nextToken]).toEqual([1, undefined]);
  });

  it('keeps the groups across a restart on the same directory, as CloudWatch keeps them', async () => {
    const group = '/ecs/sidestep-local-batch-worker';
    const before = createLocalLogs({ dir: join(dir, 'b') });
    before.append(group, 'batch-worker/batch-worker/t1', line({ message: 'import started', jobId: 'imp_9' }));
    await before.flushed();
    const after = createLocalLogs({ dir: join(dir, 'b') });
    after.createGroup(group);
    const { events } = (await after.api('FilterLogEvents', {
      logGroupIdentifier: `arn:aws:logs:us-east-1:000000000000:log-group:${group}:*`,
      filterPattern: '{ $.jobId = "imp_9" }',
    })) as { events: { logStreamName: string }[] };
    expect(events.map((event) => event.logStreamName)).toEqual(['batch-worker/batch-worker/t1']);
  });

  it('answers as CloudWatch Logs does a group that does not exist, a request naming two or no groups, a bad limit', async () => {
    const logs = createLocalLogs();
    logs.createGroup('/aws/lambda/a');
    await expect(logs.api('FilterLogEvents', { logGroupName: '/aws/lambda/b' })).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: 'The specified log group does not exist.',
    });
    await expect(
      logs.api('FilterLogEvents', { logGroupName: '/aws/lambda/a', logGroupIdentifier: '/aws/lambda/a' }),
    ).rejects.toMatchObject({ name: 'InvalidParameterException' });
    await expect(logs.api('FilterLogEvents', {})).rejects.toMatchObject({
      name: 'InvalidParameterException',
    });
    await expect(
      logs.api('FilterLogEvents', { logGroupName: '/aws/lambda/a', limit: 10_001 }),
    ).rejects.toMatchObject({
      name: 'InvalidParameterException',
    });
    await expect(logs.api('PutLogEvents', {})).rejects.toMatchObject({ name: 'UnknownOperationException' });
  });
});

// "FilterLogEvents [...] has a default quota of 5 transactions per second (TPS) per account/Region",
// a hard limit (https://repost.aws/knowledge-center/cloudwatch-logs-throttling): a caller that
// searches several groups at once, or pages through one, meets it on AWS and must meet it here.
describe('createLocalLogs: FilterLogEvents throttled at CloudWatch Logs’ 5 calls a second', () => {
  it('answers a second’s worth at once, then ThrottlingException until the bucket refills', async () => {
    let clock = 0;
    const logs = createLocalLogs({ rateClock: () => clock });
    logs.createGroup('/aws/lambda/a');
    const call = () => logs.api('FilterLogEvents', { logGroupName: '/aws/lambda/a' });
    for (let answered = 0; answered < FILTER_LOG_EVENTS_PER_SECOND; answered++) await call();
    await expect(call()).rejects.toMatchObject({
      name: 'ThrottlingException',
      message: 'Rate exceeded',
      statusCode: 400,
    });
    // A refused call takes no token: a fifth of a second later one more is answered (and only one).
    clock += 1_000 / FILTER_LOG_EVENTS_PER_SECOND;
    await expect(call()).resolves.toMatchObject({ events: [] });
    await expect(call()).rejects.toMatchObject({ name: 'ThrottlingException' });
  });

  it('throttles a call before it looks at its group or its input', async () => {
    const logs = createLocalLogs({ filterRate: 1 });
    logs.createGroup('/aws/lambda/a');
    await logs.api('FilterLogEvents', { logGroupName: '/aws/lambda/a' });
    await expect(logs.api('FilterLogEvents', { logGroupName: '/aws/lambda/missing' })).rejects.toMatchObject({
      name: 'ThrottlingException',
    });
  });
});

describe('compileFilterPattern', () => {
  it('refuses, naming what it takes, a pattern outside the subset the local cloud serves', () => {
    for (const pattern of [
      '{ $.rows > 3 }',
      '{ ($.a = "x") || ($.b = "y") && ($.c = "z") }',
      '-ERROR',
      '{ $.a = "x"',
    ]) {
      expect(() => compileFilterPattern(pattern)).toThrow(/the local cloud's FilterLogEvents takes terms/);
    }
  });

  it('compares strings exactly, a != term only where the field is a string that differs', () => {
    expect(compileFilterPattern('{ $.level != "DEBUG" }')(line({ level: 'ERROR' }))).toBe(true);
    expect(compileFilterPattern('{ $.level != "DEBUG" }')('{"other":1}')).toBe(false);
    expect(
      compileFilterPattern('{ $.error.name = "Boom" && $.jobId = "j" }')(
        JSON.stringify({ jobId: 'j', error: { name: 'Boom' } }),
      ),
    ).toBe(true);
    expect(compileFilterPattern('{ $.jobId = "imp_1" }')(line({ jobId: 'imp_10' }))).toBe(false);
  });
});

// The local cloud keeps each function's lines in the log group AWS gives it and serves FilterLogEvents
// on its endpoint, IAM-checked: a function's role may not read logs.
describe('a local cloud’s CloudWatch Logs', () => {
  let fixture: FixtureCloud;
  let logs: CloudWatchLogsClient;
  beforeAll(async () => {
    fixture = await startFixtureCloud('local-logs-cloud-', {
      services: [
        { manifest: queuelessService('echo-service', 'echoes'), bundleDir: fixtureDir('echo-service') },
      ],
    });
    logs = new CloudWatchLogsClient({
      endpoint: fixture.cloud.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  }, 60_000);
  afterAll(async () => {
    logs?.destroy();
    await fixture?.stop();
  });

  it("keeps a function's lines in /aws/lambda/<function> and answers FilterLogEvents for them", async () => {
    // A record it refuses: one console.warn line, no mail.
    await fixture.cloud.invoke('echo-service', { Records: [{ messageId: 'm-logs-1', body: 'fail' }] });
    const group = '/aws/lambda/sidestep-local-echo-service';
    let events: { message?: string }[] = [];
    for (let tries = 0; tries < 50 && events.length === 0; tries++) {
      ({ events = [] } = await logs.send(new FilterLogEventsCommand({ logGroupName: group })));
      if (events.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(events.map((event) => event.message).join('\n')).toContain('refusing record m-logs-1');
    await expect(
      logs.send(new FilterLogEventsCommand({ logGroupName: '/aws/lambda/sidestep-local-nothing' })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });
});

// A crash or a kill can leave a group's last line cut in the middle; CloudWatch would never have
// taken it, and it must not make the group unreadable.
describe('createLocalLogs after a line was cut off', () => {
  it('skips the cut line, and starts the next run’s first line on a line of its own', async () => {
    const group = '/aws/lambda/sidestep-local-x';
    // Their events in the first seconds of its clock: none past the retention.
    const before = createLocalLogs({ dir, now: () => 10_000 });
    before.append(group, 's', line({ message: 'kept', jobId: 'j' }), 1_000);
    await before.flushed();
    await appendFile(groupFile(group), '{"logStreamName":"s","timest');
    const after = createLocalLogs({ dir, now: () => 10_000 });
    after.append(group, 's', line({ message: 'after the crash', jobId: 'j' }), 2_000);
    const { events } = (await after.api('FilterLogEvents', { logGroupName: group })) as {
      events: { message: string }[];
    };
    expect(events.map((event) => JSON.parse(event.message).message)).toEqual(['kept', 'after the crash']);
  });

  it('says when a line could not be kept, and keeps the others', async () => {
    const errors: Error[] = [];
    const logs = createLocalLogs({ dir: join(dir, 'a-file'), onError: (error) => errors.push(error) });
    await appendFile(join(dir, 'a-file'), 'not a directory');
    logs.append('/aws/lambda/y', 's', 'lost');
    await logs.flushed();
    expect(errors).toHaveLength(1);
  });
});

describe('compileFilterPattern, operators inside values', () => {
  it('reads || and && inside a quoted value as the value’s, and a quoted -term as a term', () => {
    expect(compileFilterPattern('{ $.reason = "a||b" }')(line({ reason: 'a||b' }))).toBe(true);
    expect(compileFilterPattern('{ ($.a = "x&&y") || ($.b = "z") }')(line({ b: 'z' }))).toBe(true);
    expect(compileFilterPattern('"-not-an-option"')('a line with -not-an-option in it')).toBe(true);
    expect(() => compileFilterPattern('{ $.a = "x" || }')).toThrow(/takes terms/);
  });
});

// "CloudWatch Logs deletes log events older than the retention setting" of their group; infra gives
// every group 30 days by default (LOG_RETENTION_DAYS).
describe('createLocalLogs retention', () => {
  it('answers no event older than the retention, and drops it from the file when the group is next written', async () => {
    let clock = 100 * DAY;
    const group = '/aws/lambda/sidestep-local-z';
    const file = groupFile(group);
    const first = createLocalLogs({ dir, now: () => clock });
    first.append(group, 's', line({ message: 'old' }), clock);
    first.append(group, 's', line({ message: 'newer' }), clock + 20 * DAY);
    await first.flushed();
    clock += 31 * DAY;
    const messages = async (logs: ReturnType<typeof createLocalLogs>) =>
      (
        (await logs.api('FilterLogEvents', { logGroupName: group })) as { events: { message: string }[] }
      ).events.map((event) => JSON.parse(event.message).message);
    expect(await messages(first)).toEqual(['newer']);
    const next = createLocalLogs({ dir, now: () => clock });
    next.append(group, 's', line({ message: 'now' }), clock);
    await next.flushed();
    expect(await messages(next)).toEqual(['newer', 'now']);
    expect((await readFile(file, 'utf8')).trimEnd().split('\n')).toHaveLength(2);
  });

  // A developer leaves the local cloud up for weeks: the file must not keep what CloudWatch deleted
  // until the next restart.
  it('drops what passed the retention from the file once a day the group is written, without a restart', async () => {
    let clock = 100 * DAY;
    const group = '/aws/lambda/sidestep-local-long';
    const file = groupFile(group);
    const logs = createLocalLogs({ dir, now: () => clock });
    logs.append(group, 's', line({ message: 'old' }), clock);
    await logs.flushed();
    clock += 31 * DAY;
    logs.append(group, 's', line({ message: 'a month later' }), clock);
    await logs.flushed();
    expect(await keptMessages(file)).toEqual(['a month later']);
  });

  it('ends a whole last line a crash left without its newline before it appends', async () => {
    const group = '/aws/lambda/sidestep-local-nl';
    const file = groupFile(group);
    const before = createLocalLogs({ dir, now: () => 10_000 });
    before.append(group, 's', line({ message: 'whole' }), 1_000);
    await before.flushed();
    await writeFile(file, (await readFile(file, 'utf8')).trimEnd());
    const after = createLocalLogs({ dir, now: () => 10_000 });
    after.append(group, 's', line({ message: 'next' }), 2_000);
    await after.flushed();
    expect(await keptMessages(file)).toEqual(['whole', 'next']);
  });
});

// "By default, this operation returns as many log events as can fit in 1 MB (up to 10,000 log
// events)" (API_FilterLogEvents): a page of big lines is cut by its bytes, the rest by its token.
describe('createLocalLogs pages', () => {
  it('fills a page with at most 1 MB of events, and gives the rest by nextToken', async () => {
    const logs = createLocalLogs({ now: () => 10_000 });
    const group = '/aws/lambda/sidestep-local-big';
    const big = 'x'.repeat(250 * 1024);
    for (let n = 0; n < 8; n++) logs.append(group, 's', line({ message: `big ${n}`, big }), 1_000 + n);
    const first = (await logs.api('FilterLogEvents', { logGroupName: group })) as {
      events: unknown[];
      nextToken?: string;
    };
    expect(first.events).toHaveLength(4);
    const rest = (await logs.api('FilterLogEvents', { logGroupName: group, nextToken: first.nextToken })) as {
      events: unknown[];
      nextToken?: string;
    };
    expect(rest.events).toHaveLength(4);
    expect(rest.nextToken).toBeUndefined();
  });
});
