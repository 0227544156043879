import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { type ExportFilter, ExportWorkerManifest, type ExportWorkerPart } from '@sidestep/contracts';
import * as z from 'zod/mini';
import { EXPORT_COLUMNS, exportCopySql } from '../domain/export-query.ts';
import type { ExportTarget, UserExportStore } from '../domain/user-export-store.ts';
import { ExportFailedError, ExportRowCountMismatchError } from '../errors.ts';
import { GzipPartWriter } from './gzip-part-writer.ts';

/**
 * Compressed bytes per part (every part but the last is at least this). Above S3's 5 MiB minimum for
 * UploadPartCopy so the finalizer combines parts server-side; 8 MiB is the AWS CLI's and SDKs'
 * default multipart chunk. Memory holds about two parts (one compressing, one uploading).
 */
export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;

/**
 * zlib level of the parts. 1 (fastest), like the `gzip -1` of the benchmark's baseline: the export
 * is CPU-bound on one core, and level 6 costs several times the CPU for a file ~15% smaller
 * (bench/EXPORT-RESULTS.md).
 */
export const DEFAULT_GZIP_LEVEL = 1;

/** `exports/<jobId>/parts/`: where a job's parts and worker manifest go. */
export function exportPartsPrefix(jobId: string): string {
  return `exports/${jobId}/parts/`;
}

/** The key of part `number` (1-based): `exports/<jobId>/parts/part-00001.csv.gz`. */
export function exportPartKey(jobId: string, number: number): string {
  return `${exportPartsPrefix(jobId)}part-${String(number).padStart(5, '0')}.csv.gz`;
}

/** The key of the worker manifest: `exports/<jobId>/parts/manifest.json`. */
export function exportWorkerManifestKey(jobId: string): string {
  return `${exportPartsPrefix(jobId)}manifest.json`;
}

/** Options of {@link exportUsers}. */
export interface ExportUsersOptions {
  readonly jobId: string;
  /** Which users; `undefined` (or `{}`) is everyone. */
  readonly filter: ExportFilter | undefined;
  readonly store: UserExportStore;
  readonly target: ExportTarget;
  /** @default {@link DEFAULT_PART_BYTES}; tests use a few bytes to cross part boundaries */
  readonly partBytes?: number;
  /** @default {@link DEFAULT_GZIP_LEVEL} */
  readonly gzipLevel?: number;
  /** Aborting stops the export (no manifest is written); the abort reason becomes the failure's cause. */
  readonly signal?: AbortSignal;
  /** How often `onProgress` is called while rows stream. @default 10000 */
  readonly progressIntervalMs?: number;
  readonly onProgress?: (progress: ExportProgress) => void;
}

/** Progress while rows stream. */
export interface ExportProgress {
  readonly rows: number;
  readonly parts: number;
}

/** What a successful export wrote. */
export interface ExportSummary {
  readonly manifestKey: string;
  readonly manifest: ExportWorkerManifest;
  /** Uncompressed CSV bytes (header included). */
  readonly csvBytes: number;
}

/**
 * Exports the users `filter` selects as gzip CSV parts plus a worker manifest:
 * `COPY (SELECT ...) TO STDOUT (FORMAT csv, HEADER, FORCE_QUOTE *)` -> {@link GzipPartWriter}
 * (formula cells escaped, gzip members of whole records, cut after `partBytes`) -> one
 * PutObject per part, in one `stream/promises.pipeline` with backpressure from S3 back to PostgreSQL,
 * so memory stays flat whatever the row count. Then the manifest (parts in order with rows, bytes,
 * SHA-256 and MD5) at `exports/<jobId>/parts/manifest.json`, last, so a manifest only ever names
 * parts that were all written; then `rows_total` and `bytes` on the job.
 *
 * Re-running writes the same keys again; the same data gives byte-identical parts (rows ordered by
 * `external_id`, gzip headers carry no time stamp), so a retried task overwrites deterministically.
 *
 * @throws {ExportFailedError} after recording its reason on the job's `worker_error`.
 */
export async function exportUsers(options: ExportUsersOptions): Promise<ExportSummary> {
  const { jobId, store, target, signal } = options;
  const writer = new GzipPartWriter({
    partBytes: options.partBytes ?? DEFAULT_PART_BYTES,
    gzipLevel: options.gzipLevel ?? DEFAULT_GZIP_LEVEL,
    headerRecords: 1,
    writePart: (part) =>
      target.putObject({
        key: exportPartKey(jobId, part.number),
        body: part.body,
        contentType: 'application/gzip',
        sha256: part.sha256,
      }),
  });
  const timer = options.onProgress
    ? setInterval(
        () => options.onProgress?.({ rows: writer.rows, parts: writer.parts.length }),
        options.progressIntervalMs ?? 10_000,
      )
    : undefined;
  timer?.unref();
  try {
    signal?.throwIfAborted();
    await store.checkJob(jobId);
    const copy = store.copyOut(exportCopySql(options.filter));
    await pipeline(copy, writer, signal ? { signal } : {});
    const parts: ExportWorkerPart[] = writer.parts.map((part) => ({
      key: exportPartKey(jobId, part.number),
      rows: part.rows,
      bytes: part.bytes,
      sha256: part.sha256,
      md5: part.md5,
    }));
    const manifest = z.parse(ExportWorkerManifest, {
      version: 1,
      jobId,
      columns: [...EXPORT_COLUMNS],
      header: true,
      parts,
      rows: parts.reduce((sum, part) => sum + part.rows, 0),
      bytes: parts.reduce((sum, part) => sum + part.bytes, 0),
    });
    // PostgreSQL's own count against the records the writer found: a cut in the wrong place would
    // give parts that are not whole records.
    if (copy.rowCount !== manifest.rows) throw new ExportRowCountMismatchError(copy.rowCount, manifest.rows);
    signal?.throwIfAborted();
    const manifestKey = exportWorkerManifestKey(jobId);
    const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
    await target.putObject({
      key: manifestKey,
      body,
      contentType: 'application/json',
      sha256: createHash('sha256').update(body).digest('hex'),
    });
    await store.recordResult(jobId, { rowsTotal: manifest.rows, bytes: manifest.bytes });
    return {
      manifestKey,
      manifest,
      csvBytes: writer.parts.reduce((sum, part) => sum + part.csvBytes, 0),
    };
  } catch (error) {
    const failure = new ExportFailedError(jobId, signal?.aborted ? signal.reason : error);
    try {
      await store.recordFailure(jobId, failure.reason);
    } catch (recordError) {
      failure.recordError = recordError;
    }
    throw failure;
  } finally {
    clearInterval(timer);
  }
}
