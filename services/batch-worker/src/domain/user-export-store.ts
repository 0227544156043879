import type { Readable } from 'node:stream';

/** COPY's output: CSV bytes, then (once ended) the row count PostgreSQL reported. */
export interface CopyOutStream extends Readable {
  /** Rows COPY sent (`COPY n` in its completion message); 0 until the stream has ended. */
  readonly rowCount: number;
}

/** The outcome of an export, written to its job. */
export interface ExportResult {
  /** Data rows in the parts. */
  readonly rowsTotal: number;
  /** Compressed bytes of all parts. */
  readonly bytes: number;
}

/**
 * Where exported users come from, and the job an export reports to. The batch-worker writes only a
 * job's `rows_total`, `bytes`, `worker_error` and `updated_at`: its state belongs to the
 * status-updater.
 */
export interface UserExportStore {
  /** @throws {JobNotRunnableError} unless the job exists, is an export and is `running`. */
  checkJob(jobId: string): Promise<void>;
  /** Runs a `COPY (...) TO STDOUT` statement and streams its output. */
  copyOut(sql: string): CopyOutStream;
  /** Writes the export's counts to the job and clears an earlier `worker_error`. */
  recordResult(jobId: string, result: ExportResult): Promise<void>;
  /** Records why an export failed (`worker_error`), on a connection of its own. */
  recordFailure(jobId: string, reason: string): Promise<void>;
  close(): Promise<void>;
}

/** Where an export's objects go (the exports bucket). */
export interface ExportTarget {
  /** The bucket, for the manifest's readers and for logs. */
  readonly bucket: string;
  /**
   * Stores one object whole. `sha256` (lowercase hex of `body`) is sent along so the store can
   * verify what it received.
   */
  putObject(object: {
    readonly key: string;
    readonly body: Buffer;
    readonly contentType: string;
    readonly sha256: string;
  }): Promise<void>;
}
