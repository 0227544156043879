import { ExportWorkerPart } from '@sidestep/contracts';
import * as z from 'zod/mini';

/** An uploaded part as the progress record lists it: the manifest's fields, plus what a resume needs. */
export const ProgressPart = z.strictObject({
  ...ExportWorkerPart.shape,
  /** Uncompressed bytes (for the summary). */
  csvBytes: z.int().check(z.minimum(0)),
  /**
   * The bytes of COPY's output the part holds (formula escapes and byte order mark not counted) and
   * their CRC-32 (zlib's): what a retry compares a new read of the kept rows with.
   */
  copyBytes: z.int().check(z.minimum(0)),
  copyCrc32: z.int().check(z.minimum(0), z.maximum(0xffff_ffff)),
  /** The part's last `external_id`; absent when it holds no data row (only the header). */
  lastKey: z.optional(z.string()),
});
export type ProgressPart = z.infer<typeof ProgressPart>;

/**
 * `exports/<jobId>/parts/progress.json`, rewritten by the batch-worker after each part it uploads:
 * where a retried export task continues. Worker-internal (only the worker reads it). Version 2: the
 * parts are in the file's multipart upload (`key`, `uploadId`), no longer objects of their own.
 * Version 3: each part has its `copyBytes` and `copyCrc32` (a version 2 record is not resumed).
 */
export const ExportProgress = z.strictObject({
  version: z.literal(3),
  jobId: z.string(),
  /** What the parts are made of (the statement and the file's shape): another one is not resumed. */
  source: z.string(),
  /** The export's file, and its multipart upload the parts are in. */
  key: z.string(),
  uploadId: z.string(),
  parts: z.array(ProgressPart),
});
export type ExportProgress = z.infer<typeof ExportProgress>;

/** Where a resumed export continues: its upload, the parts it keeps, and the key its COPY starts after. */
export interface ResumePoint {
  readonly uploadId: string;
  readonly parts: readonly ProgressPart[];
  readonly after: string;
}

/**
 * The resume point a progress record gives this export, or `undefined` to start from the beginning:
 * no record, another job's, query's or file's, parts not numbered 1..n in order, or nothing worth
 * keeping.
 *
 * A last part smaller than `partBytes` is the end of the data as the earlier attempt saw it; it is
 * not kept (its rows are exported again into the same part number), because S3 completes an upload
 * only when every part but the last is at least 5 MiB (EntityTooSmall,
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html), and users added
 * since would follow it in a part of their own.
 */
export function resumePoint(
  progress: ExportProgress | undefined,
  expected: {
    readonly jobId: string;
    readonly source: string;
    readonly key: string;
    readonly partBytes: number;
  },
): ResumePoint | undefined {
  if (!progress || progress.jobId !== expected.jobId || progress.source !== expected.source) return undefined;
  if (progress.key !== expected.key) return undefined;
  if (progress.parts.some((part, index) => part.partNumber !== index + 1)) return undefined;
  const short = (progress.parts.at(-1)?.bytes ?? 0) < expected.partBytes;
  const parts = short ? progress.parts.slice(0, -1) : progress.parts;
  const last = parts.at(-1);
  if (last?.lastKey === undefined) return undefined;
  return { uploadId: progress.uploadId, parts, after: last.lastKey };
}
