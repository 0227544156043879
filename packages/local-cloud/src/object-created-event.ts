import { randomUUID } from 'node:crypto';

/**
 * The EventBridge event S3 sends for a new object when the bucket has EventBridge notifications on
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html), field for field.
 *
 * @example
 * ```json
 * { "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
 *   "source": "aws.s3", "account": "000000000000", "time": "2026-11-24T09:00:00Z", "region": "us-east-1",
 *   "resources": ["arn:aws:s3:::sidestep-local-imports"],
 *   "detail": { "version": "0", "bucket": { "name": "sidestep-local-imports" },
 *     "object": { "key": "imports/users.csv", "size": 5, "etag": "b1946ac92492d2347c6235b4d2611184",
 *                 "sequencer": "00000000000000000001" },
 *     "request-id": "N4N7GDK58NMKJ12R", "requester": "000000000000", "source-ip-address": "127.0.0.1",
 *     "reason": "PutObject" } }
 * ```
 */
export interface ObjectCreatedEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': 'Object Created';
  readonly source: 'aws.s3';
  readonly account: string;
  /** ISO 8601 to the second, as EventBridge writes it. */
  readonly time: string;
  readonly region: string;
  /** The bucket ARN. */
  readonly resources: readonly [string];
  readonly detail: {
    readonly version: '0';
    readonly bucket: { readonly name: string };
    readonly object: {
      readonly key: string;
      readonly size: number;
      /** Without the quotes S3 puts around it in the ETag header. */
      readonly etag: string;
      /** Only for a versioned bucket. */
      readonly 'version-id'?: string;
      /** Orders events for one key: a later write has a greater sequencer (compare as hex strings). */
      readonly sequencer: string;
    };
    readonly 'request-id': string;
    readonly requester: string;
    readonly 'source-ip-address': string;
    /** The API call that created the object. */
    readonly reason: ObjectCreatedReason;
  };
}

/** The calls that raise "Object Created". */
export type ObjectCreatedReason = 'PutObject' | 'CopyObject' | 'CompleteMultipartUpload' | 'POST Object';

/** What {@link objectCreatedEvent} needs to know about the write. */
export interface ObjectWrite {
  readonly bucket: string;
  readonly key: string;
  readonly size: number;
  /** With or without quotes. */
  readonly etag: string;
  readonly versionId?: string;
  readonly reason: ObjectCreatedReason;
  readonly requestId: string;
  readonly sourceIp: string;
  readonly sequencer: string;
  readonly region: string;
  readonly account: string;
  /** @default now */
  readonly time?: Date;
}

/** Builds the "Object Created" event S3 hands EventBridge for one write. */
export function objectCreatedEvent(write: ObjectWrite): ObjectCreatedEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: write.account,
    time: `${(write.time ?? new Date()).toISOString().slice(0, 19)}Z`,
    region: write.region,
    resources: [`arn:aws:s3:::${write.bucket}`],
    detail: {
      version: '0',
      bucket: { name: write.bucket },
      object: {
        key: write.key,
        size: write.size,
        etag: write.etag.replace(/^"|"$/g, ''),
        ...(write.versionId ? { 'version-id': write.versionId } : {}),
        sequencer: write.sequencer,
      },
      'request-id': write.requestId,
      requester: write.account,
      'source-ip-address': write.sourceIp,
      reason: write.reason,
    },
  };
}
