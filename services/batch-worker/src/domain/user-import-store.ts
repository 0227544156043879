import type { ScanPosition } from './csv-record-scanner.ts';
import type { HeaderMapping } from './map-header.ts';

/** Why a row was rejected: its line, the column, and what is wrong. */
export interface RowError {
  /** The file line the record ends on. */
  readonly line: number;
  /** The column name, or `row` for the record as a whole. */
  readonly field: string;
  readonly message: string;
}

/** The outcome of an import, written to the job in the transaction that merges its rows. */
export interface ImportResult {
  readonly rowsTotal: number;
  readonly rowsImported: number;
  readonly rowsRejected: number;
  /** The first N row errors (the job's `row_errors`). */
  readonly rowErrors: readonly RowError[];
}

/** What a completed import did: its result, and the users the merge inserted or changed. */
export interface CompletedImport extends ImportResult {
  /** Users the merge inserted or changed (unchanged users count 0; 0 when another task merged). */
  readonly usersWritten: number;
}

/** Why an import failed, written to the job after its transaction was rolled back. */
export interface ImportFailure {
  /** One line for `worker_error` (and the failure mail). */
  readonly reason: string;
  readonly rowsRejected: number;
  readonly rowErrors: readonly RowError[];
  /** A failure of the data no task of the job's attempt can cure: later tasks honour it. */
  readonly permanent: boolean;
}

/** The object an import's staging was read from: a resume reads the same bytes. */
export interface StagedSource {
  /** The ETag the first read got (or was told to expect): a resume's `If-Match`. */
  readonly etag: string | undefined;
  readonly versionId: string | undefined;
  /** The object's size, when known: staging that reached it has read everything. */
  readonly bytes: number | undefined;
}

/**
 * An import job's staging: the records staged so far (in a table of its own that outlives the
 * task), the file's header, and the position in the object after the last staged record, where a
 * retried task resumes reading.
 */
export interface Staging {
  readonly jobId: string;
  readonly table: string;
  /** The header row as written. */
  readonly columns: readonly string[];
  readonly header: HeaderMapping;
  /**
   * Whether its records were staged with the scanner's trim marks (`TRIM_MARK`), so that only marked
   * rows need trimming: every staging made since db migration 8; one an earlier version made has all
   * its rows trimmed.
   */
  readonly trimMarked: boolean;
  readonly position: ScanPosition;
  readonly records: number;
  readonly source: StagedSource;
}

/** The job as an import finds it: running, or already completed by a batch-worker (a retry after its COMMIT). */
export type ImportJobState =
  | { readonly state: 'running' }
  | { readonly state: 'completed'; readonly result: ImportResult };

/** The rejected rows of what is staged: all of them counted, the first listed. */
export interface Rejections {
  readonly rowsRejected: number;
  /** The first `maxRowErrors`, in file order. */
  readonly rowErrors: readonly RowError[];
  /** The line of the rejected row past `maxRejectedRows`; undefined when there are not that many. */
  readonly overLine: number | undefined;
}

/** Limits of the validation. */
export interface ValidationLimits {
  /** Rejected rows tolerated; one more fails the import. */
  readonly maxRejectedRows: number;
  /** Row errors kept on the job. */
  readonly maxRowErrors: number;
}

/**
 * Where imported users go. Staging is resumable: records are committed to the job's staging in
 * segments, each together with the position reached, so a task that dies keeps what it staged and
 * the next resumes after it. Nothing reaches `users` before {@link complete}, one transaction that
 * validates, merges, writes the counts, completes the job and drops the staging: all or nothing.
 * Two tasks of one job (a duplicated task) may stage at once: a segment or a completion that finds
 * the staging moved on under it reports a conflict, and the task continues from where the staging is.
 */
export interface UserImportStore {
  /**
   * @throws {JobNotRunnableError} unless the job exists, is an import and is `running` (or was
   *   completed by a batch-worker, which is reported, not thrown).
   */
  checkJob(jobId: string): Promise<ImportJobState>;
  /** The job's staging, if a task staged part of it (and it survived: an UNLOGGED table is emptied by a server crash). */
  findStaging(jobId: string): Promise<Staging | undefined>;
  /**
   * Creates the job's staging after its header (at `position`). `undefined`: another task created it first.
   */
  createStaging(
    jobId: string,
    columns: readonly string[],
    header: HeaderMapping,
    position: ScanPosition,
    source: StagedSource,
  ): Promise<Staging | undefined>;
  /**
   * Opens a segment: records staged from `from` on, committed together with where they end. Holds
   * the staging until the segment ends. `undefined`: the staging is no longer at `from` (another
   * task of the job moved it on, or completed the job).
   */
  stage(staging: Staging, from: ScanPosition): Promise<StagingSegment | undefined>;
  /**
   * Validates the staged rows, merges the valid ones into `users`, writes the counts, completes the
   * job and drops its staging, in one transaction. `conflict`: the staging is not at `end` (another
   * task of the job moved it on, or completed the job).
   *
   * @throws {TooManyRejectedRowsError} more rejected rows than `limits.maxRejectedRows`.
   */
  complete(
    staging: Staging,
    end: ScanPosition,
    limits: ValidationLimits,
  ): Promise<CompletedImport | 'conflict'>;
  /**
   * Rows rejected so far: the sum over the segments validated yet (a cheap read, for stopping a file
   * that is already over the limit without staging the rest of it).
   */
  rejectedSoFar(jobId: string): Promise<number>;
  /** Validates every staged segment not validated yet, then reads the staging's rejected rows. */
  rejections(staging: Staging, limits: ValidationLimits): Promise<Rejections>;
  /** Records a failed import on its job, outside (after) the rolled-back transaction. */
  recordFailure(jobId: string, failure: ImportFailure): Promise<void>;
  /** Drops the job's staging (the job ended without the import completing). */
  dropStaging(jobId: string): Promise<void>;
  close(): Promise<void>;
}

/** Records being staged in one transaction. */
export interface StagingSegment {
  /**
   * Sends `COPY` input (see CsvRecordScanner) whose last record ends on line `lastLine`. Resolves
   * with whether the store is done with `bytes` (it holds no reference to them: the caller may
   * write over them), or `false` when it may still read them.
   *
   * @throws {RowTooBigError} when PostgreSQL could not store one of the segment's records as a row
   * (here or at the commit).
   */
  write(bytes: Buffer, lastLine: number): Promise<boolean>;
  /**
   * Commits the segment with the position after its last record and how many it holds.
   *
   * @throws {RowTooBigError} as {@link StagingSegment.write}.
   */
  commit(end: ScanPosition, records: number): Promise<void>;
  /** Rolls the segment back. */
  abort(reason: Error): Promise<void>;
}
