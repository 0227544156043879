import { type AuthorizationCheck, required, ServiceOperations } from './authorization-check.ts';
import type { RequestContext } from './condition-match.ts';

// Actions, resource types and condition keys for Amazon S3:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html
// and the permissions each API needs: https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations.html
interface S3Operation {
  readonly action: string;
  readonly on: 'object' | 'bucket' | 'none';
  /** The action when the request names a version (GetObject with versionId -> s3:GetObjectVersion). */
  readonly versioned?: string;
  /** Copies (CopyObject, UploadPartCopy) also read their source object. */
  readonly copy?: true;
}

const OPERATIONS = new ServiceOperations<S3Operation>('s3', {
  GetObject: { action: 's3:GetObject', on: 'object', versioned: 's3:GetObjectVersion' },
  HeadObject: { action: 's3:GetObject', on: 'object', versioned: 's3:GetObjectVersion' },
  GetObjectAttributes: {
    action: 's3:GetObjectAttributes',
    on: 'object',
    versioned: 's3:GetObjectVersionAttributes',
  },
  GetObjectTagging: { action: 's3:GetObjectTagging', on: 'object', versioned: 's3:GetObjectVersionTagging' },
  PutObjectTagging: { action: 's3:PutObjectTagging', on: 'object', versioned: 's3:PutObjectVersionTagging' },
  DeleteObjectTagging: {
    action: 's3:DeleteObjectTagging',
    on: 'object',
    versioned: 's3:DeleteObjectVersionTagging',
  },
  PutObject: { action: 's3:PutObject', on: 'object' },
  CopyObject: { action: 's3:PutObject', on: 'object', copy: true },
  CreateMultipartUpload: { action: 's3:PutObject', on: 'object' },
  UploadPart: { action: 's3:PutObject', on: 'object' },
  UploadPartCopy: { action: 's3:PutObject', on: 'object', copy: true },
  CompleteMultipartUpload: { action: 's3:PutObject', on: 'object' },
  AbortMultipartUpload: { action: 's3:AbortMultipartUpload', on: 'object' },
  ListParts: { action: 's3:ListMultipartUploadParts', on: 'object' },
  DeleteObject: { action: 's3:DeleteObject', on: 'object', versioned: 's3:DeleteObjectVersion' },
  // DeleteObjects is authorized per key as DeleteObject: pass each key as its own request.
  DeleteObjects: { action: 's3:DeleteObject', on: 'object', versioned: 's3:DeleteObjectVersion' },
  ListObjects: { action: 's3:ListBucket', on: 'bucket' },
  ListObjectsV2: { action: 's3:ListBucket', on: 'bucket' },
  HeadBucket: { action: 's3:ListBucket', on: 'bucket' },
  ListObjectVersions: { action: 's3:ListBucketVersions', on: 'bucket' },
  ListMultipartUploads: { action: 's3:ListBucketMultipartUploads', on: 'bucket' },
  CreateBucket: { action: 's3:CreateBucket', on: 'bucket' },
  DeleteBucket: { action: 's3:DeleteBucket', on: 'bucket' },
  GetBucketLocation: { action: 's3:GetBucketLocation', on: 'bucket' },
  GetBucketPolicy: { action: 's3:GetBucketPolicy', on: 'bucket' },
  PutBucketPolicy: { action: 's3:PutBucketPolicy', on: 'bucket' },
  GetBucketVersioning: { action: 's3:GetBucketVersioning', on: 'bucket' },
  PutBucketVersioning: { action: 's3:PutBucketVersioning', on: 'bucket' },
  GetBucketNotificationConfiguration: { action: 's3:GetBucketNotification', on: 'bucket' },
  PutBucketNotificationConfiguration: { action: 's3:PutBucketNotification', on: 'bucket' },
  GetBucketLifecycleConfiguration: { action: 's3:GetLifecycleConfiguration', on: 'bucket' },
  PutBucketLifecycleConfiguration: { action: 's3:PutLifecycleConfiguration', on: 'bucket' },
  ListBuckets: { action: 's3:ListAllMyBuckets', on: 'none' },
});

export interface S3RequestTarget {
  readonly bucket?: string;
  readonly key?: string;
  /** The request's versionId, when it names one. */
  readonly versionId?: string;
  /** ListObjects(V2): the `prefix` parameter, the `s3:prefix` condition key when present. */
  readonly prefix?: string;
  readonly delimiter?: string;
  readonly maxKeys?: number;
  /** CopyObject and UploadPartCopy: the source (`x-amz-copy-source`). */
  readonly copySource?: { readonly bucket: string; readonly key: string; readonly versionId?: string };
  /**
   * The request sets tags (`x-amz-tagging` on PutObject, CreateMultipartUpload or CopyObject):
   * S3 then also needs s3:PutObjectTagging on the object.
   */
  readonly tagging?: boolean;
}

/** `arn:aws:s3:::bucket`. */
export function s3BucketArn(bucket: string, partition = 'aws'): string {
  return `arn:${partition}:s3:::${bucket}`;
}

/** `arn:aws:s3:::bucket/key`. */
export function s3ObjectArn(bucket: string, key: string, partition = 'aws'): string {
  return `arn:${partition}:s3:::${bucket}/${key}`;
}

/** The condition keys of a list request (s3:prefix, s3:delimiter, s3:max-keys), only those it sends. */
function listContext(target: S3RequestTarget): RequestContext | undefined {
  const context: Record<string, string | number> = {};
  if (target.prefix !== undefined) context['s3:prefix'] = target.prefix;
  if (target.delimiter !== undefined) context['s3:delimiter'] = target.delimiter;
  if (target.maxKeys !== undefined) context['s3:max-keys'] = target.maxKeys;
  return Object.keys(context).length > 0 ? context : undefined;
}

/** What an S3 API call needs authorized. */
export function s3Authorization(operation: string, target: S3RequestTarget): AuthorizationCheck[] {
  const op = OPERATIONS.lookup(operation);
  if (op.on === 'none') return [{ action: op.action, resource: '*' }];
  const bucket = required(target.bucket, 'bucket', operation);
  if (op.on === 'bucket') {
    const context = listContext(target);
    return [{ action: op.action, resource: s3BucketArn(bucket), ...(context ? { context } : {}) }];
  }
  const object = s3ObjectArn(bucket, required(target.key, 'key', operation));
  const checks: AuthorizationCheck[] = [];
  if (op.copy) {
    const source = required(target.copySource, 'copySource', operation);
    checks.push({
      action: source.versionId !== undefined ? 's3:GetObjectVersion' : 's3:GetObject',
      resource: s3ObjectArn(source.bucket, source.key),
    });
  }
  checks.push({
    action: target.versionId !== undefined && op.versioned ? op.versioned : op.action,
    resource: object,
  });
  if (target.tagging && op.action === 's3:PutObject')
    checks.push({ action: 's3:PutObjectTagging', resource: object });
  return checks;
}
