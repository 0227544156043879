import { type AuthorizationCheck, required, ServiceOperations } from './authorization-check.ts';
import type { RequestContext } from './condition-match.ts';

// Actions, resource types and condition keys for Amazon S3:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html
// and the permissions each API needs, from its page's "Permissions" section
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations.html) or, where a page names none
// (ACL, logging, Object Lock, request payment, intelligent-tiering, versioning),
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html.
// Dependent actions on other resources (iam:PassRole for PutBucketReplication, s3tables:* and kms:*
// for the S3 Metadata configurations) name resources from the request body and are not checked.
interface S3Operation {
  readonly action: string;
  /** `directory-bucket`: an S3 Express One Zone bucket (`arn:aws:s3express:<region>:<account>:bucket/<name>`). */
  readonly on: 'object' | 'bucket' | 'directory-bucket' | 'none';
  /** The action when the request names a version (GetObject with versionId -> s3:GetObjectVersion). */
  readonly versioned?: string;
  /** Copies (CopyObject, UploadPartCopy) also read their source object. */
  readonly copy?: true;
  /**
   * Operations that also need read access to the object, checked first: GetObjectAttributes needs
   * s3:GetObject (s3:GetObjectVersion for a version) besides its own action.
   */
  readonly reads?: true;
}

/** An operation on the bucket (`arn:aws:s3:::<bucket>`) that needs `action`. */
const onBucket = (action: string): S3Operation => ({ action, on: 'bucket' });

/**
 * Every S3 operation the local endpoint names (the bucket operations of local-cloud's
 * s3-bucket-operation.ts among them), as AWS authorizes it. Many bucket operations need an action
 * of another name: a Delete of a setting is authorized as its Put (DeleteBucketCors ->
 * s3:PutBucketCORS), a List of configurations as their Get (ListBucketMetricsConfigurations ->
 * s3:GetMetricsConfiguration).
 */
const OPERATIONS = new ServiceOperations<S3Operation>('s3', {
  GetObject: { action: 's3:GetObject', on: 'object', versioned: 's3:GetObjectVersion' },
  HeadObject: { action: 's3:GetObject', on: 'object', versioned: 's3:GetObjectVersion' },
  // https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectAttributes.html, "Permissions":
  // s3:GetObject and s3:GetObjectAttributes, s3:GetObjectVersion and s3:GetObjectVersionAttributes.
  GetObjectAttributes: {
    action: 's3:GetObjectAttributes',
    on: 'object',
    versioned: 's3:GetObjectVersionAttributes',
    reads: true,
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
  ListObjects: onBucket('s3:ListBucket'),
  ListObjectsV2: onBucket('s3:ListBucket'),
  HeadBucket: onBucket('s3:ListBucket'),
  ListObjectVersions: onBucket('s3:ListBucketVersions'),
  ListMultipartUploads: onBucket('s3:ListBucketMultipartUploads'),
  CreateBucket: onBucket('s3:CreateBucket'),
  DeleteBucket: onBucket('s3:DeleteBucket'),
  GetBucketLocation: onBucket('s3:GetBucketLocation'),
  GetBucketPolicy: onBucket('s3:GetBucketPolicy'),
  PutBucketPolicy: onBucket('s3:PutBucketPolicy'),
  DeleteBucketPolicy: onBucket('s3:DeleteBucketPolicy'),
  GetBucketPolicyStatus: onBucket('s3:GetBucketPolicyStatus'),
  GetBucketVersioning: onBucket('s3:GetBucketVersioning'),
  PutBucketVersioning: onBucket('s3:PutBucketVersioning'),
  GetBucketNotificationConfiguration: onBucket('s3:GetBucketNotification'),
  PutBucketNotificationConfiguration: onBucket('s3:PutBucketNotification'),
  GetBucketLifecycleConfiguration: onBucket('s3:GetLifecycleConfiguration'),
  PutBucketLifecycleConfiguration: onBucket('s3:PutLifecycleConfiguration'),
  DeleteBucketLifecycle: onBucket('s3:PutLifecycleConfiguration'),
  GetBucketAbac: onBucket('s3:GetBucketAbac'),
  PutBucketAbac: onBucket('s3:PutBucketAbac'),
  GetBucketAccelerateConfiguration: onBucket('s3:GetAccelerateConfiguration'),
  PutBucketAccelerateConfiguration: onBucket('s3:PutAccelerateConfiguration'),
  GetBucketAcl: onBucket('s3:GetBucketAcl'),
  PutBucketAcl: onBucket('s3:PutBucketAcl'),
  GetBucketAnalyticsConfiguration: onBucket('s3:GetAnalyticsConfiguration'),
  ListBucketAnalyticsConfigurations: onBucket('s3:GetAnalyticsConfiguration'),
  PutBucketAnalyticsConfiguration: onBucket('s3:PutAnalyticsConfiguration'),
  DeleteBucketAnalyticsConfiguration: onBucket('s3:PutAnalyticsConfiguration'),
  GetBucketCors: onBucket('s3:GetBucketCORS'),
  PutBucketCors: onBucket('s3:PutBucketCORS'),
  DeleteBucketCors: onBucket('s3:PutBucketCORS'),
  GetBucketEncryption: onBucket('s3:GetEncryptionConfiguration'),
  PutBucketEncryption: onBucket('s3:PutEncryptionConfiguration'),
  DeleteBucketEncryption: onBucket('s3:PutEncryptionConfiguration'),
  GetBucketIntelligentTieringConfiguration: onBucket('s3:GetIntelligentTieringConfiguration'),
  ListBucketIntelligentTieringConfigurations: onBucket('s3:GetIntelligentTieringConfiguration'),
  PutBucketIntelligentTieringConfiguration: onBucket('s3:PutIntelligentTieringConfiguration'),
  DeleteBucketIntelligentTieringConfiguration: onBucket('s3:PutIntelligentTieringConfiguration'),
  GetBucketInventoryConfiguration: onBucket('s3:GetInventoryConfiguration'),
  ListBucketInventoryConfigurations: onBucket('s3:GetInventoryConfiguration'),
  PutBucketInventoryConfiguration: onBucket('s3:PutInventoryConfiguration'),
  DeleteBucketInventoryConfiguration: onBucket('s3:PutInventoryConfiguration'),
  GetBucketLogging: onBucket('s3:GetBucketLogging'),
  PutBucketLogging: onBucket('s3:PutBucketLogging'),
  // S3 Metadata: "The IAM policy action name is the same for the V1 and V2 API operations"
  // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucketMetadataConfiguration.html).
  CreateBucketMetadataConfiguration: onBucket('s3:CreateBucketMetadataTableConfiguration'),
  CreateBucketMetadataTableConfiguration: onBucket('s3:CreateBucketMetadataTableConfiguration'),
  GetBucketMetadataConfiguration: onBucket('s3:GetBucketMetadataTableConfiguration'),
  GetBucketMetadataTableConfiguration: onBucket('s3:GetBucketMetadataTableConfiguration'),
  DeleteBucketMetadataConfiguration: onBucket('s3:DeleteBucketMetadataTableConfiguration'),
  DeleteBucketMetadataTableConfiguration: onBucket('s3:DeleteBucketMetadataTableConfiguration'),
  UpdateBucketMetadataAnnotationTableConfiguration: onBucket(
    's3:UpdateBucketMetadataAnnotationTableConfiguration',
  ),
  UpdateBucketMetadataInventoryTableConfiguration: onBucket(
    's3:UpdateBucketMetadataInventoryTableConfiguration',
  ),
  UpdateBucketMetadataJournalTableConfiguration: onBucket('s3:UpdateBucketMetadataJournalTableConfiguration'),
  GetBucketMetricsConfiguration: onBucket('s3:GetMetricsConfiguration'),
  ListBucketMetricsConfigurations: onBucket('s3:GetMetricsConfiguration'),
  PutBucketMetricsConfiguration: onBucket('s3:PutMetricsConfiguration'),
  DeleteBucketMetricsConfiguration: onBucket('s3:PutMetricsConfiguration'),
  GetObjectLockConfiguration: onBucket('s3:GetBucketObjectLockConfiguration'),
  PutObjectLockConfiguration: onBucket('s3:PutBucketObjectLockConfiguration'),
  GetBucketOwnershipControls: onBucket('s3:GetBucketOwnershipControls'),
  PutBucketOwnershipControls: onBucket('s3:PutBucketOwnershipControls'),
  DeleteBucketOwnershipControls: onBucket('s3:PutBucketOwnershipControls'),
  GetPublicAccessBlock: onBucket('s3:GetBucketPublicAccessBlock'),
  PutPublicAccessBlock: onBucket('s3:PutBucketPublicAccessBlock'),
  DeletePublicAccessBlock: onBucket('s3:PutBucketPublicAccessBlock'),
  GetBucketReplication: onBucket('s3:GetReplicationConfiguration'),
  PutBucketReplication: onBucket('s3:PutReplicationConfiguration'),
  DeleteBucketReplication: onBucket('s3:PutReplicationConfiguration'),
  GetBucketRequestPayment: onBucket('s3:GetBucketRequestPayment'),
  PutBucketRequestPayment: onBucket('s3:PutBucketRequestPayment'),
  GetBucketTagging: onBucket('s3:GetBucketTagging'),
  PutBucketTagging: onBucket('s3:PutBucketTagging'),
  DeleteBucketTagging: onBucket('s3:PutBucketTagging'),
  GetBucketWebsite: onBucket('s3:GetBucketWebsite'),
  PutBucketWebsite: onBucket('s3:PutBucketWebsite'),
  DeleteBucketWebsite: onBucket('s3:DeleteBucketWebsite'),
  // Directory buckets only, an action of the s3express service
  // (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3express.html).
  CreateSession: { action: 's3express:CreateSession', on: 'directory-bucket' },
  ListBuckets: { action: 's3:ListAllMyBuckets', on: 'none' },
});

export interface S3RequestTarget {
  readonly bucket?: string;
  /** CreateSession: the region and account of the directory bucket's ARN (S3 ARNs have neither). */
  readonly region?: string;
  readonly accountId?: string;
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

/** `arn:aws:s3express:region:account:bucket/bucket`, a directory bucket (S3 Express One Zone). */
function s3DirectoryBucketArn(bucket: string, target: S3RequestTarget, operation: string): string {
  const region = required(target.region, 'region', operation);
  const accountId = required(target.accountId, 'accountId', operation);
  return `arn:aws:s3express:${region}:${accountId}:bucket/${bucket}`;
}

/** The condition keys of a list request (s3:prefix, s3:delimiter, s3:max-keys), only those it sends. */
function listContext(target: S3RequestTarget): RequestContext | undefined {
  const context: Record<string, string | number> = {};
  if (target.prefix !== undefined) context['s3:prefix'] = target.prefix;
  if (target.delimiter !== undefined) context['s3:delimiter'] = target.delimiter;
  if (target.maxKeys !== undefined) context['s3:max-keys'] = target.maxKeys;
  return Object.keys(context).length > 0 ? context : undefined;
}

/** The action that reads an object: s3:GetObjectVersion when the request names a version. */
function readAction(versionId: string | undefined): string {
  return versionId !== undefined ? 's3:GetObjectVersion' : 's3:GetObject';
}

/**
 * Whether `operation` reads an object (needs `s3:GetObject` or `s3:GetObjectVersion`): GetObject,
 * HeadObject, GetObjectAttributes. For such a read S3 answers a missing object 404 only to a caller
 * with `s3:ListBucket`, 403 AccessDenied otherwise (API_GetObject, API_GetObjectAttributes,
 * "Permissions"). Copies read their source too, but are writes of their target.
 */
export function s3ReadsObject(operation: string): boolean {
  const op = OPERATIONS.lookup(operation);
  return op.on === 'object' && (op.action === 's3:GetObject' || op.reads === true);
}

/** What an S3 API call needs authorized. */
export function s3Authorization(operation: string, target: S3RequestTarget): AuthorizationCheck[] {
  const op = OPERATIONS.lookup(operation);
  if (op.on === 'none') return [{ action: op.action, resource: '*' }];
  const bucket = required(target.bucket, 'bucket', operation);
  if (op.on === 'directory-bucket') {
    return [{ action: op.action, resource: s3DirectoryBucketArn(bucket, target, operation) }];
  }
  if (op.on === 'bucket') {
    const context = listContext(target);
    return [{ action: op.action, resource: s3BucketArn(bucket), ...(context ? { context } : {}) }];
  }
  const object = s3ObjectArn(bucket, required(target.key, 'key', operation));
  const checks: AuthorizationCheck[] = [];
  if (op.copy) {
    const source = required(target.copySource, 'copySource', operation);
    checks.push({
      action: readAction(source.versionId),
      resource: s3ObjectArn(source.bucket, source.key),
    });
  }
  if (op.reads) {
    checks.push({
      action: readAction(target.versionId),
      resource: object,
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
