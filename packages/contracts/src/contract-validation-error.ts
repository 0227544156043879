import type { core } from 'zod/mini';
import { SidestepError } from './errors.ts';

/** One problem found in a payload: where (`field`, dotted path) and what. */
export interface ContractIssue {
  readonly field: string;
  readonly message: string;
}

/**
 * A payload does not match its contract. Permanent: retrying the same bytes cannot succeed, so
 * sidestep's runtime dead-letters it at once.
 */
export class ContractValidationError extends SidestepError {
  override readonly name: string = 'ContractValidationError';
  /** The first offending field, dotted (`payload.params.rows`); `(root)` for the whole value. */
  override readonly field: string;
  readonly issues: readonly ContractIssue[];

  constructor(issues: readonly ContractIssue[], options?: { cause?: unknown }) {
    const first = issues[0] ?? { field: '(root)', message: 'invalid' };
    const rest =
      issues.length > 1
        ? ` (and ${issues.length - 1} more: ${issues
            .slice(1)
            .map((i) => i.field)
            .join(', ')})`
        : '';
    super(`${first.field}: ${first.message}${rest}`, { ...options, field: first.field, permanent: true });
    this.field = first.field;
    this.issues = issues;
  }

  /** Builds the error from zod's issues, naming each field by its path. */
  static fromZod(
    issues: readonly core.$ZodIssue[],
    prefix: readonly PropertyKey[] = [],
  ): ContractValidationError {
    return new ContractValidationError(
      issues.map((issue) => ({
        field: fieldName([...prefix, ...issue.path]),
        message: describe(issue),
      })),
    );
  }
}

function fieldName(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((part) => (typeof part === 'number' ? `[${part}]` : String(part)))
    .join('.')
    .replaceAll('.[', '[');
}

function describe(issue: core.$ZodIssue): string {
  if (issue.code === 'invalid_union' && 'note' in issue && issue.note === 'No matching discriminator') {
    return `unknown value; expected one of the documented ${String(issue.path.at(-1) ?? 'variants')}s`;
  }
  if (issue.code === 'unrecognized_keys') return `unknown field(s): ${issue.keys.join(', ')}`;
  return issue.message;
}
