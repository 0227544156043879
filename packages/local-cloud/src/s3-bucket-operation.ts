/**
 * A bucket request's subresource parameters and the operation they select, first match wins;
 * `a&b` needs both. Every bucket subresource of the S3 API (the `/?<subresource>` request URIs of
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html,
 * as @aws-sdk/client-s3 sends them), so none is taken for ListObjects, CreateBucket or DeleteBucket:
 * S3 ignores query parameters it does not know, but not these.
 */
const BY_SUBRESOURCE: Readonly<
  Record<string, readonly (readonly [parameters: string, operation: string])[]>
> = {
  GET: [
    ['uploads', 'ListMultipartUploads'],
    ['versions', 'ListObjectVersions'],
    ['location', 'GetBucketLocation'],
    ['policy', 'GetBucketPolicy'],
    ['versioning', 'GetBucketVersioning'],
    ['notification', 'GetBucketNotificationConfiguration'],
    ['lifecycle', 'GetBucketLifecycleConfiguration'],
    ['abac', 'GetBucketAbac'],
    ['accelerate', 'GetBucketAccelerateConfiguration'],
    ['acl', 'GetBucketAcl'],
    ['analytics&id', 'GetBucketAnalyticsConfiguration'],
    ['analytics', 'ListBucketAnalyticsConfigurations'],
    ['cors', 'GetBucketCors'],
    ['encryption', 'GetBucketEncryption'],
    ['intelligent-tiering&id', 'GetBucketIntelligentTieringConfiguration'],
    ['intelligent-tiering', 'ListBucketIntelligentTieringConfigurations'],
    ['inventory&id', 'GetBucketInventoryConfiguration'],
    ['inventory', 'ListBucketInventoryConfigurations'],
    ['logging', 'GetBucketLogging'],
    ['metadataConfiguration', 'GetBucketMetadataConfiguration'],
    ['metadataTable', 'GetBucketMetadataTableConfiguration'],
    ['metrics&id', 'GetBucketMetricsConfiguration'],
    ['metrics', 'ListBucketMetricsConfigurations'],
    ['object-lock', 'GetObjectLockConfiguration'],
    ['ownershipControls', 'GetBucketOwnershipControls'],
    ['policyStatus', 'GetBucketPolicyStatus'],
    ['publicAccessBlock', 'GetPublicAccessBlock'],
    ['replication', 'GetBucketReplication'],
    ['requestPayment', 'GetBucketRequestPayment'],
    ['session', 'CreateSession'],
    ['tagging', 'GetBucketTagging'],
    ['website', 'GetBucketWebsite'],
    ['list-type', 'ListObjectsV2'],
  ],
  PUT: [
    ['policy', 'PutBucketPolicy'],
    ['versioning', 'PutBucketVersioning'],
    ['notification', 'PutBucketNotificationConfiguration'],
    ['lifecycle', 'PutBucketLifecycleConfiguration'],
    ['abac', 'PutBucketAbac'],
    ['accelerate', 'PutBucketAccelerateConfiguration'],
    ['acl', 'PutBucketAcl'],
    ['analytics', 'PutBucketAnalyticsConfiguration'],
    ['cors', 'PutBucketCors'],
    ['encryption', 'PutBucketEncryption'],
    ['intelligent-tiering', 'PutBucketIntelligentTieringConfiguration'],
    ['inventory', 'PutBucketInventoryConfiguration'],
    ['logging', 'PutBucketLogging'],
    ['metadataAnnotationTable', 'UpdateBucketMetadataAnnotationTableConfiguration'],
    ['metadataInventoryTable', 'UpdateBucketMetadataInventoryTableConfiguration'],
    ['metadataJournalTable', 'UpdateBucketMetadataJournalTableConfiguration'],
    ['metrics', 'PutBucketMetricsConfiguration'],
    ['object-lock', 'PutObjectLockConfiguration'],
    ['ownershipControls', 'PutBucketOwnershipControls'],
    ['publicAccessBlock', 'PutPublicAccessBlock'],
    ['replication', 'PutBucketReplication'],
    ['requestPayment', 'PutBucketRequestPayment'],
    ['tagging', 'PutBucketTagging'],
    ['website', 'PutBucketWebsite'],
  ],
  DELETE: [
    ['policy', 'DeleteBucketPolicy'],
    ['lifecycle', 'DeleteBucketLifecycle'],
    ['analytics', 'DeleteBucketAnalyticsConfiguration'],
    ['cors', 'DeleteBucketCors'],
    ['encryption', 'DeleteBucketEncryption'],
    ['intelligent-tiering', 'DeleteBucketIntelligentTieringConfiguration'],
    ['inventory', 'DeleteBucketInventoryConfiguration'],
    ['metadataConfiguration', 'DeleteBucketMetadataConfiguration'],
    ['metadataTable', 'DeleteBucketMetadataTableConfiguration'],
    ['metrics', 'DeleteBucketMetricsConfiguration'],
    ['ownershipControls', 'DeleteBucketOwnershipControls'],
    ['publicAccessBlock', 'DeletePublicAccessBlock'],
    ['replication', 'DeleteBucketReplication'],
    ['tagging', 'DeleteBucketTagging'],
    ['website', 'DeleteBucketWebsite'],
  ],
  POST: [
    ['delete', 'DeleteObjects'],
    ['metadataConfiguration', 'CreateBucketMetadataConfiguration'],
    ['metadataTable', 'CreateBucketMetadataTableConfiguration'],
  ],
};
const WITHOUT_SUBRESOURCE: Readonly<Record<string, string>> = {
  GET: 'ListObjects',
  PUT: 'CreateBucket',
  HEAD: 'HeadBucket',
  DELETE: 'DeleteBucket',
};

/** Every operation a bucket request can be named by {@link s3BucketOperation}, each once. */
export function s3BucketOperations(): string[] {
  const named = [
    ...Object.values(BY_SUBRESOURCE).flatMap((entries) => entries.map(([, operation]) => operation)),
    ...Object.values(WITHOUT_SUBRESOURCE),
  ];
  return [...new Set(named)];
}

/**
 * The S3 REST operation of a path-style request on a bucket (no key), by its method and the
 * subresource parameters it has (`has`). One mapping for the operation IAM authorizes
 * (endpoint-authorization.ts) and the one the endpoint serves (s3-bucket-apis.ts answers or refuses
 * every operation fauxqs would serve as another), so a request is never answered as an operation
 * other than the one its caller was allowed. A POST without a subresource (a browser upload) is
 * the caller's to name.
 */
export function s3BucketOperation(method: string, has: (parameter: string) => boolean): string | undefined {
  const match = BY_SUBRESOURCE[method]?.find(([parameters]) => parameters.split('&').every(has));
  return match?.[1] ?? WITHOUT_SUBRESOURCE[method];
}

/** A request's query parameters, each once (a repeated one is taken as absent). */
export type Query = Readonly<Record<string, string | undefined>>;

/** A fastify request, as far as naming its bucket operation needs it. */
interface RoutedRequest {
  readonly method: string;
  readonly params: unknown;
  readonly query: unknown;
  readonly routeOptions: { readonly url?: string | undefined };
}

/** A request fauxqs routes to a bucket (`/:bucket`, or `/:bucket/` with an empty key). */
export interface BucketRequest {
  readonly bucket: string;
  readonly query: Query;
  /** {@link s3BucketOperation} of the request: the operation IAM authorized. */
  readonly operation: string | undefined;
}

/** The bucket request `request` is, or `undefined` for any other (an object's, ListBuckets). */
export function bucketRequestOf(request: RoutedRequest): BucketRequest | undefined {
  const { bucket = '', '*': key = '' } = request.params as { bucket?: string; '*'?: string };
  const route = request.routeOptions.url;
  if (route !== '/:bucket' && !(route === '/:bucket/*' && key === '')) return undefined;
  const entries = Object.entries((request.query ?? {}) as Record<string, unknown>);
  const query: Query = Object.fromEntries(
    entries.map(([name, value]) => [name, typeof value === 'string' ? value : undefined]),
  );
  return { bucket, query, operation: s3BucketOperation(request.method, (parameter) => parameter in query) };
}
