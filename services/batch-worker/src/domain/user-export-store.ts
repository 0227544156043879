import type { Readable } from 'node:stream';

/** COPY's output: CSV bytes, then (once ended) the row count PostgreSQL reported. */
export interface CopyOutStream extends Readable {
  /** Rows COPY sent (`COPY n` in its completion message); 0 until the stream has ended. */
  readonly rowCount: number;
}

/** How far an export has got: rows read, parts uploaded and their compressed bytes. */
export interface ExportProgressRecord {
  readonly rows: number;
  readonly parts: number;
  readonly bytes: number;
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
  /**
   * Takes the job's export lock for as long as the store is open, if no other session holds it:
   * `true` when taken (again, by a session that holds it already), `false` when another task of
   * the job holds it. Released when the store closes, or its connection ends.
   */
  tryLockJob(jobId: string): Promise<boolean>;
  /** Runs a `COPY (...) TO STDOUT` statement and streams its output. */
  copyOut(sql: string): CopyOutStream;
  /**
   * Runs `read` in one read-only snapshot: every {@link copyOut} it makes reads the table as it was
   * at the first, whatever is written meanwhile. What a resumed export's check of the rows it keeps
   * and its read of the rest need, to be one point in time.
   */
  inSnapshot<T>(read: () => Promise<T>): Promise<T>;
  /**
   * Records how far the export has got, for operators (`export_progress`). Best effort: never
   * rejects; a failure is reported once through the store's `onProgressFailure`, and no more
   * progress is recorded.
   */
  recordProgress(jobId: string, progress: ExportProgressRecord): Promise<void>;
  /**
   * Writes the export's counts to the job, clears an earlier `worker_error` and its progress.
   * @throws {JobNotRunnableError} the job is no longer running (failed meanwhile): no counts written.
   * @throws {JobFailedPermanentlyError} another task of the job recorded a permanent failure meanwhile.
   */
  recordResult(jobId: string, result: ExportResult): Promise<void>;
  /**
   * Records why an export failed (`worker_error`), on a connection of its own; `permanent` (a failure
   * no task of the job's attempt can cure) marks it so that every later task honours it. A permanent
   * failure already recorded (by another task of the job) stands: nothing is written over it.
   */
  recordFailure(jobId: string, reason: string, permanent?: boolean): Promise<void>;
  close(): Promise<void>;
}

/** A part of an export's multipart upload, as the store lists it. */
export interface UploadedPart {
  readonly partNumber: number;
  readonly bytes: number;
  /** The part's ETag, quotes included. */
  readonly etag: string;
  /** Base64 CRC-64/NVME the store keeps for the part; `undefined` when it keeps none. */
  readonly crc64nvme: string | undefined;
}

/** The headers the export's file is stored with (what a browser sees when it downloads it). */
export interface ExportFileHeaders {
  readonly contentType: string;
  readonly contentDisposition: string;
}

/**
 * Where an export goes (the exports bucket): the file as a multipart upload the worker uploads its
 * parts into (and the export-finalizer completes), and small JSON records (progress, manifest).
 */
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
  /** Starts a CRC-64/NVME full-object multipart upload of `key`; returns its upload id. */
  createUpload(key: string, headers: ExportFileHeaders): Promise<string>;
  /**
   * Uploads part `partNumber` of the upload (again, if it was uploaded before: the new bytes replace
   * the old). `crc64nvme` makes the store verify the body and keep the checksum. Returns the ETag.
   */
  uploadPart(
    key: string,
    uploadId: string,
    part: { readonly partNumber: number; readonly body: Buffer; readonly crc64nvme: string },
  ): Promise<string>;
  /** The upload's parts in order, or `undefined` when the upload is gone (completed or aborted). */
  listParts(key: string, uploadId: string): Promise<UploadedPart[] | undefined>;
  /** Aborts the upload (its parts are freed); an upload already gone is not an error. */
  abortUpload(key: string, uploadId: string): Promise<void>;
}
