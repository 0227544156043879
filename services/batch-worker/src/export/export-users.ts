import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import {
  type ExportFilter,
  ExportWorkerManifest,
  type ExportWorkerPart,
  exportObjectKey,
} from '@sidestep/contracts';
import { combinePartsCrc64Nvme } from '@sidestep/contracts/crc64-nvme';
import { crc64Nvme } from '@sidestep/contracts/crc64-nvme-hash';
import * as z from 'zod/mini';
import {
  ExportProgress,
  type ProgressPart,
  type ResumePoint,
  resumePoint,
} from '../domain/export-progress.ts';
import { EXPORT_COLUMNS, exportCopySql } from '../domain/export-query.ts';
import type { ExportTarget, UploadedPart, UserExportStore } from '../domain/user-export-store.ts';
import { ExportFailedError, ExportRowCountMismatchError } from '../errors.ts';
import { GzipPartWriter } from './gzip-part-writer.ts';

/**
 * Compressed bytes per part (every part but the last is at least this). Above S3's 5 MiB minimum for
 * every part of a multipart upload but the last; 8 MiB is the AWS CLI's and SDKs' default multipart
 * chunk. Memory holds about two parts (one compressing, one uploading).
 */
export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;

/**
 * zlib level of the parts. 1 (fastest), like the `gzip -1` of the benchmark's baseline: the export
 * is CPU-bound on one core, and level 6 costs several times the CPU for a file ~15% smaller
 * (bench/EXPORT-RESULTS.md).
 */
export const DEFAULT_GZIP_LEVEL = 1;

/** `exports/<jobId>/parts/`: where a job's progress record and worker manifest go. */
export function exportPartsPrefix(jobId: string): string {
  return `exports/${jobId}/parts/`;
}

/** The key of the worker manifest: `exports/<jobId>/parts/manifest.json`. */
export function exportWorkerManifestKey(jobId: string): string {
  return `${exportPartsPrefix(jobId)}manifest.json`;
}

/** The key of the progress record a retried task resumes from: `exports/<jobId>/parts/progress.json`. */
export function exportProgressKey(jobId: string): string {
  return `${exportPartsPrefix(jobId)}progress.json`;
}

/** UTF-8's byte order mark: what makes Excel read a CSV as UTF-8. */
export const UTF8_BYTE_ORDER_MARK = Buffer.from([0xef, 0xbb, 0xbf]);

/** Options of {@link exportUsers}. */
export interface ExportUsersOptions {
  readonly jobId: string;
  /** The file's base name: the parts go into the upload of `exports/<jobId>/<fileName>.csv.gz`. */
  readonly fileName: string;
  /** Which users; `undefined` (or `{}`) is everyone. */
  readonly filter: ExportFilter | undefined;
  /** Start the file with {@link UTF8_BYTE_ORDER_MARK}. @default true (the request's default) */
  readonly byteOrderMark?: boolean;
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
  readonly onProgress?: (progress: ExportProgressReport) => void;
  /**
   * Told why an earlier attempt's parts are not kept and the export starts over in a new upload
   * (their upload gone or changed, their progress record of another file or query, or the rows they
   * hold changed since they were read). Not called for a first attempt.
   */
  readonly onStartOver?: (reason: string) => void;
  /** Told why the export waits for another task of the job (see {@link lockJob}). */
  readonly onWait?: (reason: string) => void;
  /** How often a task waiting for another of its job tries its lock again. @default 5000 */
  readonly lockPollMs?: number;
}

/** Progress while rows stream. */
export interface ExportProgressReport {
  /** Rows read from the database so far (a resumed export's kept parts' rows included). */
  readonly rows: number;
  /** Parts uploaded so far (kept ones included). */
  readonly parts: number;
  /** Their compressed bytes. */
  readonly bytes: number;
}

/** What a successful export wrote. */
export interface ExportSummary {
  readonly manifestKey: string;
  readonly manifest: ExportWorkerManifest;
  /** Uncompressed CSV bytes (header and byte order mark included). */
  readonly csvBytes: number;
  /** Parts an earlier attempt had uploaded that this one kept (0: it started from the beginning). */
  readonly resumedParts: number;
  /** Rows this attempt read from the database and wrote (all of them unless it resumed). */
  readonly rowsWritten: number;
}

/**
 * Exports the users `filter` selects as the gzip CSV `exports/<jobId>/<fileName>.csv.gz`, uploaded
 * part by part into the file's multipart upload, plus a worker manifest:
 * `COPY (SELECT ...) TO STDOUT (FORMAT csv, HEADER, FORCE_QUOTE *)` -> {@link GzipPartWriter}
 * (formula cells escaped, gzip members of whole records, cut after `partBytes`) -> one UploadPart
 * per part, in one `stream/promises.pipeline` with backpressure from S3 back to PostgreSQL, so memory
 * stays flat whatever the row count. Part 1 starts with the UTF-8 byte order mark unless
 * `byteOrderMark` is false. The export-finalizer checks the parts (ListParts) and completes the
 * upload: no byte is copied or stored twice.
 *
 * After each part is uploaded, `exports/<jobId>/parts/progress.json` names the upload and lists its
 * parts so far with the last `external_id` of the last one. A retried task ({@link resumePoint}) whose
 * upload still holds those parts (ListParts: same numbers, sizes and ETags) keeps them and continues
 * after that key (`external_id > key`, the ORDER BY's column: a keyset) in the same upload, numbering
 * parts on from there; a part uploaded after the progress was last written is uploaded again under
 * its number, which replaces it. Otherwise (no record, the upload gone, its parts not the record's)
 * the task starts over in a new upload and aborts the old one. The record is written while the next
 * part compresses (the next upload waits for it), so it lags at most one part behind.
 *
 * Then the manifest (the upload, its parts in order with rows, bytes, ETag and CRC-64/NVME, and the
 * whole file's CRC-64/NVME combined from the parts') at `exports/<jobId>/parts/manifest.json`, last,
 * so a manifest only ever names parts that were all uploaded; then `rows_total` and `bytes` on the job.
 *
 * The file is for spreadsheets: cells a spreadsheet would run as a formula, and cells that start
 * with `'`, get a leading `'` (OWASP's CSV injection escape, in {@link GzipPartWriter}). It is not an
 * import file as it is: importing it does not give back the same users (escaped cells keep their
 * `'`, `attributes` is one JSON column, the timestamps are columns).
 *
 * A task holds the job's export lock for its whole run: a second task of the job (a RunTask retried
 * after its answer was lost) waits for the first, then resumes it if the first failed (`lockJob`).
 * A task that finds the export finished (a manifest the last progress record lists, its upload
 * still open: `finishedExport`) writes nothing and takes it as its result.
 *
 * The same data gives byte-identical parts (rows ordered by `external_id`, gzip headers carry no
 * time stamp, cuts depend on the data alone, and a resumed part starts where the first attempt's did).
 *
 * @throws {ExportFailedError} after recording its reason on the job's `worker_error`.
 */
export async function exportUsers(options: ExportUsersOptions): Promise<ExportSummary> {
  const { jobId, store, target, signal } = options;
  const byteOrderMark = options.byteOrderMark ?? true;
  const partBytes = options.partBytes ?? DEFAULT_PART_BYTES;
  const key = exportObjectKey(jobId, options.fileName);
  // What the parts are made of: a progress record of another query (filter) or file shape is not resumed.
  const source = `${exportCopySql(options.filter)} BOM=${byteOrderMark}`;
  const stored: ProgressPart[] = [];
  /** The last progress record's write (see `writePart`). */
  let progressWritten: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  try {
    signal?.throwIfAborted();
    await lockJob(store, jobId, options, signal);
    // All at once (three round trips to two services); the job's state decides first.
    const [job, progress, manifestText] = await Promise.allSettled([
      store.checkJob(jobId),
      readProgress(target, jobId),
      target.readText(exportWorkerManifestKey(jobId)),
    ]);
    if (job.status === 'rejected') throw job.reason;
    if (progress.status === 'rejected') throw progress.reason;
    if (manifestText.status === 'rejected') throw manifestText.reason;
    // A task of the job finished the export (the one this task waited for, one that died after its
    // manifest, or one that ended before this duplicate started): its result is this task's too.
    // Exported again, the file could be another one (rows changed since) in another upload, the
    // first's aborted under the finalizer of a workflow waiting for that task.
    // The record's upload, listed once: whether it is finished and whether it can be resumed both ask.
    let listing: Promise<UploadedPart[] | undefined> | undefined;
    const listUpload = (uploadId: string) => (listing ??= target.listParts(key, uploadId));
    const done = await finishedExport(listUpload, { jobId, key, source }, progress.value, manifestText.value);
    if (done) {
      await store.recordResult(jobId, { rowsTotal: done.manifest.rows, bytes: done.manifest.bytes });
      return done;
    }
    const listed = await keptParts(
      target,
      listUpload,
      key,
      progress.value,
      resumePoint(progress.value, { jobId, source, key, partBytes }),
      options.onStartOver,
    );
    // A resumed export reads the rows its kept parts hold again, and the rest after them, in one
    // snapshot: the kept parts were read by an earlier attempt's COPY, whose snapshot is gone with its
    // transaction, so they are kept only if that read gives their very bytes (otherwise the file would
    // hold rows of two points in time: a user deleted between the attempts still in it, one inserted
    // before the resume point missing). A first attempt is one COPY, one snapshot already.
    const read = listed
      ? <T>(reading: () => Promise<T>) => store.inSnapshot(reading)
      : <T>(reading: () => Promise<T>) => reading();
    const { uploadId, resumedParts, rowsWritten } = await read(async () => {
      let resume = listed;
      if (resume) {
        const changed = await keptRowsChanged(store, options.filter, resume, signal);
        if (changed !== undefined) {
          options.onStartOver?.(changed);
          await target.abortUpload(key, resume.uploadId);
          resume = undefined;
        }
      }
      const uploadId =
        resume?.uploadId ??
        (await target.createUpload(key, {
          contentType: 'application/gzip',
          // No Content-Encoding on purpose: with `gzip` there, browsers would decompress the download
          // and save plain CSV under a .csv.gz name.
          contentDisposition: `attachment; filename="${options.fileName}.csv.gz"`,
        }));
      stored.push(...(resume?.parts ?? []));
      const resumedParts = stored.length;
      const writer = new GzipPartWriter({
        partBytes,
        gzipLevel: options.gzipLevel ?? DEFAULT_GZIP_LEVEL,
        headerRecords: resume ? 0 : 1,
        firstPartNumber: resumedParts + 1,
        ...(byteOrderMark && !resume ? { prefix: UTF8_BYTE_ORDER_MARK } : {}),
        writePart: async (part) => {
          const etag = await target.uploadPart(key, uploadId, {
            partNumber: part.number,
            body: part.body,
            crc64nvme: part.crc64nvme,
          });
          stored.push({
            partNumber: part.number,
            rows: part.rows,
            bytes: part.bytes,
            etag,
            crc64nvme: part.crc64nvme,
            csvBytes: part.csvBytes,
            copyBytes: part.copyBytes,
            copyCrc32: part.copyCrc32,
            ...(part.lastKey === undefined ? {} : { lastKey: part.lastKey }),
          });
          // The progress record is written while the next part compresses and uploads (a retry redoes
          // at most the parts after the one it lists); the next part's upload, or the manifest, waits
          // for it, so records are written in order and a failure surfaces.
          await progressWritten;
          progressWritten = writeJson(target, exportProgressKey(jobId), {
            version: 3,
            jobId,
            source,
            key,
            uploadId,
            parts: [...stored],
          } satisfies ExportProgress);
          progressWritten.catch(() => {});
        },
      });
      const resumedRows = stored.reduce((sum, part) => sum + part.rows, 0);
      if (options.onProgress) {
        const report = options.onProgress;
        timer = setInterval(
          () =>
            report({
              rows: resumedRows + writer.rows,
              parts: stored.length,
              bytes: stored.reduce((sum, part) => sum + part.bytes, 0),
            }),
          options.progressIntervalMs ?? 10_000,
        );
        timer.unref();
      }
      const copy = store.copyOut(exportCopySql(options.filter, resume ? { after: resume.after } : {}));
      await pipeline(copy, writer, signal ? { signal } : {});
      const rowsWritten = writer.parts.reduce((sum, part) => sum + part.rows, 0);
      // PostgreSQL's own count against the records the writer found: a cut in the wrong place would
      // give parts that are not whole records.
      if (copy.rowCount !== rowsWritten) throw new ExportRowCountMismatchError(copy.rowCount, rowsWritten);
      return { uploadId, resumedParts, rowsWritten };
    });
    // The manifest's fields of each part (the progress record's others are the worker's own).
    const parts: ExportWorkerPart[] = stored.map(({ partNumber, rows, bytes, etag, crc64nvme }) => ({
      partNumber,
      rows,
      bytes,
      etag,
      crc64nvme,
    }));
    const manifest = z.parse(ExportWorkerManifest, {
      version: 2,
      jobId,
      columns: [...EXPORT_COLUMNS],
      header: true,
      key,
      uploadId,
      parts,
      rows: parts.reduce((sum, part) => sum + part.rows, 0),
      bytes: parts.reduce((sum, part) => sum + part.bytes, 0),
      crc64nvme: combinePartsCrc64Nvme(parts),
      byteOrderMark,
      resumedParts,
    });
    signal?.throwIfAborted();
    const manifestKey = exportWorkerManifestKey(jobId);
    // With the last progress record: once the manifest is there, no retry reads the progress.
    await Promise.all([progressWritten, writeJson(target, manifestKey, manifest)]);
    await store.recordResult(jobId, { rowsTotal: manifest.rows, bytes: manifest.bytes });
    return {
      manifestKey,
      manifest,
      csvBytes: stored.reduce((sum, part) => sum + part.csvBytes, 0),
      resumedParts,
      rowsWritten,
    };
  } catch (error) {
    // A retry resumes from the progress record: let the last one finish writing first.
    await progressWritten.catch(() => {});
    const failure = new ExportFailedError(jobId, signal?.aborted ? signal.reason : error);
    try {
      await store.recordFailure(jobId, failure.reason, failure.permanent);
    } catch (recordError) {
      failure.recordError = recordError;
    }
    throw failure;
  } finally {
    clearInterval(timer);
  }
}

/**
 * Takes the job's export lock ({@link UserExportStore.tryLockJob}), held until the task ends, waiting
 * for another task of the job that holds it. Two tasks of one job run at once when a RunTask
 * whose answer was lost is retried: ECS started the first, Step Functions waits for the second. Both
 * would write the same upload's parts and the same progress record and manifest, and one could start
 * over and abort the upload the other's manifest names. So the second waits, trying every
 * `lockPollMs` (a blocking lock would be cut off by the session's lock timeout; a stop request ends
 * the wait), and then finds the export done ({@link finishedExport}) or, if the first failed, resumes
 * it. Waiting rather than exiting 75 makes the workflow end right whichever task it waits for: the
 * lock's holder, being unaware of the other, goes on as alone; the waiter exits 0 with the holder's
 * result, or does the work itself. A waiter exiting 75 would be run again, wait or exit 75 again,
 * and fail the job after 3 reruns while the holder (the task the workflow does not see) succeeds.
 */
async function lockJob(
  store: UserExportStore,
  jobId: string,
  options: Pick<ExportUsersOptions, 'lockPollMs' | 'onWait'>,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (await store.tryLockJob(jobId)) return;
  options.onWait?.('another task of the job holds its lock');
  do {
    await sleep(options.lockPollMs ?? 5_000, undefined, signal ? { signal } : {});
  } while (!(await store.tryLockJob(jobId)));
}

/**
 * The export a task of the job finished, as {@link exportUsers} returns it, or `undefined`: a
 * manifest (`manifestText`) of this job's file that is the last progress record's (the manifest is
 * written with it, last, once every part is stored), whose upload still holds its parts (not yet
 * completed by the finalizer, nor aborted). A manifest an earlier attempt left before a later one
 * stored parts again is not the record's (another upload, or other parts); one whose upload the
 * finalizer completed or refused is exported again, as before.
 */
async function finishedExport(
  listUpload: (uploadId: string) => Promise<UploadedPart[] | undefined>,
  expected: { readonly jobId: string; readonly key: string; readonly source: string },
  progress: ExportProgress | undefined,
  manifestText: string | undefined,
): Promise<ExportSummary | undefined> {
  if (manifestText === undefined || progress?.source !== expected.source) return undefined;
  let manifest: ExportWorkerManifest;
  try {
    manifest = z.parse(ExportWorkerManifest, JSON.parse(manifestText));
  } catch {
    return undefined;
  }
  const partOf = (part: { partNumber: number; etag: string }) => `${part.partNumber}:${part.etag}`;
  const recorded =
    manifest.jobId === expected.jobId &&
    manifest.key === expected.key &&
    manifest.uploadId === progress.uploadId &&
    manifest.parts.map(partOf).join() === progress.parts.map(partOf).join();
  if (!recorded || !holdsParts(await listUpload(manifest.uploadId), progress.parts)) return undefined;
  return {
    manifestKey: exportWorkerManifestKey(expected.jobId),
    manifest,
    csvBytes: progress.parts.reduce((sum, part) => sum + part.csvBytes, 0),
    resumedParts: manifest.parts.length,
    rowsWritten: 0,
  };
}

/**
 * Whether an upload's parts (`listed`, `undefined` when the upload is gone) hold `parts` as recorded:
 * each number with the record's size and ETag, and its CRC-64/NVME when S3 lists one.
 */
function holdsParts(listed: readonly UploadedPart[] | undefined, parts: readonly ProgressPart[]): boolean {
  if (listed === undefined) return false;
  const byNumber = new Map<number, UploadedPart>(listed.map((part) => [part.partNumber, part]));
  return parts.every((part) => {
    const found = byNumber.get(part.partNumber);
    return (
      found !== undefined &&
      found.bytes === part.bytes &&
      found.etag === part.etag &&
      (found.crc64nvme === undefined || found.crc64nvme === part.crc64nvme)
    );
  });
}

/**
 * The resume point, if the upload it names still holds its parts as the record lists them (ListParts:
 * every kept part with the record's size and ETag, and its CRC-64/NVME when S3 lists one); otherwise
 * `undefined`, `onStartOver` is told why (unless there is no record: a first attempt), and the
 * record's upload, if any is left, is aborted (its parts would only cost until the bucket's lifecycle
 * rule aborts it).
 */
async function keptParts(
  target: ExportTarget,
  listUpload: (uploadId: string) => Promise<UploadedPart[] | undefined>,
  key: string,
  progress: ExportProgress | undefined,
  resume: ResumePoint | undefined,
  onStartOver: ((reason: string) => void) | undefined,
): Promise<ResumePoint | undefined> {
  if (!progress) return undefined;
  if (progress.key !== key) {
    onStartOver?.('the progress record is of another file');
    return undefined;
  }
  let reason = 'the progress record is of another job or query, or lists no part to keep';
  if (resume) {
    const listed = await listUpload(progress.uploadId);
    if (listed === undefined) {
      // Completed or aborted: nothing to resume into.
      onStartOver?.('the upload the progress record names is gone');
      return undefined;
    }
    if (holdsParts(listed, resume.parts)) return resume;
    reason = 'the upload does not hold the parts the progress record lists';
  }
  onStartOver?.(reason);
  // Aborting an upload that is already gone is not an error: no listing needed to decide.
  await target.abortUpload(key, progress.uploadId);
  return undefined;
}

/**
 * Why the rows the kept parts hold are no longer what the table holds, or `undefined` when they
 * still are: the same rows (`external_id <= after`, the header first) copied again, without gzip or
 * upload, cut where the parts were cut (their `copyBytes`) and each piece's CRC-32 compared with its
 * part's `copyCrc32`, and PostgreSQL's row count with the parts' rows. COPY's output is what the
 * parts are made of, byte for byte (the session settings fix its text), so any row inserted, deleted
 * or changed in an exported column since is found, whoever wrote it and whether or not it touched
 * `updated_at`.
 */
async function keptRowsChanged(
  store: UserExportStore,
  filter: ExportFilter | undefined,
  resume: ResumePoint,
  signal: AbortSignal | undefined,
): Promise<string | undefined> {
  const copy = store.copyOut(exportCopySql(filter, { through: resume.after }));
  const parts = resume.parts;
  let index = 0;
  let inPart = 0;
  let crc = 0;
  let bytes = 0;
  let differs = false;
  await pipeline(
    copy,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        for (let offset = 0; offset < chunk.length && !differs; ) {
          const part = parts[index];
          if (!part) {
            differs = true; // more bytes than the parts hold
            break;
          }
          const piece = chunk.subarray(offset, offset + part.copyBytes - inPart);
          crc = crc32(piece, crc);
          inPart += piece.length;
          offset += piece.length;
          if (inPart === part.copyBytes) {
            differs = crc !== part.copyCrc32;
            index += 1;
            inPart = 0;
            crc = 0;
          }
        }
        callback();
      },
    }),
    signal ? { signal } : {},
  );
  const rows = parts.reduce((sum, part) => sum + part.rows, 0);
  const keptBytes = parts.reduce((sum, part) => sum + part.copyBytes, 0);
  if (!differs && index === parts.length && copy.rowCount === rows && bytes === keptBytes) return undefined;
  return (
    'the rows up to the resume point changed since the earlier attempt read them ' +
    `(${rows} rows, ${keptBytes} bytes then; ${copy.rowCount} rows, ${bytes} bytes now)`
  );
}

async function writeJson(target: ExportTarget, key: string, value: unknown): Promise<void> {
  const body = Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
  await target.putObject({ key, body, contentType: 'application/json', crc64nvme: crc64Nvme(body) });
}

/** The progress record an earlier attempt left, or `undefined` (none, or unreadable: start over). */
async function readProgress(target: ExportTarget, jobId: string): Promise<ExportProgress | undefined> {
  const text = await target.readText(exportProgressKey(jobId));
  if (text === undefined) return undefined;
  try {
    return z.parse(ExportProgress, JSON.parse(text));
  } catch {
    return undefined;
  }
}
