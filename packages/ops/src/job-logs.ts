import { LOG_LINE_STANDARD_KEYS, logFieldsText } from '@sidestep/contracts';
import { functionLogGroupName, taskLogGroupName } from '@sidestep/manifest';
import { SERVICES, TASKS } from '@sidestep/registry';
import { InvalidOptionError, JobLogsError } from './errors.ts';
import { filterLogGroup } from './log-search.ts';
import type { OpsContext } from './ops-context.ts';

/** How a {@link JobLogLine}'s `fields` read as text (`jobId=imp_1 rows=3`), for the CLI and the console. */
export { logFieldsText };

/** The most lines {@link jobLogs} gives by default, and at most. */
export const DEFAULT_JOB_LOG_LINES = 1_000;
export const MAX_JOB_LOG_LINES = 10_000;

/** CloudWatch Logs' longest filter pattern (API_FilterLogEvents: `filterPattern` "Maximum length of 1024"). */
const MAX_FILTER_PATTERN_LENGTH = 1_024;

/** How long before the job's creation its first lines may be (a trigger's, the register step's). */
const LEAD_MS = 60_000;

/** One line a function or the batch task logged about the job. */
export interface JobLogLine {
  readonly at: Date;
  /** The service or task that wrote it (`status-updater`, `batch-worker`). */
  readonly source: string;
  readonly logGroup: string;
  readonly logStream: string;
  /** The line's `level` (`INFO`, `ERROR`); null for a line that is not a JSON log line. */
  readonly level: string | null;
  /** The line's `message`, or the whole line when it is not JSON. */
  readonly message: string;
  /** The rest of a JSON line's keys (`jobId`, `executionId`, `error`, counts). */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** What {@link jobLogs} found. */
export interface JobLogs {
  readonly jobId: string;
  /** Oldest first. */
  readonly lines: readonly JobLogLine[];
  /** More lines matched than `limit`: the newest were left out. */
  readonly truncated: boolean;
  /** The log groups searched. */
  readonly logGroups: readonly string[];
  /** What a line had to name: the job's id, or one of these executions' ARNs. */
  readonly executions: readonly string[];
}

/** Options of {@link jobLogs}. */
export interface JobLogsOptions {
  /** @default {@link DEFAULT_JOB_LOG_LINES}; at most {@link MAX_JOB_LOG_LINES} */
  readonly limit?: number;
}

/**
 * Every line the environment's functions and its batch task logged about job `jobId`, oldest first,
 * from the log groups infra gives them (`/aws/lambda/sidestep-<env>-<service>`, the task's
 * `/ecs/sidestep-<env>-<task>`): the lines whose `jobId` is the job's or whose `executionId` is one
 * of its executions' ARNs (the ledger lists them), from a minute before the job was created. One
 * CloudWatch Logs FilterLogEvents search per group, every page up to `limit` lines in all
 * (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html);
 * locally the same calls, which the local cloud answers from the lines it kept. A group that does not
 * exist (an environment not yet applied with this release) is left out with a warning.
 *
 * @throws {InvalidOptionError} naming `limit`
 * @throws {JobNotFoundError}
 * @throws {JobLogsError} a search refused (naming `logs:FilterLogEvents` and the operator policy's
 *   statement that grants it)
 */
export async function jobLogs(
  context: OpsContext,
  jobId: string,
  options: JobLogsOptions = {},
): Promise<JobLogs> {
  const limit = options.limit ?? DEFAULT_JOB_LOG_LINES;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_JOB_LOG_LINES) {
    throw new InvalidOptionError(`limit: must be a whole number from 1 to ${MAX_JOB_LOG_LINES}`, {
      field: 'limit',
    });
  }
  const job = await (await context.ledger()).describeJob(jobId);
  const { pattern, executions } = jobLogPattern(job.id, job.executions);
  if (executions.length < job.executions.filter((arn) => arn.startsWith('arn:')).length) {
    context.warn(
      `only the lines of job ${job.id}'s latest ${executions.length} executions are searched by their ARN: CloudWatch Logs takes a filter pattern of at most ${MAX_FILTER_PATTERN_LENGTH} characters`,
    );
  }
  const sources = [
    ...SERVICES.map(({ manifest }) => ({
      source: manifest.name,
      group: functionLogGroupName(context.environment, manifest.name),
    })),
    ...TASKS.map(({ manifest }) => ({
      source: manifest.name,
      group: taskLogGroupName(context.environment, manifest.name),
    })),
  ];
  const startTime = job.createdAt.getTime() - LEAD_MS;
  const found = await Promise.all(
    sources.map(({ source, group }) => searchGroup(context, group, pattern, startTime, limit + 1, source)),
  );
  const lines = found.flat().sort((a, b) => a.at.getTime() - b.at.getTime());
  return {
    jobId: job.id,
    lines: lines.slice(0, limit),
    truncated: lines.length > limit,
    logGroups: sources.map(({ group }) => group),
    executions,
  };
}

/**
 * The JSON filter pattern of a job's lines: its id, or one of its executions' ARNs, the latest first
 * while the pattern stays within CloudWatch Logs' 1,024 characters. Job ids and execution ARNs hold
 * no `"` or `\` (the contracts' and Step Functions' alphabets), so no value needs escaping.
 */
export function jobLogPattern(
  jobId: string,
  executionArns: readonly string[],
): { readonly pattern: string; readonly executions: readonly string[] } {
  const term = (key: string, value: string) => `($.${key} = "${value}")`;
  const executions: string[] = [];
  const build = () =>
    `{ ${[term('jobId', jobId), ...executions.map((arn) => term('executionId', arn))].join(' || ')} }`;
  for (const arn of [...executionArns].filter((value) => value.startsWith('arn:')).reverse()) {
    executions.push(arn);
    if (build().length > MAX_FILTER_PATTERN_LENGTH) {
      executions.pop();
      break;
    }
  }
  return { pattern: build(), executions: executions.reverse() };
}

/** One group's matching lines from `startTime`, page by page, at most `most`; none when it does not exist. */
async function searchGroup(
  context: OpsContext,
  group: string,
  pattern: string,
  startTime: number,
  most: number,
  source: string,
): Promise<JobLogLine[]> {
  const events = await filterLogGroup(
    context,
    { group, pattern, startTime, most },
    { statement: 'ReadJobLogs', error: JobLogsError },
  );
  if (events === undefined) {
    context.warn(
      `log group ${group} does not exist in ${await context.region()}: left out (the stack creates it)`,
    );
    return [];
  }
  return events.map((event) =>
    logLine(source, group, event.logStreamName ?? '', event.timestamp ?? 0, event.message ?? ''),
  );
}

/** A kept line as {@link JobLogLine}: a JSON log line's level, message and other keys, else the text. */
function logLine(
  source: string,
  logGroup: string,
  logStream: string,
  timestamp: number,
  text: string,
): JobLogLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const at = new Date(timestamp);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { at, source, logGroup, logStream, level: null, message: text.trimEnd(), fields: {} };
  }
  const entry = parsed as Record<string, unknown>;
  return {
    at,
    source,
    logGroup,
    logStream,
    level: typeof entry.level === 'string' ? entry.level : null,
    message: typeof entry.message === 'string' ? entry.message : text.trimEnd(),
    fields: Object.fromEntries(Object.entries(entry).filter(([key]) => !LOG_LINE_STANDARD_KEYS.has(key))),
  };
}
