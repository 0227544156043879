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
    return new ContractValidationError(contractIssuesOf(issues, prefix));
  }
}

/**
 * zod's issues as sidestep reports them: one issue per offending field, named by its dotted path
 * (`payload.to[1]`), with a reason in words. An unrecognized key is named itself (`payload.cc:
 * unrecognized key`) rather than its parent; a union that no branch accepts reports the issues of
 * the branch that came closest, so the field is the precise one.
 *
 * The reasons are written here rather than taken from zod's locales: `zod/mini` ships none (every
 * message is "Invalid input"), and loading them would add ~250 KiB to every bundle.
 */
export function contractIssuesOf(
  issues: readonly core.$ZodIssue[],
  prefix: readonly PropertyKey[] = [],
): ContractIssue[] {
  return issues.flatMap((issue) => issuesOf(issue, prefix));
}

function issuesOf(issue: core.$ZodIssue, prefix: readonly PropertyKey[]): ContractIssue[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ field: fieldName([...path, key]), message: 'unrecognized key' }));
  }
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const branch = closestBranch(issue.errors);
    if (branch) return contractIssuesOf(branch, path);
    return [{ field: fieldName(path), message: `expected ${expectedTypes(issue.errors).join(' or ')}` }];
  }
  if ((issue.code === 'invalid_key' || issue.code === 'invalid_element') && issue.issues.length > 0) {
    return contractIssuesOf(issue.issues, path);
  }
  return [{ field: fieldName(path), message: describe(issue) }];
}

/**
 * The union branch whose issues say most about the value: not one whose type did not even match
 * (an `invalid_type` at the branch's root), then the one with the fewest issues; the first wins a
 * tie. Undefined when no branch matched the value's type.
 */
function closestBranch(
  branches: readonly (readonly core.$ZodIssue[])[],
): readonly core.$ZodIssue[] | undefined {
  const typed = branches.filter(
    (issues) => !issues.some((issue) => issue.code === 'invalid_type' && issue.path.length === 0),
  );
  return typed.reduce<readonly core.$ZodIssue[] | undefined>(
    (best, issues) => (best === undefined || issues.length < best.length ? issues : best),
    undefined,
  );
}

function expectedTypes(branches: readonly (readonly core.$ZodIssue[])[]): string[] {
  const types = branches.flatMap((issues) =>
    issues.flatMap((issue) =>
      issue.code === 'invalid_type' && issue.path.length === 0 ? [issue.expected] : [],
    ),
  );
  return [...new Set(types)];
}

function fieldName(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((part) => (typeof part === 'number' ? `[${part}]` : String(part)))
    .join('.')
    .replaceAll('.[', '[');
}

const UNITS: Record<string, string> = {
  string: 'character(s)',
  array: 'item(s)',
  set: 'item(s)',
  file: 'byte(s)',
};

function bound(issue: core.$ZodIssueTooSmall | core.$ZodIssueTooBig, least: boolean): string {
  const unit = UNITS[issue.origin];
  const limit = String(issue.code === 'too_small' ? issue.minimum : issue.maximum);
  if (unit) return `must have ${least ? 'at least' : 'at most'} ${limit} ${unit}`;
  if (issue.inclusive === false) return `must be ${least ? 'greater' : 'less'} than ${limit}`;
  return `must be ${least ? 'at least' : 'at most'} ${limit}`;
}

// zod/mini's own message is "Invalid input" for every built-in check; a custom message (a refine's,
// a regex's `{ message }`) is kept as written.
const GENERIC = 'Invalid input';

function describe(issue: core.$ZodIssue): string {
  const custom = issue.message !== GENERIC && issue.message !== '' ? issue.message : undefined;
  switch (issue.code) {
    case 'invalid_union':
      if ('note' in issue && issue.note === 'No matching discriminator') {
        return `unknown value; expected one of the documented ${String(issue.path.at(-1) ?? 'variants')}s`;
      }
      return custom ?? 'matches none of the accepted shapes';
    case 'invalid_type':
      return custom ?? `expected ${issue.expected}`;
    case 'too_small':
      return custom ?? bound(issue, true);
    case 'too_big':
      return custom ?? bound(issue, false);
    case 'invalid_format':
      if (custom) return custom;
      return issue.format === 'regex' && issue.pattern
        ? `must match ${issue.pattern}`
        : `not a valid ${issue.format}`;
    case 'invalid_value':
      return custom ?? `expected one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`;
    case 'not_multiple_of':
      return custom ?? `must be a multiple of ${String(issue.divisor)}`;
    default:
      return issue.message;
  }
}
