import type { Readable } from 'node:stream';

/** What the store knows about an object without reading it. */
export interface StoredObject {
  readonly bytes: number;
  /** The object's ETag (quotes included), to pin later reads and copies to this exact object. */
  readonly etag: string;
  /**
   * Base64 CRC-64/NVME of the whole object when S3 holds a full-object one (every object S3 stored
   * since 2024 without another algorithm, and the parts the worker uploaded with it); `undefined`
   * otherwise.
   */
  readonly crc64nvme: string | undefined;
}

/** A byte range, `end` exclusive. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** The headers the combined object is stored with (what a browser sees when it downloads it). */
export interface CombinedObjectHeaders {
  readonly contentType: string;
  readonly contentDisposition: string;
}

/** A completed-part receipt for CompleteMultipartUpload. */
export interface UploadedPart {
  readonly partNumber: number;
  readonly etag: string;
}

/**
 * The S3 calls the finalizer makes, in one bucket. The adapter (`adapters/s3.ts`) maps S3's
 * errors: a missing object (404) is `undefined` from {@link head} / {@link readText}; a 403 is never
 * missing but `ExportStorageAccessDeniedError` (permanent, naming the permission); any other failed
 * call throws `ExportStorageUnavailableError` (retryable) or `ExportStorageError` (permanent).
 */
export interface ExportObjectStore {
  head(bucket: string, key: string): Promise<StoredObject | undefined>;
  /** The object's bytes as a stream, pinned to `etag` when given. */
  read(
    bucket: string,
    key: string,
    options?: { readonly range?: ByteRange; readonly etag?: string },
  ): Promise<Readable>;
  /** The object as UTF-8 text, or `undefined` when there is no such object. */
  readText(bucket: string, key: string): Promise<string | undefined>;
  putJson(bucket: string, key: string, value: unknown): Promise<void>;
  createMultipartUpload(bucket: string, key: string, headers: CombinedObjectHeaders): Promise<string>;
  /** UploadPartCopy of a whole object or a range of it, pinned to `source.etag`. */
  copyPart(
    bucket: string,
    key: string,
    uploadId: string,
    partNumber: number,
    source: { readonly key: string; readonly etag: string; readonly range?: ByteRange },
  ): Promise<UploadedPart>;
  uploadPart(
    bucket: string,
    key: string,
    uploadId: string,
    partNumber: number,
    body: Buffer,
  ): Promise<UploadedPart>;
  /**
   * Completes a CRC-64/NVME `FULL_OBJECT` upload; S3 refuses it unless the parts combine to `crc64nvme`
   * (`ExportVerificationError`, field `crc64nvme`).
   */
  completeMultipartUpload(
    bucket: string,
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
    crc64nvme: string,
  ): Promise<void>;
  abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void>;
}
