import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { listUploadParts } from '@sidestep/runtime/list-upload-parts';
import type {
  ExportObjectStore,
  ListedPart,
  StoredObject,
  UploadedPart,
} from '../domain/export-object-store.ts';
import type { PresignOptions } from '../domain/presign-options.ts';
import {
  ExportStorageAccessDeniedError,
  ExportStorageError,
  ExportStorageUnavailableError,
  ExportVerificationError,
} from '../errors.ts';

/** S3 error codes a retry may cure. https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html */
const TRANSIENT_CODES = new Set([
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'ThrottlingException',
]);

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EAI_AGAIN',
]);

/**
 * A missing object: 404 only. S3 answers a missing key with 403 to a caller without s3:ListBucket,
 * and a 403 is never "missing" here (see {@link ExportStorageAccessDeniedError}): infra grants the
 * finalizer and the download endpoint s3:ListBucket on exports/ so that absence is a 404.
 */
function isNotFound(error: unknown): boolean {
  const { name, $metadata } = error as { name?: unknown; $metadata?: { httpStatusCode?: number } };
  return name === 'NoSuchKey' || name === 'NotFound' || $metadata?.httpStatusCode === 404;
}

function isAccessDenied(error: unknown): boolean {
  const { name, $metadata } = (error ?? {}) as { name?: unknown; $metadata?: { httpStatusCode?: number } };
  return name === 'AccessDenied' || $metadata?.httpStatusCode === 403;
}

/**
 * The IAM actions an operation needs. A read also needs s3:ListBucket when the object may be missing:
 * without it S3 answers 403 instead of 404. CompleteMultipartUpload is covered by s3:PutObject, ListParts
 * needs s3:ListMultipartUploadParts
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions).
 */
const OPERATION_PERMISSIONS: Readonly<Record<string, readonly string[]>> = {
  HeadObject: ['s3:GetObject', 's3:ListBucket'],
  GetObject: ['s3:GetObject', 's3:ListBucket'],
  PutObject: ['s3:PutObject'],
  ListParts: ['s3:ListMultipartUploadParts'],
  CompleteMultipartUpload: ['s3:PutObject'],
  AbortMultipartUpload: ['s3:AbortMultipartUpload'],
};

/**
 * Maps an S3 failure to the finalizer's retryable or permanent storage error; a 403 is the permanent
 * {@link ExportStorageAccessDeniedError} naming what the role needs. An error that is neither an S3
 * response nor a network failure (a TypeError) is a bug and is returned as it is.
 */
export function storageError(
  operation: string,
  error: unknown,
  object: { readonly bucket?: string; readonly key?: string } = {},
): Error {
  if (isAccessDenied(error)) {
    return new ExportStorageAccessDeniedError(operation, error, {
      ...object,
      permissions: OPERATION_PERMISSIONS[operation] ?? [],
    });
  }
  const { name, code, $metadata, $retryable } = (error ?? {}) as {
    name?: unknown;
    code?: unknown;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
  };
  const status = $metadata?.httpStatusCode;
  const network = (typeof code === 'string' && NETWORK_CODES.has(code)) || name === 'TimeoutError';
  if (status === undefined && !network) {
    return typeof error === 'object' && error !== null ? (error as Error) : new Error(String(error));
  }
  const transient =
    network ||
    $retryable !== undefined ||
    (typeof name === 'string' && TRANSIENT_CODES.has(name)) ||
    (status !== undefined && status >= 500);
  return transient
    ? new ExportStorageUnavailableError(operation, error)
    : new ExportStorageError(operation, error);
}

/**
 * {@link ExportObjectStore} on S3 (AWS SDK v3). The client is the caller's: created once at module
 * scope with `forcePathStyle` from `AWS_S3_FORCE_PATH_STYLE`, as the batch-worker does.
 */
export class S3ExportStore implements ExportObjectStore {
  readonly #client: S3Client;

  constructor(client: S3Client) {
    this.#client = client;
  }

  async head(bucket: string, key: string): Promise<StoredObject | undefined> {
    return this.#callUnlessMissing('HeadObject', { bucket, key }, async (client) => {
      const head = await client.send(
        new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }),
      );
      // A composite checksum (`<base64>-<parts>`) is a checksum of checksums, not of the bytes: only
      // a full-object one can be compared with the worker's.
      const checksum = head.ChecksumCRC64NVME;
      const crc64nvme = checksum && head.ChecksumType !== 'COMPOSITE' ? checksum : undefined;
      const expiresAt = lifecycleExpiry(head.Expiration);
      return {
        bytes: head.ContentLength ?? 0,
        etag: head.ETag ?? '',
        crc64nvme,
        ...(expiresAt ? { expiresAt } : {}),
      };
    });
  }

  async readText(bucket: string, key: string): Promise<string | undefined> {
    return this.#callUnlessMissing('GetObject', { bucket, key }, async (client) => {
      const output = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return await output.Body?.transformToString('utf-8');
    });
  }

  async putJson(bucket: string, key: string, value: unknown): Promise<void> {
    return this.#call('PutObject', { bucket, key }, async (client) => {
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: `${JSON.stringify(value, null, 2)}\n`,
          ContentType: 'application/json',
        }),
      );
    });
  }

  /** Every page of ListParts; NoSuchUpload is `undefined`, a missing bucket an error. */
  async listParts(bucket: string, key: string, uploadId: string): Promise<ListedPart[] | undefined> {
    return this.#call('ListParts', { bucket, key }, (client) =>
      listUploadParts(client, { Bucket: bucket, Key: key, UploadId: uploadId }),
    );
  }

  async completeMultipartUpload(
    bucket: string,
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
    crc64nvme: string,
  ): Promise<'completed' | 'gone'> {
    try {
      await this.#client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          // Each part with its checksum, as for an upload created with a checksum algorithm
          // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompletedPart.html): S3 checks them
          // against the parts it stored.
          MultipartUpload: {
            Parts: parts.map((part) => ({
              PartNumber: part.partNumber,
              ETag: part.etag,
              ChecksumCRC64NVME: part.crc64nvme,
            })),
          },
          ChecksumCRC64NVME: crc64nvme,
          ChecksumType: 'FULL_OBJECT',
        }),
      );
      return 'completed';
    } catch (error) {
      // Completed (or aborted) since ListParts: completing takes S3 up to minutes, and a retried step
      // may list the parts while its first invocation's Complete is still being carried out
      // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html).
      if ((error as { name?: unknown }).name === 'NoSuchUpload') return 'gone';
      if ((error as { name?: unknown }).name === 'BadDigest') {
        throw new ExportVerificationError(
          key,
          'crc64nvme',
          `S3 combined the parts into another CRC-64/NVME than the manifest's ${crc64nvme}`,
          { cause: error },
        );
      }
      throw storageError('CompleteMultipartUpload', error, { bucket, key });
    }
  }

  async abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void> {
    return this.#call('AbortMultipartUpload', { bucket, key }, async (client) => {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
    });
  }

  /**
   * Runs one S3 call on `object` as `operation` (its API name, what the error names), mapping any
   * failure with {@link storageError}.
   */
  async #call<T>(
    operation: string,
    object: { readonly bucket: string; readonly key: string },
    run: (client: S3Client) => Promise<T>,
  ): Promise<T> {
    try {
      return await run(this.#client);
    } catch (error) {
      throw storageError(operation, error, object);
    }
  }

  /** {@link S3ExportStore.#call}, with `undefined` for an object that does not exist (404). */
  async #callUnlessMissing<T>(
    operation: string,
    object: { readonly bucket: string; readonly key: string },
    run: (client: S3Client) => Promise<T>,
  ): Promise<T | undefined> {
    try {
      return await run(this.#client);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw storageError(operation, error, object);
    }
  }
}

/**
 * Presigns a GetObject (`GET`) or a HeadObject (`HEAD`) of one object for `expiresInSeconds`, with
 * the credentials the client has now. Used by the download endpoint at the moment of the click, so
 * the URL is minutes old at most and never outlives the credentials that signed it. Both carry the
 * same response headers: saved as an attachment under `fileName`, and `Cache-Control: private,
 * no-store` (the file holds personal data: no browser or proxy keeps a copy)
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, response-cache-control).
 */
export function s3Presigner(client: S3Client) {
  return (bucket: string, key: string, options: PresignOptions): Promise<string> => {
    const input = {
      Bucket: bucket,
      Key: key,
      ResponseContentDisposition: `attachment; filename="${options.fileName}"`,
      ResponseCacheControl: 'private, no-store',
    };
    const command = options.method === 'HEAD' ? new HeadObjectCommand(input) : new GetObjectCommand(input);
    return getSignedUrl(client, command, { expiresIn: options.expiresInSeconds });
  };
}

/**
 * The date of S3's `x-amz-expiration` header (`expiry-date="Fri, 23 Dec 2012 00:00:00 GMT",
 * rule-id="..."`), which S3 sends with HeadObject when a lifecycle rule will expire the object
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html, Expiration); `undefined`
 * without one, or unreadable.
 */
export function lifecycleExpiry(header: string | undefined): Date | undefined {
  const date = header === undefined ? undefined : /expiry-date="([^"]+)"/.exec(header)?.[1];
  if (date === undefined) return undefined;
  const parsed = new Date(date);
  return Number.isNaN(parsed.getTime()) ? undefined : parsed;
}
