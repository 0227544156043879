import type { RequestContext } from './condition-match.ts';
import { AuthorizationInputError, UnknownOperationError } from './errors.ts';

/** One action on one resource that a request needs (a request may need several: CopyObject needs two). */
export interface AuthorizationCheck {
  /** `service:Action` as in the Service Authorization Reference. */
  readonly action: string;
  /** The resource ARN, or `*` for actions without a resource type. */
  readonly resource: string;
  /** Service-specific condition keys of the request (`s3:prefix`); the caller adds the global ones. */
  readonly context?: RequestContext;
}

/** Where regional ARNs point. */
export interface ArnScope {
  readonly region: string;
  readonly accountId: string;
  /** @default 'aws' */
  readonly partition?: string;
}

/** The value of a required request field, or an {@link AuthorizationInputError} naming it. */
export function required<T>(value: T | undefined, field: string, operation: string): T {
  if (value === undefined || value === '') {
    throw new AuthorizationInputError(`${operation} needs ${field} to be authorized`, field);
  }
  return value;
}

/**
 * One service's operation table, with the service named once as in its ARNs (`sqs`, `events`, ...):
 * each `*-authorization.ts` module looks its operations up and builds its regional ARNs through it.
 */
export class ServiceOperations<T> {
  readonly service: string;
  readonly #table: Readonly<Record<string, T>>;

  constructor(service: string, table: Readonly<Record<string, T>>) {
    this.service = service;
    this.#table = table;
  }

  /** The operation's entry, or {@link UnknownOperationError}. */
  lookup(operation: string): T {
    const entry = Object.hasOwn(this.#table, operation) ? this.#table[operation] : undefined;
    if (entry === undefined) throw new UnknownOperationError(this.service, operation);
    return entry;
  }

  /** A regional ARN of this service: `arn:<partition>:<service>:<region>:<account>:<resource>`. */
  arn(scope: ArnScope, resource: string): string {
    return `arn:${scope.partition ?? 'aws'}:${this.service}:${scope.region}:${scope.accountId}:${resource}`;
  }
}
