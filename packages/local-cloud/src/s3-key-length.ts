import { S3ErrorResponse } from './s3-error-response.ts';

/**
 * The longest object key S3 takes: "a sequence of Unicode characters with UTF-8 encoding of up to
 * 1,024 bytes long" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html).
 */
const S3_MAX_KEY_BYTES = 1024;

/** The parts of an S3 request {@link overlongKeyError} reads. */
interface ObjectRequest {
  readonly method: string;
  readonly routeOptions: { readonly url?: string | undefined };
  readonly params: unknown;
  readonly query: unknown;
}

/**
 * The error S3 answers a write that would create an object whose key is over
 * {@link S3_MAX_KEY_BYTES} UTF-8 bytes with: 400 `KeyTooLongError` "Your key is too long", with the
 * key's `Size` and `MaxSizeAllowed`; `undefined` for any other request. fauxqs took any key, so a
 * name that worked locally failed on AWS. The writes are PutObject, CopyObject (its destination) and
 * CreateMultipartUpload; the parts and the completion of an upload that could not be created are
 * `NoSuchUpload` (s3-multipart-requests.ts), and object subresources are refused before it
 * (s3-bucket-apis.ts).
 */
export function overlongKeyError(request: ObjectRequest): S3ErrorResponse | undefined {
  if (request.routeOptions.url !== '/:bucket/*') return undefined;
  const query = (request.query ?? {}) as Record<string, unknown>;
  const creates =
    (request.method === 'PUT' && !('uploadId' in query)) || (request.method === 'POST' && 'uploads' in query);
  const { '*': key = '' } = request.params as { '*'?: string };
  const size = Buffer.byteLength(key, 'utf8');
  if (!creates || size <= S3_MAX_KEY_BYTES) return undefined;
  return new S3ErrorResponse(400, 'KeyTooLongError', 'Your key is too long', [
    ['Size', String(size)],
    ['MaxSizeAllowed', String(S3_MAX_KEY_BYTES)],
  ]);
}
