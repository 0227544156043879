/**
 * S3's smallest multipart part: every part but the last must be at least 5 MiB, whether uploaded or
 * copied (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
 */
export const MIN_PART_BYTES = 5 * 1024 * 1024;

/** S3's largest part, uploaded or copied (5 GiB). */
export const MAX_PART_BYTES = 5 * 1024 ** 3;

/** A worker part as the plan needs it: its key and stored size. */
export interface PlannedSource {
  readonly key: string;
  readonly bytes: number;
}

/** A byte range of one source object, `end` exclusive. */
export interface SourceSlice {
  readonly key: string;
  readonly start: number;
  readonly end: number;
}

/**
 * One part of the combined object's multipart upload: `copy` is a server-side UploadPartCopy of a
 * slice (the whole object, or a range), `upload` an UploadPart of slices read and concatenated here.
 */
export type CombinedPart =
  | {
      readonly kind: 'copy';
      readonly partNumber: number;
      readonly source: SourceSlice;
      readonly whole: boolean;
    }
  | {
      readonly kind: 'upload';
      readonly partNumber: number;
      readonly slices: readonly SourceSlice[];
      readonly bytes: number;
    };

/** Options of {@link planCombine}. */
export interface CombinePlanOptions {
  /** @default {@link MIN_PART_BYTES}; tests may not go below S3's rule on a real endpoint. */
  readonly minPartBytes?: number;
  /** @default {@link MAX_PART_BYTES} */
  readonly maxPartBytes?: number;
}

/**
 * Plans how the worker's parts become one object by multipart upload, so that the bytes this
 * function reads and re-uploads do not grow with the export:
 *
 * - a part of at least `minPartBytes` is copied server-side (UploadPartCopy), whatever its size;
 * - consecutive parts too small to stand alone are read and uploaded together as one part, flushed
 *   as soon as the run reaches `minPartBytes` (memory stays below two minimum parts);
 * - a run still short when a large part follows borrows that part's first bytes (a ranged read) and
 *   the rest of the large part is copied by range, unless the rest would itself be too short, in which
 *   case the whole large part joins the run (it is then smaller than two minimum parts);
 * - the last part may be of any size (S3's rule): a short last part on its own is copied, a short
 *   run at the end is uploaded as it is.
 *
 * With the batch-worker's parts (all but the last at least 5 MiB) every part is a copy: nothing is
 * read except the final check. Part numbers start at 1, in source order; the concatenation of the
 * planned parts is exactly the concatenation of the sources.
 */
export function planCombine(
  sources: readonly PlannedSource[],
  options: CombinePlanOptions = {},
): CombinedPart[] {
  const min = options.minPartBytes ?? MIN_PART_BYTES;
  const max = options.maxPartBytes ?? MAX_PART_BYTES;
  const parts: CombinedPart[] = [];
  // A slice larger than S3's largest part is copied in equal ranges, each over half the maximum and so
  // far above the minimum.
  const pushCopy = (slice: SourceSlice, whole: boolean) => {
    const size = slice.end - slice.start;
    const pieces = Math.ceil(size / max);
    if (pieces <= 1) {
      parts.push({ kind: 'copy', partNumber: parts.length + 1, source: slice, whole });
      return;
    }
    const step = Math.ceil(size / pieces);
    for (let start = slice.start; start < slice.end; start += step) {
      const source = { key: slice.key, start, end: Math.min(start + step, slice.end) };
      parts.push({ kind: 'copy', partNumber: parts.length + 1, source, whole: false });
    }
  };
  let run: SourceSlice[] = [];
  let runBytes = 0;

  const flushRun = () => {
    if (run.length === 0) return;
    parts.push({ kind: 'upload', partNumber: parts.length + 1, slices: run, bytes: runBytes });
    run = [];
    runBytes = 0;
  };
  const addToRun = (slice: SourceSlice) => {
    run.push(slice);
    runBytes += slice.end - slice.start;
    if (runBytes >= min) flushRun();
  };

  for (const source of sources) {
    const whole: SourceSlice = { key: source.key, start: 0, end: source.bytes };
    if (source.bytes < min) {
      addToRun(whole);
      continue;
    }
    if (run.length === 0) {
      pushCopy(whole, true);
      continue;
    }
    const need = min - runBytes;
    if (source.bytes - need >= min) {
      addToRun({ key: source.key, start: 0, end: need });
      pushCopy({ key: source.key, start: need, end: source.bytes }, false);
    } else {
      addToRun(whole);
    }
  }
  // A short tail that is one whole part needs no read: the last part of an upload may be small, and
  // UploadPartCopy takes any size.
  const [tail] = run;
  if (
    run.length === 1 &&
    tail &&
    tail.start === 0 &&
    tail.end === sources.at(-1)?.bytes &&
    tail.key === sources.at(-1)?.key
  ) {
    parts.push({ kind: 'copy', partNumber: parts.length + 1, source: tail, whole: true });
    return parts;
  }
  flushRun();
  return parts;
}
