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
   * Stores one object whole. `crc64nvme` (base64 of `body`'s CRC-64/NVME) is sent along so the store
   * verifies what it received and keeps the checksum with the object.
   */
  putObject(object: {
    readonly key: string;
    readonly body: Buffer;
    readonly contentType: string;
    readonly crc64nvme: string;
  }): Promise<void>;
  /** The object at `key` as UTF-8 text, or `undefined` when there is none. */
  readText(key: string): Promise<string | undefined>;
}
