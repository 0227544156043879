// What the endpoint's IAM hook is given and answers; kept apart so the endpoint does not import IAM.
import type { DeleteObjectsEntry } from './s3-delete-objects.ts';

/** A request as the endpoint received it, before any handler ran. */
export interface EndpointRequest {
  readonly method: string;
  /** Path and query, as sent. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The parsed body: an object (JSON, forms), a string, or the raw Buffer. */
  readonly body: unknown;
}

/** What the endpoint lets the authorizer look up. */
export interface EndpointLookups {
  /**
   * Whether an object (its version `versionId`, when given) exists: a HEAD in-process that is not
   * answered 404 (a version that is a delete marker exists: S3 answers it 405).
   */
  objectExists(bucket: string, key: string, versionId?: string): Promise<boolean>;
  /**
   * The full ARN of the secret a Secrets Manager `SecretId` names (by ARN, name or partial ARN), or
   * `undefined` when there is no such secret: IAM authorizes the call on the secret's ARN.
   */
  secretArn(secretId: string): string | undefined;
}

/** The response for a refused request, in the protocol the request used. */
export interface EndpointRefusal {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * S3 DeleteObjects authorizes each object on its own and answers a denied one with an `AccessDenied`
 * entry of its result, deleting the others
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html): the request goes on,
 * and the endpoint leaves these objects out.
 */
export interface EndpointDeniedObjects {
  readonly deniedObjects: readonly DeleteObjectsEntry[];
}

/**
 * Decides one request: a refusal to send, the objects of a DeleteObjects it may not delete, or
 * `undefined` to let it through.
 */
export type EndpointAuthorizer = (
  request: EndpointRequest,
  lookups: EndpointLookups,
) => Promise<EndpointRefusal | EndpointDeniedObjects | undefined>;
