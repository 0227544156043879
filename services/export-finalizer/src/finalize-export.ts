import {
  ContractValidationError,
  ExportWorkerManifest,
  type FinalizeExportInput,
  type FinalizeExportOutput,
  validate,
} from '@sidestep/contracts';
import { combinePartsCrc64Nvme } from '@sidestep/contracts/crc64-nvme';
import pLimit from 'p-limit';
import { type CombinedPart, MIN_PART_BYTES, planCombine } from './domain/combine-plan.ts';
import type { DownloadLink } from './domain/download-link.ts';
import { ExportFinalManifest, sourceSha256 } from './domain/export-final-manifest.ts';
import type { ExportObjectStore, StoredObject, UploadedPart } from './domain/export-object-store.ts';
import {
  ExportStorageUnavailableError,
  ExportVerificationError,
  PartChecksumMismatchError,
  PartMissingError,
  PartSizeMismatchError,
  WorkerManifestInvalidError,
} from './errors.ts';

/** Options of {@link finalizeExport}. */
export interface FinalizeExportOptions {
  /** Makes the download link for the combined object's key. */
  readonly downloadLink: (key: string, now: Date) => DownloadLink;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** S3's minimum part size. @default 5 MiB (only tests against a relaxed store may lower it) */
  readonly minPartBytes?: number;
  /** Parts copied or uploaded at once. @default 4 */
  readonly concurrency?: number;
}

/** What {@link finalizeExport} did, besides its output: for the log line and the benchmark. */
export interface FinalizeExportStats {
  /** `finalized` combined the parts; `replayed` found the same parts finalized before. */
  readonly outcome: 'finalized' | 'replayed';
  readonly workerParts: number;
  /** UploadPartCopy requests (server-side copies). */
  readonly copiedParts: number;
  /** UploadPart requests, and the bytes they carried (read from S3 and re-uploaded). */
  readonly uploadedParts: number;
  readonly uploadedBytes: number;
}

/** The step's output and what it did. */
export interface FinalizeExportResult {
  readonly output: FinalizeExportOutput;
  readonly stats: FinalizeExportStats;
}

/**
 * Verifies the batch-worker's parts, combines them into `exports/<jobId>/<fileName>.csv.gz`, checks
 * the result and writes the final manifest.
 *
 * 1. The worker manifest is read and validated (`ExportWorkerManifest`; its job and its part keys
 *    must be this job's).
 * 2. If `exports/<jobId>/manifest.json` already records these very parts (same `sourceSha256`) and
 *    the object it names is still there unchanged, that result is returned: finalizing twice yields
 *    the same object, and a retry after a lost response costs two reads.
 * 3. Every part is checked with HeadObject: present, its size the manifest's, and S3's CRC-64/NVME of
 *    it (computed by S3 as the worker uploaded it) the manifest's: a part changed after the worker
 *    wrote it is refused here (no bytes read). Reads and copies are then pinned to the ETag seen here.
 * 4. One multipart upload combines them ({@link planCombine}): UploadPartCopy for every part S3 can
 *    copy, UploadPart only for runs of parts under 5 MiB, as a CRC-64/NVME `FULL_OBJECT` upload;
 *    CompleteMultipartUpload carries the manifest's whole-file checksum, which S3 checks against the
 *    one it combines from the parts' (BadDigest otherwise). Any failure aborts the upload.
 * 5. HeadObject on the combined object: the manifest's size and CRC-64/NVME. The rows are the
 *    manifest's (the worker checked them against PostgreSQL's count); the object is never read, so
 *    the work depends on the number of parts, not on the bytes
 *    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html).
 * 6. The final manifest is written; only then is the result returned with a download link.
 *
 * @throws {WorkerManifestInvalidError} the worker manifest is missing, invalid or another job's.
 * @throws {PartMissingError} / {PartSizeMismatchError} / {PartChecksumMismatchError} naming the part.
 * @throws {ExportVerificationError} the combined object is not the parts (size or CRC-64/NVME).
 * @throws {ExportStorageUnavailableError} S3 failed in a way a retry may cure.
 */
export async function finalizeExport(
  store: ExportObjectStore,
  input: FinalizeExportInput,
  options: FinalizeExportOptions,
): Promise<FinalizeExportResult> {
  const now = options.now ?? (() => new Date());
  const { bucket, jobId } = input;
  const manifest = await readWorkerManifest(store, input);
  const key = `exports/${jobId}/${input.fileName}.csv.gz`;
  const manifestKey = `exports/${jobId}/manifest.json`;
  const source = sourceSha256(manifest);

  const previous = await readFinalManifest(store, bucket, manifestKey);
  if (previous && previous.sourceSha256 === source && previous.key === key) {
    const object = await store.head(bucket, key);
    if (object && object.etag === previous.etag && object.bytes === previous.bytes) {
      return {
        output: output(previous, manifestKey, options.downloadLink(key, now())),
        stats: {
          outcome: 'replayed',
          workerParts: manifest.parts.length,
          copiedParts: 0,
          uploadedParts: 0,
          uploadedBytes: 0,
        },
      };
    }
  }

  const stored = await verifyParts(store, bucket, manifest);
  const plan = planCombine(manifest.parts, { minPartBytes: options.minPartBytes ?? MIN_PART_BYTES });
  const written = await combine(
    store,
    { bucket, key, fileName: input.fileName, crc64nvme: manifest.crc64nvme },
    plan,
    stored,
    options.concurrency ?? 4,
  );
  const checked = await checkCombined(store, bucket, key, manifest);

  const final: ExportFinalManifest = {
    version: 1,
    jobId,
    bucket,
    key,
    fileName: input.fileName,
    columns: manifest.columns,
    rows: manifest.rows,
    bytes: checked.bytes,
    crc64nvme: checked.crc64nvme,
    etag: checked.etag,
    parts: manifest.parts.length,
    sourceSha256: source,
    finalizedAt: now().toISOString(),
  };
  await store.putJson(bucket, manifestKey, final);
  return {
    output: output(final, manifestKey, options.downloadLink(key, now())),
    stats: {
      outcome: 'finalized',
      workerParts: manifest.parts.length,
      copiedParts: written.copiedParts,
      uploadedParts: written.uploadedParts,
      uploadedBytes: written.uploadedBytes,
    },
  };
}

function output(final: ExportFinalManifest, manifestKey: string, link: DownloadLink): FinalizeExportOutput {
  return {
    jobId: final.jobId,
    bucket: final.bucket,
    key: final.key,
    rows: final.rows,
    bytes: final.bytes,
    crc64nvme: final.crc64nvme,
    manifestKey,
    downloadUrl: link.url,
    downloadExpiresAt: link.expiresAt.toISOString(),
  };
}

async function readWorkerManifest(
  store: ExportObjectStore,
  input: FinalizeExportInput,
): Promise<ExportWorkerManifest> {
  const { bucket, manifestKey, jobId } = input;
  const text = await store.readText(bucket, manifestKey);
  if (text === undefined) {
    throw new WorkerManifestInvalidError(manifestKey, 'manifestKey', `no such object in ${bucket}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new WorkerManifestInvalidError(manifestKey, '(root)', 'not JSON', { cause: error });
  }
  let manifest: ExportWorkerManifest;
  try {
    manifest = validate(ExportWorkerManifest, json);
  } catch (error) {
    if (error instanceof ContractValidationError) {
      throw new WorkerManifestInvalidError(manifestKey, error.field, error.message, { cause: error });
    }
    throw error;
  }
  if (manifest.jobId !== jobId) {
    throw new WorkerManifestInvalidError(
      manifestKey,
      'jobId',
      `is ${manifest.jobId}, the input's job is ${jobId}`,
    );
  }
  // Parts must be this job's own: a manifest naming another job's objects would copy them into this
  // job's export (and its download link).
  const prefix = `exports/${jobId}/parts/`;
  manifest.parts.forEach((part, index) => {
    if (!part.key.startsWith(prefix) || part.key.includes('..')) {
      throw new WorkerManifestInvalidError(manifestKey, `parts.${index}.key`, `must be under ${prefix}`);
    }
  });
  // The file's checksum is the parts' combined: what S3 will combine them into.
  const combined = combinePartsCrc64Nvme(manifest.parts);
  if (combined !== manifest.crc64nvme) {
    throw new WorkerManifestInvalidError(
      manifestKey,
      'crc64nvme',
      `is ${manifest.crc64nvme}, the parts' checksums combine to ${combined}`,
    );
  }
  return manifest;
}

async function readFinalManifest(
  store: ExportObjectStore,
  bucket: string,
  manifestKey: string,
): Promise<ExportFinalManifest | undefined> {
  const text = await store.readText(bucket, manifestKey);
  if (text === undefined) return undefined;
  try {
    return validate(ExportFinalManifest, JSON.parse(text));
  } catch {
    return undefined; // unreadable: finalize again and overwrite it
  }
}

/** HeadObject on every part (a few at a time): present, the manifest's size, S3's CRC-64/NVME the manifest's. */
async function verifyParts(
  store: ExportObjectStore,
  bucket: string,
  manifest: ExportWorkerManifest,
): Promise<Map<string, StoredObject>> {
  const stored = new Map<string, StoredObject>();
  await eachLimit(manifest.parts, 16, async (part) => {
    const object = await store.head(bucket, part.key);
    if (!object) throw new PartMissingError(part.key);
    if (object.bytes !== part.bytes) throw new PartSizeMismatchError(part.key, part.bytes, object.bytes);
    if (object.crc64nvme !== part.crc64nvme) {
      throw new PartChecksumMismatchError(part.key, part.crc64nvme, object.crc64nvme ?? '(none stored)');
    }
    stored.set(part.key, object);
  });
  return stored;
}

async function combine(
  store: ExportObjectStore,
  target: {
    readonly bucket: string;
    readonly key: string;
    readonly fileName: string;
    readonly crc64nvme: string;
  },
  plan: readonly CombinedPart[],
  stored: ReadonlyMap<string, StoredObject>,
  concurrency: number,
): Promise<{ copiedParts: number; uploadedParts: number; uploadedBytes: number }> {
  const { bucket, key, fileName } = target;
  const etagOf = (partKey: string) => (stored.get(partKey) as StoredObject).etag;
  const uploadId = await store.createMultipartUpload(bucket, key, {
    contentType: 'application/gzip',
    // No Content-Encoding on purpose: with `gzip` there, browsers would decompress the download and
    // save plain CSV under a .csv.gz name.
    contentDisposition: `attachment; filename="${fileName}.csv.gz"`,
  });
  let copiedParts = 0;
  let uploadedParts = 0;
  let uploadedBytes = 0;
  try {
    const receipts: UploadedPart[] = new Array(plan.length);
    await eachLimit(plan, concurrency, async (part) => {
      if (part.kind === 'copy') {
        const { source } = part;
        receipts[part.partNumber - 1] = await store.copyPart(bucket, key, uploadId, part.partNumber, {
          key: source.key,
          etag: etagOf(source.key),
          ...(part.whole ? {} : { range: { start: source.start, end: source.end } }),
        });
        copiedParts += 1;
        return;
      }
      const pieces: Buffer[] = [];
      for (const slice of part.slices) {
        const body = await store.read(bucket, slice.key, {
          etag: etagOf(slice.key),
          range: { start: slice.start, end: slice.end },
        });
        for await (const chunk of body) pieces.push(chunk as Buffer);
      }
      const body = Buffer.concat(pieces);
      if (body.length !== part.bytes) {
        throw new ExportStorageUnavailableError(
          'GetObject',
          new Error(`read ${body.length} of ${part.bytes} bytes`),
        );
      }
      receipts[part.partNumber - 1] = await store.uploadPart(bucket, key, uploadId, part.partNumber, body);
      uploadedParts += 1;
      uploadedBytes += body.length;
    });
    await store.completeMultipartUpload(bucket, key, uploadId, receipts, target.crc64nvme);
  } catch (error) {
    // An unfinished upload keeps its parts (and their cost) until aborted; the bucket's lifecycle
    // rule is the backstop, this is the rule.
    await store.abortMultipartUpload(bucket, key, uploadId).catch(() => {});
    throw error;
  }
  return { copiedParts, uploadedParts, uploadedBytes };
}

/** HeadObject on the combined object: the manifest's size and full-object CRC-64/NVME, nothing read. */
async function checkCombined(
  store: ExportObjectStore,
  bucket: string,
  key: string,
  manifest: ExportWorkerManifest,
): Promise<{ bytes: number; crc64nvme: string; etag: string }> {
  const object = await store.head(bucket, key);
  if (!object) throw new ExportVerificationError(key, 'key', 'the combined object is missing');
  if (object.bytes !== manifest.bytes) {
    throw new ExportVerificationError(key, 'bytes', `has ${object.bytes} bytes, the parts ${manifest.bytes}`);
  }
  if (object.crc64nvme !== manifest.crc64nvme) {
    throw new ExportVerificationError(
      key,
      'crc64nvme',
      `has CRC-64/NVME ${object.crc64nvme ?? '(none stored)'}, the parts ${manifest.crc64nvme}`,
    );
  }
  return { bytes: object.bytes, crc64nvme: object.crc64nvme, etag: object.etag };
}

/**
 * Runs `fn` over `items` with at most `concurrency` at once (p-limit); the first failure stops new
 * starts and is thrown once the running ones have settled.
 */
async function eachLimit<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let failure: { readonly error: unknown } | undefined;
  await pLimit(concurrency).map(items, async (item) => {
    if (failure) return;
    try {
      await fn(item);
    } catch (error) {
      failure ??= { error };
    }
  });
  if (failure) throw failure.error;
}
