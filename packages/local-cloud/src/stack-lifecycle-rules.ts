import type { LifecycleRule, LifecycleRuleFilter } from '@aws-sdk/client-s3';
import type { SynthesizedTerraformJson } from '@sidestep/iam';

/** A lifecycle configuration of the stack the local cloud cannot read (the field names where). */
export class StackLifecycleError extends Error {
  override readonly name = 'StackLifecycleError';
  /** `aws_s3_bucket_lifecycle_configuration.<id>.<field>` */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

type Block = Readonly<Record<string, unknown>>;

/**
 * Each bucket's lifecycle rules as the stack deploys them (`aws_s3_bucket_lifecycle_configuration`
 * resources of the synthesized Terraform JSON, infra's `createPrivateBucket`), by bucket name, in
 * the S3 API's shape (PutBucketLifecycleConfiguration's `Rules`). The bucket is a literal name or a
 * reference to an `aws_s3_bucket` of the stack (`${aws_s3_bucket.<id>.id}`, its `bucket`).
 * Transitions are left out: the local endpoint has one storage class.
 */
export function stackLifecycleRules(stack: SynthesizedTerraformJson): Map<string, LifecycleRule[]> {
  const resources = stack.resource ?? {};
  const buckets = resources.aws_s3_bucket ?? {};
  const rules = new Map<string, LifecycleRule[]>();
  for (const [id, configuration] of Object.entries(resources.aws_s3_bucket_lifecycle_configuration ?? {})) {
    const at = (field: string) => `aws_s3_bucket_lifecycle_configuration.${id}.${field}`;
    const bucket = String(configuration.bucket ?? '');
    const reference = /^\$\{aws_s3_bucket\.([^.}]+)\.(?:id|bucket)\}$/.exec(bucket);
    const name = reference ? buckets[reference[1] ?? '']?.bucket : bucket;
    if (typeof name !== 'string' || name === '' || name.includes('${')) {
      throw new StackLifecycleError(at('bucket'), `${bucket} is not a bucket of the stack`);
    }
    const blocks = Array.isArray(configuration.rule) ? (configuration.rule as Block[]) : [];
    rules.set(
      name,
      blocks.map((rule, index) => lifecycleRule(rule, (field) => at(`rule[${index}].${field}`))),
    );
  }
  return rules;
}

/** One `rule` block as the S3 API's LifecycleRule. */
function lifecycleRule(rule: Block, at: (field: string) => string): LifecycleRule {
  const first = (name: string): Block | undefined => {
    const value = rule[name];
    return Array.isArray(value) ? (value[0] as Block | undefined) : undefined;
  };
  const days = (block: Block | undefined, name: string, path: string): number | undefined => {
    const value = block?.[name];
    if (value === undefined || value === null) return undefined;
    const number = Number(value);
    if (!Number.isInteger(number) || number < 0) {
      throw new StackLifecycleError(at(`${path}.${name}`), `${String(value)} is not a whole number`);
    }
    return number;
  };
  const status = rule.status;
  if (status !== 'Enabled' && status !== 'Disabled') {
    throw new StackLifecycleError(at('status'), `must be Enabled or Disabled, not ${String(status)}`);
  }
  const expiration = first('expiration');
  const noncurrent = first('noncurrent_version_expiration');
  const abort = first('abort_incomplete_multipart_upload');
  const filterBlock = first('filter');
  const date = expiration?.date;
  const expirationDays = days(expiration, 'days', 'expiration');
  const noncurrentDays = days(noncurrent, 'noncurrent_days', 'noncurrent_version_expiration');
  const newer = days(noncurrent, 'newer_noncurrent_versions', 'noncurrent_version_expiration');
  const afterInitiation = days(abort, 'days_after_initiation', 'abort_incomplete_multipart_upload');
  return {
    Status: status,
    ...(typeof rule.id === 'string' ? { ID: rule.id } : {}),
    ...(typeof rule.prefix === 'string' && !filterBlock ? { Prefix: rule.prefix } : {}),
    ...(filterBlock ? { Filter: lifecycleFilter(filterBlock) } : {}),
    ...(expiration
      ? {
          Expiration: {
            ...(expirationDays !== undefined ? { Days: expirationDays } : {}),
            ...(typeof date === 'string' && date !== '' ? { Date: new Date(date) } : {}),
            ...(expiration.expired_object_delete_marker === true ? { ExpiredObjectDeleteMarker: true } : {}),
          },
        }
      : {}),
    ...(noncurrent
      ? {
          NoncurrentVersionExpiration: {
            ...(noncurrentDays !== undefined ? { NoncurrentDays: noncurrentDays } : {}),
            ...(newer !== undefined ? { NewerNoncurrentVersions: newer } : {}),
          },
        }
      : {}),
    ...(afterInitiation !== undefined
      ? { AbortIncompleteMultipartUpload: { DaysAfterInitiation: afterInitiation } }
      : {}),
  };
}

/** A `filter` block: `prefix`, `tag`, object size bounds, or `and` of them; empty selects every object. */
function lifecycleFilter(filter: Block): LifecycleRuleFilter {
  const size = (block: Block) => ({
    ...(block.object_size_greater_than != null
      ? { ObjectSizeGreaterThan: Number(block.object_size_greater_than) }
      : {}),
    ...(block.object_size_less_than != null
      ? { ObjectSizeLessThan: Number(block.object_size_less_than) }
      : {}),
  });
  const and = Array.isArray(filter.and) ? (filter.and[0] as Block | undefined) : undefined;
  if (and) {
    const tags = (and.tags ?? {}) as Readonly<Record<string, string>>;
    return {
      And: {
        ...(typeof and.prefix === 'string' ? { Prefix: and.prefix } : {}),
        ...(Object.keys(tags).length > 0
          ? { Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }
          : {}),
        ...size(and),
      },
    };
  }
  const tag = Array.isArray(filter.tag) ? (filter.tag[0] as Block | undefined) : undefined;
  if (tag) return { Tag: { Key: String(tag.key), Value: String(tag.value) } };
  return { Prefix: typeof filter.prefix === 'string' ? filter.prefix : '', ...size(filter) };
}
