import { S3Bucket } from '@cdktn/provider-aws/lib/s3-bucket/index.js';
import {
  S3BucketLifecycleConfiguration,
  type S3BucketLifecycleConfigurationRule,
} from '@cdktn/provider-aws/lib/s3-bucket-lifecycle-configuration/index.js';
import { S3BucketPolicy } from '@cdktn/provider-aws/lib/s3-bucket-policy/index.js';
import { S3BucketPublicAccessBlock } from '@cdktn/provider-aws/lib/s3-bucket-public-access-block/index.js';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktn/provider-aws/lib/s3-bucket-server-side-encryption-configuration/index.js';
import { S3BucketVersioningA } from '@cdktn/provider-aws/lib/s3-bucket-versioning/index.js';
import { tlsOnlyBucketPolicy } from '@sidestep/iam/tls-only-policy';
import type { Construct } from 'constructs';

/**
 * The baseline every sidestep bucket gets: all four public-access blocks, SSE-S3 (readers need no
 * KMS grant and uploads from any tool are encrypted without headers), versioning, the given
 * lifecycle rules followed by one that removes expired delete markers (what versioning leaves once a
 * deleted object's versions have expired), and a TLS-only bucket policy. `force_destroy` off: a
 * destroy never deletes its objects, unless the environment stack is torn down on purpose
 * (`applyDeletionProtection`, which also keeps Terraform from destroying any of these resources).
 *
 * A function rather than a construct on purpose: the resources are created directly in `scope`
 * with the ids the imports and exports buckets have always had (`bucket`, `public-access-block`,
 * `encryption`, `versioning`, `lifecycle`, `policy`), so their Terraform addresses do not move.
 */
export function createPrivateBucket(
  scope: Construct,
  props: { readonly bucketName: string; readonly lifecycleRules: S3BucketLifecycleConfigurationRule[] },
): S3Bucket {
  const bucket = new S3Bucket(scope, 'bucket', { bucket: props.bucketName, forceDestroy: false });
  new S3BucketPublicAccessBlock(scope, 'public-access-block', {
    bucket: bucket.id,
    blockPublicAcls: true,
    blockPublicPolicy: true,
    ignorePublicAcls: true,
    restrictPublicBuckets: true,
  });
  new S3BucketServerSideEncryptionConfigurationA(scope, 'encryption', {
    bucket: bucket.id,
    rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }],
  });
  new S3BucketVersioningA(scope, 'versioning', {
    bucket: bucket.id,
    versioningConfiguration: { status: 'Enabled' },
  });
  new S3BucketLifecycleConfiguration(scope, 'lifecycle', {
    bucket: bucket.id,
    rule: [
      ...props.lifecycleRules,
      {
        // A separate rule: S3 refuses expired_object_delete_marker next to days in one expiration.
        id: 'remove-expired-delete-markers',
        status: 'Enabled',
        filter: [{}],
        expiration: [{ expiredObjectDeleteMarker: true }],
      },
    ],
  });
  new S3BucketPolicy(scope, 'policy', {
    bucket: bucket.id,
    policy: JSON.stringify(tlsOnlyBucketPolicy(bucket.arn)),
  });
  return bucket;
}
