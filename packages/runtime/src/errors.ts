import type { core } from 'zod/mini';

/** Options every sidestep error accepts. */
export interface SidestepErrorOptions {
  /** The error that caused this one; kept as the standard `cause`. */
  readonly cause?: unknown;
  /** The offending field, dotted (`payload.to`), or the environment variable's name. */
  readonly field?: string;
}

/**
 * Base of every error the runtime raises. Whether an error is worth retrying is a property of its
 * class (`permanent`), not of the place that catches it: the SQS handler dead-letters permanent
 * errors at once and lets SQS retry the rest.
 *
 * Each subclass sets `name` as a class field rather than from `new.target.name`, because bundlers
 * rename classes when minifying and Step Functions' Catch matches on the exact `name`.
 */
export class SidestepError extends Error {
  override readonly name: string = 'SidestepError';
  /** True when retrying the same input cannot succeed. */
  readonly permanent: boolean;
  /** The offending field or variable, when there is one. */
  readonly field?: string;

  constructor(message: string, options: SidestepErrorOptions & { readonly permanent: boolean }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.permanent = options.permanent;
    if (options.field !== undefined) this.field = options.field;
  }
}

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

/**
 * True for any error object whose `permanent` property is `true`. Duck-typed on purpose: other
 * packages (e.g. `ContractValidationError` in @sidestep/contracts) mark their errors permanent
 * without importing this package.
 */
export function isPermanentError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { permanent?: unknown }).permanent === true;
}

/** A message body that is not JSON. Permanent: the same bytes never parse. */
export class InvalidJsonError extends PermanentError {
  override readonly name: string = 'InvalidJsonError';
  constructor(options: { readonly cause?: unknown } = {}) {
    const reason = options.cause instanceof Error ? `: ${options.cause.message}` : '';
    // The body itself is not quoted: it may hold personal data and can be large.
    super(`message body is not valid JSON${reason}`, { ...options, field: 'body' });
  }
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
 * `field` is the first issue's path joined with '.'; the message names every issue.
 */
export class SchemaViolationError extends PermanentError {
  override readonly name: string = 'SchemaViolationError';
  override readonly field: string;
  readonly issues: readonly SchemaIssue[];

  constructor(error: core.$ZodError, options: { readonly subject?: string } = {}) {
    const issues = error.issues.map(
      (issue): SchemaIssue => ({
        field: issue.path.length === 0 ? ROOT_FIELD : issue.path.map(String).join('.'),
        message: issue.message,
      }),
    );
    const first = issues[0] ?? { field: ROOT_FIELD, message: 'invalid' };
    const detail = issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ');
    super(`${options.subject ?? 'job payload'} violates its schema: ${detail}`, {
      cause: error,
      field: first.field,
    });
    this.field = first.field;
    this.issues = issues;
  }
}

/** A missing or invalid environment variable (or secret it points to). Permanent until redeployed. */
export class ConfigError extends PermanentError {
  override readonly name: string = 'ConfigError';
  /** The environment variable at fault. */
  override readonly field: string;
  constructor(variable: string, message: string, options: { readonly cause?: unknown } = {}) {
    super(message, { ...options, field: variable });
    this.field = variable;
  }
}

/**
 * A secret could not be fetched (throttled, network, access briefly denied). Transient: a retry
 * may succeed, and SQS dead-letters the message after maxReceiveCount if it never does.
 */
export class SecretUnavailableError extends TransientError {
  override readonly name: string = 'SecretUnavailableError';
  override readonly field: string;
  constructor(variable: string, message: string, options: { readonly cause?: unknown } = {}) {
    super(message, { ...options, field: variable });
    this.field = variable;
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
