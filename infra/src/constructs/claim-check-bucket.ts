import type { S3Bucket } from '@cdktn/provider-aws/lib/s3-bucket/index.js';
import { CLAIM_CHECK_BUCKET_VARIABLE, CLAIM_CHECK_PREFIXES } from '@sidestep/contracts';
import { Construct } from 'constructs';
import { InfraConfigError } from '../errors.ts';
import type { PolicyGrantee } from './grantable-role.ts';
import { createPrivateBucket } from './private-bucket.ts';

/** Props of {@link ClaimCheckBucket}. */
export interface ClaimCheckBucketProps {
  /** `sidestep-<env>-claims-<suffix>` (`environmentBucketName(config, 'claims')`). */
  readonly bucketName: string;
  /**
   * Days a stored body is kept. A pointer lives in a queue at most as long as SQS retains a
   * message, 14 days at the most (MessageRetentionPeriod's maximum, which the DLQs use), so a body
   * kept as long is there for every pointer to it; a longer lifetime would only keep payloads (which
   * may hold personal data) that nothing can reach any more.
   * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
   * @default 14
   */
  readonly expirationDays?: number;
}

/**
 * The claim-check bucket: message bodies too large for SQS, stored by producers
 * (`payloads/<queue>/<uuid>`) and by the runtime when a dead letter's body does not fit beside its
 * reason (`dead-letters/<queue>/<message id>`); the queues carry pointers in the Amazon SQS
 * Extended Client's format. Private (all four public-access blocks), SSE-S3, TLS-only, versioned
 * like every sidestep bucket, and every object (and replaced version) expires after
 * {@link ClaimCheckBucketProps.expirationDays}.
 */
export class ClaimCheckBucket extends Construct {
  readonly bucket: S3Bucket;
  /** The bucket's name (a literal: services receive it as `CLAIM_CHECK_BUCKET`). */
  readonly bucketName: string;
  readonly bucketArn: string;

  constructor(scope: Construct, id: string, props: ClaimCheckBucketProps) {
    super(scope, id);
    const days = props.expirationDays ?? 14;
    if (!Number.isInteger(days) || days < 1) {
      throw new InfraConfigError(
        'claim-check-bucket.expirationDays',
        'must be a whole number of days, at least 1',
      );
    }
    this.bucketName = props.bucketName;
    this.bucket = createPrivateBucket(this, {
      bucketName: props.bucketName,
      lifecycleRules: [
        {
          id: 'expire-claim-checks',
          status: 'Enabled',
          filter: [{}],
          expiration: [{ days }],
          noncurrentVersionExpiration: [{ noncurrentDays: 1 }],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: 1 }],
        },
      ],
    });
    this.bucketArn = this.bucket.arn;
  }

  /** The variable a service reads the bucket's name from. */
  get environment(): Readonly<Record<string, string>> {
    return { [CLAIM_CHECK_BUCKET_VARIABLE]: this.bucketName };
  }

  /** Lets a producer store bodies: `s3:PutObject` under `payloads/` only. */
  grantPutPayloads(grantee: PolicyGrantee, sid = 'PutClaimCheckPayloads'): void {
    grantee.addToPolicy({
      sid,
      actions: ['s3:PutObject'],
      resources: [`${this.bucket.arn}/${CLAIM_CHECK_PREFIXES.payloads}*`],
    });
  }

  /**
   * Lets a queue consumer resolve pointers and dead-letter oversized bodies: `s3:GetObject` on every
   * object (a redriven dead letter points under `dead-letters/`), `s3:PutObject` under
   * `dead-letters/` only, and `s3:ListBucket` on the bucket so that an expired body is a 404
   * `NoSuchKey` (permanent) rather than a 403 `AccessDenied`
   * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions").
   */
  grantConsume(grantee: PolicyGrantee, sid = 'ClaimCheck'): void {
    grantee.addToPolicy({
      sid: `${sid}Read`,
      actions: ['s3:GetObject'],
      resources: [`${this.bucket.arn}/*`],
    });
    grantee.addToPolicy({ sid: `${sid}List`, actions: ['s3:ListBucket'], resources: [this.bucket.arn] });
    grantee.addToPolicy({
      sid: `${sid}DeadLetters`,
      actions: ['s3:PutObject'],
      resources: [`${this.bucket.arn}/${CLAIM_CHECK_PREFIXES.deadLetters}*`],
    });
  }
}
