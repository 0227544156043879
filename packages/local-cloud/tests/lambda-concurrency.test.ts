import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FunctionHost, InvokeResult } from '@sidestep/lambda-runtime';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import { accountConcurrency } from '../src/lambda-concurrency.ts';
import { TooManyRequestsError } from '../src/too-many-requests-error.ts';
import { type FixtureCloud, startFixtureCloud } from './fixtures/fixture-cloud.ts';
import { fixtureDir, queuelessService } from './fixtures/manifests.ts';
import { localClientConfig } from './fixtures/sqs-endpoint.ts';

// The account's Lambda concurrency ("Concurrent executions", 1,000 by default, as few as 10 in a new
// account: https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html), which the local
// cloud applies with `lambdaConcurrency` (`npm start -- --lambda-concurrency`): past it Lambda runs
// nothing and answers 429 TooManyRequestsException
// (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_Errors).

const FUNCTION = 'sidestep-local-invoke-service';
const HOLD_MS = 1_500;

describe('accountConcurrency', () => {
  /** A host whose invocations end when the test says. */
  function heldHost() {
    const ends: (() => void)[] = [];
    let ran = 0;
    const host: FunctionHost = {
      name: 'sidestep-local-held',
      functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:sidestep-local-held',
      close: async () => undefined,
      invoke: () =>
        new Promise<InvokeResult>((resolve, reject) => {
          ran += 1;
          const rejects = ran % 2 === 0;
          ends.push(() =>
            rejects
              ? reject(new Error('sandbox gone'))
              : resolve({ ok: true, requestId: 'r', durationMs: 1, payload: null }),
          );
        }),
    };
    return { host, ends, ran: () => ran };
  }

  it('refuses an invocation past the limit across functions, runs nothing for it, and frees a slot however one settles', async () => {
    const throttled: string[] = [];
    const account = accountConcurrency(2, (name, limit) => throttled.push(`${name} ${limit}`));
    const a = heldHost();
    const b = heldHost();
    const [gatedA, gatedB] = [account.gate(a.host), account.gate(b.host)];
    const first = gatedA.invoke({});
    const second = gatedB.invoke({});
    await expect(gatedA.invoke({})).rejects.toBeInstanceOf(TooManyRequestsError);
    expect({ ranA: a.ran(), ranB: b.ran(), throttled }).toEqual({
      ranA: 1,
      ranB: 1,
      throttled: ['sidestep-local-held 2'],
    });
    // One ends with a result, the other rejects: both give their slot back.
    a.ends[0]?.();
    await first;
    const third = gatedB.invoke({});
    b.ends[0]?.();
    await second;
    b.ends[1]?.();
    await expect(third).rejects.toThrow('sandbox gone');
    // Both slots free again: two run, the next is refused.
    const again = [gatedA.invoke({}), gatedB.invoke({})];
    await expect(gatedB.invoke({})).rejects.toBeInstanceOf(TooManyRequestsError);
    expect({ ranA: a.ran(), ranB: b.ran(), throttled: throttled.length }).toEqual({
      ranA: 2,
      ranB: 3,
      throttled: 2,
    });
    a.ends[1]?.();
    b.ends[2]?.();
    await Promise.allSettled(again);
  });

  it('leaves a host as it is without a limit, and refuses a limit that is not a whole number of at least 1', () => {
    const { host } = heldHost();
    expect(accountConcurrency(undefined).gate(host)).toBe(host);
    for (const limit of [0, 1.5, -1, Number.NaN]) {
      expect(() => accountConcurrency(limit)).toThrow(
        `lambdaConcurrency must be a whole number of at least 1, got ${limit}`,
      );
    }
  });

  // CloudWatch keeps a metric's one-minute data 15 days, whatever happens to the caller.
  it('keeps the throttles across a restart on the same file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sidestep-throttles-'));
    try {
      const throttlesFile = join(dir, 'lambda', 'throttles.json');
      const metric = {
        namespace: 'AWS/Lambda',
        metricName: 'Throttles',
        dimensions: { FunctionName: 'sidestep-local-held' },
      };
      const before = accountConcurrency(1, undefined, { throttlesFile });
      const { host, ends } = heldHost();
      const gated = before.gate(host);
      const running = gated.invoke({});
      await expect(gated.invoke({})).rejects.toBeInstanceOf(TooManyRequestsError);
      await expect(gated.invoke({})).rejects.toBeInstanceOf(TooManyRequestsError);
      ends[0]?.();
      await running;
      const window = [Date.now() - 120_000, Date.now() + 60_000] as const;
      const counted = before.throttleSamples(metric, ...window);
      expect(counted.map((sample) => sample.value).reduce((a, b) => a + b, 0)).toBe(2);
      before.flush();
      // Started again without a quota: what was throttled before is still the metric's.
      expect(
        accountConcurrency(undefined, undefined, { throttlesFile }).throttleSamples(metric, ...window),
      ).toEqual(counted);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers with the error, reason and message Lambda gives', () => {
    const error = new TooManyRequestsError();
    expect({
      name: error.name,
      reason: error.reason,
      message: error.message,
      status: error.statusCode,
    }).toEqual({
      name: 'TooManyRequestsException',
      reason: 'ConcurrentInvocationLimitExceeded',
      message: 'Rate Exceeded.',
      status: 429,
    });
  });
});

describe('a local cloud with an account concurrency of 1', () => {
  const report = createCollectingReporter();
  let fixture: FixtureCloud;
  let lambda: LambdaClient;

  // Where a holding invocation says it runs: its mark's resolver.
  const starts = new Map<string, () => void>();
  const server = createServer((request, response) => {
    starts.get(request.url?.slice(1) ?? '')?.();
    response.end();
  });
  let runningUrl = '';

  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    runningUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const service = {
      manifest: queuelessService('invoke-service', 'Logs and returns its event'),
      bundleDir: fixtureDir('invoke-service'),
    };
    fixture = await startFixtureCloud('local-cloud-concurrency-', {
      reporter: report.reporter,
      services: [service],
      functionUrls: [{ name: 'invoke-url', handler: 'index.handler', service }],
      lambdaConcurrency: 1,
    });
    // One attempt: the SDK retries a 429 by itself, which would hide the answer under test.
    lambda = new LambdaClient({ ...localClientConfig(fixture.cloud.endpoint), maxAttempts: 1 });
  }, 30_000);

  afterAll(async () => {
    lambda?.destroy();
    await fixture?.stop();
    server.close();
  });

  const invoke = (payload: object, InvocationType?: 'Event'): Promise<InvokeCommandOutput> =>
    lambda.send(
      new InvokeCommand({
        FunctionName: FUNCTION,
        Payload: new TextEncoder().encode(JSON.stringify(payload)),
        ...(InvocationType ? { InvocationType } : {}),
      }),
    );
  /** The function's log lines that name `mark`. */
  const ranWith = (mark: string) =>
    report
      .ofType('log')
      .filter(
        (event) => event.service === 'invoke-service' && event.line.includes(`"message":"invoked: ${mark}"`),
      );
  /**
   * Invokes with `mark`, holding the account's one slot for {@link HOLD_MS}; resolves once it runs,
   * with the invocation (in an object: an async function's promise would take on its own).
   */
  async function hold(mark: string): Promise<{ held: Promise<InvokeCommandOutput> }> {
    const running = new Promise<void>((resolve) => starts.set(mark, resolve));
    const held = invoke({ mark, holdMs: HOLD_MS, runningUrl: `${runningUrl}/${mark}` });
    await running;
    return { held };
  }

  it('answers a RequestResponse past it 429 TooManyRequestsException (Reason ConcurrentInvocationLimitExceeded), running nothing, and runs the next once the slot is free', async () => {
    const { held } = await hold('hold-sync');
    const refused = await invoke({ mark: 'throttled' }).then(
      () => undefined,
      (error: unknown) => error as Error & { Reason?: string; $metadata: { httpStatusCode?: number } },
    );
    expect({
      name: refused?.name,
      message: refused?.message,
      reason: refused?.Reason,
      status: refused?.$metadata.httpStatusCode,
    }).toEqual({
      name: 'TooManyRequestsException',
      message: 'Rate Exceeded.',
      reason: 'ConcurrentInvocationLimitExceeded',
      status: 429,
    });
    expect(report.ofType('lambda-throttled')).toContainEqual({
      type: 'lambda-throttled',
      functionName: FUNCTION,
      limit: 1,
    });
    expect((await held).StatusCode).toBe(200);
    expect((await invoke({ mark: 'after' })).StatusCode).toBe(200);
    expect(ranWith('throttled')).toEqual([]);
    expect(ranWith('after')).toHaveLength(1);
  });

  // https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html: a throttled
  // event goes back on Lambda's queue and is tried again, 1 s later at first.
  it('accepts an Event past it (202) and runs it once, after the slot is free, spending none of its retries', async () => {
    const { held } = await hold('hold-async');
    const throttledBefore = report.ofType('lambda-throttled').length;
    const accepted = await invoke({ mark: 'later' }, 'Event');
    expect(accepted.StatusCode).toBe(202);
    // Its first try came while the slot was held: throttled (and run later, at a try after it).
    expect(report.ofType('lambda-throttled').length).toBeGreaterThan(throttledBefore);
    await held;
    await report.waitFor('log', (event) => event.line.includes('"message":"invoked: later"'), 15_000);
    // It ran as its first attempt (no `attempt 1 failed`), and once.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(ranWith('later')).toHaveLength(1);
    expect(report.ofType('error').filter((event) => event.message.includes('attempt 1 failed'))).toEqual([]);
  });

  // Lambda's Throttles metric, by FunctionName
  // (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html), which `sidestep
  // status` reads: every throttle of the function so far, its own included, counted in its minute.
  it("publishes each function's throttles as CloudWatch's AWS/Lambda Throttles by FunctionName", async () => {
    const { held } = await hold('hold-metric');
    await expect(invoke({ mark: 'metric' })).rejects.toMatchObject({ name: 'TooManyRequestsException' });
    await held;
    const cloudWatch = new CloudWatchClient(localClientConfig(fixture.cloud.endpoint));
    try {
      const now = Date.now();
      const query = (id: string, functionName: string, stat = 'Sum') => ({
        Id: id,
        MetricStat: {
          Metric: {
            Namespace: 'AWS/Lambda',
            MetricName: 'Throttles',
            Dimensions: [{ Name: 'FunctionName', Value: functionName }],
          },
          Period: 3600,
          Stat: stat,
        },
      });
      const { MetricDataResults = [] } = await cloudWatch.send(
        new GetMetricDataCommand({
          StartTime: new Date(now - 3_600_000),
          EndTime: new Date(now + 60_000),
          MetricDataQueries: [query('service', FUNCTION), query('other', 'sidestep-local-none')],
        }),
      );
      const sum = (id: string) =>
        MetricDataResults.find((result) => result.Id === id)?.Values?.reduce((a, b) => a + b, 0) ?? 0;
      const reported = report
        .ofType('lambda-throttled')
        .filter((event) => event.functionName === FUNCTION).length;
      expect(reported).toBeGreaterThanOrEqual(1);
      expect({ service: sum('service'), other: sum('other') }).toEqual({ service: reported, other: 0 });
    } finally {
      cloudWatch.destroy();
    }
  });

  it('answers a function URL request past it 429, with the throttle in the body, and the next once the slot is free', async () => {
    const { held } = await hold('hold-url');
    const refused = await fetch(fixture.cloud.functionUrl('invoke-url'));
    expect({ status: refused.status, body: await refused.json() }).toEqual({
      status: 429,
      body: { Reason: 'ConcurrentInvocationLimitExceeded', Type: 'User', message: 'Rate Exceeded.' },
    });
    await held;
    expect((await fetch(fixture.cloud.functionUrl('invoke-url'))).status).toBe(200);
  });
});
