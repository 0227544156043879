import { isDeepStrictEqual } from 'node:util';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { DeleteMessageCommand, type Message } from '@aws-sdk/client-sqs';
import type { AuditEntry } from '@sidestep/ledger';
import { asyncFailureQueueName, DEAD_LETTER_RETENTION_SECONDS, resourceName } from '@sidestep/manifest';
import { describeCause } from '@sidestep/runtime';
import { SCHEDULES } from '@sidestep/workflows';
import { audited, listAudit } from './audit.ts';
import { InvalidOptionError, OpsError } from './errors.ts';
import { ASYNC_SERVICES, knownAsyncService } from './names.ts';
import type { OpsContext } from './ops-context.ts';
import {
  attributes,
  changeVisibility,
  isAccessDenied,
  isMissingQueue,
  oldestMessageAges,
  peekMessages,
  queueUrl,
  release,
} from './queues.ts';

/**
 * What invoked the function: an EventBridge event (its `source` and `detail-type`, the workflow-ended
 * rule's), or one of sidestep's schedules (told by its input: Scheduler passes only the input).
 */
export type AsyncTrigger =
  | { readonly kind: 'event'; readonly source: string; readonly detailType: string | null }
  | { readonly kind: 'schedule'; readonly schedule: string };

/** What invoked the function, as the CLI and the console say it: `schedule <name>`, or `<source>: <detail-type>`. */
export function describeTrigger(trigger: AsyncTrigger): string {
  return trigger.kind === 'schedule'
    ? `schedule ${trigger.schedule}`
    : `${trigger.source}${trigger.detailType ? `: ${trigger.detailType}` : ''}`;
}

/**
 * An asynchronous invocation that failed, from the invocation record Lambda put in the function's
 * on-failure queue (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
 * Fields the record lacks are null (an `EventAgeExceeded` record has no response).
 */
export interface AsyncFailure {
  readonly messageId: string;
  readonly service: string;
  /** `requestContext.requestId`: the failed invocation's id, which `async-failures reinvoke` takes. */
  readonly requestId: string | null;
  /** `requestContext.functionArn` (with its qualifier, `$LATEST`). */
  readonly functionArn: string | null;
  /** The record's `timestamp`: when Lambda gave up on the event. */
  readonly failedAt: Date | null;
  readonly ageSeconds: number | null;
  /** `requestContext.condition`: `RetriesExhausted`, `EventAgeExceeded`, ... */
  readonly condition: string | null;
  /** `requestContext.approximateInvokeCount`: attempts made. */
  readonly attempts: number | null;
  /** `responsePayload.errorType` / `errorMessage`: the last attempt's error. */
  readonly errorType: string | null;
  readonly errorMessage: string | null;
  readonly trigger: AsyncTrigger | null;
  /** Receives of the record so far, this listing's own included (as {@link listDeadLetters} says). */
  readonly receiveCount: number;
  /** The whole record as Lambda sent it, the event (`requestPayload`) included. */
  readonly body: string;
}

/** One service's on-failure queue in `status`. */
export interface AsyncFailureStatus {
  readonly service: string;
  readonly failures: number;
  /** Age of the oldest record, seconds; null when there is none (or CloudWatch has no data). */
  readonly oldestAgeSeconds: number | null;
}

type Json = Record<string, unknown>;

const object = (value: unknown): Json =>
  value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {};
const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** The invocation record in `body`, or undefined when the body is not one (not JSON, no request). */
function invocationRecord(body: string): Json | undefined {
  try {
    const record = object(JSON.parse(body));
    return 'requestContext' in record || 'requestPayload' in record ? record : undefined;
  } catch {
    return undefined;
  }
}

/** The trigger of `payload` sent to `service`: an EventBridge event's, or a schedule's by its input. */
function triggerOf(service: string, payload: unknown): AsyncTrigger | null {
  const event = object(payload);
  const source = text(event.source);
  if (source) return { kind: 'event', source, detailType: text(event['detail-type']) };
  const schedules = SCHEDULES.filter(
    (schedule) =>
      schedule.target.kind === 'function' &&
      schedule.target.service === service &&
      isDeepStrictEqual(schedule.input, payload),
  );
  return schedules.length === 1 && schedules[0] ? { kind: 'schedule', schedule: schedules[0].name } : null;
}

/** A received message with its invocation record parsed (undefined when the body is none). */
interface ReceivedRecord {
  readonly message: Message;
  readonly record: Json | undefined;
  /** `requestContext.requestId`, null when the record has none. */
  readonly requestId: string | null;
}

function receivedRecord(message: Message): ReceivedRecord {
  const record = invocationRecord(message.Body ?? '');
  return { message, record, requestId: text(object(record?.requestContext).requestId) };
}

function asyncFailure(service: string, message: Message, now: number): AsyncFailure {
  const body = message.Body ?? '';
  const { record = {}, requestId } = receivedRecord(message);
  const request = object(record.requestContext);
  const response = object(record.responsePayload);
  const failed = Date.parse(text(record.timestamp) ?? '');
  const attempts = request.approximateInvokeCount;
  return {
    messageId: message.MessageId ?? '',
    service,
    requestId,
    functionArn: text(request.functionArn),
    failedAt: Number.isFinite(failed) ? new Date(failed) : null,
    ageSeconds: Number.isFinite(failed) ? Math.max(0, Math.round((now - failed) / 1000)) : null,
    condition: text(request.condition),
    attempts: typeof attempts === 'number' ? attempts : null,
    errorType: text(response.errorType),
    errorMessage: text(response.errorMessage),
    trigger: 'requestPayload' in record ? triggerOf(service, record.requestPayload) : null,
    receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 0),
    body,
  };
}

/**
 * The URL of `service`'s on-failure queue; undefined locally when it does not exist yet (the local
 * cloud makes it with the first failure, infra with the function).
 */
async function failureQueueUrl(context: OpsContext, service: string): Promise<string | undefined> {
  try {
    return await queueUrl(context, asyncFailureQueueName(context.environment, service));
  } catch (error) {
    if (context.environment === 'local' && isMissingQueue(error)) return undefined;
    throw error;
  }
}

/**
 * The failed asynchronous invocations of `service` (one of {@link ASYNC_SERVICES}), up to `limit`:
 * the records in `sidestep-<env>-<service>-async-failures`, read as {@link listDeadLetters} reads a
 * DLQ (received and at once made visible again; nothing deleted).
 */
export async function listAsyncFailures(
  context: OpsContext,
  service: string,
  options: { readonly limit?: number; readonly now?: Date } = {},
): Promise<AsyncFailure[]> {
  const name = knownAsyncService(service);
  const url = await failureQueueUrl(context, name);
  if (!url) return [];
  const received = await peekMessages(context, url, options.limit ?? 100);
  const now = (options.now ?? new Date()).getTime();
  return received.map((message) => asyncFailure(name, message, now));
}

/**
 * How many failed invocations each of {@link ASYNC_SERVICES} has kept, and the oldest's age; locally
 * a queue not made yet holds none. On AWS a queue the caller may not read is left out with a warning,
 * the rest still shows: the queues and their grant in the operator policy arrive with the
 * environment's apply, so an environment not yet applied (or rolled back, or a role holding an older
 * copy of the policy) answers AccessDenied, or QueueDoesNotExist, which SQS also answers for a queue
 * the caller may not see ("The specified queue does not exist or you do not have access to it":
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/troubleshooting-api-errors.html).
 */
export async function asyncFailureStatuses(
  context: OpsContext,
  now: Date = new Date(),
): Promise<AsyncFailureStatus[]> {
  const names = ASYNC_SERVICES.map((service) => asyncFailureQueueName(context.environment, service));
  const ages = await oldestMessageAges(context, names, now);
  const statuses = await Promise.all(
    ASYNC_SERVICES.map(async (service, index): Promise<AsyncFailureStatus | undefined> => {
      const name = names[index] ?? '';
      try {
        const url = await failureQueueUrl(context, service);
        const failures = url ? Number((await attributes(context, url)).ApproximateNumberOfMessages ?? 0) : 0;
        return { service, failures, oldestAgeSeconds: ages.get(name) ?? null };
      } catch (error) {
        if (!isMissingQueue(error) && !isAccessDenied(error)) throw error;
        context.warn(
          `queue ${name} left out: ${(error as Error).name} (it does not exist here, or this caller may not read it). ` +
            `The queue, and its grant in statement ReadQueues of ${resourceName(context.environment, 'operator')}, ` +
            'arrive with the environment: apply the environment (and update any copy of that policy the role holds)',
        );
        return undefined;
      }
    }),
  );
  return statuses.filter((entry): entry is AsyncFailureStatus => entry !== undefined);
}

/** What {@link reinvokeAsyncFailures} did with one record. */
export interface ReinvokedFailure {
  /** The failed invocation's request id (the record's). */
  readonly requestId: string;
  /**
   * `reinvoked`: invoked again now (Lambda's request id of the new invocation in `invocationId`);
   * `already-reinvoked`: the audit trail shows an earlier command re-invoked it (its record, if still
   * there, is deleted; nothing is invoked again); `failed`: not invoked, the record kept (`error`).
   */
  readonly outcome: 'reinvoked' | 'already-reinvoked' | 'failed';
  readonly invocationId: string | null;
  readonly error: string | null;
}

/** The result of {@link reinvokeAsyncFailures}. */
export interface ReinvokeResult {
  readonly service: string;
  readonly records: readonly ReinvokedFailure[];
}

/** Some records of a re-invoke were not invoked; the others were. */
export class AsyncReinvokeError extends OpsError {
  override readonly name: string = 'AsyncReinvokeError';
  readonly result: ReinvokeResult;
  constructor(result: ReinvokeResult) {
    const failed = result.records.filter((record) => record.outcome === 'failed');
    super(
      `requestId: ${failed.length} of ${result.records.length} not re-invoked (their records are kept): ${failed
        .map((record) => `${record.requestId}: ${record.error}`)
        .join('; ')}`,
      { field: 'requestId' },
    );
    this.result = result;
  }
}

/** Options of {@link reinvokeAsyncFailures}: which records. */
export interface ReinvokeOptions {
  /** The failed invocations' request ids (`async-failures show`). */
  readonly requestIds?: readonly string[];
  /** Every record in the queue instead. */
  readonly all?: boolean;
  /** @default now */
  readonly now?: Date;
}

/** Most records one command acts on (a queue's whole listing, as `dlq redrive --dry-run` reads). */
export const REINVOKE_LIMIT = 1000;
/**
 * How long the records acted on stay hidden from other readers while they are re-invoked; once half
 * of it has passed, the records not yet done are hidden for as long again.
 */
const ACTING_VISIBILITY_SECONDS = 300;

/**
 * Keeps `messages`, received at `since` (ms), hidden while they are worked through in order: before
 * the one at `index`, once half the hold has passed, it and those after it are hidden again for
 * {@link ACTING_VISIBILITY_SECONDS} from then (ChangeMessageVisibility counts from its call:
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html).
 * `lost(index)` answers why a message is no longer held (SQS refused to extend it: it became visible
 * and another reader may have it), else undefined.
 */
function hold(context: OpsContext, url: string, messages: readonly Message[], since: number) {
  let heldSince = since;
  const lost = new Map<Message, string>();
  return async (index: number): Promise<string | undefined> => {
    if (Date.now() - heldSince >= (ACTING_VISIBILITY_SECONDS * 1000) / 2) {
      heldSince = Date.now();
      const left = messages.slice(index).filter((message) => !lost.has(message));
      for (const { message, error } of await changeVisibility(
        context,
        url,
        left,
        ACTING_VISIBILITY_SECONDS,
      )) {
        lost.set(message, error);
      }
    }
    const message = messages[index];
    return message && lost.get(message);
  };
}

/** The audit trail's target of one record's re-invocation: `<service>:<requestId>`. */
const auditTarget = (service: string, requestId: string) => `${service}:${requestId}`;

/**
 * The records of `service` already re-invoked: the targets of the audit trail's `async-reinvoke` entries
 * that succeeded, as far back as the queue keeps a record (14 days). An unreadable trail is read as
 * none, with a warning: the function, invoked asynchronously, is idempotent under a second delivery
 * (Lambda itself may deliver an event twice), so a repeat costs a run, not a wrong result.
 */
async function reinvokedBefore(context: OpsContext, now: Date): Promise<Set<string>> {
  const since = now.getTime() - DEAD_LETTER_RETENTION_SECONDS * 1000;
  const targets = new Set<string>();
  try {
    let before: number | undefined;
    for (;;) {
      const page: AuditEntry[] = await listAudit(context, {
        limit: 500,
        ...(before === undefined ? {} : { before }),
      });
      for (const entry of page) {
        if (entry.action === 'async-reinvoke' && entry.result === 'ok') targets.add(entry.target);
      }
      const last = page.at(-1);
      if (!last || page.length < 500 || new Date(last.at).getTime() < since) return targets;
      before = last.id;
    }
  } catch (error) {
    context.warn(
      `the audit trail could not be read (${describeCause(error)}): a record re-invoked before is re-invoked again`,
    );
    return targets;
  }
}

/**
 * Invokes `service` again, asynchronously (`InvocationType: Event`, as its rule or schedule did), with
 * each chosen record's original event (`requestPayload`), then deletes the record. Each re-invocation
 * is one `async-reinvoke` entry of the audit trail, target `<service>:<requestId>`, written before the
 * record is deleted; a command run again (its answer lost, or stopped between invoke and delete)
 * finds the entry and deletes the record without invoking the function a second time. Lambda's Invoke
 * takes no idempotency token, and the invoke is sent once (no SDK retry), so what can still invoke an
 * event twice is: a stop between the invoke and its audit entry; an invoke reported failed that Lambda
 * had in fact accepted (the connection dropped after it), whose record is kept for the next command;
 * and an audit trail that could not be read (with a warning). The functions invoked asynchronously are
 * idempotent under that, as Lambda's own retries ask.
 *
 * The records acted on are hidden from other readers meanwhile (a second operator's command does not
 * see them), their hold extended as the command goes; one whose hold SQS would not extend is not
 * invoked. A record that is not an invocation record, or whose invoke fails, is kept and made
 * visible again; then {@link AsyncReinvokeError} says which, after the others were done.
 *
 * @throws {InvalidOptionError} (`requestId`) without request ids or `all`, or for an id neither in the
 *   queue nor re-invoked before.
 */
export async function reinvokeAsyncFailures(
  context: OpsContext,
  service: string,
  options: ReinvokeOptions,
): Promise<ReinvokeResult> {
  const name = knownAsyncService(service);
  const wanted = new Set(options.requestIds ?? []);
  if (options.all ? wanted.size > 0 : wanted.size === 0) {
    throw new InvalidOptionError('requestId: give the request ids of the records to re-invoke, or --all', {
      field: 'requestId',
    });
  }
  const now = options.now ?? new Date();
  const url = await queueUrl(context, asyncFailureQueueName(context.environment, name));
  const receivedAt = Date.now();
  const received = (
    await peekMessages(context, url, REINVOKE_LIMIT, {
      visibilitySeconds: ACTING_VISIBILITY_SECONDS,
      keep: true,
    })
  ).map(receivedRecord);
  const chosen = received.filter(
    ({ requestId }) => options.all || (requestId !== null && wanted.has(requestId)),
  );
  await release(
    context,
    url,
    received.filter((entry) => !chosen.includes(entry)).map((entry) => entry.message),
  );
  const done = await reinvokedBefore(context, now);
  // Asked for but not in the queue: re-invoked by an earlier command, else unknown (nothing is done).
  const inQueue = new Set(chosen.map((entry) => entry.requestId));
  const earlier = [...wanted].filter((requestId) => !inQueue.has(requestId));
  const unknown = earlier.filter((requestId) => !done.has(auditTarget(name, requestId)));
  if (unknown.length > 0) {
    await release(
      context,
      url,
      chosen.map((entry) => entry.message),
    );
    throw new InvalidOptionError(
      `requestId: no failed invocation ${unknown.join(', ')} in ${asyncFailureQueueName(context.environment, name)}, and none re-invoked in the last 14 days`,
      { field: 'requestId' },
    );
  }
  // One record can be in the queue twice (SQS delivers at least once): each request is invoked once
  // per command, a later copy deleted as re-invoked, or kept when the first copy's invoke failed.
  const thisRun = new Map<string, ReinvokedFailure>();
  const records: ReinvokedFailure[] = [];
  const held = hold(
    context,
    url,
    chosen.map((entry) => entry.message),
    receivedAt,
  );
  for (const [index, entry] of chosen.entries()) {
    const lost = await held(index);
    const outcome = lost
      ? {
          requestId: entry.requestId ?? entry.message.MessageId ?? '',
          outcome: 'failed' as const,
          invocationId: null,
          error: `its record could not be held for this command (${lost}); another reader may have it`,
        }
      : await reinvokeOne(context, name, url, entry, done, thisRun);
    thisRun.set(outcome.requestId, outcome);
    records.push(outcome);
  }
  for (const requestId of earlier) {
    records.push({ requestId, outcome: 'already-reinvoked', invocationId: null, error: null });
  }
  const result = { service: name, records };
  if (records.some((record) => record.outcome === 'failed')) throw new AsyncReinvokeError(result);
  return result;
}

/**
 * `command` sent in one attempt (maxAttempts 1), whatever the client's retry settings: the SDK
 * retries a transient error, a connection reset included, and an `Event` invoke Lambda accepted
 * before the connection dropped would be queued again
 * (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html). `maxAttempts` is a
 * client setting only, so this command's own middleware takes the place of the client's retry
 * middleware (same name, step and priority) for this command alone.
 */
function sentOnce(command: InvokeCommand): InvokeCommand {
  command.middlewareStack.add((next) => next, {
    name: 'retryMiddleware',
    tags: ['RETRY'],
    step: 'finalizeRequest',
    priority: 'high',
    override: true,
  });
  return command;
}

/**
 * Re-invokes one record's event, unless the audit trail (`done`) or this command (`thisRun`, by
 * request id) already did: then it only deletes the record, or keeps it when this command's invoke
 * of the same request failed.
 */
async function reinvokeOne(
  context: OpsContext,
  service: string,
  url: string,
  { message, record, requestId: recordRequestId }: ReceivedRecord,
  done: ReadonlySet<string>,
  thisRun: ReadonlyMap<string, ReinvokedFailure>,
): Promise<ReinvokedFailure> {
  const requestId = recordRequestId ?? message.MessageId ?? '';
  const remove = () =>
    context.clients.sqs.send(
      new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: message.ReceiptHandle }),
    );
  const earlier = thisRun.get(requestId);
  if (earlier?.outcome === 'failed') {
    await release(context, url, [message]);
    return { ...earlier, error: `another copy of this record was not re-invoked: ${earlier.error}` };
  }
  if (earlier || done.has(auditTarget(service, requestId))) {
    await remove();
    return { requestId, outcome: 'already-reinvoked', invocationId: null, error: null };
  }
  if (!record || !('requestPayload' in record)) {
    await release(context, url, [message]);
    return {
      requestId,
      outcome: 'failed',
      invocationId: null,
      error: 'not an invocation record with a requestPayload',
    };
  }
  let invoked: { readonly invocationId: string | null };
  try {
    invoked = await audited(context, 'async-reinvoke', auditTarget(service, requestId), async () => {
      const answer = await context.clients.lambda.send(
        sentOnce(
          new InvokeCommand({
            FunctionName: resourceName(context.environment, service),
            InvocationType: 'Event',
            Payload: new TextEncoder().encode(JSON.stringify(record.requestPayload)),
          }),
        ),
      );
      return { requestId, invocationId: answer.$metadata.requestId ?? null, statusCode: answer.StatusCode };
    });
  } catch (error) {
    await release(context, url, [message]);
    return { requestId, outcome: 'failed', invocationId: null, error: describeCause(error) };
  }
  try {
    await remove();
  } catch (error) {
    // Invoked and audited: the next command finds the entry and deletes the record without invoking.
    context.warn(`${requestId} was re-invoked but its record not deleted (${describeCause(error)})`);
  }
  return { requestId, outcome: 'reinvoked', invocationId: invoked.invocationId, error: null };
}
