import { createHash, type Hash } from 'node:crypto';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import {
  ContractValidationError,
  ExportWorkerManifest,
  type FinalizeExportInput,
  type FinalizeExportOutput,
  validate,
} from '@sidestep/contracts';
import pLimit from 'p-limit';
import { type CombinedPart, MIN_PART_BYTES, planCombine } from './domain/combine-plan.ts';
import { CsvRecordCounter } from './domain/csv-record-counter.ts';
import type { DownloadLink } from './domain/download-link.ts';
import { ExportFinalManifest, sourceSha256 } from './domain/export-final-manifest.ts';
import type { ExportObjectStore, StoredObject, UploadedPart } from './domain/export-object-store.ts';
import {
  ExportFinalizerError,
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
  /** Bytes read back to check the combined object (every byte, once). */
  readonly checkedBytes: number;
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
 * 3. Every part is checked with HeadObject: present, its size the manifest's, and its SHA-256 when S3
 *    stored one (no bytes read). Reads and copies are then pinned to the ETag seen here.
 * 4. One multipart upload combines them ({@link planCombine}): UploadPartCopy for every part S3 can
 *    copy, UploadPart only for runs of parts under 5 MiB. Any failure aborts the upload.
 * 5. The combined object is read once, as a stream: its SHA-256, each part's SHA-256 at its offset
 *    (so every part's checksum is verified without a second read), gunzipped (all members) and its
 *    CSV records counted: the header exactly once, first, and the manifest's row count.
 * 6. The final manifest is written; only then is the result returned with a download link.
 *
 * @throws {WorkerManifestInvalidError} the worker manifest is missing, invalid or another job's.
 * @throws {PartMissingError} / {PartSizeMismatchError} / {PartChecksumMismatchError} naming the part.
 * @throws {ExportVerificationError} the combined object is not one gzip with the header once and every row.
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
          checkedBytes: 0,
        },
      };
    }
  }

  const stored = await verifyParts(store, bucket, manifest);
  const plan = planCombine(manifest.parts, { minPartBytes: options.minPartBytes ?? MIN_PART_BYTES });
  const written = await combine(store, bucket, key, input.fileName, plan, stored, options.concurrency ?? 4);
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
    sha256: checked.sha256,
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
      checkedBytes: checked.bytes,
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
    sha256: final.sha256,
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

/** HeadObject on every part (a few at a time): present, the manifest's size, the manifest's SHA-256 if S3 has one. */
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
    if (object.sha256 !== undefined && object.sha256 !== part.sha256) {
      throw new PartChecksumMismatchError(part.key, part.sha256, object.sha256);
    }
    stored.set(part.key, object);
  });
  return stored;
}

async function combine(
  store: ExportObjectStore,
  bucket: string,
  key: string,
  fileName: string,
  plan: readonly CombinedPart[],
  stored: ReadonlyMap<string, StoredObject>,
  concurrency: number,
): Promise<{ copiedParts: number; uploadedParts: number; uploadedBytes: number }> {
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
    await store.completeMultipartUpload(bucket, key, uploadId, receipts);
  } catch (error) {
    // An unfinished upload keeps its parts (and their cost) until aborted; the bucket's lifecycle
    // rule is the backstop, this is the rule.
    await store.abortMultipartUpload(bucket, key, uploadId).catch(() => {});
    throw error;
  }
  return { copiedParts, uploadedParts, uploadedBytes };
}

/** Reads the combined object once and checks everything that can be checked of it. */
async function checkCombined(
  store: ExportObjectStore,
  bucket: string,
  key: string,
  manifest: ExportWorkerManifest,
): Promise<{ bytes: number; sha256: string; etag: string }> {
  const object = await store.head(bucket, key);
  if (!object) throw new ExportVerificationError(key, 'key', 'the combined object is missing');
  if (object.bytes !== manifest.bytes) {
    throw new ExportVerificationError(key, 'bytes', `has ${object.bytes} bytes, the parts ${manifest.bytes}`);
  }
  const whole = createHash('sha256');
  const partHashes = new PartHasher(manifest.parts);
  // The header as COPY writes it (names quoted only when needed) or with every name quoted.
  const counter = new CsvRecordCounter([
    manifest.columns.join(','),
    manifest.columns.map((name) => `"${name.replaceAll('"', '""')}"`).join(','),
  ]);
  const body = await store.read(bucket, key, { etag: object.etag });
  let readBytes = 0;
  try {
    await pipeline(
      body,
      new Transform({
        transform(chunk: Buffer, _encoding, done) {
          readBytes += chunk.length;
          whole.update(chunk);
          partHashes.push(chunk);
          done(null, chunk);
        },
      }),
      createGunzip(),
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          counter.push(chunk);
          done();
        },
      }),
    );
  } catch (error) {
    if (error instanceof ExportFinalizerError) throw error;
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('Z_')) {
      throw new ExportVerificationError(
        key,
        'gzip',
        `is not a valid gzip file: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    throw new ExportStorageUnavailableError('GetObject', error);
  }
  if (readBytes !== manifest.bytes) {
    throw new ExportStorageUnavailableError(
      'GetObject',
      new Error(`read ${readBytes} of ${manifest.bytes} bytes`),
    );
  }
  const count = counter.end();
  if (count.unterminatedQuote) {
    throw new ExportVerificationError(key, 'rows', 'the CSV ends inside a quoted cell');
  }
  if (!count.firstIsHeader) {
    throw new ExportVerificationError(
      key,
      'header',
      `does not start with the header ${manifest.columns.join(',')}`,
    );
  }
  if (count.headerRecords !== 1) {
    throw new ExportVerificationError(key, 'header', `holds the header ${count.headerRecords} times`);
  }
  if (count.records - 1 !== manifest.rows) {
    throw new ExportVerificationError(
      key,
      'rows',
      `holds ${count.records - 1} rows, the manifest ${manifest.rows}`,
    );
  }
  return { bytes: readBytes, sha256: whole.digest('hex'), etag: object.etag };
}

/**
 * Hashes each worker part's bytes at its offset in the combined object as the object streams by, and
 * throws {@link PartChecksumMismatchError} at the end of a part whose SHA-256 is not the manifest's.
 */
class PartHasher {
  readonly #parts: ExportWorkerManifest['parts'];
  #index = 0;
  #remaining: number;
  #hash: Hash = createHash('sha256');

  constructor(parts: ExportWorkerManifest['parts']) {
    this.#parts = parts;
    this.#remaining = parts[0]?.bytes ?? 0;
  }

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      const part = this.#parts[this.#index];
      if (!part) return; // more bytes than the parts: the size check reports it
      const take = Math.min(this.#remaining, chunk.length - offset);
      this.#hash.update(chunk.subarray(offset, offset + take));
      offset += take;
      this.#remaining -= take;
      if (this.#remaining === 0) {
        const actual = this.#hash.digest('hex');
        if (actual !== part.sha256) throw new PartChecksumMismatchError(part.key, part.sha256, actual);
        this.#index += 1;
        this.#hash = createHash('sha256');
        this.#remaining = this.#parts[this.#index]?.bytes ?? 0;
      }
    }
  }
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
