import {
  type FilteredLogEvent,
  FilterLogEventsCommand,
  type FilterLogEventsCommandOutput,
} from '@aws-sdk/client-cloudwatch-logs';
import type { SearchError } from './errors.ts';
import type { OpsContext } from './ops-context.ts';
import { isAccessDenied } from './queues.ts';

/** FilterLogEvents' most events a page (API_FilterLogEvents: `limit` "Maximum value of 10000"). */
const MAX_PAGE = 10_000;

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
 * caller's to say). A refusal (AccessDenied) is thrown as `grant.error`, naming the statement that grants it.
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
      page = await context.clients.logs.send(
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
      throw error;
    }
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken && events.length < most);
  return events;
}
