import type { buildApp } from 'fauxqs';
import { type FauxqsStores, storedUploads } from './fauxqs-stores.ts';
import { noSuchBucket, noSuchUpload, S3ErrorResponse, sendS3Error } from './s3-error-response.ts';
import { integerParameter } from './s3-list-parts.ts';

type FauxqsApp = ReturnType<typeof buildApp>;

/** The part numbers S3 takes (https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html). */
const MAX_PART_NUMBER = 10_000;

/**
 * What S3 refuses of UploadPart, UploadPartCopy, CompleteMultipartUpload and AbortMultipartUpload
 * and fauxqs 2.4 lets through (it finds an upload by its id alone, and writes to that upload's own
 * bucket and key whatever the request names):
 *
 * - an upload id that is unknown (never created, completed, aborted) or of another bucket or key:
 *   404 `NoSuchUpload` (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html), as
 *   ListParts answers (s3-list-parts.ts). An upload id names one upload of one key: IAM authorizes
 *   the request for the key in its URL (endpoint-authorization.ts), so a role allowed `exports/*`
 *   must not complete or abort an upload of `imports/...` by naming an `exports/` key; a missing
 *   bucket: 404 `NoSuchBucket`;
 * - UploadPart / UploadPartCopy with a part number that is not an integer from 1 to 10,000:
 *   400 `InvalidArgument` ("Part numbers can be any number from 1 to 10,000, inclusive", API_UploadPart);
 * - CompleteMultipartUpload listing no part: 400 `MalformedXML`
 *   (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompletedMultipartUpload.html: "If you do
 *   not supply a valid Part with your request, the service sends back an HTTP 400 response");
 * - CompleteMultipartUpload of an upload with a checksum algorithm (every local upload: s3-checksums.ts
 *   makes one created without an algorithm CRC64NVME, as the SDK's default checksums make most on
 *   AWS) whose part numbers are not 1, 2, ..., n: 400 `InvalidPartOrder`
 *   (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompletedPart.html, PartNumber: "when an
 *   additional checksum ... is applied to each part, the PartNumber must start at 1 and the part
 *   numbers must be consecutive").
 *
 * A preHandler hook after IAM (a refused request is not looked at) and before the checksum hook
 * (which leaves an unknown upload to fauxqs).
 */
export function checkMultipartRequests(
  app: FauxqsApp,
  store: FauxqsStores['s3Store'],
  /** Requests another API answers on these paths (function URLs), left alone. */
  isOtherApi: (request: { readonly url: string }) => boolean = () => false,
): void {
  const uploads = storedUploads(store);
  app.addHook('preHandler', async (request, reply) => {
    if (request.routeOptions.url !== '/:bucket/*' || isOtherApi(request)) return;
    if (request.method !== 'PUT' && request.method !== 'POST' && request.method !== 'DELETE') return;
    const query = (request.query ?? {}) as Record<string, unknown>;
    if (typeof query.uploadId !== 'string') return;
    const { bucket = '', '*': key = '' } = request.params as { bucket?: string; '*'?: string };
    const refuse = (error: S3ErrorResponse) => sendS3Error(reply, error);

    if (request.method === 'PUT') {
      const partNumber = query.partNumber;
      const number = integerParameter(partNumber);
      if (typeof number !== 'number' || number < 1 || number > MAX_PART_NUMBER) {
        return refuse(
          new S3ErrorResponse(
            400,
            'InvalidArgument',
            `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`,
            [
              ['ArgumentName', 'partNumber'],
              ['ArgumentValue', String(partNumber ?? '')],
            ],
          ),
        );
      }
    }
    if (!store.hasBucket(bucket)) return refuse(noSuchBucket(bucket));
    const upload = uploads.get(query.uploadId);
    if (!upload || upload.bucket !== bucket || upload.key !== key)
      return refuse(noSuchUpload(query.uploadId));
    if (request.method !== 'POST') return;

    const body = Buffer.isBuffer(request.body) ? request.body.toString('utf8') : String(request.body ?? '');
    const numbers = [...body.matchAll(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/g)].map((match) =>
      Number(match[1]),
    );
    if (numbers.length === 0) {
      return refuse(
        new S3ErrorResponse(
          400,
          'MalformedXML',
          'The XML you provided was not well-formed or did not validate against our published schema',
        ),
      );
    }
    if (upload.checksumAlgorithm !== undefined && numbers.some((number, index) => number !== index + 1)) {
      return refuse(
        new S3ErrorResponse(
          400,
          'InvalidPartOrder',
          'The list of parts was not in ascending order. With a checksum on each part, the part numbers must start at 1 and be consecutive.',
          [['UploadId', query.uploadId]],
        ),
      );
    }
  });
}
