import { randomUUID } from 'node:crypto';
import { AwsValidationError, UnknownOperationError } from './aws-api-errors.ts';
import type { EventBridgeEvent, EventRouter } from './event-router.ts';
import type { JsonApiHandler } from './json-api-handler.ts';

/** The `X-Amz-Target` prefix of the EventBridge JSON API (`AWSEvents.PutEvents`). */
export const EVENT_BRIDGE_TARGET_PREFIX = 'AWSEvents';

/** PutEvents takes at most 10 entries per call. */
const MAX_ENTRIES = 10;

/**
 * The most one PutEvents request's entries may add up to, counted as {@link putEventsEntrySize}
 * does: 1 MiB since 2026-01-29, 256 KB before
 * (https://aws.amazon.com/blogs/compute/more-room-to-build-serverless-services-now-support-payloads-up-to-1-mb/).
 */
const PUT_EVENTS_MAX_BYTES = 1024 * 1024;

/** A PutEvents request whose entries add up to more than {@link PUT_EVENTS_MAX_BYTES}, refused whole as EventBridge refuses it. */
class PutEventsTooLargeError extends Error {
  override readonly name = 'ValidationException';
  readonly field = 'Entries';
  /** The request's size as EventBridge counts it. */
  readonly size: number;
  constructor(size: number) {
    super('Total size of the entries in the request is over the limit.');
    this.size = size;
  }
}

/** Options of {@link eventBridgeApi}. */
export interface EventBridgeApiOptions {
  readonly router: EventRouter;
  readonly region: string;
  readonly accountId: string;
}

/** One entry of the PutEvents response: its event id, or why it was refused. */
type ResultEntry = { EventId: string } | { ErrorCode: string; ErrorMessage: string };

/**
 * The EventBridge JSON API (awsJson1_1) over the local {@link EventRouter}, so an unchanged
 * `@aws-sdk/client-eventbridge` pointed at the local endpoint puts events that the same rules route
 * (operator "Schedule Fired" events on `sidestep-<env>`, anything on `default`). PutEvents only:
 * a request whose entries add up to more than {@link PUT_EVENTS_MAX_BYTES} is refused whole
 * (`ValidationException`), then entries are validated one by one as AWS does (a bad entry fails alone, with `ErrorCode`, and
 * counts in `FailedEntryCount`), each accepted entry becomes an event with a fresh id and is routed
 * after the response, as EventBridge delivers asynchronously.
 * https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html
 */
export function eventBridgeApi(options: EventBridgeApiOptions): JsonApiHandler {
  const { router, region, accountId } = options;
  return async (operation, input) => {
    if (operation !== 'PutEvents') throw new UnknownOperationError('EventBridge', operation);
    const entries = input.Entries;
    if (!Array.isArray(entries) || entries.length === 0) {
      throw new AwsValidationError('entries', 'Member must have length greater than or equal to 1');
    }
    if (entries.length > MAX_ENTRIES) {
      throw new AwsValidationError('entries', `Member must have length less than or equal to ${MAX_ENTRIES}`);
    }
    const size = entries.reduce((total: number, entry: unknown) => total + putEventsEntrySize(entry), 0);
    if (size > PUT_EVENTS_MAX_BYTES) throw new PutEventsTooLargeError(size);
    const results: ResultEntry[] = [];
    const accepted: { event: EventBridgeEvent; bus: string }[] = [];
    for (const raw of entries) {
      const entry = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
      const checked = checkEntry(entry, router.eventBusNames);
      if ('ErrorCode' in checked) {
        results.push(checked);
        continue;
      }
      const event: EventBridgeEvent = {
        version: '0',
        id: randomUUID(),
        'detail-type': checked.detailType,
        source: checked.source,
        account: accountId,
        // EventBridge's event time has second precision: 2026-11-24T03:00:00Z.
        time: `${(checked.time ?? new Date()).toISOString().slice(0, 19)}Z`,
        region,
        resources: checked.resources,
        detail: checked.detail,
      };
      accepted.push({ event, bus: checked.bus });
      results.push({ EventId: event.id });
    }
    // After the response: PutEvents acknowledges receipt, delivery to targets is asynchronous.
    setImmediate(() => {
      for (const { event, bus } of accepted) void router.put(event, bus);
    });
    return {
      FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length,
      Entries: results,
    };
  };
}

/**
 * The size of one PutEvents entry as EventBridge counts it against {@link PUT_EVENTS_MAX_BYTES}
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html): 14 bytes for
 * `Time` if given, the UTF-8 bytes of `Source`, `DetailType`, `Detail` and of each of `Resources`.
 * A field of the wrong type counts nothing here; the entry's own check refuses it.
 */
function putEventsEntrySize(entry: unknown): number {
  if (!entry || typeof entry !== 'object') return 0;
  const { Time, Source, DetailType, Detail, Resources } = entry as Record<string, unknown>;
  const bytes = (value: unknown) => (typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : 0);
  const resources = Array.isArray(Resources)
    ? Resources.reduce((total: number, r) => total + bytes(r), 0)
    : 0;
  return (
    (Time === undefined || Time === null ? 0 : 14) +
    bytes(Source) +
    bytes(DetailType) +
    bytes(Detail) +
    resources
  );
}

interface CheckedEntry {
  readonly source: string;
  readonly detailType: string;
  readonly detail: unknown;
  readonly resources: string[];
  readonly bus: string;
  readonly time?: Date;
}

/** Validates one PutEvents entry as EventBridge does, returning the entry's error instead of throwing. */
function checkEntry(
  entry: Record<string, unknown>,
  buses: readonly string[],
): CheckedEntry | { ErrorCode: string; ErrorMessage: string } {
  const invalid = (field: string) => ({
    ErrorCode: 'InvalidArgument',
    ErrorMessage: `Parameter ${field} is not valid. Reason: ${field} is a required argument.`,
  });
  const source = entry.Source;
  if (typeof source !== 'string' || source === '') return invalid('Source');
  const detailType = entry.DetailType;
  if (typeof detailType !== 'string' || detailType === '') return invalid('DetailType');
  if (typeof entry.Detail !== 'string' || entry.Detail === '') return invalid('Detail');
  let detail: unknown;
  try {
    detail = JSON.parse(entry.Detail);
  } catch {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  // Detail must be a JSON object, not a scalar or an array.
  if (!detail || typeof detail !== 'object' || Array.isArray(detail)) {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  // Only AWS services may put events with an `aws.` source.
  if (source.startsWith('aws.')) {
    return {
      ErrorCode: 'NotAuthorizedForSourceException',
      ErrorMessage: `Not authorized for the source ${source}.`,
    };
  }
  // EventBusName takes a name or an ARN (…:event-bus/<name>); absent means the default bus.
  const busField = typeof entry.EventBusName === 'string' ? entry.EventBusName : 'default';
  const bus = busField.includes(':event-bus/')
    ? busField.slice(busField.indexOf(':event-bus/') + 11)
    : busField;
  if (!buses.includes(bus)) {
    return { ErrorCode: 'ResourceNotFoundException', ErrorMessage: `Event bus ${bus} does not exist.` };
  }
  const resources = Array.isArray(entry.Resources)
    ? entry.Resources.filter((resource): resource is string => typeof resource === 'string')
    : [];
  // The JSON protocol sends timestamps as epoch seconds.
  const time = typeof entry.Time === 'number' ? new Date(entry.Time * 1000) : undefined;
  return { source, detailType, detail, resources, bus, ...(time ? { time } : {}) };
}
