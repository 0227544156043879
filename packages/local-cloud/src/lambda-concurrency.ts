import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FunctionHost } from '@sidestep/lambda-runtime';
import type { MetricName, MetricSample } from './local-cloudwatch.ts';
import { readStateFile, writeStateFile } from './local-state.ts';
import { TooManyRequestsError } from './too-many-requests-error.ts';

/** The account's concurrent executions, shared by every function of the cloud. */
export interface AccountConcurrency {
  /**
   * `host` with each invocation counted against the quota from when it is made until it settles
   * (waiting for a local sandbox included: on AWS it would run in an environment of its own); past the
   * quota an invocation rejects with {@link TooManyRequestsError} at once and runs nothing.
   */
  gate(host: FunctionHost): FunctionHost;
  /**
   * Lambda's `Throttles` metric (`AWS/Lambda`, by `FunctionName`, the invocations refused; Lambda's
   * function metrics, https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html):
   * one sample per minute with throttles, its value their count, from `from` (included) to `to`, for
   * CloudWatch's GetMetricData; none for another metric or other dimensions. Kept 15 days (as
   * CloudWatch keeps one-minute data), across restarts with a `throttlesFile`.
   */
  throttleSamples(metric: MetricName, from: number, to: number): MetricSample[];
  /** Writes the throttles not yet written to the `throttlesFile` (the cloud's stop calls it). */
  flush(): void;
}

/** Each function's throttles per minute, as the throttles file keeps them: `[minute, count]` pairs. */
type ThrottlesByFunction = Record<string, [number, number][]>;

/** How long the throttles are kept: CloudWatch keeps one-minute data points 15 days. */
const THROTTLES_KEPT_MS = 15 * 86_400_000;

/**
 * The account's concurrency quota ("Concurrent executions", Service Quotas `L-B99A9384`): the
 * invocations of all its functions that may run at once, 1,000 by default and as few as 10 in a new
 * account (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html). `limit` undefined
 * counts nothing; `onThrottle` hears of each invocation refused.
 */
export function accountConcurrency(
  limit: number | undefined,
  onThrottle: (functionName: string, limit: number) => void = () => undefined,
  options: {
    /**
     * Where the throttles are kept across restarts (the local cloud's `lambda/throttles.json`),
     * written at most once a second while throttles come, and at {@link AccountConcurrency.flush}.
     * @default kept in memory
     */
    readonly throttlesFile?: string;
  } = {},
): AccountConcurrency {
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new RangeError(`lambdaConcurrency must be a whole number of at least 1, got ${limit}`);
  }
  const { throttlesFile } = options;
  let inFlight = 0;
  /** Each function's throttles per minute (the minute's start, ms since the epoch), oldest first. */
  const throttles = new Map<string, Map<number, number>>(
    Object.entries((throttlesFile && readStateFile(throttlesFile, 'object')) ?? {}).map(([name, counts]) => [
      name,
      // Those past CloudWatch's 15 days are not read back.
      new Map((counts as ThrottlesByFunction[string]).filter(([at]) => at > Date.now() - THROTTLES_KEPT_MS)),
    ]),
  );
  let unwritten: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(unwritten);
    unwritten = undefined;
    if (!throttlesFile) return;
    mkdirSync(dirname(throttlesFile), { recursive: true });
    writeStateFile(
      throttlesFile,
      Object.fromEntries(
        [...throttles].map(([name, counts]) => [name, [...counts]]),
      ) satisfies ThrottlesByFunction,
    );
  };
  const throttled = (functionName: string) => {
    if (throttlesFile && !unwritten) unwritten = setTimeout(flush, 1_000).unref();
    const now = Date.now();
    const minute = now - (now % 60_000);
    const counts = throttles.get(functionName) ?? new Map<number, number>();
    counts.set(minute, (counts.get(minute) ?? 0) + 1);
    throttles.set(functionName, counts);
    for (const [at] of counts) {
      if (at > now - THROTTLES_KEPT_MS) break;
      counts.delete(at);
    }
  };
  return {
    flush() {
      if (unwritten) flush();
    },
    throttleSamples(metric, from, to) {
      const names = Object.keys(metric.dimensions);
      const functionName = metric.dimensions.FunctionName;
      if (
        metric.namespace !== 'AWS/Lambda' ||
        metric.metricName !== 'Throttles' ||
        names.length !== 1 ||
        functionName === undefined
      ) {
        return [];
      }
      return [...(throttles.get(functionName) ?? [])]
        .filter(([at]) => at >= from && at < to)
        .map(([at, value]) => ({ at, value }));
    },
    gate(host) {
      if (limit === undefined) return host;
      return {
        name: host.name,
        functionArn: host.functionArn,
        close: () => host.close(),
        async invoke(event) {
          if (inFlight >= limit) {
            throttled(host.name);
            onThrottle(host.name, limit);
            throw new TooManyRequestsError();
          }
          inFlight += 1;
          try {
            return await host.invoke(event);
          } finally {
            inFlight -= 1;
          }
        },
      };
    },
  };
}
