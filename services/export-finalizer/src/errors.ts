import { describeCause, SidestepError } from '@sidestep/runtime';

// Step Functions' Retry and Catch match the `Error` of a failed lambda:invoke: the `errorType` the
// runtime interface client posts, which is the thrown error's `name`. Every class sets `name` as a
// literal class field (a minifier may rename classes). Only `ExportStorageUnavailableError` is worth
// a retry; every other error fails the same way again. A bad task input is the runtime's
// `InvalidInputError` (see `createTaskHandler`).

/** Base of every export-finalizer error. `permanent` errors fail the step at once. */
export class ExportFinalizerError extends SidestepError {
  override readonly name: string = 'ExportFinalizerError';
}

/**
 * The worker manifest is missing, not JSON, does not match `ExportWorkerManifest`, or belongs to
 * another job. Permanent: the worker did not finish (or wrote something else), and finalizing again
 * reads the same object.
 */
export class WorkerManifestInvalidError extends ExportFinalizerError {
  override readonly name: string = 'WorkerManifestInvalidError';
  readonly manifestKey: string;
  override readonly field: string;
  constructor(manifestKey: string, field: string, message: string, options: { cause?: unknown } = {}) {
    super(`${manifestKey}: ${field}: ${message}`, { ...options, field, permanent: true });
    this.manifestKey = manifestKey;
    this.field = field;
  }
}

/**
 * A part the manifest lists is not what the worker uploaded. Permanent: the same parts fail the same
 * way. `part` names it: `part <n> of <key>`.
 */
abstract class PartError extends ExportFinalizerError {
  readonly part: string;
  constructor(part: string, message: string, options: { cause?: unknown } = {}) {
    super(`parts: ${part} ${message}`, { ...options, field: 'parts', permanent: true });
    this.part = part;
  }
}

/** A part the manifest lists is not in the upload (ListParts). Permanent. */
export class PartMissingError extends PartError {
  override readonly name: string = 'PartMissingError';
  constructor(part: string, options: { cause?: unknown } = {}) {
    super(part, 'is missing', options);
  }
}

/** A part's stored size is not the manifest's `bytes`: truncated or replaced. Permanent. */
export class PartSizeMismatchError extends PartError {
  override readonly name: string = 'PartSizeMismatchError';
  readonly expectedBytes: number;
  readonly actualBytes: number;
  constructor(part: string, expectedBytes: number, actualBytes: number) {
    super(part, `has ${actualBytes} bytes, the manifest says ${expectedBytes}`);
    this.expectedBytes = expectedBytes;
    this.actualBytes = actualBytes;
  }
}

/**
 * S3's CRC-64/NVME of a part is not the manifest's: the part was uploaded again after the worker wrote
 * the manifest (S3 computed the checksum of what it stored). Permanent.
 */
export class PartChecksumMismatchError extends PartError {
  override readonly name: string = 'PartChecksumMismatchError';
  readonly expectedCrc64nvme: string;
  readonly actualCrc64nvme: string;
  constructor(part: string, expectedCrc64nvme: string, actualCrc64nvme: string) {
    super(part, `has CRC-64/NVME ${actualCrc64nvme}, the manifest says ${expectedCrc64nvme}`);
    this.expectedCrc64nvme = expectedCrc64nvme;
    this.actualCrc64nvme = actualCrc64nvme;
  }
}

/**
 * The manifest's multipart upload no longer exists (ListParts: NoSuchUpload) and its key holds no
 * object made of its parts: the upload was aborted (by the bucket's lifecycle rule a day after it
 * started, or by hand) before it was completed. Permanent: the parts are gone; the export has to run
 * again.
 */
export class UploadMissingError extends ExportFinalizerError {
  override readonly name: string = 'UploadMissingError';
  readonly key: string;
  readonly uploadId: string;
  constructor(key: string, uploadId: string, found: string) {
    super(`${key}: the multipart upload ${uploadId} is gone (aborted) and ${found}`, {
      field: 'uploadId',
      permanent: true,
    });
    this.key = key;
    this.uploadId = uploadId;
  }
}

/**
 * The combined object is not the parts the manifest lists: S3 combined them into another CRC-64/NVME
 * (CompleteMultipartUpload's BadDigest), or the object's size or checksum is not the manifest's.
 * The object is not reported (no final manifest is written). Permanent: the same parts combine the
 * same way.
 */
export class ExportVerificationError extends ExportFinalizerError {
  override readonly name: string = 'ExportVerificationError';
  readonly key: string;
  constructor(key: string, field: string, message: string, options: { cause?: unknown } = {}) {
    super(`${key}: ${message}`, { ...options, field, permanent: true });
    this.key = key;
  }
}

/** An S3 request failed; `operation` names it, the message carries the SDK error's name and message. */
abstract class ExportStorageFailure extends ExportFinalizerError {
  readonly operation: string;
  constructor(operation: string, cause: unknown, permanent: boolean, message?: string) {
    super(message ?? `S3 ${operation} failed: ${describeCause(cause)}`, { cause, permanent });
    this.operation = operation;
  }
}

/**
 * S3 could not be reached or refused for a reason a retry may cure (throttling, a 5xx, a network
 * error). Transient: nothing was reported and the worker's upload is kept, so the same step retried
 * completes it (or finds it completed).
 */
export class ExportStorageUnavailableError extends ExportStorageFailure {
  override readonly name: string = 'ExportStorageUnavailableError';
  constructor(operation: string, cause: unknown) {
    super(operation, cause, false);
  }
}

/**
 * S3 answered 403 AccessDenied: the role lacks one of `permissions`. Permanent: a missing permission
 * does not heal by retry. For a read that tests whether an object exists (HeadObject, or GetObject of
 * a manifest that may not be written yet) it is never taken for "missing": S3 answers a missing key
 * with 403 instead of 404 to a caller without `s3:ListBucket` on the bucket
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions"), so such a role
 * would see every absent object as denied; `permissions` then names both.
 */
export class ExportStorageAccessDeniedError extends ExportStorageFailure {
  override readonly name: string = 'ExportStorageAccessDeniedError';
  readonly bucket: string | undefined;
  readonly key: string | undefined;
  /** The IAM actions one of which is missing, e.g. `['s3:GetObject', 's3:ListBucket']`. */
  readonly permissions: readonly string[];
  constructor(
    operation: string,
    cause: unknown,
    target: { readonly bucket?: string; readonly key?: string; readonly permissions: readonly string[] },
  ) {
    const object = target.key === undefined ? '' : ` of s3://${target.bucket ?? '?'}/${target.key}`;
    const needs = target.permissions.includes('s3:ListBucket')
      ? `the role needs ${target.permissions.filter((p) => p !== 's3:ListBucket').join(', ')} on the object, and s3:ListBucket on the bucket for S3 to answer a missing key with 404 instead of 403`
      : `the role needs ${target.permissions.join(', ')}`;
    super(operation, cause, true, `S3 ${operation}${object} was denied (${describeCause(cause)}): ${needs}`);
    this.bucket = target.bucket;
    this.key = target.key;
    this.permissions = target.permissions;
  }
}

/** S3 refused a request for a reason retrying cannot cure (no such bucket, a bad argument). Permanent. */
export class ExportStorageError extends ExportStorageFailure {
  override readonly name: string = 'ExportStorageError';
  constructor(operation: string, cause: unknown) {
    super(operation, cause, true);
  }
}
