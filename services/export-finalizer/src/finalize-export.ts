import {
  ContractValidationError,
  ExportWorkerManifest,
  exportObjectKey,
  type FinalizeExportInput,
  type FinalizeExportOutput,
  validate,
} from '@sidestep/contracts';
import { combinePartsCrc64Nvme } from '@sidestep/contracts/crc64-nvme';
import type { DownloadLink, DownloadLinkMaker } from './domain/download-link.ts';
import { ExportFinalManifest, sourceSha256 } from './domain/export-final-manifest.ts';
import type { ExportObjectStore, ListedPart } from './domain/export-object-store.ts';
import {
  ExportVerificationError,
  PartChecksumMismatchError,
  PartMissingError,
  PartSizeMismatchError,
  UploadMissingError,
  WorkerManifestInvalidError,
} from './errors.ts';

/** Options of {@link finalizeExport}. */
export interface FinalizeExportOptions {
  /** Makes the download link for the export's key, never past `notAfter` (the object's expiry). */
  readonly downloadLink: DownloadLinkMaker;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** What {@link finalizeExport} did, besides its output: for the log line and the benchmark. */
export interface FinalizeExportStats {
  /**
   * `finalized` completed the upload; `completed-before` found it completed by an earlier attempt
   * whose answer was lost; `replayed` found the same parts finalized before (final manifest and all).
   */
  readonly outcome: 'finalized' | 'completed-before' | 'replayed';
  readonly workerParts: number;
  /** ListParts requests (1,000 parts a page). */
  readonly listPages: number;
}

/** The step's output and what it did. */
export interface FinalizeExportResult {
  readonly output: FinalizeExportOutput;
  readonly stats: FinalizeExportStats;
}

/**
 * Verifies the parts the batch-worker uploaded into the export's multipart upload, completes it into
 * `exports/<jobId>/<fileName>.csv.gz`, checks the result and writes the final manifest. No byte of
 * the export is read, copied or written: the work and time follow the number of parts.
 *
 * 1. The worker manifest is read and validated (`ExportWorkerManifest` version 2; its job must be this
 *    job and its key this job's file, `exports/<jobId>/<fileName>.csv.gz`).
 * 2. If `exports/<jobId>/manifest.json` already records these very parts (same `sourceSha256`) and
 *    the object it names is still there unchanged, that result is returned: finalizing twice yields
 *    the same object, and a retry after a lost response costs two reads.
 * 3. ListParts: every part the manifest lists is in the upload with its size and S3's CRC-64/NVME
 *    (computed by S3 from the bytes it stored) the manifest's. A part missing or changed aborts the
 *    upload (its parts hold personal data and can never make this export) and fails the step.
 * 4. CompleteMultipartUpload with the manifest's parts and ETags, as a CRC-64/NVME `FULL_OBJECT`
 *    upload carrying the manifest's whole-file checksum, which S3 checks against the one it combines
 *    from the parts' (BadDigest otherwise)
 *    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html). When S3
 *    knows the upload no more (NoSuchUpload), an earlier attempt completed it and lost the answer if
 *    the key holds the manifest's file (step 5 decides); otherwise it was aborted ({@link UploadMissingError}).
 *    So when ListParts finds the upload but CompleteMultipartUpload does not: an attempt whose
 *    Complete S3 was still carrying out (a retried step) completed it in between.
 * 5. HeadObject on the file: the manifest's size and CRC-64/NVME. The rows are the manifest's (the
 *    worker checked them against PostgreSQL's count).
 * 6. The final manifest is written; only then is the result returned with a download link.
 *
 * @throws {WorkerManifestInvalidError} the worker manifest is missing, invalid or another job's.
 * @throws {PartMissingError} / {PartSizeMismatchError} / {PartChecksumMismatchError} naming the part.
 * @throws {UploadMissingError} the upload was aborted before it was completed.
 * @throws {ExportVerificationError} the completed object is not the parts (size or CRC-64/NVME).
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
  const { key, uploadId } = manifest;
  const manifestKey = `exports/${jobId}/manifest.json`;
  const source = sourceSha256(manifest);
  const stats = (outcome: FinalizeExportStats['outcome'], listPages: number): FinalizeExportStats => ({
    outcome,
    workerParts: manifest.parts.length,
    listPages,
  });

  const previous = await readFinalManifest(store, bucket, manifestKey);
  if (previous && previous.sourceSha256 === source && previous.key === key) {
    const object = await store.head(bucket, key);
    if (object && object.etag === previous.etag && object.bytes === previous.bytes) {
      return {
        output: output(
          previous,
          manifestKey,
          replayedLink(options.downloadLink, key, previous, now(), object.expiresAt),
        ),
        stats: stats('replayed', 0),
      };
    }
  }

  const listed = await store.listParts(bucket, key, uploadId);
  const listPages = Math.max(1, Math.ceil((listed?.length ?? 0) / 1000));
  let gone = listed === undefined;
  if (listed) {
    const refusal = verifyParts(key, manifest, listed);
    if (refusal) {
      await store.abortMultipartUpload(bucket, key, uploadId).catch(() => {});
      throw refusal;
    }
    try {
      const completed = await store.completeMultipartUpload(
        bucket,
        key,
        uploadId,
        manifest.parts.map(({ partNumber, etag, crc64nvme }) => ({ partNumber, etag, crc64nvme })),
        manifest.crc64nvme,
      );
      gone = completed === 'gone';
    } catch (error) {
      // Refused for good (the parts do not combine to the manifest's checksum): the upload is useless.
      if (error instanceof ExportVerificationError) {
        await store.abortMultipartUpload(bucket, key, uploadId).catch(() => {});
      }
      throw error;
    }
  }
  const checked = await checkCompleted(store, bucket, manifest, gone);
  // One instant for the final manifest and the link: a replay signs the same link from it.
  const finalizedAt = now();

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
    finalizedAt: finalizedAt.toISOString(),
  };
  await store.putJson(bucket, manifestKey, final);
  return {
    // The link ends when S3 expires the file, if that is sooner (a multipart object's lifecycle counts
    // from the upload's start: a day earlier for an upload begun before midnight UTC, or resumed).
    output: output(final, manifestKey, options.downloadLink(key, finalizedAt, checked.expiresAt)),
    stats: stats(gone ? 'completed-before' : 'finalized', listPages),
  };
}

/**
 * The link a replay returns: the one the first finalize returned (signed from the final manifest's
 * `finalizedAt`), so a retried step gives the same output and the export.ready mail the same link,
 * whenever it is retried; once half of that link's lifetime is gone, a fresh one from `now`, so a
 * late replay never mails a link about to expire.
 */
function replayedLink(
  downloadLink: FinalizeExportOptions['downloadLink'],
  key: string,
  previous: ExportFinalManifest,
  now: Date,
  notAfter: Date | undefined,
): DownloadLink {
  const finalizedAt = new Date(previous.finalizedAt);
  const first = downloadLink(key, finalizedAt, notAfter);
  const lifetime = first.expiresAt.getTime() - finalizedAt.getTime();
  return first.expiresAt.getTime() - now.getTime() >= lifetime / 2 ? first : downloadLink(key, now, notAfter);
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
  // The file must be this job's own, under the name the request asked for: a manifest naming another
  // key would complete (and link to) another object.
  const expectedKey = exportObjectKey(jobId, input.fileName);
  if (manifest.key !== expectedKey) {
    throw new WorkerManifestInvalidError(
      manifestKey,
      'key',
      `is ${manifest.key}, this export's file is ${expectedKey}`,
    );
  }
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

/**
 * Why the upload's parts are not the manifest's, or `undefined` when they are: every manifest part
 * listed, with its size and S3's CRC-64/NVME of it. (A part uploaded again with other bytes has
 * another checksum; its ETag is then checked by CompleteMultipartUpload, which refuses a stale one.)
 * Parts the upload holds beyond the manifest's are left out of the completed object by S3.
 */
function verifyParts(
  key: string,
  manifest: ExportWorkerManifest,
  listed: readonly ListedPart[],
): PartMissingError | PartSizeMismatchError | PartChecksumMismatchError | undefined {
  const byNumber = new Map(listed.map((part) => [part.partNumber, part]));
  for (const part of manifest.parts) {
    const name = `part ${part.partNumber} of ${key}`;
    const found = byNumber.get(part.partNumber);
    if (!found) return new PartMissingError(name);
    if (found.bytes !== part.bytes) return new PartSizeMismatchError(name, part.bytes, found.bytes);
    if (found.crc64nvme !== part.crc64nvme) {
      return new PartChecksumMismatchError(name, part.crc64nvme, found.crc64nvme ?? '(none stored)');
    }
  }
  return undefined;
}

/**
 * HeadObject on the completed object: the manifest's size and full-object CRC-64/NVME, nothing read.
 * With `uploadGone` (ListParts answered NoSuchUpload), an object that is missing or not the manifest's
 * means the upload was aborted, not completed ({@link UploadMissingError}).
 */
async function checkCompleted(
  store: ExportObjectStore,
  bucket: string,
  manifest: ExportWorkerManifest,
  uploadGone: boolean,
): Promise<{ bytes: number; crc64nvme: string; etag: string; expiresAt: Date | undefined }> {
  const { key } = manifest;
  const object = await store.head(bucket, key);
  const problem = !object
    ? 'the object is missing'
    : object.bytes !== manifest.bytes
      ? `has ${object.bytes} bytes, the parts ${manifest.bytes}`
      : object.crc64nvme !== manifest.crc64nvme
        ? `has CRC-64/NVME ${object.crc64nvme ?? '(none stored)'}, the parts ${manifest.crc64nvme}`
        : undefined;
  if (problem) {
    if (uploadGone) {
      throw new UploadMissingError(
        key,
        manifest.uploadId,
        object ? `the object there ${problem}` : 'no object is there',
      );
    }
    const field = !object ? 'key' : object.bytes !== manifest.bytes ? 'bytes' : 'crc64nvme';
    throw new ExportVerificationError(key, field, problem);
  }
  const stored = object as NonNullable<typeof object>;
  return {
    bytes: stored.bytes,
    crc64nvme: stored.crc64nvme as string,
    etag: stored.etag,
    expiresAt: stored.expiresAt,
  };
}
