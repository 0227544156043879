import { contractIssuesOf, SidestepError, type SidestepErrorOptions } from '@sidestep/contracts';
import type { core } from 'zod/mini';

// The base lives in @sidestep/contracts so that `ContractValidationError` is one of the family too
// (see there); this package is where services take it from.
export { SidestepError, type SidestepErrorOptions };

/** An error that retrying cannot fix (bad input, impossible transition, missing configuration). */
export class PermanentError extends SidestepError {
  override readonly name: string = 'PermanentError';
  constructor(message: string, options: SidestepErrorOptions = {}) {
    super(message, { ...options, permanent: true });
  }
}

/** An error that may go away on retry (throttling, a dependency briefly down). */
export class TransientError extends SidestepError {
  override readonly name: string = 'TransientError';
  constructor(message: string, options: SidestepErrorOptions = {}) {
    super(message, { ...options, permanent: false });
  }
}

/** True for a {@link SidestepError} whose class says retrying cannot succeed. */
export function isPermanentError(error: unknown): error is SidestepError {
  return error instanceof SidestepError && error.permanent;
}

/** True for a {@link SidestepError} that puts its work off by design (a rate): retried, not failed. */
export function isDeferredError(error: unknown): error is SidestepError {
  return error instanceof SidestepError && error.deferred === true;
}

/** True for a {@link SidestepError} whose class says a retry may succeed. */
export function isTransientError(error: unknown): error is SidestepError {
  return error instanceof SidestepError && !error.permanent;
}

/** The thrown value as an `Error` (a thrown string or object becomes an `Error` with its text). */
export function toError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown));
}

/**
 * `<name>: <message>` of a thrown value, for an error that wraps another (`S3 GetObject failed:
 * SlowDown: ...`); a value that is not an error object is shown as a string.
 */
export function describeCause(cause: unknown): string {
  const { name, message } = (cause ?? {}) as { name?: unknown; message?: unknown };
  if (typeof message !== 'string') return String(cause);
  return `${typeof name === 'string' ? name : 'Error'}: ${message}`;
}

/**
 * A Step Functions task's input does not match its contract; `field` names the first bad field (see
 * `createTaskHandler`). Permanent: the same input fails the same way, so workflows Catch it by name.
 */
export class InvalidInputError extends PermanentError {
  override readonly name: string = 'InvalidInputError';
  declare readonly field: string;
  constructor(field: string, message: string, options: { readonly cause?: unknown } = {}) {
    super(message, { ...options, field });
  }
}

/** A message body that is not JSON. Permanent: the same bytes never parse. */
export class InvalidJsonError extends PermanentError {
  override readonly name: string = 'InvalidJsonError';
  constructor(options: { readonly cause?: unknown } = {}) {
    const reason = options.cause instanceof Error ? `: ${withoutExcerpt(options.cause.message)}` : '';
    // The body itself is not quoted: it may hold personal data and can be large. Nor is the parser's
    // error kept as the cause, whose message quotes it (the logs and the DLQ reason would carry it).
    super(`message body is not valid JSON${reason}`, { field: 'body' });
  }
}

/**
 * A JSON.parse error's message without the input it quotes: V8's `Unexpected token 'n', "name=Taro
 * Y"... is not valid JSON` repeats the first characters of the body (and does not escape its quotes,
 * so the excerpt cannot be cut out reliably); its other messages name a position only.
 */
function withoutExcerpt(message: string): string {
  return message.startsWith('Unexpected token') || message.includes('"')
    ? 'an unexpected character (the body is not JSON)'
    : message;
}

/** One schema problem: the dotted path of the field and what is wrong with it. */
export interface SchemaIssue {
  readonly field: string;
  readonly message: string;
}

/** Name used for an issue about the whole value rather than one of its fields. */
const ROOT_FIELD = '(root)';

/**
 * A job payload that does not match its schema. Permanent: the same payload never validates.
 * `field` is the first issue's dotted path; the message names every issue, worded as the contracts
 * word them (`payload.cc: unrecognized key`, the closest branch of a union).
 */
export class SchemaViolationError extends PermanentError {
  override readonly name: string = 'SchemaViolationError';
  declare readonly field: string;
  readonly issues: readonly SchemaIssue[];

  constructor(error: core.$ZodError, options: { readonly subject?: string } = {}) {
    const issues: readonly SchemaIssue[] = contractIssuesOf(error.issues);
    const first = issues[0] ?? { field: ROOT_FIELD, message: 'invalid' };
    const detail = issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ');
    super(`${options.subject ?? 'job payload'} violates its schema: ${detail}`, {
      cause: error,
      field: first.field,
    });
    this.issues = issues;
  }
}

/** A missing or invalid environment variable (or secret it points to). Permanent until redeployed. */
export class ConfigError extends PermanentError {
  override readonly name: string = 'ConfigError';
  /** The environment variable at fault. */
  declare readonly field: string;
  constructor(variable: string, message: string, options: { readonly cause?: unknown } = {}) {
    super(message, { ...options, field: variable });
  }
}

/**
 * A secret could not be fetched (throttled, network, access briefly denied). Transient: a retry
 * may succeed, and SQS dead-letters the message after maxReceiveCount if it never does.
 */
export class SecretUnavailableError extends TransientError {
  override readonly name: string = 'SecretUnavailableError';
  declare readonly field: string;
  constructor(variable: string, message: string, options: { readonly cause?: unknown } = {}) {
    super(message, { ...options, field: variable });
  }
}

/**
 * Sending a permanently failed message to the dead-letter queue failed. Transient: the record is
 * reported as a batch item failure, so SQS delivers it again rather than losing it.
 */
export class DeadLetterSendError extends TransientError {
  override readonly name: string = 'DeadLetterSendError';
  constructor(queueUrl: string, options: { readonly cause?: unknown } = {}) {
    const reason = options.cause instanceof Error ? `: ${options.cause.name}: ${options.cause.message}` : '';
    super(`could not send the message to the dead-letter queue ${queueUrl}${reason}`, options);
  }
}

/**
 * A claim-check pointer names an object that is not there (expired by the bucket's lifecycle, or
 * deleted). Permanent: the body is gone; `field` is `body`, and `bucket`/`key` say where it was.
 */
export class ClaimCheckMissingError extends PermanentError {
  override readonly name: string = 'ClaimCheckMissingError';
  readonly bucket: string;
  readonly key: string;
  constructor(bucket: string, key: string, options: { readonly cause?: unknown } = {}) {
    super(`body: the claim-check object s3://${bucket}/${key} does not exist (expired or deleted)`, {
      ...options,
      field: 'body',
    });
    this.bucket = bucket;
    this.key = key;
  }
}

/** Reading or storing a claim-check object failed for a reason that may pass (throttling, network). */
export class ClaimCheckUnavailableError extends TransientError {
  override readonly name: string = 'ClaimCheckUnavailableError';
  constructor(
    action: 'read' | 'store',
    bucket: string,
    key: string,
    options: { readonly cause?: unknown } = {},
  ) {
    super(
      `could not ${action} the claim-check object s3://${bucket}/${key}: ${describeCause(options.cause)}`,
      options,
    );
  }
}
