import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CsvError, parse } from 'csv-parse';
import { CsvQuoteTracker } from '../domain/csv-quote-tracker.ts';
import type { ImportResult, UserImportStore } from '../domain/user-import-store.ts';
import { ImportFailedError, MalformedCsvError } from '../errors.ts';
import { UserRowValidator } from './user-row-validator.ts';

/** Options of {@link importUsers}. */
export interface ImportUsersOptions {
  readonly jobId: string;
  /** Opens the CSV (called inside the transaction, after the job was checked). */
  readonly openSource: () => Promise<Readable>;
  readonly store: UserImportStore;
  /** Rejected rows tolerated; one more fails the import. */
  readonly maxRejectedRows: number;
  /** Row errors kept on the job. @default 100 */
  readonly maxRowErrors?: number;
  /** Aborting rolls the import back; the abort reason becomes the failure's cause. */
  readonly signal?: AbortSignal;
  /** How often `onProgress` is called while rows stream. @default 10000 */
  readonly progressIntervalMs?: number;
  readonly onProgress?: (progress: ImportProgress) => void;
}

/** Progress while rows stream. */
export interface ImportProgress {
  readonly rowsTotal: number;
  readonly rowsRejected: number;
  /** Bytes of the file parsed so far. */
  readonly bytesRead: number;
}

/** What a successful import did. */
export interface ImportSummary extends ImportResult {
  /**
   * Rows the merges inserted or changed in `users`: unchanged users count 0, an id repeated within a
   * chunk once, an id repeated across chunks once per chunk that changed it.
   */
  readonly usersWritten: number;
  readonly bytesRead: number;
}

/**
 * The longest record accepted, in characters. A file with an unclosed quote would otherwise make
 * the parser buffer the rest of the file as one field: the limit keeps memory flat on bad input too.
 */
export const MAX_RECORD_CHARS = 1024 * 1024;

/**
 * Imports a users CSV in one transaction: S3 body -> csv-parse -> {@link UserRowValidator} -> the
 * store's user writer (COPY into staging and merge into `users`, chunk by chunk), all in one
 * `stream/promises.pipeline` with backpressure, so memory stays flat whatever the file size; then
 * the job's counts, then COMMIT. Any error
 * (bad header, too many rejected rows, malformed CSV, S3, database, abort) rolls everything back,
 * records the reason on the job outside the transaction, and throws {@link ImportFailedError}.
 *
 * CSV dialect: RFC 4180 (quotes, doubled quotes, CRLF or LF, newlines inside quotes), UTF-8 with an
 * optional BOM, a header row; blank lines are skipped. Row errors name the line the record ends on
 * (csv-parse's `info.lines`): the same line as its start unless a quoted field spans lines. A quote
 * that never closes is reported at the line it opened on ({@link CsvQuoteTracker}).
 */
export async function importUsers(options: ImportUsersOptions): Promise<ImportSummary> {
  const { jobId, store, signal } = options;
  const validator = new UserRowValidator({
    maxRejectedRows: options.maxRejectedRows,
    ...(options.maxRowErrors === undefined ? {} : { maxRowErrors: options.maxRowErrors }),
  });
  const parser = parse({
    bom: true,
    info: true,
    // Records with the wrong number of fields are rejected rows (with their line), not a fatal error.
    relax_column_count: true,
    skip_empty_lines: true,
    max_record_size: MAX_RECORD_CHARS,
  });
  const quotes = new CsvQuoteTracker();
  const quoteTracker = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      quotes.scan(chunk);
      callback(null, chunk);
    },
  });
  const progress = (): ImportProgress => {
    const { rowsTotal, rowsRejected } = validator.counts();
    return { rowsTotal, rowsRejected, bytesRead: parser.info.bytes };
  };
  const timer = options.onProgress
    ? setInterval(() => options.onProgress?.(progress()), options.progressIntervalMs ?? 10_000)
    : undefined;
  timer?.unref();
  try {
    return await store.transaction(async (tx) => {
      signal?.throwIfAborted();
      await tx.checkJob(jobId);
      const body = await options.openSource();
      const writer = tx.userWriter({ hasNameColumn: () => validator.header?.name !== undefined });
      await pipeline([body, quoteTracker, parser, validator, writer], signal ? { signal } : {});
      const counts = validator.counts();
      const usersWritten = writer.usersWritten;
      const result: ImportResult = {
        rowsTotal: counts.rowsTotal,
        rowsImported: counts.rowsValid,
        rowsRejected: counts.rowsRejected,
        rowErrors: counts.rowErrors,
      };
      await tx.recordResult(jobId, result);
      // Last chance to honour a stop request before COMMIT: a task that exits non-zero must have
      // committed nothing, or the workflow would fail a job whose users were imported.
      signal?.throwIfAborted();
      return { ...result, usersWritten, bytesRead: parser.info.bytes };
    });
  } catch (error) {
    const { rowsRejected, rowErrors } = validator.counts();
    const failure = new ImportFailedError(jobId, causeOf(error, signal, quotes), { rowsRejected, rowErrors });
    try {
      await store.recordFailure(jobId, { reason: failure.reason, rowsRejected, rowErrors });
    } catch (recordError) {
      failure.recordError = recordError;
    }
    throw failure;
  } finally {
    clearInterval(timer);
  }
}

/** The error worth reporting: the abort reason for an abort, csv-parse's errors as MalformedCsvError. */
function causeOf(error: unknown, signal: AbortSignal | undefined, quotes: CsvQuoteTracker): unknown {
  if (signal?.aborted) return signal.reason;
  const openQuoteLine = quotes.openQuoteLine;
  if (error instanceof CsvError && error.code === 'CSV_QUOTE_NOT_CLOSED' && openQuoteLine !== undefined) {
    // csv-parse names the line the file ends on; the stray quote is where the field opened.
    return new MalformedCsvError(
      `the quote opened on line ${openQuoteLine} is never closed`,
      openQuoteLine,
      error.code,
      error,
    );
  }
  if (error instanceof CsvError) {
    const lines = (error as CsvError & { lines?: unknown }).lines;
    return new MalformedCsvError(
      error.message,
      typeof lines === 'number' ? lines : undefined,
      error.code,
      error,
    );
  }
  return error;
}
