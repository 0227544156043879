import type { S3Bucket } from '@cdktn/provider-aws/lib/s3-bucket/index.js';
import { CLAIM_CHECK_BUCKET_VARIABLE, CLAIM_CHECK_PREFIXES } from '@sidestep/contracts';
import {
  DEAD_LETTER_RETENTION_SECONDS,
  messageLifetimeSeconds,
  messageRetentionSeconds,
  type QueueTrigger,
} from '@sidestep/manifest';
import { Lazy } from 'cdktn';
import { Construct } from 'constructs';
import { InfraConfigError } from '../errors.ts';
import type { PolicyGrantee } from './grantable-role.ts';
import { createPrivateBucket } from './private-bucket.ts';

const DAY = 24 * 60 * 60;

/** Props of {@link ClaimCheckBucket}. */
export interface ClaimCheckBucketProps {
  /** `sidestep-<env>-claims-<suffix>` (`environmentBucketName(config, 'claims')`). */
  readonly bucketName: string;
  /**
   * Days a stored body is kept. A pointer waits in its queue up to the queue's retention; its last
   * receive is then dead-lettered by the runtime with a SendMessage, a new message the DLQ keeps 14
   * days from then on. So a body must outlive the longest retention of the queues that carry
   * pointers ({@link ClaimCheckBucket.addPointerQueue}) plus the DLQ's; a day more covers the
   * moments between storing a body and sending its pointer, and a producer's resend. A longer
   * lifetime would only keep payloads (which may hold personal data) that nothing can reach. A DLQ
   * redrive starts a message's retention again, so a pointer redriven after the body expired
   * finds it gone (`ClaimCheckMissingError`, permanent).
   * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html
   * @default the queues' longest retention + the DLQ's 14 days + 1, in whole days (19 with SQS's
   * default retention of 4 days); synth fails for a shorter one
   */
  readonly expirationDays?: number;
}

/**
 * The claim-check bucket: message bodies too large for SQS, stored by producers
 * (`payloads/<queue>/<uuid>`) and by the runtime when a dead letter's body does not fit beside its
 * reason (`dead-letters/<queue>/<message id>`); the queues carry pointers in the Amazon SQS
 * Extended Client's format. Private (all four public-access blocks), SSE-S3, TLS-only, versioned
 * like every sidestep bucket, and every object expires after
 * {@link ClaimCheckBucketProps.expirationDays} (a replaced version a day after it was replaced).
 */
export class ClaimCheckBucket extends Construct {
  readonly bucket: S3Bucket;
  /** The bucket's name (a literal: services receive it as `CLAIM_CHECK_BUCKET`). */
  readonly bucketName: string;
  readonly bucketArn: string;
  /** The queues whose pointers name this bucket (see {@link ClaimCheckBucket.addPointerQueue}). */
  readonly #queues: Pick<QueueTrigger, 'name' | 'messageRetentionSeconds'>[] = [];

  constructor(scope: Construct, id: string, props: ClaimCheckBucketProps) {
    super(scope, id);
    const field = 'claim-check-bucket.expirationDays';
    const given = props.expirationDays;
    if (given !== undefined && (!Number.isInteger(given) || given < 1)) {
      throw new InfraConfigError(field, 'must be a whole number of days, at least 1');
    }
    // Read at synth, once every queue that carries pointers was added.
    const days = given ?? Lazy.numberValue({ produce: () => this.#requiredDays().days });
    if (given !== undefined) {
      this.node.addValidation({
        validate: () => {
          const required = this.#requiredDays();
          return given >= required.days
            ? []
            : [
                `${field}: ${given} days is shorter than a pointer can live (${required.days}: ${required.why})`,
              ];
        },
      });
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

  /**
   * Keeps bodies as long as pointers sent to `queue` can live: its retention (SQS's default of 4
   * days when it states none), then 14 days as a dead letter. Every queue whose consumer resolves
   * pointers is added (a `JobQueue` given this bucket does so).
   */
  addPointerQueue(queue: Pick<QueueTrigger, 'name' | 'messageRetentionSeconds'>): void {
    this.#queues.push(queue);
  }

  /** Whole days a body must be kept: the longest pointer lifetime, rounded up, and a day. */
  #requiredDays(): { readonly days: number; readonly why: string } {
    // With no queue added yet: one of SQS's default retention.
    const longest = this.#queues.reduce<Pick<QueueTrigger, 'name' | 'messageRetentionSeconds'>>(
      (kept, queue) => (messageLifetimeSeconds(queue) > messageLifetimeSeconds(kept) ? queue : kept),
      this.#queues[0] ?? { name: 'a queue' },
    );
    const lifetime = messageLifetimeSeconds(longest);
    const retentionDays = messageRetentionSeconds(longest) / DAY;
    return {
      days: Math.ceil(lifetime / DAY) + 1,
      why: `${longest.name} keeps messages ${retentionDays} days, its DLQ ${DEAD_LETTER_RETENTION_SECONDS / DAY}, and a day`,
    };
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
