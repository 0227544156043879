import { closeSync, copyFileSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { HistoryEvent } from './execution-history.ts';
import type { RedriveToken } from './execution-redrive.ts';
import { fileLines } from './file-lines.ts';

/** `DescribeExecution`'s statuses. */
export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** An execution's fields besides its history, as the store keeps them. */
export interface StoredExecution {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly status: ExecutionStatus;
  readonly startDate: Date;
  readonly stopDate?: Date;
  /** JSON text. */
  readonly input: string;
  /** JSON text, once SUCCEEDED. */
  readonly output?: string;
  readonly error?: string;
  readonly cause?: string;
  /** How many times RedriveExecution restarted it. */
  readonly redriveCount: number;
  /** When it was last redriven. */
  readonly redriveDate?: Date;
  /**
   * The client tokens of its last successful redrives, oldest first, so a retry after a restart is
   * answered as the redrive it repeats. Absent in executions kept before tokens were.
   */
  readonly redriveTokens?: readonly RedriveToken[];
  /**
   * The hash of the definition it started with ({@link ExecutionStore.definitions}): a redrive runs
   * that one, not the state machine's definition at the time of the redrive. Absent in executions
   * kept before definitions were.
   */
  readonly definitionHash?: string;
}

/** Where Step Functions keeps its executions across restarts. */
export interface ExecutionStore {
  /** What the last run left, oldest first, each with its whole history. */
  readonly restored: readonly (StoredExecution & { readonly history: readonly HistoryEvent[] })[];
  /** The definitions (JSON text) the restored executions started with, by hash. */
  readonly definitions: ReadonlyMap<string, string>;
  /** The executions the last run left RUNNING, which opening failed with {@link LOST_EXECUTION}. */
  readonly lost: readonly string[];
  /**
   * Lines of the file that could not be read, other than a last one cut off by a crash (a file
   * damaged by hand or by a disk): how many, and the copy of the file as it was, kept beside it
   * before the compaction rewrote it without them.
   */
  readonly unreadable?: { readonly lines: number; readonly copy: string };
  /** Records an execution's fields (at start, end and redrive); the last one written wins. */
  saveExecution(execution: StoredExecution): void;
  /** Records a definition executions start with, once per hash (a redrive reads it back). */
  saveDefinition(hash: string, definition: string): void;
  /** Records events appended to an execution's history. */
  appendHistory(executionArn: string, events: readonly HistoryEvent[]): void;
  close(): void;
}

/** The error and cause of an execution that was RUNNING when the local cloud stopped. */
export const LOST_EXECUTION = {
  error: 'States.Runtime',
  cause: 'local cloud stopped while the execution was running',
} as const;

type Line =
  | { readonly kind: 'execution'; readonly execution: StoredExecution }
  | { readonly kind: 'history'; readonly executionArn: string; readonly events: readonly HistoryEvent[] }
  | { readonly kind: 'definition'; readonly hash: string; readonly definition: string };

/**
 * How long an execution is kept after it closed: "Maximum execution history retention time: 90 days.
 * After this time, you can no longer retrieve or view the execution history"
 * (https://docs.aws.amazon.com/step-functions/latest/dg/limits.html).
 */
export const EXECUTION_RETENTION_DAYS = 90;

/** Options of {@link openExecutionStore}. */
export interface ExecutionStoreOptions {
  /** The clock (a lost execution's stop, the retention). @default the system's */
  readonly now?: () => Date;
  /** Bytes read at a time at open (tests make it small). @default 1 MiB */
  readonly chunkBytes?: number;
}

/**
 * Executions kept in a JSON-lines file: one line per change (an execution's fields, or events
 * appended to its history), appended with a synchronous write, so a process killed at any point
 * leaves every change it made but the line being written, which loading skips. At open the file
 * is compacted (one line per execution and one per history, written to a temporary file then
 * renamed over it), an execution that closed more than {@link EXECUTION_RETENTION_DAYS} days ago
 * is left out as Step Functions forgets it, and an execution the last run left RUNNING is failed
 * with {@link LOST_EXECUTION}, as Step Functions fails an execution it could not go on with; the
 * redrive (RedriveExecution) continues it from the state it was in. The file is read and written a
 * line at a time: a whole file of a busy developer's executions can be larger than the longest
 * string JavaScript can hold (2^29 - 24 characters), which a single read or join would fail on.
 *
 * Plain JSON lines rather than node:sqlite: the writes are appends, never updates, and the file
 * can be read with any tool.
 */
export function openExecutionStore(file: string, options: ExecutionStoreOptions = {}): ExecutionStore {
  const now = options.now ?? (() => new Date());
  mkdirSync(dirname(file), { recursive: true });
  const executions = new Map<string, StoredExecution & { history: HistoryEvent[] }>();
  const definitions = new Map<string, string>();
  /** Lines that could not be parsed, and whether the last of them was the file's last line. */
  let unparsed = 0;
  let lastUnparsed = false;
  for (const raw of fileLines(file, options.chunkBytes ?? 1024 * 1024)) {
    if (raw.trim() === '') continue;
    const line = parseLine(raw);
    lastUnparsed = line === undefined;
    if (lastUnparsed) unparsed += 1;
    if (line?.kind === 'execution') {
      const previous = executions.get(line.execution.executionArn);
      executions.set(line.execution.executionArn, { ...line.execution, history: previous?.history ?? [] });
    } else if (line?.kind === 'history') {
      executions.get(line.executionArn)?.history.push(...line.events);
    } else if (line?.kind === 'definition') {
      definitions.set(line.hash, line.definition);
    }
  }
  const lost: string[] = [];
  for (const [arn, execution] of executions) {
    if (execution.status !== 'RUNNING') continue;
    lost.push(arn);
    const stopDate = now();
    const id = execution.history.length + 1;
    execution.history.push({
      id,
      previousEventId: id - 1,
      timestamp: stopDate,
      type: 'ExecutionFailed',
      executionFailedEventDetails: { ...LOST_EXECUTION },
    });
    executions.set(arn, { ...execution, status: 'FAILED', stopDate, ...LOST_EXECUTION });
  }
  const forgottenBefore = now().getTime() - EXECUTION_RETENTION_DAYS * 86_400_000;
  for (const [arn, execution] of executions) {
    if (execution.stopDate && execution.stopDate.getTime() < forgottenBefore) executions.delete(arn);
  }
  // Only the definitions a kept execution started with.
  const kept = new Set([...executions.values()].flatMap((execution) => execution.definitionHash ?? []));
  for (const hash of definitions.keys()) if (!kept.has(hash)) definitions.delete(hash);
  // A last line cut off is what a kill leaves; any other line that cannot be read is damage, which
  // the compaction would make permanent: the file as it was is kept for whoever looks into it.
  const damaged = unparsed - (lastUnparsed ? 1 : 0);
  let unreadable: ExecutionStore['unreadable'];
  if (damaged > 0) {
    const copy = `${file}.unreadable-${now().toISOString().replace(/[:.]/g, '-')}`;
    copyFileSync(file, copy);
    unreadable = { lines: damaged, copy };
  }
  const compacted = openSync(`${file}.tmp`, 'w');
  try {
    const write = (line: Line) => writeSync(compacted, `${JSON.stringify(line)}\n`);
    for (const [hash, definition] of definitions) write({ kind: 'definition', hash, definition });
    for (const { history, ...execution } of executions.values()) {
      write({ kind: 'execution', execution });
      write({ kind: 'history', executionArn: execution.executionArn, events: history });
    }
  } finally {
    closeSync(compacted);
  }
  renameSync(`${file}.tmp`, file);
  const fd = openSync(file, 'a');
  const append = (line: Line) => writeSync(fd, `${JSON.stringify(line)}\n`);
  return {
    restored: [...executions.values()],
    definitions,
    lost,
    ...(unreadable ? { unreadable } : {}),
    saveExecution: (execution) => append({ kind: 'execution', execution }),
    saveDefinition(hash, definition) {
      if (definitions.has(hash)) return;
      definitions.set(hash, definition);
      append({ kind: 'definition', hash, definition });
    },
    appendHistory(executionArn, events) {
      if (events.length > 0) append({ kind: 'history', executionArn, events });
    },
    close: () => closeSync(fd),
  };
}

const DATE_FIELDS = new Set(['startDate', 'stopDate', 'redriveDate', 'timestamp']);

/** A line as written, dates revived; `undefined` for an empty or torn (half-written) line. */
function parseLine(raw: string): Line | undefined {
  if (raw.trim() === '') return undefined;
  try {
    return JSON.parse(raw, (key, value) =>
      DATE_FIELDS.has(key) && typeof value === 'string' ? new Date(value) : value,
    ) as Line;
  } catch {
    return undefined;
  }
}
