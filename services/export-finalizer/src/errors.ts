import { SidestepError } from '@sidestep/runtime';

// Step Functions' Retry and Catch match the `Error` of a failed lambda:invoke: the `errorType` the
// runtime interface client posts, which is the thrown error's `name`. Every class sets `name` as a
// literal class field (a minifier may rename classes). Only `ExportStorageUnavailableError` is worth
// a retry; every other error fails the same way again.

/** Base of every export-finalizer error. `permanent` errors fail the step at once. */
export class ExportFinalizerError extends SidestepError {
  override readonly name: string = 'ExportFinalizerError';
}

/** The task input does not match `FinalizeExportInput`; `field` names the first bad field. Permanent. */
export class InvalidInputError extends ExportFinalizerError {
  override readonly name: string = 'InvalidInputError';
  override readonly field: string;
  constructor(field: string, message: string, options: { cause?: unknown } = {}) {
    super(`invalid finalize input: ${message}`, { ...options, field, permanent: true });
    this.field = field;
  }
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

/** A part the manifest lists is not in the bucket. Permanent. */
export class PartMissingError extends ExportFinalizerError {
  override readonly name: string = 'PartMissingError';
  readonly partKey: string;
  constructor(partKey: string, options: { cause?: unknown } = {}) {
    super(`parts: ${partKey} is missing`, { ...options, field: 'parts', permanent: true });
    this.partKey = partKey;
  }
}

/** A part's stored size is not the manifest's `bytes`: truncated or replaced. Permanent. */
export class PartSizeMismatchError extends ExportFinalizerError {
  override readonly name: string = 'PartSizeMismatchError';
  readonly partKey: string;
  readonly expectedBytes: number;
  readonly actualBytes: number;
  constructor(partKey: string, expectedBytes: number, actualBytes: number) {
    super(`parts: ${partKey} has ${actualBytes} bytes, the manifest says ${expectedBytes}`, {
      field: 'parts',
      permanent: true,
    });
    this.partKey = partKey;
    this.expectedBytes = expectedBytes;
    this.actualBytes = actualBytes;
  }
}

/** A part's SHA-256 is not the manifest's: its bytes changed after the worker wrote it. Permanent. */
export class PartChecksumMismatchError extends ExportFinalizerError {
  override readonly name: string = 'PartChecksumMismatchError';
  readonly partKey: string;
  readonly expectedSha256: string;
  readonly actualSha256: string;
  constructor(partKey: string, expectedSha256: string, actualSha256: string) {
    super(`parts: ${partKey} has SHA-256 ${actualSha256}, the manifest says ${expectedSha256}`, {
      field: 'parts',
      permanent: true,
    });
    this.partKey = partKey;
    this.expectedSha256 = expectedSha256;
    this.actualSha256 = actualSha256;
  }
}

/**
 * The combined object failed its check: not a valid gzip, the header missing or repeated, or a row
 * count other than the manifest's. The object is not reported (no final manifest is written).
 * Permanent: the parts verified, so the same parts combine into the same bad file.
 */
export class ExportVerificationError extends ExportFinalizerError {
  override readonly name: string = 'ExportVerificationError';
  readonly key: string;
  constructor(key: string, field: string, message: string, options: { cause?: unknown } = {}) {
    super(`${key}: ${message}`, { ...options, field, permanent: true });
    this.key = key;
  }
}

/**
 * S3 could not be reached or refused for a reason a retry may cure (throttling, a 5xx, a network
 * error). Transient: nothing was reported, the multipart upload was aborted, and the same step
 * retried starts over.
 */
export class ExportStorageUnavailableError extends ExportFinalizerError {
  override readonly name: string = 'ExportStorageUnavailableError';
  readonly operation: string;
  constructor(operation: string, cause: unknown) {
    super(storageFailure(operation, cause), { cause, permanent: false });
    this.operation = operation;
  }
}

/** S3 refused a request for a reason retrying cannot cure (access denied, no such bucket). Permanent. */
export class ExportStorageError extends ExportFinalizerError {
  override readonly name: string = 'ExportStorageError';
  readonly operation: string;
  constructor(operation: string, cause: unknown) {
    super(storageFailure(operation, cause), { cause, permanent: true });
    this.operation = operation;
  }
}

/** The message both storage errors carry: the S3 operation and the SDK error's name and message. */
function storageFailure(operation: string, cause: unknown): string {
  const { name, message } = (cause ?? {}) as { name?: unknown; message?: unknown };
  return `S3 ${operation} failed: ${typeof name === 'string' ? name : 'Error'}: ${
    typeof message === 'string' ? message : String(cause)
  }`;
}
