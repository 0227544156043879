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
  /**
   * When S3's lifecycle will expire the object (HeadObject's `Expiration`), if a rule applies. For a
   * multipart upload S3 counts from the day the upload was started, not completed.
   */
  readonly expiresAt?: Date | undefined;
}

/** A part of a multipart upload, as ListParts lists it. */
export interface ListedPart {
  readonly partNumber: number;
  readonly bytes: number;
  readonly etag: string;
  /** Base64 CRC-64/NVME S3 keeps for the part (uploads created with that algorithm); `undefined` otherwise. */
  readonly crc64nvme: string | undefined;
}

/** A part as CompleteMultipartUpload names it. */
export interface UploadedPart {
  readonly partNumber: number;
  readonly etag: string;
  /** The part's CRC-64/NVME: named with each part of an upload created with that algorithm. */
  readonly crc64nvme: string;
}

/**
 * The S3 calls the finalizer makes, in one bucket. The adapter (`adapters/s3.ts`) maps S3's
 * errors: a missing object (404) is `undefined` from {@link head} / {@link readText}; a 403 is never
 * missing but `ExportStorageAccessDeniedError` (permanent, naming the permission); any other failed
 * call throws `ExportStorageUnavailableError` (retryable) or `ExportStorageError` (permanent).
 */
export interface ExportObjectStore {
  head(bucket: string, key: string): Promise<StoredObject | undefined>;
  /** The object as UTF-8 text, or `undefined` when there is no such object. */
  readText(bucket: string, key: string): Promise<string | undefined>;
  putJson(bucket: string, key: string, value: unknown): Promise<void>;
  /**
   * Every part of the upload, in order (all pages), or `undefined` when S3 knows no such upload
   * (NoSuchUpload: completed or aborted).
   */
  listParts(bucket: string, key: string, uploadId: string): Promise<ListedPart[] | undefined>;
  /**
   * Completes a CRC-64/NVME `FULL_OBJECT` upload; S3 refuses it unless the parts combine to `crc64nvme`
   * (`ExportVerificationError`, field `crc64nvme`). `'gone'` when S3 knows no such upload
   * (NoSuchUpload: completed or aborted since it was listed, by another attempt or a lifecycle rule).
   */
  completeMultipartUpload(
    bucket: string,
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
    crc64nvme: string,
  ): Promise<'completed' | 'gone'>;
  abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void>;
}
