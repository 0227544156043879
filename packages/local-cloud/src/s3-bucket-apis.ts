import type { buildApp } from 'fauxqs';
import type { FauxqsStores } from './fauxqs-stores.ts';
import { bucketRequestOf } from './s3-bucket-operation.ts';
import { noSuchBucket, S3ErrorResponse, sendS3Error } from './s3-error-response.ts';
import { VERSIONING_OPERATIONS } from './s3-versioning-apis.ts';
import { escapeXml } from './xml-text.ts';

type S3Store = FauxqsStores['s3Store'];
type FauxqsApp = ReturnType<typeof buildApp>;

const S3_NAMESPACE = 'http://s3.amazonaws.com/doc/2006-03-01/';
/**
 * The bucket operations fauxqs 2.4's bucket routes (dist/s3/s3Router.js) serve as themselves:
 * listings, CreateBucket, HeadBucket, DeleteBucket, DeleteObjects, and the lifecycle configuration
 * (kept as sent). Its routes answer every other subresource as one of these.
 */
const FAUXQS_OPERATIONS: ReadonlySet<string> = new Set([
  'ListObjects',
  'ListObjectsV2',
  'CreateBucket',
  'HeadBucket',
  'DeleteBucket',
  'DeleteObjects',
  'GetBucketLifecycleConfiguration',
  'PutBucketLifecycleConfiguration',
  'DeleteBucketLifecycle',
]);

/** What the endpoint knows of its buckets beyond fauxqs's store. */
export interface BucketSettings {
  /** The region every bucket is in. */
  readonly region: string;
  /** The bucket's policy document (JSON), `undefined` when it has none. */
  policy(bucket: string): string | undefined;
  /** Whether the bucket sends its events to EventBridge. */
  sendsToEventBridge(bucket: string): boolean;
}

/**
 * Every bucket operation that neither fauxqs nor s3-versioning-apis.ts serves, answered as the
 * operation IAM authorized (s3-bucket-operation.ts), never as the listing, CreateBucket or
 * DeleteBucket that fauxqs's routes would make of it; after IAM, and a missing bucket first
 * (404 `NoSuchBucket`), as S3 answers:
 *
 * - GetBucketLocation (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html):
 *   `LocationConstraint` with the region, empty for us-east-1 (S3's LocationConstraint of null).
 * - GetBucketPolicy (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketPolicy.html):
 *   the policy document the local cloud enforces on the bucket, 404 `NoSuchBucketPolicy` "The
 *   bucket policy does not exist" when it has none.
 * - GetBucketNotificationConfiguration
 *   (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketNotificationConfiguration.html):
 *   `EventBridgeConfiguration` for a bucket that sends its events to EventBridge (every workflow
 *   trigger's bucket), an empty `NotificationConfiguration` otherwise.
 * - GetBucketTagging (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketTagging.html):
 *   404 `NoSuchTagSet` "The TagSet does not exist", S3's answer for a bucket without tags: the local
 *   cloud's buckets have none (PutBucketTagging is not served). The deploy preflight reads a
 *   bucket's tags this way to tell the stack's own bucket from a stranger's.
 * - Everything else (ListMultipartUploads, PutBucketPolicy, DeleteBucketPolicy, the notification,
 *   ACL, CORS, tag-writing, encryption, ... settings): 501 `NotImplemented`, S3's answer for
 *   functionality it does not implement (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
 *   Bucket policies and notifications come from the stack and the workflows' triggers, not from
 *   calls to the endpoint.
 */
export function serveBucketApis(app: FauxqsApp, store: S3Store, settings: BucketSettings): void {
  app.addHook('preHandler', async (request, reply) => {
    const bucketRequest = bucketRequestOf(request);
    const operation = bucketRequest?.operation;
    if (!bucketRequest || operation === undefined) return;
    if (FAUXQS_OPERATIONS.has(operation) || VERSIONING_OPERATIONS.has(operation)) return;
    const { bucket } = bucketRequest;
    try {
      if (!store.hasBucket(bucket)) throw noSuchBucket(bucket);
      if (operation === 'GetBucketPolicy') {
        const policy = settings.policy(bucket);
        if (policy === undefined) {
          throw new S3ErrorResponse(404, 'NoSuchBucketPolicy', 'The bucket policy does not exist', [
            ['BucketName', bucket],
          ]);
        }
        return reply.code(200).header('content-type', 'application/json').send(policy);
      }
      if (operation === 'GetBucketTagging') {
        throw new S3ErrorResponse(404, 'NoSuchTagSet', 'The TagSet does not exist', [['BucketName', bucket]]);
      }
      const xml = bucketSettingXml(operation, bucket, settings);
      if (xml === undefined) {
        throw new S3ErrorResponse(
          501,
          'NotImplemented',
          'A header you provided implies functionality that is not implemented',
        );
      }
      return reply.code(200).header('content-type', 'application/xml').send(xml);
    } catch (error) {
      if (error instanceof S3ErrorResponse) return sendS3Error(reply, error);
      throw error;
    }
  });
}

/** The XML answer of a bucket setting the endpoint serves, `undefined` for one it does not. */
function bucketSettingXml(operation: string, bucket: string, settings: BucketSettings): string | undefined {
  if (operation === 'GetBucketLocation') {
    // S3 answers a us-east-1 bucket's location as an empty element (LocationConstraint null).
    return s3Document(
      'LocationConstraint',
      settings.region === 'us-east-1' ? '' : escapeXml(settings.region),
    );
  }
  if (operation === 'GetBucketNotificationConfiguration') {
    const eventBridge = settings.sendsToEventBridge(bucket);
    return s3Document('NotificationConfiguration', eventBridge ? '<EventBridgeConfiguration/>' : '');
  }
  return undefined;
}

/** An S3 XML document: its root element in S3's namespace, self-closing when empty. */
function s3Document(root: string, content: string): string {
  const element =
    content === ''
      ? `<${root} xmlns="${S3_NAMESPACE}"/>`
      : `<${root} xmlns="${S3_NAMESPACE}">${content}</${root}>`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n${element}`;
}

/**
 * The object subresources of the S3 API that fauxqs does not serve (its `/:bucket/*` routes ignore
 * the query: a PutObjectTagging would replace the object with the tagging XML and raise "Object
 * Created", a DeleteObjectTagging delete the object, a GetObjectAcl return its body). S3 keeps
 * object tags, ACLs, retention and legal holds beside the object and raises no "Object Created" for
 * them (https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html).
 */
const UNSERVED_OBJECT_SUBRESOURCES = [
  'tagging',
  'acl',
  'retention',
  'legal-hold',
  'torrent',
  'restore',
  'select',
];

/**
 * Answers a request for an object subresource fauxqs does not serve with 501 `NotImplemented`
 * (after IAM, which authorized the operation; before the versions hook and fauxqs, which would
 * take it for a write or a read of the object itself).
 */
export function refuseUnservedObjectSubresources(
  app: FauxqsApp,
  isFunctionUrl: (request: { readonly url: string }) => boolean,
): void {
  app.addHook('preHandler', async (request, reply) => {
    if (request.routeOptions.url !== '/:bucket/*' || isFunctionUrl(request)) return;
    // `/<bucket>/?tagging` takes this route too, with no key: a bucket request, served above.
    if (!(request.params as { '*'?: string })['*']) return;
    const query = (request.query ?? {}) as Record<string, unknown>;
    if (!UNSERVED_OBJECT_SUBRESOURCES.some((name) => name in query)) return;
    // S3's own message for NotImplemented, as for the bucket operations above.
    return sendS3Error(
      reply,
      new S3ErrorResponse(
        501,
        'NotImplemented',
        'A header you provided implies functionality that is not implemented',
      ),
    );
  });
}
