// The errors the local cloud's AWS APIs answer with their AWS error codes (the endpoint, Step
// Functions, EventBridge, Lambda's Invoke), shared by the endpoint and the APIs it serves.

/**
 * An error a local API answers with (400 unless `statusCode` says otherwise): `name` is AWS's error code (or, for a
 * query-compatible API such as CloudWatch, its error shape's name, as the SDK names it), `field` what
 * the request got wrong (`operation` for a throttled or unknown call, the API having no field for it).
 */
export class AwsApiError extends Error {
  readonly statusCode: number;
  readonly field: string;
  constructor(code: string, field: string, message: string, statusCode = 400) {
    super(message);
    this.name = code;
    this.field = field;
    this.statusCode = statusCode;
  }
}

/**
 * A JSON-protocol request a local API refuses before looking anything up (missing, malformed or
 * out-of-range parameter), with the AWS error code the SDKs map to their ValidationException.
 */
export class AwsValidationError extends AwsApiError {
  constructor(field: string, message: string) {
    super(
      'ValidationException',
      field,
      `1 validation error detected: Value at '${field}' failed to satisfy constraint: ${message}`,
    );
  }
}

/**
 * A call past its API's rate quota (a token bucket, `rate-bucket.ts`): `ThrottlingException` "Rate
 * exceeded", which the SDKs retry with backoff.
 */
export function rateExceeded(): AwsApiError {
  return new AwsApiError('ThrottlingException', 'operation', 'Rate exceeded');
}

/** An operation a local JSON API (`api`: "Step Functions", "EventBridge") does not serve. */
export class UnknownOperationError extends Error {
  override readonly name = 'UnknownOperationException';
  readonly operation: string;
  constructor(api: string, operation: string) {
    super(`The local ${api} API does not serve ${operation}`);
    this.operation = operation;
  }
}

/** A JSON-protocol request whose body is not JSON; the AWS error code the SDKs map. */
export class JsonBodyError extends Error {
  override readonly name = 'SerializationException';
  readonly field = 'body';
  constructor() {
    super('the request body is not valid JSON');
  }
}
