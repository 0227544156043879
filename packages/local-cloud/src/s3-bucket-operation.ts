/** A bucket request's subresource parameter and the operation it selects, first match wins. */
const BY_SUBRESOURCE: Readonly<Record<string, readonly (readonly [parameter: string, operation: string])[]>> =
  {
    GET: [
      ['uploads', 'ListMultipartUploads'],
      ['versions', 'ListObjectVersions'],
      ['location', 'GetBucketLocation'],
      ['policy', 'GetBucketPolicy'],
      ['versioning', 'GetBucketVersioning'],
      ['notification', 'GetBucketNotificationConfiguration'],
      ['lifecycle', 'GetBucketLifecycleConfiguration'],
      ['list-type', 'ListObjectsV2'],
    ],
    PUT: [
      ['policy', 'PutBucketPolicy'],
      ['versioning', 'PutBucketVersioning'],
      ['notification', 'PutBucketNotificationConfiguration'],
      ['lifecycle', 'PutBucketLifecycleConfiguration'],
    ],
  };
const WITHOUT_SUBRESOURCE: Readonly<Record<string, string>> = {
  GET: 'ListObjects',
  PUT: 'CreateBucket',
  HEAD: 'HeadBucket',
  DELETE: 'DeleteBucket',
};

/**
 * The S3 REST operation of a path-style request on a bucket (no key), by its method and the
 * subresource parameters it has (`has`). One mapping for the operation IAM authorizes
 * (endpoint-authorization.ts) and the one the endpoint serves, so a request is never answered as an
 * operation other than the one its caller was allowed. POST (DeleteObjects, browser uploads) is the
 * caller's to name.
 */
export function s3BucketOperation(method: string, has: (parameter: string) => boolean): string | undefined {
  return BY_SUBRESOURCE[method]?.find(([parameter]) => has(parameter))?.[1] ?? WITHOUT_SUBRESOURCE[method];
}
