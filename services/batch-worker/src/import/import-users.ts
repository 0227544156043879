import { addAbortSignal, Readable } from 'node:stream';
import { MAX_STAGING_SEGMENTS } from '@sidestep/db/postgres';
import { CsvRecordScanner, type ScannedRecords, type ScanPosition } from '../domain/csv-record-scanner.ts';
import { type HeaderMapping, mapHeader, recordShapeOf } from '../domain/map-header.ts';
import type {
  CompletedImport,
  ImportResult,
  RowError,
  StagedSource,
  Staging,
  StagingSegment,
  UserImportStore,
} from '../domain/user-import-store.ts';
import {
  BatchWorkerError,
  ImportFailedError,
  InvalidHeaderError,
  TooManyRejectedRowsError,
} from '../errors.ts';

/** Where to read the object from, and which bytes it must be. */
export interface SourceRange {
  /** The first byte to read: 0, or where a resumed staging stopped. */
  readonly offset: number;
  /** The ETag an earlier read of this job found: the bytes must be that object's (`If-Match`). */
  readonly etag: string | undefined;
}

/** An opened source: its bytes from `offset` on, and what S3 said about the object. */
export interface SourceBytes {
  readonly body: Readable;
  /** The byte `body` starts at. */
  readonly offset: number;
  readonly etag?: string | undefined;
  readonly versionId?: string | undefined;
  /** The whole object's size. */
  readonly contentLength?: number | undefined;
}

/** Options of {@link importUsers}. */
export interface ImportUsersOptions {
  readonly jobId: string;
  /**
   * Opens the CSV from `range.offset` on. A plain stream is taken as the whole object from byte 0
   * (the part before the offset is skipped).
   */
  readonly openSource: (range: SourceRange) => Promise<Readable | SourceBytes>;
  readonly store: UserImportStore;
  /** Rejected rows tolerated; one more fails the import. */
  readonly maxRejectedRows: number;
  /** Row errors kept on the job. @default 100 */
  readonly maxRowErrors?: number;
  /**
   * Bytes of the file staged per committed segment: what a task that dies may have to read again,
   * and what is left to validate once the last record is staged (each committed segment is validated
   * while the next one streams in). @default {@link defaultSegmentBytes} of the object's size
   */
  readonly segmentBytes?: number;
  /** Aborting stops the import; what was staged is kept for the retry. */
  readonly signal?: AbortSignal;
  /** How often `onProgress` is called while rows stream. @default 10000 */
  readonly progressIntervalMs?: number;
  readonly onProgress?: (progress: ImportProgress) => void;
}

/** Progress while rows stream. */
export interface ImportProgress {
  /** Records staged so far (by this task and the earlier ones of the job). */
  readonly rowsTotal: number;
  /** Bytes of the file this task read so far. */
  readonly bytesRead: number;
  /** Where this task started reading (0, or a resume's offset). */
  readonly resumedAt: number;
}

/** What a successful import did. */
export interface ImportSummary extends CompletedImport {
  /** Bytes of the file this task read (less than the file when it resumed a staging). */
  readonly bytesRead: number;
  /** The byte this task started reading at: 0, or where an earlier task's staging stopped. */
  readonly resumedAt: number;
}

/**
 * The longest record accepted, in bytes. A file with an unclosed quote would otherwise make the
 * scanner carry the rest of the file as one record: the limit keeps memory flat on bad input too.
 */
export const MAX_RECORD_BYTES = 1024 * 1024;

/** Row errors kept on the job when {@link ImportUsersOptions.maxRowErrors} is not given. */
const DEFAULT_MAX_ROW_ERRORS = 100;

/**
 * The default segment: small enough that the last one's validation adds little after the file's end
 * (at 1M rows, 52 MiB, the time to the merge measured 1.94-2.18 s against 2.05-2.51 s with 32 MiB
 * segments, PostgreSQL 15, 2026-12-04), and a killed task reads at most this much again; large enough
 * that a segment's commit and table (a few ms) are noise (70 segments at 10M rows).
 */
export const DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024;

/** The most segments a default staging has: @sidestep/db's {@link MAX_STAGING_SEGMENTS}, which says why. */
export const MAX_DEFAULT_SEGMENTS = MAX_STAGING_SEGMENTS;

/**
 * The segment size of an object of `objectBytes` (unknown: {@link DEFAULT_SEGMENT_BYTES}):
 * {@link DEFAULT_SEGMENT_BYTES}, or larger for objects over 2 GiB, so that a staging has at most
 * {@link MAX_DEFAULT_SEGMENTS} segments.
 */
export function defaultSegmentBytes(objectBytes: number | undefined): number {
  if (objectBytes === undefined) return DEFAULT_SEGMENT_BYTES;
  return Math.max(DEFAULT_SEGMENT_BYTES, Math.ceil(objectBytes / MAX_DEFAULT_SEGMENTS));
}

/** A segment or the completion found another task of the job ahead: continue from where it is. */
class StagingMovedOn extends Error {}

/**
 * Imports a users CSV: the object's bytes stream from S3 through {@link CsvRecordScanner} (which
 * finds the records and their lines) straight into `COPY ... FROM STDIN (FORMAT csv)`, so
 * PostgreSQL parses the CSV; the job's staging is committed in segments of `segmentBytes`, each with
 * the position reached, so an interrupted task's successor resumes there with a ranged read of the
 * same object. The store validates each committed segment set-based (the rules in
 * `staged-user-rules.ts`) while the next one streams in. Then one transaction counts the rejected
 * rows, merges the valid ones into `users` in one MERGE (one import at a time), writes the counts,
 * completes the job and drops the staging: nothing reaches `users` before it, so the import is all
 * or nothing. The worker holds one piece of the object at a time: memory stays
 * flat whatever the file size.
 *
 * A job a batch-worker already completed (a task retried after its COMMIT, or a duplicated task)
 * returns the recorded result without importing again. Any failure records the reason on the job
 * and throws {@link ImportFailedError}; a permanent one (a bad header, too many rejected rows,
 * malformed CSV, a changed object, a job not running) also drops the staging, which a retry could
 * not use; a transient one (database, S3, a stop request) keeps it for the retry.
 *
 * CSV dialect: RFC 4180 (quotes, doubled quotes, CRLF or LF, newlines inside quotes), UTF-8 with an
 * optional BOM, a header row; blank lines are skipped. Row errors name the line the record ends on.
 */
export async function importUsers(options: ImportUsersOptions): Promise<ImportSummary> {
  const { jobId, store, signal } = options;
  const maxRowErrors = options.maxRowErrors ?? DEFAULT_MAX_ROW_ERRORS;
  const progress = { rowsTotal: 0, bytesRead: 0, resumedAt: 0 };
  const timer = options.onProgress
    ? setInterval(() => options.onProgress?.({ ...progress }), options.progressIntervalMs ?? 10_000)
    : undefined;
  timer?.unref();
  try {
    for (;;) {
      signal?.throwIfAborted();
      const job = await store.checkJob(jobId);
      if (job.state === 'completed') return { ...job.result, usersWritten: 0, ...readSoFar(progress) };
      const found = await store.findStaging(jobId);
      const staged = await stageRest(found, options, progress);
      if (staged === undefined) continue;
      signal?.throwIfAborted();
      const completed = await store.complete(staged.staging, staged.end, {
        maxRejectedRows: options.maxRejectedRows,
        maxRowErrors,
      });
      if (completed === 'conflict') continue;
      return { ...completed, ...readSoFar(progress) };
    }
  } catch (error) {
    const cause = signal?.aborted ? signal.reason : error;
    const rejected = cause instanceof TooManyRejectedRowsError ? cause : undefined;
    const rowErrors: readonly RowError[] = rejected ? rejected.rowErrors : [];
    const rowsRejected = rejected?.rowsRejected ?? 0;
    const failure = new ImportFailedError(jobId, cause, { rowsRejected, rowErrors });
    try {
      await store.recordFailure(jobId, {
        reason: failure.reason,
        rowsRejected,
        rowErrors,
        permanent: failure.permanent,
      });
      // A retry would fail the same way: the job is over, and so is its staging.
      if (cause instanceof BatchWorkerError && cause.permanent) await store.dropStaging(jobId);
    } catch (recordError) {
      failure.recordError = recordError;
    }
    throw failure;
  } finally {
    clearInterval(timer);
  }
}

function readSoFar(progress: { bytesRead: number; resumedAt: number }) {
  return { bytesRead: progress.bytesRead, resumedAt: progress.resumedAt };
}

/**
 * Stages the rest of the object after `found` (or all of it, creating the staging, when nothing was
 * staged); returns the staging and where it ends, or `undefined` when another task of the job moved
 * the staging on (the caller starts over from where it is).
 */
async function stageRest(
  found: Staging | undefined,
  options: ImportUsersOptions,
  progress: { rowsTotal: number; bytesRead: number; resumedAt: number },
): Promise<{ staging: Staging; end: ScanPosition } | undefined> {
  const { signal, store } = options;
  const start: ScanPosition = found?.position ?? { offset: 0, lines: 0 };
  progress.resumedAt = start.offset;
  progress.rowsTotal = found?.records ?? 0;
  if (found?.source.bytes !== undefined && found.position.offset >= found.source.bytes) {
    return { staging: found, end: found.position }; // everything was staged before: complete it
  }
  const source = await openFrom(options, { offset: start.offset, etag: found?.source.etag });
  const body = signal ? addAbortSignal(signal, source.body) : source.body;
  let header: HeaderMapping | undefined;
  let columns: string[] = [];
  const scanner = new CsvRecordScanner({
    start,
    ...(found ? { shape: recordShapeOf(found.header) } : {}),
    onHeader: (fields) => {
      header = mapHeader(fields);
      columns = fields.map((name) => name.trim());
      return recordShapeOf(header);
    },
    maxRecordBytes: MAX_RECORD_BYTES,
  });
  const segmentBytes =
    options.segmentBytes ?? defaultSegmentBytes(source.contentLength ?? found?.source.bytes);
  let staging = found;
  let segment: StagingSegment | undefined;
  let segmentStart = start;
  let segmentRecords = 0;
  let segmentInput = 0;

  const ensureStaging = async (): Promise<Staging> => {
    if (staging) return staging;
    const headerEnd = scanner.headerEnd;
    if (!header || !headerEnd) throw new InvalidHeaderError('the file is empty: no header row', []);
    const identity: StagedSource = {
      etag: source.etag,
      versionId: source.versionId,
      bytes: source.contentLength,
    };
    staging = await store.createStaging(options.jobId, columns, header, headerEnd, identity);
    if (!staging) throw new StagingMovedOn();
    segmentStart = headerEnd;
    return staging;
  };
  const open = async (): Promise<StagingSegment> => {
    if (segment) return segment;
    segment = await store.stage(await ensureStaging(), segmentStart);
    if (!segment) throw new StagingMovedOn();
    return segment;
  };
  const commit = async (end: ScanPosition): Promise<void> => {
    const current = await open();
    segment = undefined;
    await current.commit(end, segmentRecords);
    segmentStart = end;
    segmentRecords = 0;
    segmentInput = 0;
  };
  // The segments are validated while the next ones stream in: a file already over the limit of
  // rejected rows fails now, without staging the rest of it.
  const stopIfOverLimit = async (end: ScanPosition): Promise<void> => {
    if (!staging || (await store.rejectedSoFar(staging.jobId)) <= options.maxRejectedRows) return;
    const limits = {
      maxRejectedRows: options.maxRejectedRows,
      maxRowErrors: options.maxRowErrors ?? DEFAULT_MAX_ROW_ERRORS,
    };
    const rejected = await store.rejections(staging, limits);
    if (rejected.overLine === undefined) return;
    throw new TooManyRejectedRowsError(
      rejected.rowsRejected,
      options.maxRejectedRows,
      rejected.overLine,
      rejected.rowErrors,
      end.lines,
    );
  };
  const take = async (scanned: ScannedRecords, bytesIn: number): Promise<void> => {
    segmentInput += bytesIn;
    if (scanned.records > 0) {
      if (await (await open()).write(scanned.bytes, scanned.lastLine)) scanner.release();
      segmentRecords += scanned.records;
      progress.rowsTotal += scanned.records;
    }
    if (segmentInput >= segmentBytes && scanned.records > 0) {
      await commit(scanned.end);
      await stopIfOverLimit(scanned.end);
    }
  };

  try {
    for await (const piece of body) {
      // A stream in object mode may hand over strings.
      const bytes = typeof piece === 'string' ? Buffer.from(piece) : (piece as Buffer);
      progress.bytesRead += bytes.length;
      await take(scanner.push(bytes), bytes.length);
    }
    signal?.throwIfAborted();
    await take(scanner.end(), 0);
    const end = scanner.position;
    await commit(end);
    return { staging: staging as Staging, end };
  } catch (error) {
    await segment?.abort(error as Error);
    if (error instanceof StagingMovedOn) return undefined;
    throw error;
  } finally {
    body.destroy();
  }
}

/** Opens the source from `range.offset`; a plain stream (the whole object) is skipped to the offset. */
async function openFrom(options: ImportUsersOptions, range: SourceRange): Promise<SourceBytes> {
  const opened = await options.openSource(range);
  if (!(opened instanceof Readable)) return opened;
  const whole: Readable = opened;
  if (range.offset === 0) return { body: whole, offset: 0 };
  async function* skip(): AsyncGenerator<Buffer> {
    let toSkip = range.offset;
    for await (const piece of whole) {
      const bytes = piece as Buffer;
      if (toSkip >= bytes.length) {
        toSkip -= bytes.length;
        continue;
      }
      yield toSkip > 0 ? bytes.subarray(toSkip) : bytes;
      toSkip = 0;
    }
  }
  return { body: Readable.from(skip(), { objectMode: false }), offset: range.offset };
}

export type { ImportResult };
