import { FilterLogEventsCommand, ThrottlingException } from '@aws-sdk/client-cloudwatch-logs';
import { describe, expect, it } from '@jest/globals';
import { JobLogsError } from '../src/index.ts';
import { FILTER_LOG_EVENTS_PER_SECOND, filterLogGroup } from '../src/log-search.ts';
import { stagingContext } from './staging-context.ts';

// "FilterLogEvents [...] has a default quota of 5 transactions per second (TPS) per account/Region",
// a hard limit (https://repost.aws/knowledge-center/cloudwatch-logs-throttling). `job logs` searches
// six groups at once, page after page, and the console serves many operators from one process: the
// process keeps to the quota itself rather than meet it as throttled calls.
describe('filterLogGroup: every FilterLogEvents call of the process, paced to CloudWatch Logs’ quota', () => {
  it('sends no more than 5 calls in any second, the rest queued, and every search is answered', async () => {
    const { context, logs } = stagingContext();
    const sentAt: number[] = [];
    // CloudWatch Logs as it answers over its quota: a call with 5 others in the second before it is
    // throttled (the mocked client does not retry, so a throttled call fails the search).
    logs.on(FilterLogEventsCommand).callsFake((input: { nextToken?: string }) => {
      const now = performance.now();
      if (sentAt.filter((at) => now - at < 1_000).length >= FILTER_LOG_EVENTS_PER_SECOND) {
        throw new ThrottlingException({ message: 'Rate exceeded', $metadata: {} });
      }
      sentAt.push(now);
      // Two pages a group: the second follows the first's token.
      return input.nextToken
        ? { events: [{ message: 'b' }] }
        : { events: [{ message: 'a' }], nextToken: 't' };
    });
    const groups = ['a', 'b', 'c', 'd'].map((name) => `/aws/lambda/sidestep-staging-${name}`);
    const started = performance.now();
    const found = await Promise.all(
      groups.map((group) =>
        filterLogGroup(
          context,
          { group, pattern: '{ $.jobId = "imp_1" }', startTime: 0 },
          { statement: 'ReadJobLogs', error: JobLogsError },
        ),
      ),
    );
    expect(found.map((events) => events?.map((event) => event.message))).toEqual(
      groups.map(() => ['a', 'b']),
    );
    // Eight calls at 5 a second: the sixth waits for the first's second to pass.
    expect(sentAt).toHaveLength(8);
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_000 - 5);
  });

  it('says a search still throttled after the SDK’s retries was throttled, naming the quota and the group', async () => {
    const { context, logs } = stagingContext();
    logs
      .on(FilterLogEventsCommand)
      .rejects(new ThrottlingException({ message: 'Rate exceeded', $metadata: {} }));
    const group = '/aws/lambda/sidestep-staging-status-updater';
    const refused = filterLogGroup(
      context,
      { group, pattern: '{ $.jobId = "imp_1" }', startTime: 0 },
      { statement: 'ReadJobLogs', error: JobLogsError },
    );
    await expect(refused).rejects.toBeInstanceOf(JobLogsError);
    await expect(refused).rejects.toMatchObject({
      field: 'logGroup',
      resource: group,
      action: null,
      message: expect.stringContaining('share its 5 calls a second'),
    });
  });
});
