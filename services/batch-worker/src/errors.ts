import { escapeNul } from '@sidestep/jobs';
import { type DatabaseErrorFields, isDatabaseError, SidestepError } from '@sidestep/runtime';

/**
 * Base of every batch-worker error, in sidestep's error family (`permanent`, `field`, `cause`).
 * `permanent` errors fail the same way on a retry of the same object (a bad header, too many bad
 * rows); the others may pass on a retry (database or S3 down). Every class sets `name` as a class
 * field: the bundle is minified, and logs and the job's `worker_error` name the error by it.
 */
export class BatchWorkerError extends SidestepError {
  override readonly name: string = 'BatchWorkerError';
}

/** An object in S3 the task could not read or write (missing, access denied, network). */
abstract class S3ObjectError extends BatchWorkerError {
  override readonly name: string = 'S3ObjectError';
  readonly bucket: string;
  readonly key: string;

  constructor(
    access: 'read' | 'write',
    location: { readonly bucket: string; readonly key: string; readonly field: string },
    cause: unknown,
    permanent: boolean,
  ) {
    const reason = cause instanceof Error ? `: ${cause.name}: ${cause.message}` : '';
    super(`cannot ${access} s3://${location.bucket}/${location.key}${reason}`, {
      permanent,
      field: location.field,
      cause,
    });
    this.bucket = location.bucket;
    this.key = location.key;
  }
}

/** The task was told to stop (ECS sends SIGTERM before SIGKILL). The runner exits 143 for it. */
export abstract class TaskInterruptedError extends BatchWorkerError {
  override readonly name: string = 'TaskInterruptedError';
  readonly signal: string;

  constructor(signal: string, outcome: string) {
    super(`interrupted by ${signal}; ${outcome}`, { permanent: false });
    this.signal = signal;
  }
}

/**
 * A mode's work failed. `reason` is what the job's `worker_error` says; `cause` is the specific
 * error, whose `permanent` it takes.
 */
export abstract class TaskFailedError extends BatchWorkerError {
  override readonly name: string = 'TaskFailedError';
  readonly jobId: string;
  readonly reason: string;
  /** Set when the failure could not be written to the job either (e.g. the database is down). */
  recordError: unknown;

  constructor(jobId: string, mode: 'import' | 'export', cause: unknown) {
    const reason = reasonOf(cause);
    super(`job ${jobId}: ${mode} failed: ${reason}`, {
      permanent: cause instanceof BatchWorkerError ? cause.permanent : false,
      cause,
    });
    this.jobId = jobId;
    this.reason = reason;
  }
}

/** The CSV header row is missing, has empty or duplicate names, or lacks a required column. */
export class InvalidHeaderError extends BatchWorkerError {
  override readonly name: string = 'InvalidHeaderError';
  /** The missing or offending column names, as written (or required). */
  readonly columns: readonly string[];

  constructor(message: string, columns: readonly string[]) {
    super(`header: ${message}`, { permanent: true, field: 'header' });
    this.columns = columns;
  }
}

/** How many of the first row errors a failure's reason lists. */
const REASON_ROW_ERRORS = 5;

/**
 * More rows were rejected than `MAX_REJECTED_ROWS` allows; nothing was imported. The reason names
 * the line of the row that went over the limit and lists the first row errors with their lines.
 */
export class TooManyRejectedRowsError extends BatchWorkerError {
  override readonly name: string = 'TooManyRejectedRowsError';
  /** Every rejected row of the file. */
  readonly rowsRejected: number;
  readonly maxRejectedRows: number;
  /** The line of the row that went over the limit. */
  readonly line: number;
  /** The first row errors, in file order. */
  readonly rowErrors: readonly RowErrorLike[];
  /**
   * The last line read when the import stopped before the end of the file (the limit was passed
   * already); undefined when the whole file was read, and `rowsRejected` counts all of it.
   */
  readonly stoppedAfterLine: number | undefined;

  constructor(
    rowsRejected: number,
    maxRejectedRows: number,
    line: number,
    rowErrors: readonly RowErrorLike[],
    stoppedAfterLine?: number,
  ) {
    const first = rowErrors
      .slice(0, REASON_ROW_ERRORS)
      .map((error) => `line ${error.line}: ${error.field} ${error.message}`)
      .join('; ');
    const counted =
      stoppedAfterLine === undefined
        ? `${rowsRejected} rejected in all`
        : `the rest of the file was not read: ${rowsRejected} rejected by line ${stoppedAfterLine}`;
    super(
      `${maxRejectedRows + 1} rows rejected by line ${line}, more than MAX_REJECTED_ROWS (${maxRejectedRows}); nothing was imported (${counted}; first: ${first}; see row_errors)`,
      { permanent: true, field: 'MAX_REJECTED_ROWS' },
    );
    this.rowsRejected = rowsRejected;
    this.maxRejectedRows = maxRejectedRows;
    this.line = line;
    this.rowErrors = rowErrors;
    this.stoppedAfterLine = stoppedAfterLine;
  }
}

/**
 * The file is not CSV the parser can read on (an unclosed quote, a record over the size limit, a
 * quote inside an unquoted field). Unlike a bad row, the parser cannot resynchronise after it.
 */
export class MalformedCsvError extends BatchWorkerError {
  override readonly name: string = 'MalformedCsvError';
  /** The line the malformed record (or the quote left open in it) starts on. */
  readonly line: number | undefined;
  /** csv-parse's error code, e.g. `CSV_QUOTE_NOT_CLOSED`. */
  readonly code: string | undefined;

  constructor(message: string, line: number | undefined, code: string | undefined, cause: unknown) {
    super(`malformed CSV${line === undefined ? '' : ` at line ${line}`}: ${message}`, {
      permanent: true,
      field: 'body',
      cause,
    });
    this.line = line;
    this.code = code;
  }
}

/**
 * A record of the file does not fit in one row of the import's staging table, which has a text
 * column per field: PostgreSQL stores a row in one 8 KiB page (8,160 bytes; a short value takes its
 * length and a byte, a long one moved out by TOAST still 18), and refuses the segment's COPY with
 * SQLSTATE 54000 "row is too big". PostgreSQL's error names no row of the file (it reports the line
 * its COPY had reached when it wrote a batch of rows), so the reason gives the lines of the staged
 * segment the record is in, from its first to the last one sent when PostgreSQL refused it. Permanent:
 * the same file fails the same way.
 */
export class RowTooBigError extends BatchWorkerError {
  override readonly name: string = 'RowTooBigError';
  /** The segment's first line and the last one sent when PostgreSQL refused the row. */
  readonly lines: { readonly from: number; readonly to: number };

  constructor(lines: { from: number; to: number }, columnCount: number, cause: Error & DatabaseErrorFields) {
    super(
      `a row in lines ${lines.from} to ${lines.to} is too big for the import (${databaseReason(cause)}): ` +
        `a row of the file's ${columnCount} columns must fit in 8,160 bytes as PostgreSQL stores it; ` +
        'shorten its values, or import the attribute columns in several files (each with external_id and ' +
        'email: attributes of later imports are merged in)',
      { permanent: true, field: 'body', cause },
    );
    this.lines = lines;
  }
}

/** The job named by `JOB_ID` does not exist, is not of the task's kind (import or export), or is not `running`. */
export class JobNotRunnableError extends BatchWorkerError {
  override readonly name: string = 'JobNotRunnableError';
  readonly jobId: string;
  /** The job's state, `undefined` when there is no such job. */
  readonly state: string | undefined;

  constructor(jobId: string, message: string, state: string | undefined) {
    super(`job ${jobId}: ${message}`, { permanent: true, field: 'JOB_ID' });
    this.jobId = jobId;
    this.state = state;
  }
}

/**
 * Another task of the job's attempt (ECS and Step Functions start a task at least once: a retried
 * RunTask can start a second one beside the first) recorded a permanent failure of the data on the
 * job: this task neither imports nor replaces that reason, and the job fails with it.
 */
export class JobFailedPermanentlyError extends BatchWorkerError {
  override readonly name: string = 'JobFailedPermanentlyError';
  readonly jobId: string;
  /** The reason the other task recorded (`worker_error`). */
  readonly reason: string;

  constructor(jobId: string, reason: string) {
    super(`job ${jobId}: another task of the job failed permanently: ${reason}`, {
      permanent: true,
      field: 'JOB_ID',
    });
    this.jobId = jobId;
    this.reason = reason;
  }
}

/** The source object could not be read from S3 (missing, access denied, network). */
export class SourceUnavailableError extends S3ObjectError {
  override readonly name: string = 'SourceUnavailableError';

  constructor(bucket: string, key: string, cause: unknown, permanent: boolean) {
    super('read', { bucket, key, field: 'SOURCE_KEY' }, cause, permanent);
  }
}

/**
 * The object at the source changed after the job was registered: the version or ETag the job was
 * registered for (or that the first read found, for a resume) is gone. Importing the object now
 * would import other bytes than the upload the job stands for, so the job fails instead.
 */
export class SourceChangedError extends SourceUnavailableError {
  override readonly name: string = 'SourceChangedError';
  /** What the job expected: `ETag "x"` or `version v`. */
  readonly expected: string;

  constructor(bucket: string, key: string, expected: string, cause: unknown) {
    super(bucket, key, cause, true);
    this.expected = expected;
    this.message = `the object at s3://${bucket}/${key} changed after it was registered (${expected} expected)`;
  }
}

/**
 * The version the job was registered for no longer exists: S3 answers `NoSuchVersion`, as it does
 * for a version the bucket's lifecycle expired or someone deleted (a version replaced by a later
 * upload to the same key is still readable by its id). Not a change of the object: nothing can
 * read those bytes any more, so the job fails permanently and the file must be uploaded again.
 */
export class SourceVersionMissingError extends SourceUnavailableError {
  override readonly name: string = 'SourceVersionMissingError';
  /** The version the job was registered for. */
  readonly versionId: string;

  constructor(
    source: { readonly bucket: string; readonly key: string; readonly versionId: string },
    cause: unknown,
  ) {
    super(source.bucket, source.key, cause, true);
    this.versionId = source.versionId;
    this.message = `the upload version ${source.versionId} of s3://${source.bucket}/${source.key} no longer exists (expired or deleted); upload the file again`;
  }
}

/**
 * PostgreSQL aborted the import's completing transaction for a deadlock (`40P01`) or a serialization
 * failure (`40001`) on every attempt the worker made: a conflict with other writers of the same rows,
 * not a fault of the file. Nothing was imported and the staging is kept, so the same task run again
 * resumes it; the runner exits `TRANSIENT_FAILURE_EXIT_CODE` (75) and the workflow reruns the task.
 */
export class DatabaseConflictError extends BatchWorkerError {
  override readonly name: string = 'DatabaseConflictError';
  /** The SQLSTATE of the last abort: `40P01` or `40001`. */
  readonly sqlstate: string;
  /** How many times the transaction was tried. */
  readonly attempts: number;

  constructor(sqlstate: string, attempts: number, cause: unknown) {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    super(
      `PostgreSQL aborted the completing transaction on ${attempts} attempt${attempts === 1 ? '' : 's'} in a row (${sqlstate}${detail}), a conflict with other writers of the same rows; nothing was imported and the staged records are kept for a rerun`,
      { permanent: false, cause },
    );
    this.sqlstate = sqlstate;
    this.attempts = attempts;
  }
}

/** The task was told to stop during an import: nothing reached `users`; what was staged is kept for the retry. */
export class ImportInterruptedError extends TaskInterruptedError {
  override readonly name: string = 'ImportInterruptedError';

  constructor(signal: string) {
    super(signal, 'nothing was imported; the staged records are kept for the retry');
  }
}

/**
 * The import failed and was rolled back. Carries the rejected rows seen so far, which are recorded
 * with the reason.
 */
export class ImportFailedError extends TaskFailedError {
  override readonly name: string = 'ImportFailedError';
  readonly rowsRejected: number;
  readonly rowErrors: readonly RowErrorLike[];

  constructor(
    jobId: string,
    cause: unknown,
    progress: { rowsRejected: number; rowErrors: readonly RowErrorLike[] },
  ) {
    super(jobId, 'import', cause);
    this.rowsRejected = progress.rowsRejected;
    this.rowErrors = progress.rowErrors;
  }
}

/** The shape of a row error (the domain's `RowError`), declared here so the domain may import this module. */
interface RowErrorLike {
  readonly line: number;
  readonly field: string;
  readonly message: string;
}

/**
 * The one-line reason recorded in `worker_error` and shown in the failure mail: the worker's own
 * errors by message; a database error by its SQLSTATE and constraint ({@link databaseReason});
 * anything else prefixed with its name so an operator can tell a database error from an S3 one. A
 * NUL character in it is written `\u0000`.
 */
function reasonOf(error: unknown): string {
  const reason =
    error instanceof BatchWorkerError
      ? error.message
      : isDatabaseError(error)
        ? databaseReason(error)
        : error instanceof Error
          ? `${error.name}: ${error.message}`
          : String(error);
  // PostgreSQL text cannot hold a NUL (22021): a reason with one could not be recorded, and the job
  // would fail with the workflow's generic error instead.
  return escapeNul(reason);
}

/**
 * A PostgreSQL error as a reason: `PostgreSQL 23505 (users_email_key): duplicate key value violates
 * unique constraint "users_email_key"`, its SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html)
 * and constraint, then its message. node-postgres names every such error `error`, which told an
 * operator nothing. Not its DETAIL (`Key (email)=(...) already exists.`, `Failing row contains
 * (...)`): the reason goes to the job, the logs and the failure mail, and that quotes someone's record.
 */
export function databaseReason(error: Error & DatabaseErrorFields): string {
  const constraint = error.constraint ? ` (${error.constraint})` : '';
  return `PostgreSQL ${error.code}${constraint}: ${error.message}`;
}

/** An export would need more parts than S3 can combine into one object (10,000). */
export class ExportTooLargeError extends BatchWorkerError {
  override readonly name: string = 'ExportTooLargeError';
  readonly maxParts: number;

  constructor(maxParts: number, partBytes: number) {
    super(
      `the export needs more than ${maxParts} parts of ${partBytes} bytes; S3 combines at most ${maxParts}`,
      {
        permanent: true,
      },
    );
    this.maxParts = maxParts;
  }
}

/** An export's part or manifest could not be written to S3. */
export class ExportTargetError extends S3ObjectError {
  override readonly name: string = 'ExportTargetError';

  constructor(bucket: string, key: string, cause: unknown, permanent: boolean) {
    super('write', { bucket, key, field: 'EXPORTS_BUCKET' }, cause, permanent);
  }
}

/**
 * COPY reported a different number of rows than the worker counted in its output: the parts cannot
 * be trusted (a bug, or output that is not the CSV the worker expects).
 */
export class ExportRowCountMismatchError extends BatchWorkerError {
  override readonly name: string = 'ExportRowCountMismatchError';
  readonly copiedRows: number;
  readonly countedRows: number;

  constructor(copiedRows: number, countedRows: number) {
    // Permanent: the same query and code would cut the same parts again on a rerun.
    super(`COPY sent ${copiedRows} rows but the parts hold ${countedRows}`, { permanent: true });
    this.copiedRows = copiedRows;
    this.countedRows = countedRows;
  }
}

/** The task was told to stop during an export; no manifest was written. */
export class ExportInterruptedError extends TaskInterruptedError {
  override readonly name: string = 'ExportInterruptedError';

  constructor(signal: string) {
    super(signal, 'the export stopped before its manifest was written');
  }
}

/** The export failed. No manifest was written by this run, so the finalizer has nothing new to combine. */
export class ExportFailedError extends TaskFailedError {
  override readonly name: string = 'ExportFailedError';

  constructor(jobId: string, cause: unknown) {
    super(jobId, 'export', cause);
  }
}
