import { ExportWorkerPart } from '@sidestep/contracts';
import * as z from 'zod/mini';

/** A stored part as the progress record lists it: the manifest's fields, plus what a resume needs. */
export const ProgressPart = z.strictObject({
  ...ExportWorkerPart.shape,
  /** Uncompressed bytes (for the summary). */
  csvBytes: z.int().check(z.minimum(0)),
  /** The part's last `external_id`; absent when it holds no data row (only the header). */
  lastKey: z.optional(z.string()),
});
export type ProgressPart = z.infer<typeof ProgressPart>;

/**
 * `exports/<jobId>/parts/progress.json`, rewritten by the batch-worker after each part it stores:
 * where a retried export task continues. Worker-internal (only the worker reads it).
 */
export const ExportProgress = z.strictObject({
  version: z.literal(1),
  jobId: z.string(),
  /** What the parts are made of (the statement and the file's shape): another one is not resumed. */
  source: z.string(),
  parts: z.array(ProgressPart),
});
export type ExportProgress = z.infer<typeof ExportProgress>;

/** Where a resumed export continues: the parts it keeps, and the key its COPY starts after. */
export interface ResumePoint {
  readonly parts: readonly ProgressPart[];
  readonly after: string;
}

/**
 * The resume point a progress record gives this export, or `undefined` to start from the beginning:
 * no record, another job's or another query's, parts not numbered 1..n in order, or a last part
 * without a key (only the header: nothing worth keeping).
 */
export function resumePoint(
  progress: ExportProgress | undefined,
  expected: { readonly jobId: string; readonly source: string },
  partKey: (number: number) => string,
): ResumePoint | undefined {
  if (!progress || progress.jobId !== expected.jobId || progress.source !== expected.source) return undefined;
  const last = progress.parts.at(-1);
  if (last?.lastKey === undefined) return undefined;
  if (progress.parts.some((part, index) => part.key !== partKey(index + 1))) return undefined;
  return { parts: progress.parts, after: last.lastKey };
}
