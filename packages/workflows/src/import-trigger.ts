import { BucketNameError, bucketName } from '@sidestep/manifest';
import { InvalidWorkflowPropsError } from './invalid-workflow-props-error.ts';

/** What starts the import workflow in one environment. */
export interface ImportTrigger {
  /** The bucket customers upload to: `sidestep-<env>-imports-<suffix>` (`bucketName` of @sidestep/manifest). */
  readonly bucketName: string;
  /** The key prefix uploads go under. */
  readonly keyPrefix: 'imports/';
  /**
   * The EventBridge event pattern of the rule that starts the workflow: S3 "Object Created" events of
   * that bucket for keys under `imports/` ending in `.csv`.
   */
  readonly eventPattern: ImportEventPattern;
}

/** The event pattern, typed as the JSON EventBridge takes (`JSON.stringify` it for `aws_cloudwatch_event_rule`). */
export interface ImportEventPattern {
  readonly source: readonly ['aws.s3'];
  readonly 'detail-type': readonly ['Object Created'];
  readonly detail: {
    readonly bucket: { readonly name: readonly [string] };
    readonly object: { readonly key: readonly [{ readonly wildcard: string }] };
  };
}

/** Options of {@link importTrigger}. */
export interface ImportTriggerOptions {
  /**
   * The environment's bucket suffix (on AWS the account id, or the configured one): S3 bucket names
   * are global. @default none, as the local cloud's buckets
   */
  readonly bucketSuffix?: string;
}

/**
 * The S3 trigger of the import workflow for `environment` (`local`, `staging`, `production`). Infra
 * creates the bucket and the rule from it; the local cloud routes its S3 events with the same pattern.
 *
 * A prefix AND a suffix on one field cannot be two filters (values in a field's array are OR-ed), so
 * the key is matched with one `wildcard` filter, `imports/*.csv`, where `*` matches any characters
 * including `/`: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html#eb-filtering-wildcard-matching
 * The match is case-sensitive: `USERS.CSV` does not start an import.
 *
 * @throws {InvalidWorkflowPropsError} when `environment` or `bucketSuffix` cannot be part of a bucket name.
 */
export function importTrigger(environment: string, options: ImportTriggerOptions = {}): ImportTrigger {
  // Bucket names are 3-63 lower-case characters; `sidestep-` and `-imports` take 17 of them.
  if (!/^[a-z][a-z0-9-]{0,45}$/.test(environment)) {
    throw new InvalidWorkflowPropsError(
      'environment',
      `"${environment}" must be lower-case letters, digits and dashes`,
    );
  }
  let name: string;
  try {
    name = bucketName(environment, 'imports', options.bucketSuffix);
  } catch (error) {
    if (!(error instanceof BucketNameError)) throw error;
    throw new InvalidWorkflowPropsError(
      error.field === 'suffix' ? 'bucketSuffix' : 'environment',
      error.reason,
    );
  }
  return {
    bucketName: name,
    keyPrefix: 'imports/',
    eventPattern: {
      source: ['aws.s3'],
      'detail-type': ['Object Created'],
      detail: {
        bucket: { name: [name] },
        object: { key: [{ wildcard: 'imports/*.csv' }] },
      },
    },
  };
}
