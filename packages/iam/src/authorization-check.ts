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

/** A regional ARN: `arn:<partition>:<service>:<region>:<account>:<resource>`. */
export function regionalArn(scope: ArnScope, service: string, resource: string): string {
  return `arn:${scope.partition ?? 'aws'}:${service}:${scope.region}:${scope.accountId}:${resource}`;
}

/** The value of a required request field, or an {@link AuthorizationInputError} naming it. */
export function required<T>(value: T | undefined, field: string, operation: string): T {
  if (value === undefined || value === '') {
    throw new AuthorizationInputError(`${operation} needs ${field} to be authorized`, field);
  }
  return value;
}

/** Looks an operation up in a service's table, or throws {@link UnknownOperationError}. */
export function lookup<T>(table: Readonly<Record<string, T>>, service: string, operation: string): T {
  const entry = Object.hasOwn(table, operation) ? table[operation] : undefined;
  if (entry === undefined) throw new UnknownOperationError(service, operation);
  return entry;
}
