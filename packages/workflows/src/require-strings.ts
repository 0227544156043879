import { InvalidWorkflowPropsError } from './invalid-workflow-props-error.ts';

/**
 * Refuses an empty prop, naming it: Step Functions accepts a definition with an empty ARN or URL,
 * which then fails every execution at run time. Values are not parsed further: they may be tokens.
 *
 * @throws {InvalidWorkflowPropsError} for the first `[field, value]` that is not a non-empty string.
 */
export function requireStrings(fields: readonly (readonly [field: string, value: unknown])[]): void {
  for (const [field, value] of fields) {
    if (typeof value !== 'string' || value.trim() === '') {
      throw new InvalidWorkflowPropsError(field, 'must be a non-empty string');
    }
  }
}
