import type { S3Bucket } from '@cdktn/provider-aws/lib/s3-bucket/index.js';
import { Construct } from 'constructs';
import { InfraConfigError } from '../errors.ts';
import type { PolicyGrantee, PolicyStatement } from './grantable-role.ts';
import type { PermissionTarget } from './manifest-permissions.ts';
import { createPrivateBucket } from './private-bucket.ts';

/** The key prefix every export object lives under: `exports/<jobId>/parts/...` and `exports/<jobId>/<file>.csv.gz`. */
export const EXPORTS_PREFIX = 'exports/';

/**
 * The object tag that marks the batch-worker's JSON records under `exports/<jobId>/parts/`
 * (`progress.json`, `manifest.json`); the export's parts themselves are uploaded into the file's
 * multipart upload, never stored as objects. S3 lifecycle filters take a literal key prefix, never a
 * wildcard, so `exports/* /parts/` cannot be a prefix filter: records carrying this tag (PutObject with
 * `Tagging: sidestep-export=part`, which also needs `s3:PutObjectTagging`) expire after
 * {@link ExportsBucketProps.lifecycle}`.partExpirationDays`; untagged ones expire with the exports
 * themselves.
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-filters.html
 */
export const EXPORT_PART_TAG = { key: 'sidestep-export', value: 'part' } as const;

/** Props of {@link ExportsBucket}. */
export interface ExportsBucketProps {
  /**
   * The bucket's name: `sidestep-<env>-exports-<suffix>` (`environmentBucketName(config, 'exports')`),
   * the one `bucketName` of @sidestep/manifest computes for infra, the deploy role and the local cloud.
   */
  readonly bucketName: string;
  /**
   * Object lifecycle.
   * @default exports expire after 7 days, tagged worker records after 2, replaced versions after 1
   */
  readonly lifecycle?: {
    /**
     * Days an export (the final `.csv.gz`, its manifest, and the worker's records) is kept. Exports
     * hold personal data and can be produced again at any time, so they are not kept for long;
     * download links must not outlive them.
     * @default 7
     */
    readonly exportExpirationDays?: number;
    /**
     * Days a worker record tagged {@link EXPORT_PART_TAG} is kept: the finalizer reads the manifest
     * within minutes. @default 2
     */
    readonly partExpirationDays?: number;
    /** Days a replaced or deleted version is kept (versioning is on). @default 1 */
    readonly noncurrentVersionExpirationDays?: number;
  };
}

/**
 * The bucket exports are written to: `sidestep-<env>-exports-<suffix>`, public access blocked (all four
 * settings), encrypted (SSE-S3, so multipart uploads and downloads need no KMS grant), TLS-only,
 * versioned, with a lifecycle that expires exports and the worker's records and aborts multipart
 * uploads left incomplete after one day (the worker's uploads of exports that never finalized leave
 * billed, invisible parts otherwise).
 */
export class ExportsBucket extends Construct {
  /** The bucket. */
  readonly bucket: S3Bucket;
  /** `sidestep-<env>-exports-<suffix>` (a literal: services receive it as `EXPORTS_BUCKET`). */
  readonly bucketName: string;
  /** Bucket ARN. */
  readonly bucketArn: string;

  constructor(scope: Construct, id: string, props: ExportsBucketProps) {
    super(scope, id);
    const { bucketName } = props;
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucketName)) {
      throw new InfraConfigError('exports-bucket.bucketName', `"${bucketName}" is not an S3 bucket name`);
    }
    const exportDays = props.lifecycle?.exportExpirationDays ?? 7;
    const partDays = props.lifecycle?.partExpirationDays ?? 2;
    const noncurrentDays = props.lifecycle?.noncurrentVersionExpirationDays ?? 1;
    for (const [key, days] of [
      ['lifecycle.exportExpirationDays', exportDays],
      ['lifecycle.partExpirationDays', partDays],
      ['lifecycle.noncurrentVersionExpirationDays', noncurrentDays],
    ] as const) {
      if (!Number.isInteger(days) || days < 1) {
        throw new InfraConfigError(`exports-bucket.${key}`, 'must be a whole number of days, at least 1');
      }
    }
    if (partDays > exportDays) {
      throw new InfraConfigError(
        'exports-bucket.lifecycle.partExpirationDays',
        `parts (${partDays} days) would outlive the exports they belong to (${exportDays} days)`,
      );
    }
    this.bucketName = bucketName;

    this.bucket = createPrivateBucket(this, {
      bucketName,
      lifecycleRules: [
        {
          id: 'expire-exports',
          status: 'Enabled',
          filter: [{ prefix: EXPORTS_PREFIX }],
          expiration: [{ days: exportDays }],
          noncurrentVersionExpiration: [{ noncurrentDays }],
        },
        {
          id: 'expire-export-parts',
          status: 'Enabled',
          filter: [
            { and: [{ prefix: EXPORTS_PREFIX, tags: { [EXPORT_PART_TAG.key]: EXPORT_PART_TAG.value } }] },
          ],
          expiration: [{ days: partDays }],
        },
        {
          // Whole bucket: an upload under any key that was never completed is only cost (the worker's
          // upload of an export that never finalized, after 1 day).
          id: 'abort-incomplete-multipart-uploads',
          status: 'Enabled',
          filter: [{}],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: 1 }],
        },
      ],
    });
    this.bucketArn = this.bucket.arn;
  }

  /**
   * What a manifest's `exports-bucket` permission resolves to: objects under `exports/`, S3 actions
   * only, `s3:ListBucket` on the bucket ({@link listStatement}: no `s3:prefix` condition), and
   * `EXPORTS_BUCKET` naming the bucket.
   */
  get permissionTarget(): PermissionTarget {
    return {
      resourceArns: [`${this.bucket.arn}/${EXPORTS_PREFIX}*`],
      servicePrefixes: ['s3'],
      bucketActions: { actions: ['s3:ListBucket'], statement: this.listStatement },
      environment: { EXPORTS_BUCKET: this.bucketName },
    };
  }

  /**
   * `s3:ListBucket` on the bucket. Whoever tests whether an export object exists needs it: S3 answers a
   * missing key with 403 AccessDenied, not 404, to a caller without it
   * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions"). No `s3:prefix`
   * condition: S3 does not document that key as present in that check (a GetObject carries no prefix),
   * so a prefix-conditioned grant may not count there, and the local cloud, which evaluates the check
   * without it, refused it. The bucket holds only exports, so listing shows no more than the grantee
   * can already read.
   */
  get listStatement(): Omit<PolicyStatement, 'sid' | 'actions'> {
    return { resources: [this.bucket.arn] };
  }

  /** Lets a grantee list the bucket (see {@link listStatement}). */
  grantListExports(grantee: PolicyGrantee, sid = 'ListExports'): void {
    grantee.addToPolicy({ sid, actions: ['s3:ListBucket'], ...this.listStatement });
  }
}
