import {
  type AsyncFailure,
  type AuditEntry,
  type DeadLetter,
  describeTrigger,
  type EnvironmentStatus,
  type ExecutionDetail,
  type ExecutionSummary,
  type ExportProgress,
  executionRunsJob,
  type FailedJobResult,
  type FiredSchedule,
  type ImportStaging,
  type JobDetail,
  type JobLogs,
  type JobPage,
  type JobSummary,
  type JobView,
  logFieldsText,
  MAIL_RECORD_EXPIRED,
  type MailEventRecord,
  type MailRecord,
  type MailSearch,
  mailRecordExpired,
  type RedriveResult,
  type ReinvokeResult,
  type RejectedRowPage,
  rejectedRowsCsv,
  type ScheduleSummary,
  type SweepMail,
} from '@sidestep/ops';
import { type Cell, duration, table, toneOf, when } from './table.ts';

function age(seconds: number | null): string {
  return seconds === null ? '-' : duration(seconds * 1000);
}

/**
 * An import's rows imported of its file's (and those it rejected); an export's rows its file holds:
 * the batch-worker sets an export's `rows_total` once the file is written and never `rows_imported`.
 */
function rows(job: Pick<JobSummary, 'kind' | 'rowsTotal' | 'rowsImported' | 'rowsRejected'>): string {
  if (job.rowsTotal === null) return '-';
  if (job.kind === 'export') return `${job.rowsTotal} exported`;
  return `${job.rowsImported ?? 0}/${job.rowsTotal}${job.rowsRejected ? ` (${job.rowsRejected} rejected)` : ''}`;
}

const COUNT = new Intl.NumberFormat('en-US');

function mebibytes(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

/**
 * An import's staging so far on one line: records, bytes of the object (the percentage rounded
 * down, so 100% means the whole object), segments validated and the rows they rejected.
 */
function staging(progress: ImportStaging): string {
  const { bytesStaged, bytesTotal } = progress;
  const bytes =
    bytesTotal === null
      ? `${mebibytes(bytesStaged)} MiB`
      : `${mebibytes(bytesStaged)} of ${mebibytes(bytesTotal)} MiB${bytesTotal > 0 ? ` (${Math.floor((bytesStaged * 100) / bytesTotal)}%)` : ''}`;
  const rejected = progress.rowsRejectedSoFar;
  return [
    `${COUNT.format(progress.recordsStaged)} records`,
    bytes,
    `${COUNT.format(progress.segmentsValidated)} of ${COUNT.format(progress.segmentsStaged)} segments validated`,
    `${COUNT.format(rejected)} ${rejected === 1 ? 'row' : 'rows'} rejected so far (updated ${when(progress.updatedAt)})`,
  ].join(', ');
}

/** How far an export has got, on one line: rows read, parts uploaded and their MiB (compressed). */
function exportProgress(progress: ExportProgress): string {
  const { rows, parts } = progress;
  return [
    `${COUNT.format(rows)} ${rows === 1 ? 'row' : 'rows'} read`,
    `${COUNT.format(parts)} ${parts === 1 ? 'part' : 'parts'} uploaded (${mebibytes(progress.bytes)} MiB gzip) (updated ${when(progress.updatedAt)})`,
  ].join(', ');
}

function statusScreen(result: EnvironmentStatus): string {
  const jobs = result.jobs
    ? table(
        ['running', 'registered', 'failed 24h', 'succeeded 24h'],
        [
          [
            String(result.jobs.running),
            String(result.jobs.registered),
            String(result.jobs.failed24h),
            String(result.jobs.succeeded24h),
          ],
        ],
      )
    : 'jobs ledger not reachable (see the warning above)';
  return [
    `sidestep ${result.environment}`,
    '',
    table(
      ['queue', 'visible', 'in flight', 'delayed', 'oldest', 'dlq', 'dlq oldest'],
      result.queues.map((queue) => [
        queue.queue,
        String(queue.visible),
        String(queue.inFlight),
        String(queue.delayed),
        age(queue.oldestAgeSeconds),
        queue.deadLetters > 0 ? { text: String(queue.deadLetters), tone: 'red' as const } : '0',
        age(queue.deadLetterOldestAgeSeconds),
      ]),
    ),
    '',
    heldTable(
      ['async failures of', 'failed', 'oldest'],
      result.asyncFailures.map((entry) => [entry.service, entry.failures, entry.oldestAgeSeconds]),
    ),
    '',
    heldTable(
      ['dead letters of', 'held', 'oldest'],
      result.ruleDeadLetters.map((entry) => [entry.queue, entry.deadLetters, entry.oldestAgeSeconds]),
    ),
    '',
    table(
      ['workflow', 'running', 'failed 24h', 'succeeded 24h'],
      result.workflows.map((workflow) => [
        workflow.workflow,
        String(workflow.running),
        workflow.failed24h > 0 ? { text: String(workflow.failed24h), tone: 'red' as const } : '0',
        String(workflow.succeeded24h),
      ]),
    ),
    '',
    table(
      ['function', 'throttled 24h'],
      result.functions.map((entry) => [
        entry.function,
        entry.throttled24h > 0 ? { text: String(entry.throttled24h), tone: 'yellow' as const } : '0',
      ]),
    ),
    '',
    schedules(result.schedules),
    '',
    jobs,
  ].join('\n');
}

/** A table of queues of what went wrong: each one's name, how many it holds (red when any) and the oldest's age. */
function heldTable(
  header: readonly [string, string, string],
  rows: readonly (readonly [string, number, number | null])[],
): string {
  return table(
    [...header],
    rows.map(([name, held, oldest]) => [
      name,
      held > 0 ? { text: String(held), tone: 'red' as const } : '0',
      age(oldest),
    ]),
  );
}

function schedules(result: readonly ScheduleSummary[]): string {
  return table(
    ['schedule', 'state', 'expression', 'next fire', 'target'],
    result.map((schedule) => [
      schedule.name,
      toneOf(schedule.state),
      schedule.expression,
      schedule.nextFireLocal ?? '-',
      schedule.target,
    ]),
  );
}

function deadLetters(result: readonly DeadLetter[]): string {
  if (result.length === 0) return 'no dead letters';
  return table(
    ['message', 'type', 'id', 'error', 'receives', 'age', 'reason'],
    result.map((message) => [
      message.messageId,
      message.type ?? '-',
      message.id ?? '-',
      { text: message.errorType ?? '-', tone: 'red' as const },
      String(message.receiveCount),
      age(message.ageSeconds),
      message.errorMessage ?? '-',
    ]),
  );
}

/**
 * Failed asynchronous invocations: when, which function, why (the error, else the condition), the
 * attempts and what invoked it. Like `dlq show`, nothing of the event itself but its trigger (the
 * record, event included, is in --json).
 */
function asyncFailures(result: readonly AsyncFailure[]): string {
  if (result.length === 0) return 'no failed asynchronous invocations';
  return table(
    ['failed at', 'request id', 'function', 'condition', 'attempts', 'trigger', 'error', 'reason'],
    result.map((failure) => [
      when(failure.failedAt),
      failure.requestId ?? '-',
      failure.functionArn?.split(':function:')[1] ?? '-',
      { text: failure.condition ?? '-', tone: 'red' as const },
      failure.attempts === null ? '-' : String(failure.attempts),
      failure.trigger ? describeTrigger(failure.trigger) : '-',
      failure.errorType ?? '-',
      failure.errorMessage ?? '-',
    ]),
  );
}

function reinvoked(result: ReinvokeResult): string {
  const count = result.records.filter((record) => record.outcome === 'reinvoked').length;
  return `${result.service}: ${count} re-invoked, ${result.records.length - count} re-invoked before (records deleted)\n\n${table(
    ['request id', 'outcome', 'new invocation'],
    result.records.map((record) => [record.requestId, record.outcome, record.invocationId ?? '-']),
  )}`;
}

function redrive(result: RedriveResult): string {
  if (result.dryRun) {
    const failing = result.checks.filter((check) => !check.valid);
    const counts = `${result.checks.length - failing.length} would be accepted, ${failing.length} would fail again`;
    // A redrive moves every dead letter: say when some were left unchecked.
    const summary =
      result.total > result.checks.length
        ? `the first ${result.checks.length} of about ${result.total} message(s), checked: ${counts}; the ${result.total - result.checks.length} others were not checked, and a redrive moves them too`
        : `${result.checks.length} message(s): ${counts}`;
    if (failing.length === 0) return summary;
    return `${summary}\n\n${table(
      ['message', 'id', 'would fail: field', 'why'],
      failing.map((check) => [
        check.message.messageId,
        check.message.id ?? '-',
        { text: check.field ?? '-', tone: 'red' as const },
        check.reason ?? '-',
      ]),
    )}`;
  }
  const { progress } = result;
  return `redrive of ${result.queue}: ${progress.status}, ${progress.moved} moved${progress.failureReason ? ` (${progress.failureReason})` : ''}`;
}

function executions(result: readonly ExecutionSummary[]): string {
  if (result.length === 0) return 'no executions';
  return table(
    ['name', 'status', 'started', 'duration', 'redrives'],
    result.map((execution) => [
      execution.name,
      toneOf(execution.status),
      when(execution.startDate),
      duration(
        execution.startDate && execution.stopDate
          ? execution.stopDate.getTime() - new Date(execution.startDate).getTime()
          : null,
      ),
      String(execution.redriveCount),
    ]),
  );
}

function execution(result: ExecutionDetail, data: boolean): string {
  const lines = [
    `${result.workflow} ${result.name}`,
    `  arn      ${result.executionArn}`,
    `  status   ${result.status}`,
    `  job      ${result.jobId ?? '-'}`,
    `  started  ${when(result.startDate)}   stopped ${when(result.stopDate)}`,
  ];
  if (result.error) lines.push(`  error    ${result.error}: ${result.cause ?? ''}`);
  if (result.redriveStatus === 'REDRIVABLE') lines.push('  redrive  REDRIVABLE (sidestep redrive)');
  else if (result.redriveStatusReason && !['RUNNING', 'SUCCEEDED'].includes(result.status))
    lines.push(`  redrive  ${result.redriveStatus ?? 'NOT_REDRIVABLE'}: ${result.redriveStatusReason}`);
  lines.push(
    '',
    table(
      ['step', 'type', 'started', 'duration', 'status', 'retries', 'error', 'cause'],
      result.steps.map((step) => [
        step.name,
        step.type,
        when(step.enteredAt),
        duration(step.durationMs),
        toneOf(step.status),
        String(step.retries),
        step.error ?? '-',
        step.cause ?? '-',
      ]),
    ),
  );
  if (data) lines.push('', `input:  ${result.input ?? '-'}`, `output: ${result.output ?? '-'}`);
  return lines.join('\n');
}

function jobs(page: JobPage): string {
  if (page.jobs.length === 0) return 'no jobs';
  const listed = table(
    ['job', 'kind', 'state', 'attempt', 'file', 'rows', 'updated', 'error'],
    page.jobs.map((job: JobSummary) => [
      job.id,
      job.kind,
      toneOf(job.state),
      String(job.attempt),
      job.fileName ?? '-',
      rows(job),
      when(job.updatedAt),
      job.error ?? '-',
    ]),
  );
  return page.next ? `${listed}\n\nmore: --after '${page.next}'` : listed;
}

function failedJob(result: FailedJobResult): string {
  const { mail } = result;
  return [
    `job ${result.jobId}: ${result.state} (${result.reason})`,
    mail.status === 'queued'
      ? `failure mail ${mail.id} queued to ${mail.to}`
      : // The fail's commit left it owed in the ledger: the sweeper's next run queues it.
        `failure mail ${mail.id ?? ''} NOT queued by this command: ${mail.reason}; owed in the ledger, the job-sweeper queues it on its next run`,
  ].join('\n');
}

/**
 * The heading of a job's row errors: a completed import that rejected more rows than its first row
 * errors show lists every one in the ledger (`job rejected`); a failed one imported nothing.
 */
function rowErrorsHeading(result: JobDetail): string {
  const rejected = result.rowsRejected ?? 0;
  if (result.kind !== 'import' || result.state !== 'succeeded' || rejected <= result.rowErrors.length) {
    return 'row errors';
  }
  return `row errors (the first ${result.rowErrors.length} of ${COUNT.format(rejected)}; every one: sidestep job rejected ${result.id})`;
}

/**
 * The rows an import left out: a table and the next page's option, or with `--csv` every row as
 * CSV (`line,field,message`; RFC 4180 quoting, one line each) for a spreadsheet or a script.
 */
function rejectedRows(page: RejectedRowPage, options: { readonly csv?: boolean }): string {
  // Without its last line end: the CLI ends what it prints with one.
  if (options.csv) return rejectedRowsCsv(page.rows).slice(0, -1);
  const rejected = `${COUNT.format(page.rowsRejected ?? 0)} ${page.rowsRejected === 1 ? 'row' : 'rows'} rejected`;
  const heading =
    page.state === 'succeeded'
      ? `job ${page.jobId}: ${rejected}`
      : page.state === 'failed'
        ? `job ${page.jobId}: failed, ${rejected}, nothing imported; its first row errors: sidestep job ${page.jobId}`
        : `job ${page.jobId}: ${page.state}, no rows listed until its import completes`;
  if (page.rows.length === 0) return heading;
  const listed = table(
    ['line', 'field', 'reason'],
    page.rows.map((row) => [String(row.line), row.field, row.message]),
  );
  return [heading, '', page.next === null ? listed : `${listed}\n\nmore: --after ${page.next}`].join('\n');
}

/**
 * A job's log lines, oldest first: when (to the millisecond: lines of one second keep their order),
 * who wrote it, its level, its message and the rest of its keys as `key=value`.
 */
function jobLogLines(logs: JobLogs): string {
  const searched = `${logs.logGroups.length} log groups`;
  if (logs.lines.length === 0) {
    return `job ${logs.jobId}: no line in ${searched} names it or its executions`;
  }
  const count = `${COUNT.format(logs.lines.length)} ${logs.lines.length === 1 ? 'line' : 'lines'}`;
  const heading = `job ${logs.jobId}: ${count} from ${searched}${logs.truncated ? ' (the oldest; more with --limit)' : ''}`;
  const rows = logs.lines.map((line): Cell[] => [
    new Date(line.at).toISOString(),
    line.source,
    line.level === null ? '-' : toneOf(line.level),
    line.message,
    logFieldsText(line.fields),
  ]);
  return [heading, '', table(['at', 'source', 'level', 'message', 'fields'], rows)].join('\n');
}

/** What became of the failure mail of a job failed outside its workflow (the job-sweeper's outbox). */
function sweepMail(mail: SweepMail): string {
  if (mail.queuedAt) return `failure mail queued ${when(mail.queuedAt)}`;
  if (mail.refusedAt) return `failure mail REFUSED ${when(mail.refusedAt)}, never sent: ${mail.error ?? '-'}`;
  const pending = 'failure mail pending, tried again every sweep';
  return mail.error ? `${pending}; last error: ${mail.error}` : pending;
}

/**
 * What runs a job that has not ended. Its task that failed transiently (`workerError`) is run again
 * after a wait by its execution, but only while that execution runs: one that ended (stopped with
 * the local cloud, killed, timed out) runs nothing until an operator redrives it
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html), or,
 * when Step Functions will not, fails the job. An execution whose status is unknown promises nothing.
 */
function whatRunsIt(result: JobView): string[] {
  if (result.state !== 'running' && result.state !== 'registered') return [];
  const execution = result.latestExecution ?? null;
  const runs = executionRunsJob(execution);
  if (runs) {
    const lines = result.workerError ? [`  rerun    after: ${result.workerError}`] : [];
    const wait = execution?.waitingForRoom;
    if (wait) {
      lines.push(
        `  waiting  for room to start its task: ${wait.state ?? 'its batch step'}'s RunTask refused ${wait.refusals} time(s) since ${when(wait.since)} (${wait.reason}); the workflow tries again as other tasks stop, until about ${when(wait.givesUpAt)}, then fails the job`,
      );
    }
    return lines;
  }
  const lines: string[] = [];
  if (execution && runs === false) {
    const { name, status } = execution;
    const ended = `its execution ${name} ended ${status} at ${when(execution.stopDate)}: nothing runs this job again`;
    lines.push(
      execution.redriveStatus === 'NOT_REDRIVABLE'
        ? `  stalled  ${ended}, and it cannot be redriven (${execution.redriveStatusReason ?? `it is ${status}`}); sidestep job fail ${result.id} --reason <why>`
        : `  stalled  ${ended}; sidestep redrive ${name}`,
    );
  }
  if (result.workerError) lines.push(`  task     failed: ${result.workerError}`);
  return lines;
}

/**
 * When a mail's send-once record expires. Past it (not purged yet) the mail-dispatcher claims the key
 * anew, as one without a record, so a redrive would send the mail again: said, in yellow.
 */
function expiry(mail: MailRecord): Cell {
  return mailRecordExpired(mail)
    ? { text: `${when(mail.expiresAt)} (${MAIL_RECORD_EXPIRED})`, tone: 'yellow' }
    : when(mail.expiresAt);
}

function job(result: JobView): string {
  return [
    `${result.kind} ${result.id}`,
    `  state    ${result.state} (attempt ${result.attempt})`,
    `  file     ${result.fileName ?? '-'}`,
    `  rows     ${rows(result)}`,
    // A completed import: the users its merge inserted or changed (the rest were up to date).
    ...(result.usersWritten === null
      ? []
      : [
          `  written  ${COUNT.format(result.usersWritten)} ${result.usersWritten === 1 ? 'user' : 'users'} new or changed`,
        ]),
    // A running import's staging: none before its task stages anything, or once it ended.
    ...(result.staging ? [`  staging  ${staging(result.staging)}`] : []),
    // A running export's progress; a failed one's says how far it got (its retry continues there).
    ...(result.exportProgress && result.state !== 'succeeded'
      ? [`  progress ${exportProgress(result.exportProgress)}`]
      : []),
    `  error    ${result.error ?? '-'}`,
    // A running job's deadline (its start's, or a redrive's claim's since): the scheduled sweep fails
    // the job then unless it has ended.
    ...(result.state === 'running' && result.deadlineAt
      ? [`  deadline ${when(result.deadlineAt)} (the job-sweeper fails the job then unless it has ended)`]
      : []),
    // A job failed outside its workflow (by the job-sweeper, or `sidestep job fail`): whether its
    // requester was told (a refused mail never will be). The sweeper's outbox holds both.
    ...(result.sweepMail ? [`  mail     ${sweepMail(result.sweepMail)}`] : []),
    ...whatRunsIt(result),
    ...(result.requestedBy ? [`  for      ${result.requestedBy}`] : []),
    ...(result.downloadUrl ? [`  download ${result.downloadUrl}`] : []),
    ...(result.rowErrors.length > 0
      ? ['', rowErrorsHeading(result), ...result.rowErrors.map((error) => `  ${JSON.stringify(error)}`)]
      : []),
    '',
    'executions',
    ...result.executions.map((arn) => `  ${arn}`),
    // Where the why is: every line the functions and the task logged about the job.
    `  logs: sidestep job logs ${result.id}`,
    '',
    table(
      ['at', 'event', 'from', 'to', 'by'],
      result.transitions.map((transition) => [
        when(transition.at),
        transition.event,
        transition.from ?? '-',
        toneOf(transition.to),
        transition.executionId ?? '-',
      ]),
    ),
    '',
    result.mails.length === 0
      ? 'no mails'
      : table(
          ['mail', 'status', 'at', 'in progress until', 'expires'],
          result.mails.map((mail) => [
            mail.idempotencyKey,
            toneOf(mail.status),
            when(mail.createdAt),
            when(mail.inProgressUntil),
            expiry(mail),
          ]),
        ),
  ].join('\n');
}

function audit(result: readonly AuditEntry[]): string {
  if (result.length === 0) return 'no operator actions recorded';
  return table(
    ['id', 'at', 'operator', 'env', 'action', 'target', 'result', 'error'],
    result.map((entry) => [
      String(entry.id),
      when(entry.at),
      entry.operator,
      entry.environment,
      entry.action,
      entry.target,
      toneOf(entry.result),
      entry.error ?? '-',
    ]),
  );
}

function fired(result: FiredSchedule): string {
  return `fired ${result.schedule}: event ${result.eventId} on ${result.eventBusName}${result.endpoint ? ` (${result.endpoint})` : ''}`;
}

/** SES's event records as `mail find` lists them. */
function mailEvents(records: readonly MailEventRecord[]): string {
  return table(
    ['source', 'event', 'at', 'to', 'headers cut', 'message id'],
    records.map((record) => [
      record.source,
      record.eventType,
      when(record.at),
      record.destination.join(', ') || '-',
      record.headersTruncated ? { text: 'yes', tone: 'yellow' } : 'no',
      record.messageId ?? '-',
    ]),
  );
}

/**
 * The verdict of `mail find` first, the key's send-once record (which the advice follows), what to
 * do, what was searched, then what was found.
 */
function mailSearch(result: MailSearch): string {
  const since = result.since
    ? ` since ${when(result.since)}${result.claimedAt ? ` (the key claimed ${when(result.claimedAt)})` : ''}`
    : '';
  const [first, ...rest] = result.searched;
  const lines = [
    `verdict: ${result.verdict}`,
    `send-once record: ${result.recordStatus}`,
    result.advice,
    `searched: ${[`${first ?? ''}${since}`, ...rest].join(', ')}`,
  ];
  if (result.caveats.length > 0) {
    lines.push('caveats:', ...result.caveats.map((caveat) => `  ${caveat.kind}: ${caveat.message}`));
  }
  if (result.records.length > 0) lines.push('', mailEvents(result.records));
  if (result.outbox.length > 0) {
    lines.push(
      '',
      table(
        ['file', 'to', 'subject', 'date'],
        result.outbox.map((mail) => [mail.file, mail.to, mail.subject, mail.date ?? '-']),
      ),
    );
  }
  if (result.headersTruncated.length > 0) {
    lines.push('', 'records whose headers SES cut:', mailEvents(result.headersTruncated));
  }
  return lines.join('\n');
}

/** Actions: one line per field of what was done. */
function fields(result: Record<string, unknown>): string {
  return Object.entries(result)
    .map(([key, value]) => `${key}: ${value instanceof Date ? when(value) : String(value)}`)
    .join('\n');
}

/** The options a renderer reads. */
interface RenderOptions {
  readonly data?: boolean;
  readonly csv?: boolean;
}

/** The renderer of each command's result; a command not named here prints {@link fields}. */
const RENDERERS: Readonly<Record<string, (result: never, options: RenderOptions) => string>> = {
  status: statusScreen,
  'dlq-show': deadLetters,
  'dlq-redrive': redrive,
  'async-failures-show': asyncFailures,
  'async-failures-reinvoke': reinvoked,
  executions,
  execution: (result: ExecutionDetail, options) => execution(result, options.data === true),
  jobs,
  job,
  'job-fail': failedJob,
  'job-rejected': rejectedRows,
  'job-logs': jobLogLines,
  'mail-find': mailSearch,
  schedules,
  fire: fired,
  audit,
};

/** Human output of command `kind` for `result`. */
export function render(kind: string, result: unknown, options: RenderOptions): string {
  const renderer = (RENDERERS[kind] ?? fields) as (result: unknown, options: RenderOptions) => string;
  // CSV, like --json, is data for a program: written as it is.
  return renderer(options.csv ? result : visibleStrings(result), options);
}

/**
 * The result with every string's control characters made visible: what the CLI prints comes in
 * part from producers (a dead letter's body), requesters (file names) and errors, and a terminal
 * runs the escape sequences it is sent (ESC[8m hides text, CR and ESC[2K rewrite a line, OSC 52
 * sets the clipboard). Dates and other non-plain objects pass as they are.
 */
function visibleStrings(value: unknown): unknown {
  if (typeof value === 'string') return visible(value);
  if (Array.isArray(value)) return value.map(visibleStrings);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
    return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, visibleStrings(field)]));
  return value;
}

const SHORT_ESCAPES: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * C0 and C1 controls, DEL and the bidirectional controls (U+200E/F, U+202A-202E, U+2066-2069: they
 * reorder what follows, so "invoice\u202Evsc.exe" displays as "invoiceexe.csv") as JSON-style escapes
 * (`\u001b`, `\r`, `\u202e`); everything else as it is.
 */
export function visible(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
    /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (control) => SHORT_ESCAPES[control] ?? `\\u${control.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
