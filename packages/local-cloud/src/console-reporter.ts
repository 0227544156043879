import { relative } from 'node:path';
import { styleText } from 'node:util';
import { LOG_LINE_STANDARD_KEYS, logFieldsText, shorten } from '@sidestep/contracts';
import { sendRateText } from '@sidestep/manifest';
import type { LocalCloudEvent, LocalCloudReporter } from './local-cloud-event.ts';

/** Options of {@link createConsoleReporter}. */
export interface ConsoleReporterOptions {
  /** Where lines go. @default process.stdout */
  readonly stream?: NodeJS.WritableStream;
  /** Paths (outbox files) are printed relative to this directory. @default process.cwd() */
  readonly baseDir?: string;
  /** Print sandbox log lines (summarised Powertools JSON, other lines dimmed). @default true */
  readonly logs?: boolean;
  /** Clock for the line prefix; tests pass a fixed one. @default () => new Date() */
  readonly now?: () => Date;
}

type Style = Parameters<typeof styleText>[0];

/**
 * A reporter that prints one readable line per event, coloured when the stream is a TTY
 * (`styleText` checks the stream and honours NO_COLOR / FORCE_COLOR).
 */
export function createConsoleReporter(options: ConsoleReporterOptions = {}): LocalCloudReporter {
  const stream = options.stream ?? process.stdout;
  const baseDir = options.baseDir ?? process.cwd();
  const showLogs = options.logs ?? true;
  const now = options.now ?? (() => new Date());
  const paint = (style: Style, text: string): string =>
    styleText(style, text, { stream: stream as NodeJS.WriteStream, validateStream: true });

  return (event) => {
    const text = formatEvent(event, { paint, baseDir, showLogs });
    if (text === undefined) return;
    const time = now().toISOString().slice(11, 23);
    stream.write(`${paint('gray', time)} ${text}\n`);
  };
}

interface FormatContext {
  readonly paint: (style: Style, text: string) => string;
  readonly baseDir: string;
  readonly showLogs: boolean;
}

const TAG_WIDTH = 8;

function formatEvent(event: LocalCloudEvent, context: FormatContext): string | undefined {
  const { paint } = context;
  const tag = (style: Style, label: string) => paint(style, label.padEnd(TAG_WIDTH));
  switch (event.type) {
    case 'queue-created': {
      const updated = event.updated
        ? paint(
            'yellow',
            ` updated: ${event.updated.map((change) => `${change.attribute} ${change.from ?? '(none)'} -> ${change.to}`).join(', ')}`,
          )
        : '';
      return `${tag('blue', 'queue')} ${paint('bold', event.queue)} ${paint('gray', event.url)}${
        event.deadLetterQueue ? paint('gray', ` (DLQ ${event.deadLetterQueue})`) : ''
      }${updated}`;
    }
    case 'service-started':
      return event.coldStartMs === undefined
        ? `${tag('blue', 'service')} ${paint('bold', event.service)} ready (cold start on its first invocation)`
        : `${tag('blue', 'service')} ${paint('bold', event.service)} started (cold start ${Math.round(event.coldStartMs)} ms)`;
    case 'message-received': {
      const job = event.jobType
        ? `${paint('bold', event.jobType)}${event.jobId ? ` ${event.jobId}` : ''}`
        : 'message';
      const attempt = event.receiveCount > 1 ? paint('yellow', ` (attempt ${event.receiveCount})`) : '';
      return `${tag('cyan', 'arrived')} ${job} on ${event.queue} ${paint('gray', `[${event.messageId}]`)}${attempt}`;
    }
    case 'invocation': {
      const head = `${tag(outcomeStyle(event.outcome), 'ran')} ${paint('bold', event.service)} batch of ${event.batchSize} in ${Math.round(event.durationMs)} ms:`;
      if (event.outcome === 'ok') return `${head} ${paint('green', 'ok')}`;
      if (event.outcome === 'partial') {
        return `${head} ${paint('yellow', `${event.failedRecords} of ${event.batchSize} failed`)}`;
      }
      return `${head} ${paint('red', `failed, whole batch will be retried: ${event.reason ?? 'unknown error'}`)}`;
    }
    case 'record-failed': {
      const limit = event.maxReceiveCount ? ` of ${event.maxReceiveCount}` : '';
      const next = event.deadLetterNext
        ? paint('red', ' -> moves to the DLQ when it becomes visible again')
        : paint('gray', ' -> retried after the visibility timeout');
      return `${tag('yellow', 'failed')} ${paint('gray', `[${event.messageId}]`)} on ${event.queue} (attempt ${event.receiveCount}${limit}): ${event.reason}${next}`;
    }
    case 'dead-lettered': {
      const reason =
        event.cause === 'redrive'
          ? `redriven by SQS after ${event.receiveCount ?? 'maxReceiveCount'} failed receives`
          : `${event.errorType ?? 'unknown error'}${event.errorMessage ? `: ${event.errorMessage}` : ''}`;
      return `${tag('red', 'dlq')} ${paint('gray', `[${event.messageId}]`)} sent to ${paint('bold', event.queue)}: ${paint('red', reason)}`;
    }
    case 'mail-delivered':
      return `${tag('magenta', 'mail')} to ${event.to.join(', ')}: ${paint('bold', event.subject)} ${paint(
        'gray',
        `-> ${relative(context.baseDir, event.file)}`,
      )}${event.links.map((link) => ` ${paint('cyan', link)}`).join('')}`;
    case 'mail-throttled':
      return `${tag('yellow', 'mail')} ${paint('bold', 'throttled')}: to ${event.to.join(', ')} refused with 454 ${paint(
        'gray',
        `(over ${sendRateText(event.maxSendRate)} mails/s; ${event.throttled} refused since start)`,
      )}`;
    case 'mail-rejected':
      return `${tag('red', 'mail')} ${paint('bold', 'rejected')}: to ${event.to.join(', ')} refused with 554 ${paint(
        'gray',
        `(not a verified SES identity: ${event.unverified.join(', ')})`,
      )}`;
    case 'mail-quota-exceeded':
      return `${tag('yellow', 'mail')} ${paint('bold', 'throttled')}: to ${event.to.join(', ')} refused with 454 ${paint(
        'gray',
        `(the SES sandbox's daily quota: ${event.sentLast24Hours} of ${event.max24HourSend} recipients sent in 24 hours)`,
      )}`;
    case 'bucket-created':
      return `${tag('blue', 'bucket')} ${paint('bold', event.bucket)}${
        event.eventBridge ? paint('gray', ' (Object Created events to EventBridge)') : ''
      }`;
    case 'event-routed': {
      const bus = event.eventBus ? paint('gray', ` on ${event.eventBus}`) : '';
      const what = `${paint('bold', event.detailType)} ${event.subject}${bus}`;
      if (event.rules.length === 0)
        return `${tag('gray', 'event')} ${what} ${paint('gray', 'matched no rule')}`;
      return `${tag('cyan', 'event')} ${what} -> rule ${event.rules.join(', ')}`;
    }
    case 'execution-started':
      return `${tag('cyan', 'workflow')} ${paint('bold', event.stateMachine)} started ${paint('gray', event.execution)}`;
    case 'execution-finished': {
      const head = `${tag(event.status === 'SUCCEEDED' ? 'green' : 'red', 'workflow')} ${paint('bold', event.stateMachine)} ${paint('gray', event.execution)}`;
      const took = `in ${formatDuration(event.durationMs)}`;
      if (event.status === 'SUCCEEDED') return `${head} ${paint('green', 'SUCCEEDED')} ${took}`;
      const reason = [event.error, event.cause ? shorten(event.cause, 300) : undefined]
        .filter(Boolean)
        .join(': ');
      return `${head} ${paint('red', event.status)} ${took}${reason ? `: ${paint('red', reason)}` : ''}`;
    }
    case 'state-entered':
      return `${tag('gray', 'state')} ${paint('gray', event.execution.slice(0, 8))} -> ${paint('bold', event.state)} ${paint('gray', `(${event.stateType})`)}`;
    case 'state-exited':
      return `${tag('gray', 'state')} ${paint('gray', event.execution.slice(0, 8))} <- ${event.state} ${paint('gray', formatDuration(event.durationMs))}`;
    case 'state-failed':
      return `${tag('yellow', 'state')} ${paint('gray', event.execution.slice(0, 8))} ${paint('bold', event.state)} failed: ${paint('yellow', `${event.error}${event.cause ? `: ${summarizeCause(event.cause)}` : ''}`)}`;
    case 'state-retried':
      return `${tag('yellow', 'state')} ${paint('gray', event.execution.slice(0, 8))} ${event.state} retry ${event.attempt}`;
    case 'task-started':
      return `${tag('blue', 'task')} ${paint('bold', event.task)} started ${paint('gray', event.taskArn.split('/').pop() ?? '')}${
        event.execution ? paint('gray', ` for ${event.execution.slice(0, 8)}`) : ''
      }`;
    case 'task-stopped': {
      const ok = event.exitCode === 0;
      const exit = event.signal ? `signal ${event.signal}` : `exit code ${event.exitCode}`;
      // Named as its start was (the task's id, the execution's first characters): of two tasks running,
      // which one stopped.
      return `${tag(ok ? 'green' : 'red', 'task')} ${paint('bold', event.task)} ${paint('gray', event.taskArn.split('/').pop() ?? '')}${
        event.execution ? paint('gray', ` for ${event.execution.slice(0, 8)}`) : ''
      } stopped (${paint(ok ? 'green' : 'red', exit)}) after ${formatDuration(event.durationMs)}: ${event.stoppedReason}`;
    }
    case 'schedule-fired': {
      const why = event.trigger === 'operator' ? 'fired by an operator event' : `due ${event.scheduledTime}`;
      return `${tag('cyan', 'schedule')} ${paint('bold', event.schedule)} ${why} -> ${event.target}`;
    }
    case 'pipe-delivered':
      return `${tag('cyan', 'pipe')} ${event.pipe} ${paint('gray', `[${event.messageId}]`)} -> ${paint('gray', event.executionArn.split(':').pop() ?? '')}`;
    case 'log':
      return context.showLogs
        ? `${tag('gray', 'log')} ${formatLogLine(event.service, event.line, paint)}`
        : undefined;
    case 'access-denied':
      return `${tag('red', 'denied')} ${paint('bold', event.action)} on ${event.resource} ${paint('gray', `(${event.caller})`)}`;
    case 'lambda-throttled':
      return `${tag('yellow', 'lambda')} ${paint('bold', 'throttled')} ${event.functionName} ${paint(
        'gray',
        `(${event.limit} invocations running, the account's concurrency; TooManyRequestsException)`,
      )}`;
    case 'error':
      return `${tag('red', 'error')} ${event.source}: ${paint('red', event.message)}`;
  }
}

function formatDuration(ms: number): string {
  return ms < 1_000 ? `${Math.round(ms)} ms` : `${(ms / 1_000).toFixed(1)} s`;
}

/**
 * A failure's Cause in one short phrase: Step Functions gives a Lambda error as its JSON error
 * document and an ECS task failure as the whole task description; show the error message, or the
 * container's exit code and the stop reason, instead of the JSON.
 */
function summarizeCause(cause: string): string {
  const parsed = parseJsonObject(cause);
  if (parsed && typeof parsed.errorMessage === 'string') return shorten(parsed.errorMessage, 300);
  if (parsed && Array.isArray(parsed.Containers)) {
    const [container] = parsed.Containers as { Name?: string; ExitCode?: number; Reason?: string }[];
    const exit = container?.ExitCode !== undefined ? `exit code ${container.ExitCode}` : container?.Reason;
    const stopped = typeof parsed.StoppedReason === 'string' ? parsed.StoppedReason : 'task stopped';
    return `${container?.Name ?? 'container'} ${exit ? `${exit}, ` : ''}${stopped}`;
  }
  return shorten(cause, 300);
}

function outcomeStyle(outcome: 'ok' | 'partial' | 'error'): Style {
  if (outcome === 'ok') return 'green';
  return outcome === 'partial' ? 'yellow' : 'red';
}

/**
 * Sandbox lines come in three shapes: Powertools Logger's JSON (`level`, `message`, `error`), the
 * Lambda runtime's JSON console format (`level`, `message`, `errorType`, `errorMessage`) and its
 * text format (`timestamp<TAB>requestId<TAB>LEVEL<TAB>message`). Show level and message (and an
 * attached error) instead of the whole line; anything else passes through dimmed.
 */
function formatLogLine(service: string, line: string, paint: FormatContext['paint']): string {
  const prefix = paint('gray', `${service}:`);
  const show = (level: string, message: string) => {
    const levelStyle: Style =
      level === 'ERROR' || level === 'CRITICAL' || level === 'FATAL'
        ? 'red'
        : level === 'WARN'
          ? 'yellow'
          : 'gray';
    return `${prefix} ${paint(levelStyle, level)} ${paint('dim', message)}`;
  };
  const entry = parseJsonObject(line);
  if (entry && typeof entry._aws === 'object')
    return `${prefix} ${paint('dim', `metrics ${metricValues(entry)}`)}`;
  if (entry && entry.message !== undefined) {
    const level = typeof entry.level === 'string' ? entry.level : 'LOG';
    const message = typeof entry.message === 'string' ? entry.message : JSON.stringify(entry.message);
    const error = entry.error as { name?: unknown; message?: unknown } | undefined;
    const errorText =
      error && typeof error === 'object'
        ? ` ${String(error.name ?? 'Error')}: ${String(error.message ?? '')}`
        : typeof entry.errorType === 'string'
          ? ` ${entry.errorType}: ${String(entry.errorMessage ?? '')}`
          : '';
    const context = contextFields(entry);
    return show(level, `${message}${errorText}${context ? ` ${context}` : ''}`);
  }
  const text = /^\d{4}-\d{2}-\d{2}T[^\t]+\t[^\t]*\t([A-Z]+)\t(.*)$/s.exec(line);
  if (text?.[1] !== undefined && text[2] !== undefined) return show(text[1], text[2]);
  return `${prefix} ${paint('dim', line)}`;
}

/**
 * Keys not worth repeating on the console: every Powertools / Lambda runtime line's, and what the
 * line shows otherwise (the error, the runtime's request id).
 */
const STANDARD_LOG_KEYS = new Set([
  ...LOG_LINE_STANDARD_KEYS,
  'correlation_id',
  'requestId',
  'error',
  'errorType',
  'errorMessage',
  'stackTrace',
]);

/**
 * The structured fields a handler added to a log line (`jobId=imp_1 rowsImported=1000`), so the
 * console shows what happened, not only that something did; cut at 200 characters.
 */
function contextFields(entry: Record<string, unknown>): string {
  const fields = Object.entries(entry).filter(
    ([key, value]) => !STANDARD_LOG_KEYS.has(key) && value !== undefined && value !== null,
  );
  return shorten(logFieldsText(Object.fromEntries(fields)), 200);
}

/**
 * An Embedded Metric Format line (Powertools Metrics flushes one per invocation) as
 * `name=value` pairs, from the metric names its `_aws` directive declares.
 */
function metricValues(entry: Record<string, unknown>): string {
  const directives =
    (entry._aws as { CloudWatchMetrics?: { Metrics?: { Name?: string }[] }[] }).CloudWatchMetrics ?? [];
  const names = directives.flatMap((directive) =>
    (directive.Metrics ?? []).map((metric) => metric.Name ?? ''),
  );
  return names
    .filter((name) => name !== '' && entry[name] !== undefined)
    .map((name) => `${name}=${JSON.stringify(entry[name])}`)
    .join(' ');
}

function parseJsonObject(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
