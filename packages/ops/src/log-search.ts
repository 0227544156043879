import {
  type CloudWatchLogsClient,
  type FilteredLogEvent,
  FilterLogEventsCommand,
  type FilterLogEventsCommandOutput,
} from '@aws-sdk/client-cloudwatch-logs';
import { FILTER_LOG_EVENTS_PER_SECOND } from '@sidestep/manifest';
import pThrottle from 'p-throttle';
import type { SearchError } from './errors.ts';
import type { OpsContext } from './ops-context.ts';
import { isAccessDenied } from './queues.ts';

/** FilterLogEvents' most events a page (API_FilterLogEvents: `limit` "Maximum value of 10000"). */
const MAX_PAGE = 10_000;

/** CloudWatch Logs' FilterLogEvents quota, which the process keeps to. */
export { FILTER_LOG_EVENTS_PER_SECOND };

/**
 * Every FilterLogEvents call this process makes, at most {@link FILTER_LOG_EVENTS_PER_SECOND} in any
 * 1.1 s (p-throttle's strict mode: each call against the calls before it, not per window), queued in
 * order beyond that: `job logs` searches six groups at once, page after page, `mail find` two
 * searches, and the console as many as its operators ask for (a context per request, so the pace is
 * the process's, not a context's). What other processes of the account take of the same quota (another
 * operator, another console) is the SDK's to retry: the clients' retries back off on ThrottlingException.
 * A tenth of a second over the quota's second: p-throttle counts whole milliseconds of Date.now, and
 * the service counts on its own clock; a call at the very edge of the second would be throttled.
 */
const sendPaced = pThrottle({ limit: FILTER_LOG_EVENTS_PER_SECOND, interval: 1_100, strict: true })(
  (client: CloudWatchLogsClient, command: FilterLogEventsCommand) => client.send(command),
);

/** One FilterLogEvents search of {@link filterLogGroup}. */
export interface LogGroupSearch {
  readonly group: string;
  readonly pattern: string;
  readonly startTime: number;
  /** @default no end */
  readonly endTime?: number;
  /** Stop once this many events are read. @default every event */
  readonly most?: number;
}

/** Who is refused a search: the operator policy's statement that grants it, and the error to throw. */
export interface LogSearchGrant {
  readonly statement: string;
  readonly error: new (
    field: string,
    message: string,
    details: { readonly action?: string; readonly resource: string; readonly cause?: unknown },
  ) => SearchError;
}

/**
 * The events of a log group that match a filter pattern, page by page (`nextToken`), oldest first
 * within the group (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html);
 * `undefined` when the group does not exist (ResourceNotFoundException: what that means is the
 * caller's to say). A refusal (AccessDenied) is thrown as `grant.error`, naming the statement that
 * grants it; a call still throttled after the SDK's retries as `grant.error` naming the quota.
 */
export async function filterLogGroup(
  context: OpsContext,
  search: LogGroupSearch,
  grant: LogSearchGrant,
): Promise<FilteredLogEvent[] | undefined> {
  const most = search.most ?? Number.POSITIVE_INFINITY;
  const events: FilteredLogEvent[] = [];
  let nextToken: string | undefined;
  do {
    let page: FilterLogEventsCommandOutput;
    try {
      page = await sendPaced(
        context.clients.logs,
        new FilterLogEventsCommand({
          logGroupName: search.group,
          filterPattern: search.pattern,
          startTime: search.startTime,
          ...(search.endTime === undefined ? {} : { endTime: search.endTime }),
          ...(Number.isFinite(most) ? { limit: Math.min(most - events.length, MAX_PAGE) } : {}),
          ...(nextToken ? { nextToken } : {}),
        }),
      );
    } catch (error) {
      if (isAccessDenied(error)) {
        throw new grant.error(
          'logGroup',
          `access denied to logs:FilterLogEvents on ${search.group}: the operator policy's statement ${grant.statement} (sidestep-${context.environment}-operator) grants it`,
          { action: 'logs:FilterLogEvents', resource: search.group, cause: error },
        );
      }
      if ((error as Error).name === 'ResourceNotFoundException') return undefined;
      // Past the SDK's retries: the account's other readers took the quota this process keeps to.
      if ((error as Error).name === 'ThrottlingException') {
        throw new grant.error(
          'logGroup',
          `CloudWatch Logs throttled FilterLogEvents on ${search.group} past the SDK's retries: the account's readers (other operators, consoles) share its ${FILTER_LOG_EVENTS_PER_SECOND} calls a second in the Region; run it again in a moment`,
          { resource: search.group, cause: error },
        );
      }
      throw error;
    }
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken && events.length < most);
  return events;
}
