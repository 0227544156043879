import {
  closeSync,
  copyFileSync,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  writeSync,
} from 'node:fs';
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
  /**
   * What the last run left, oldest first, each with the number of its history's events; the events
   * stay in the file until {@link ExecutionStore.readHistory} reads them.
   */
  readonly restored: readonly (StoredExecution & { readonly historyLength: number })[];
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
  /** An execution's whole history as recorded, read back from the file (none for an unknown one). */
  readHistory(executionArn: string): HistoryEvent[];
  close(): void;
}

/** A line of the executions' file that could not be written whole (a full disk). */
export class ExecutionStoreWriteError extends Error {
  override readonly name = 'ExecutionStoreWriteError';
  constructor(file: string, written: number, bytes: number) {
    super(`${file}: wrote ${written} of a line's ${bytes} bytes (a full disk?)`);
  }
}

/** A history line of the executions' file that is not what the store wrote there. */
export class ExecutionStoreReadError extends Error {
  override readonly name = 'ExecutionStoreReadError';
  constructor(file: string, executionArn: string) {
    super(
      `${file}: the history of ${executionArn} is not where it was written (was the file changed while the local cloud ran?)`,
    );
  }
}

/** A read of a history after the store was closed (the local cloud stopping). */
export class ExecutionStoreClosedError extends Error {
  override readonly name = 'ExecutionStoreClosedError';
  constructor(file: string) {
    super(`${file}: the executions' store is closed (the local cloud is stopping)`);
  }
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
 * is compacted (one line per execution, then its history's lines as they were written, to a
 * temporary file then renamed over it), an execution that closed more than
 * {@link EXECUTION_RETENTION_DAYS} days ago is left out as Step Functions forgets it, and an
 * execution the last run left RUNNING is failed with {@link LOST_EXECUTION}, as Step Functions
 * fails an execution it could not go on with; the redrive (RedriveExecution) continues it from the
 * state it was in.
 *
 * The histories stay in the file: the store remembers where each history line is and reads an
 * execution's back when asked ({@link ExecutionStore.readHistory}), so the memory an open store
 * holds grows with the number of executions, not with their histories (a busy developer's weeks of
 * executions held 0.7 GB of history in memory). The file is read and written a line at a time: it
 * can be larger than the longest string JavaScript can hold (2^29 - 24 characters), which a single
 * read or join would fail on.
 *
 * Plain JSON lines rather than node:sqlite: the writes are appends, never updates, and the file
 * can be read with any tool.
 */
export function openExecutionStore(file: string, options: ExecutionStoreOptions = {}): ExecutionStore {
  const now = options.now ?? (() => new Date());
  mkdirSync(dirname(file), { recursive: true });
  /** Each execution's last fields, the number of its history's events and where its history lines are. */
  const executions = new Map<string, { fields: StoredExecution; events: number; lines: number[] }>();
  const definitions = new Map<string, string>();
  /** Lines that could not be parsed, and whether the last of them was the file's last line. */
  let unparsed = 0;
  let lastUnparsed = false;
  for (const { text, position, bytes } of fileLines(file, options.chunkBytes ?? 1024 * 1024)) {
    if (text.trim() === '') continue;
    // A history line's events are counted here, not kept: their dates are revived when read back.
    const line = parseLine(text, !text.startsWith(HISTORY_LINE_START));
    lastUnparsed = line === undefined;
    if (lastUnparsed) unparsed += 1;
    if (line?.kind === 'execution') {
      const previous = executions.get(line.execution.executionArn);
      executions.set(line.execution.executionArn, {
        events: 0,
        lines: [],
        ...previous,
        fields: line.execution,
      });
    } else if (line?.kind === 'history') {
      const execution = executions.get(line.executionArn);
      if (execution) {
        execution.events += line.events.length;
        execution.lines.push(position, bytes);
      }
    } else if (line?.kind === 'definition') {
      definitions.set(line.hash, line.definition);
    }
  }
  const lost: string[] = [];
  /** The event that fails each execution the last run left RUNNING. */
  const failures = new Map<string, HistoryEvent>();
  for (const [arn, execution] of executions) {
    if (execution.fields.status !== 'RUNNING') continue;
    lost.push(arn);
    const stopDate = now();
    const id = execution.events + 1;
    failures.set(arn, {
      id,
      previousEventId: id - 1,
      timestamp: stopDate,
      type: 'ExecutionFailed',
      executionFailedEventDetails: { ...LOST_EXECUTION },
    });
    execution.fields = { ...execution.fields, status: 'FAILED', stopDate, ...LOST_EXECUTION };
  }
  const forgottenBefore = now().getTime() - EXECUTION_RETENTION_DAYS * 86_400_000;
  for (const [arn, { fields }] of executions) {
    if (fields.stopDate && fields.stopDate.getTime() < forgottenBefore) executions.delete(arn);
  }
  // Only the definitions a kept execution started with.
  const kept = new Set([...executions.values()].flatMap(({ fields }) => fields.definitionHash ?? []));
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
  /** Where each kept execution's history lines are in the compacted file (offset, bytes, ...). */
  const historyLines = new Map<string, number[]>();
  const compacted = openSync(`${file}.tmp`, 'w');
  let size = 0;
  /**
   * Writes a line at the end of the file open as `fd`: where it starts and its bytes. A write cut
   * short (a full disk) throws, and the next line's position is the file's size again, not what the
   * cut line would have taken.
   */
  const writeTo = (fd: number, text: string): [number, number] => {
    const position = size;
    const line = Buffer.from(`${text}\n`);
    let written = 0;
    try {
      written = writeSync(fd, line);
    } finally {
      size = written === line.length ? size + written : fstatSync(fd).size;
    }
    if (written !== line.length) throw new ExecutionStoreWriteError(file, written, line.length);
    return [position, line.length - 1];
  };
  const old = executions.size > 0 ? openSync(file, 'r') : undefined;
  try {
    for (const [hash, definition] of definitions) {
      writeTo(compacted, JSON.stringify({ kind: 'definition', hash, definition } satisfies Line));
    }
    for (const [arn, execution] of executions) {
      writeTo(compacted, JSON.stringify({ kind: 'execution', execution: execution.fields } satisfies Line));
      const lines: number[] = [];
      // The history lines are copied as they were written, one at a time, never parsed again.
      for (const text of linesAt(old as number, execution.lines)) lines.push(...writeTo(compacted, text));
      const failure = failures.get(arn);
      if (failure) {
        lines.push(
          ...writeTo(
            compacted,
            JSON.stringify({ kind: 'history', executionArn: arn, events: [failure] } satisfies Line),
          ),
        );
      }
      historyLines.set(arn, lines);
      execution.lines = [];
      execution.events += failure ? 1 : 0;
    }
  } finally {
    closeSync(compacted);
    if (old !== undefined) closeSync(old);
  }
  renameSync(`${file}.tmp`, file);
  const fd = openSync(file, 'a');
  const append = (line: Line): [number, number] => writeTo(fd, JSON.stringify(line));
  const reader = openSync(file, 'r');
  let closed = false;
  return {
    restored: [...executions.values()].map(({ fields, events }) => ({ ...fields, historyLength: events })),
    definitions,
    lost,
    ...(unreadable ? { unreadable } : {}),
    saveExecution: (execution) => {
      append({ kind: 'execution', execution });
      if (!historyLines.has(execution.executionArn)) historyLines.set(execution.executionArn, []);
    },
    saveDefinition(hash, definition) {
      if (definitions.has(hash)) return;
      definitions.set(hash, definition);
      append({ kind: 'definition', hash, definition });
    },
    appendHistory(executionArn, events) {
      if (events.length === 0) return;
      const at = append({ kind: 'history', executionArn, events });
      historyLines.get(executionArn)?.push(...at);
    },
    readHistory(executionArn) {
      if (closed) throw new ExecutionStoreClosedError(file);
      const events: HistoryEvent[] = [];
      for (const text of linesAt(reader, historyLines.get(executionArn) ?? [])) {
        const line = parseLine(text, true);
        // A line that is not the one written there: the file changed under the store.
        if (line?.kind !== 'history' || line.executionArn !== executionArn) {
          throw new ExecutionStoreReadError(file, executionArn);
        }
        events.push(...line.events);
      }
      return events;
    },
    close: () => {
      if (closed) return;
      closed = true;
      closeSync(fd);
      closeSync(reader);
    },
  };
}

/** The lines at `positions` (offset, bytes, offset, bytes, ...) of the file open as `fd`. */
function* linesAt(fd: number, positions: readonly number[]): Generator<string> {
  for (let i = 0; i < positions.length; i += 2) {
    const buffer = Buffer.alloc(positions[i + 1] as number);
    readSync(fd, buffer, 0, buffer.length, positions[i] as number);
    yield buffer.toString('utf8');
  }
}

const DATE_FIELDS = new Set(['startDate', 'stopDate', 'redriveDate', 'timestamp']);

/** How every history line starts, as `JSON.stringify` writes it. */
const HISTORY_LINE_START = '{"kind":"history",';

/**
 * A line as written, its dates revived unless `revive` is false; `undefined` for an empty or torn
 * (half-written) line.
 */
function parseLine(raw: string, revive: boolean): Line | undefined {
  if (raw.trim() === '') return undefined;
  try {
    return (
      revive
        ? JSON.parse(raw, (key, value) =>
            DATE_FIELDS.has(key) && typeof value === 'string' ? new Date(value) : value,
          )
        : JSON.parse(raw)
    ) as Line;
  } catch {
    return undefined;
  }
}
