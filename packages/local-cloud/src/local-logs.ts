import { appendFile, mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FILTER_LOG_EVENTS_PER_SECOND } from '@sidestep/manifest';
import { AwsApiError, rateExceeded, UnknownOperationError } from './aws-api-errors.ts';
import { fileLinesAsync } from './file-lines.ts';
import type { JsonApiHandler } from './json-api-handler.ts';
import { createRateBucket } from './rate-bucket.ts';

/** The `X-Amz-Target` prefix of CloudWatch Logs' operations (awsJson1_1). */
export const LOGS_TARGET_PREFIX = 'Logs_20140328';

/** FilterLogEvents' most events a page, and its default (API_FilterLogEvents: "The default is 10,000"). */
const MAX_LIMIT = 10_000;
/** FilterLogEvents' most bytes a page: "as many log events as can fit in 1 MB". */
const MAX_PAGE_BYTES = 1024 * 1024;

/** One kept log event, as FilterLogEvents answers it. */
export interface LogEvent {
  readonly logStreamName: string;
  readonly timestamp: number;
  readonly message: string;
  readonly ingestionTime: number;
  readonly eventId: string;
}

/**
 * The local cloud's CloudWatch Logs: the log groups AWS gives each function (`/aws/lambda/<name>`)
 * and the batch task (`/ecs/<family>`, the awslogs driver's), each keeping every line its processes
 * wrote, and the API operators read them with, FilterLogEvents, on the local AWS endpoint.
 */
export interface LocalLogs {
  /** Makes `group` exist (as infra's `aws_cloudwatch_log_group`); idempotent. */
  createGroup(group: string): void;
  /** Keeps one line `stream` wrote to `group`, at `timestamp` (ms). */
  append(group: string, stream: string, message: string, timestamp?: number): void;
  /** FilterLogEvents (and UnknownOperationException for the rest of the API). */
  readonly api: JsonApiHandler;
  /** Settles once every line appended so far is on disk. */
  flushed(): Promise<void>;
}

/** Options of {@link createLocalLogs}. */
export interface LocalLogsOptions {
  /** Where the groups are kept, one JSON-lines file each. @default in memory only */
  readonly dir?: string;
  /** Hears of a line that could not be kept (a full disk): the rest are kept still. @default ignored */
  readonly onError?: (error: Error) => void;
  /**
   * How long a group keeps an event, counted from its timestamp, as CloudWatch Logs deletes the
   * events older than a group's retention: infra gives every group 30 days unless
   * `SIDESTEP_<ENV>_LOG_RETENTION_DAYS` says otherwise. @default 30
   */
  readonly retentionDays?: number;
  /** The clock retention is counted on (tests move one). @default Date.now */
  readonly now?: () => number;
  /** The clock `filterRate` is counted on, in ms (tests step one). @default performance.now */
  readonly rateClock?: () => number;
  /**
   * FilterLogEvents calls a second the endpoint answers, a second's worth at once, before it answers
   * ThrottlingException as CloudWatch Logs does (counted on `performance.now()`).
   * @default {@link FILTER_LOG_EVENTS_PER_SECOND}
   */
  readonly filterRate?: number;
}

/** How often a group's file loses what is past the retention, while the group is written. */
const PRUNE_EVERY_MS = 24 * 3600_000;

/**
 * Log groups kept in a directory, one JSON-lines file each (`<encoded group name>.jsonl`), so they
 * outlive a restart, as CloudWatch keeps a group's events for its retention: an event older than it
 * is not answered, and leaves its file when the run first writes to the group, and again each day
 * the group is written. A search reads the group's file a line at a time, keeping only what
 * matches: a busy group's file outgrows what one string can hold.
 */
export function createLocalLogs(options: LocalLogsOptions = {}): LocalLogs {
  const { dir, onError = () => {}, now = Date.now } = options;
  const retentionMs = (options.retentionDays ?? 30) * 24 * 3600_000;
  const filterRate = createRateBucket(
    options.filterRate ?? FILTER_LOG_EVENTS_PER_SECOND,
    options.rateClock ?? (() => performance.now()),
  );
  const groups = new Set<string>();
  const memory = new Map<string, string[]>();
  /** Each group's appends, chained so they land in order. */
  const pending = new Map<string, Promise<void>>();
  /** When each group's file last lost what is past the retention, this run. */
  const prunedAt = new Map<string, number>();
  let sequence = 0;
  const fileOf = (group: string) =>
    dir === undefined ? undefined : join(dir, `${encodeURIComponent(group)}.jsonl`);

  const append = (group: string, stream: string, message: string, timestamp = Date.now()) => {
    const event: LogEvent = {
      logStreamName: stream,
      timestamp,
      message,
      ingestionTime: Date.now(),
      eventId: `${timestamp}-${(sequence++).toString().padStart(12, '0')}`,
    };
    const line = `${JSON.stringify(event)}\n`;
    const file = fileOf(group);
    if (file === undefined) {
      const lines = memory.get(group) ?? [];
      lines.push(line);
      memory.set(group, lines);
      return;
    }
    // Before the group's first line of this run, and then once a day, its file loses what is past
    // the retention, and a line the last run was cut off in the middle of (a crash, a kill).
    let previous = pending.get(group) ?? Promise.resolve();
    if ((prunedAt.get(group) ?? Number.NEGATIVE_INFINITY) <= now() - PRUNE_EVERY_MS) {
      prunedAt.set(group, now());
      const since = now() - retentionMs;
      previous = previous.then(() => keepUnexpired(dir as string, file, since));
    }
    pending.set(
      group,
      previous
        .then(() => appendFile(file, line))
        .catch((error: unknown) => onError(error instanceof Error ? error : new Error(String(error)))),
    );
  };

  /** The group's events within the retention that `keep` keeps, read a line at a time. */
  const eventsOf = async (group: string, keep: (event: LogEvent) => boolean): Promise<LogEvent[]> => {
    await pending.get(group);
    const file = fileOf(group);
    const since = now() - retentionMs;
    const found: LogEvent[] = [];
    for await (const line of file === undefined ? (memory.get(group) ?? []) : fileLinesAsync(file)) {
      const event = parseEvent(line);
      if (event !== undefined && event.timestamp >= since && keep(event)) found.push(event);
    }
    return found;
  };

  const filterLogEvents = async (input: Record<string, unknown>) => {
    // Throttled before anything else is looked at, as a rate limit in front of the API is.
    if (!filterRate.admit()) throw rateExceeded();
    const group = logGroupOf(input);
    if (!groups.has(group))
      throw new AwsApiError(
        'ResourceNotFoundException',
        'logGroupName',
        'The specified log group does not exist.',
      );
    const matches = compileFilterPattern(stringField(input, 'filterPattern') ?? '');
    const startTime = numberField(input, 'startTime');
    const endTime = numberField(input, 'endTime');
    const limit = numberField(input, 'limit') ?? MAX_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
      throw new AwsApiError('InvalidParameterException', 'limit', `limit must be from 1 to ${MAX_LIMIT}`);
    }
    const streams = input.logStreamNames;
    const prefix = stringField(input, 'logStreamNamePrefix');
    const offset = tokenOffset(stringField(input, 'nextToken'));
    const found = (
      await eventsOf(
        group,
        (event) =>
          (startTime === undefined || event.timestamp >= startTime) &&
          (endTime === undefined || event.timestamp <= endTime) &&
          (!Array.isArray(streams) || streams.includes(event.logStreamName)) &&
          (prefix === undefined || event.logStreamName.startsWith(prefix)) &&
          matches(event.message),
      )
    ).sort((a, b) => a.timestamp - b.timestamp || a.eventId.localeCompare(b.eventId));
    // "as many log events as can fit in 1 MB (up to 10,000)" a page (API_FilterLogEvents), one at least.
    const page: LogEvent[] = [];
    let bytes = 0;
    for (const event of found.slice(offset, offset + limit)) {
      bytes += Buffer.byteLength(JSON.stringify(event));
      if (page.length > 0 && bytes > MAX_PAGE_BYTES) break;
      page.push(event);
    }
    const next = offset + page.length;
    return {
      events: page,
      searchedLogStreams: [],
      ...(next < found.length ? { nextToken: Buffer.from(String(next)).toString('base64url') } : {}),
    };
  };

  return {
    createGroup: (group) => {
      groups.add(group);
    },
    append: (group, stream, message, timestamp) => {
      groups.add(group);
      append(group, stream, message, timestamp);
    },
    api: async (operation, input) => {
      if (operation === 'FilterLogEvents') return filterLogEvents(input);
      throw new UnknownOperationError('CloudWatch Logs', operation);
    },
    flushed: async () => {
      await Promise.all(pending.values());
    },
  };
}

/** One line of a group's file as its event; `undefined` for an empty line or one a crash cut off. */
function parseEvent(line: string): LogEvent | undefined {
  if (line.trim() === '') return undefined;
  try {
    return JSON.parse(line) as LogEvent;
  } catch {
    return undefined;
  }
}

/**
 * Makes `dir` exist and rewrites `file` with the events from `since` on (into a temporary file, in
 * the same pass that reads it, renamed over it), when it holds an older one, a line cut off in the
 * middle, or a last line without its newline: what follows is appended to whole lines.
 */
async function keepUnexpired(dir: string, file: string, since: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  const out = await open(temporary, 'w');
  let changed = false;
  try {
    // Written a megabyte at a time, not a syscall a line.
    let batch = '';
    for await (const line of fileLinesAsync(file)) {
      const event = parseEvent(line);
      if (event !== undefined && event.timestamp >= since) batch += `${line}\n`;
      else changed = true;
      if (batch.length >= 1024 * 1024) {
        await out.write(batch);
        batch = '';
      }
    }
    await out.write(batch);
  } finally {
    await out.close();
  }
  if (changed || !(await endsWithNewline(file))) await rename(temporary, file);
  else await rm(temporary, { force: true });
}

/** Whether `file` is empty, missing, or ends with a newline (as every whole line the logs write does). */
async function endsWithNewline(file: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
  try {
    const { size } = await handle.stat();
    if (size === 0) return true;
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, size - 1);
    return last[0] === 0x0a;
  } finally {
    await handle.close();
  }
}

/**
 * The log group a request names: `logGroupName`, or the name in `logGroupIdentifier` (a name or an
 * ARN); both, or neither, is InvalidParameterException, as CloudWatch Logs answers.
 */
export function logGroupOf(input: Record<string, unknown>): string {
  const name = stringField(input, 'logGroupName');
  const identifier = stringField(input, 'logGroupIdentifier');
  if ((name === undefined) === (identifier === undefined)) {
    throw new AwsApiError(
      'InvalidParameterException',
      'logGroupName',
      'LogGroupName or LogGroupIdentifier parameter is required, but not both',
    );
  }
  if (name !== undefined) return name;
  const arn = /^arn:[^:]+:logs:[^:]*:[^:]*:log-group:(.+?)(?::\*)?$/.exec(identifier as string);
  return arn ? (arn[1] as string) : (identifier as string);
}

function stringField(input: Record<string, unknown>, key: string): string | undefined {
  const value = input[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function numberField(input: Record<string, unknown>, key: string): number | undefined {
  const value = input[key];
  return typeof value === 'number' ? value : undefined;
}

function tokenOffset(token: string | undefined): number {
  if (token === undefined) return 0;
  const offset = Number(Buffer.from(token, 'base64url').toString());
  if (!Number.isInteger(offset) || offset < 0) {
    throw new AwsApiError('InvalidParameterException', 'nextToken', 'The specified nextToken is invalid.');
  }
  return offset;
}

/** One `$.path = "value"` (or `!=`) term of a JSON filter pattern. */
interface JsonTerm {
  readonly path: readonly string[];
  readonly value: string;
  readonly equal: boolean;
}

/** One term and the operator after it, if any, read from where the last one ended (sticky). */
const JSON_TERM = /\s*\(?\s*\$\.([A-Za-z0-9_.]+)\s*(=|!=)\s*"((?:[^"\\]|\\.)*)"\s*\)?\s*(\|\||&&)?\s*/y;

/**
 * A filter pattern as a predicate on an event's message
 * (https://docs.amazonaws.cn/en_us/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html), for the
 * subset the local cloud serves: empty (every event); terms (`ERROR "job failed"`: every term in the
 * message, case-sensitive); and a JSON pattern of string comparisons joined by one of `||` or `&&`,
 * each term parenthesized or not (`{ ($.jobId = "imp_1") || ($.executionId = "arn:...") }`), a value
 * ending in `*` matching as a prefix. Anything else is InvalidParameterException naming the subset:
 * CloudWatch Logs takes more (numbers, `IS NULL`, mixed operators, regular expressions).
 */
export function compileFilterPattern(pattern: string): (message: string) => boolean {
  const text = pattern.trim();
  if (text === '') return () => true;
  if (!text.startsWith('{')) {
    const words = [...text.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)];
    // An unquoted `-term` or `?term` (excluded, or any of) is syntax the local cloud does not serve.
    if (words.some((match) => match[2] !== undefined && /^[-?]/.test(match[2])))
      throw unsupportedPattern(pattern);
    const terms = words.map((match) =>
      match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : (match[2] as string),
    );
    return (message) => terms.every((term) => message.includes(term));
  }
  if (!text.endsWith('}')) throw unsupportedPattern(pattern);
  const body = text.slice(1, -1);
  // Term by term, each with the operator after it: an operator inside a quoted value is the value's.
  const terms: JsonTerm[] = [];
  const operators = new Set<string>();
  JSON_TERM.lastIndex = 0;
  while (JSON_TERM.lastIndex < body.length) {
    const match = JSON_TERM.exec(body);
    if (!match) throw unsupportedPattern(pattern);
    terms.push({
      path: (match[1] as string).split('.'),
      equal: match[2] === '=',
      value: (match[3] as string).replace(/\\(.)/g, '$1'),
    });
    if (match[4] !== undefined) operators.add(match[4]);
    else if (JSON_TERM.lastIndex < body.length) throw unsupportedPattern(pattern);
  }
  if (terms.length === 0 || operators.size > 1 || operators.size !== (terms.length > 1 ? 1 : 0)) {
    throw unsupportedPattern(pattern);
  }
  const operator = [...operators][0] ?? '&&';
  return (message) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return false;
    }
    const test = (term: JsonTerm) => {
      const found = term.path.reduce<unknown>(
        (node, key) =>
          node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined,
        parsed,
      );
      if (typeof found !== 'string') return false;
      const same = term.value.endsWith('*')
        ? found.startsWith(term.value.slice(0, -1))
        : found === term.value;
      return same === term.equal;
    };
    return operator === '||' ? terms.some(test) : terms.every(test);
  };
}

function unsupportedPattern(pattern: string): AwsApiError {
  return new AwsApiError(
    'InvalidParameterException',
    'filterPattern',
    `the local cloud's FilterLogEvents takes terms, or a JSON pattern of $.field = "string" comparisons joined by || or &&, not ${JSON.stringify(pattern)}`,
  );
}
