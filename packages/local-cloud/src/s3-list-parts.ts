import { crc64Nvme } from '@sidestep/contracts/crc64-nvme-hash';
import type { buildApp } from 'fauxqs';
import { type FauxqsStores, storedUploads } from './fauxqs-stores.ts';
import { noSuchBucket, noSuchUpload, S3ErrorResponse, sendS3Error } from './s3-error-response.ts';
import { escapeXml } from './xml-text.ts';

type S3Store = FauxqsStores['s3Store'];
type FauxqsApp = ReturnType<typeof buildApp>;

/** ListParts' default and largest page. */
const MAX_PARTS = 1000;
/** The largest `max-parts` / `part-number-marker` S3 takes (a 32-bit integer). */
const MAX_INTEGER = 2147483647;
const CRC64NVME = 'CRC64NVME';
/** The digest length of the checksums fauxqs keeps on parts, to tell one from another (base64). */
const DIGEST_BYTES: Readonly<Record<string, number>> = { CRC32: 4, SHA1: 20, SHA256: 32 };
/** The owner fauxqs names in ListBuckets (its account id and display name). */
const OWNER = '<ID>000000000000</ID><DisplayName>local</DisplayName>';

/**
 * S3's ListParts (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListParts.html), which fauxqs
 * 2.4 lacks: its `GET /:bucket/*` route serves `?uploadId=` as GetObject. Answered here, before
 * fauxqs's routes and before the versions hook (which would serve a GET of a versioned bucket's key
 * as GetObject), after IAM (`s3:ListMultipartUploadParts`):
 *
 * - `ListPartsResult` with Bucket, Key, UploadId, PartNumberMarker, NextPartNumberMarker, MaxParts,
 *   IsTruncated, Initiator and Owner (fauxqs's one owner), StorageClass STANDARD, the upload's
 *   ChecksumAlgorithm and ChecksumType (CRC64NVME uploads are FULL_OBJECT, see s3-checksums.ts;
 *   fauxqs combines CRC32 / SHA1 / SHA256 ones as COMPOSITE), and a `<Part>` per uploaded part in
 *   part-number order: PartNumber, LastModified, ETag, Size, and the part's checksum of the upload's
 *   algorithm (a CRC64NVME upload's part always has its CRC-64/NVME; a CRC32 / SHA1 / SHA256 one
 *   only when the client sent that checksum with the part);
 * - `max-parts` (default and largest 1000) and `part-number-marker` (parts after it), each an
 *   integer from 0 to 2^31-1, else 400 `InvalidArgument`; NextPartNumberMarker is the last listed
 *   part's number, 0 when none is listed (as S3 does: clients stop on IsTruncated, not on it);
 * - an upload id that is unknown (never created, completed, aborted) or of another bucket or key:
 *   404 `NoSuchUpload`; a missing bucket: 404 `NoSuchBucket`.
 *
 * Multipart uploads and their parts are fauxqs's (persisted in its SQLite state when there is a
 * state directory), so a listing survives a restart as the upload does.
 */
export function serveListParts(
  app: FauxqsApp,
  store: S3Store,
  /** Requests another API answers on these paths (function URLs), left alone. */
  isOtherApi: (request: { readonly url: string }) => boolean = () => false,
): void {
  const uploads = storedUploads(store);

  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'GET' || request.routeOptions.url !== '/:bucket/*' || isOtherApi(request)) return;
    const { bucket = '', '*': key = '' } = request.params as { bucket?: string; '*'?: string };
    const query = (request.query ?? {}) as Record<string, unknown>;
    // The operation endpoint-authorization.ts names ListParts: GET of a key with uploadId, and
    // neither `tagging` nor `attributes`.
    if (!key || !('uploadId' in query) || 'tagging' in query || 'attributes' in query) return;
    const error = (statusCode: number, code: string, message: string, details: [string, string][] = []) =>
      sendS3Error(reply, new S3ErrorResponse(statusCode, code, message, details));

    const maxParts = integerParameter(query['max-parts']);
    if (maxParts === null) {
      return error(
        400,
        'InvalidArgument',
        `Argument max-parts must be an integer between 0 and ${MAX_INTEGER}`,
      );
    }
    const marker = integerParameter(query['part-number-marker']);
    if (marker === null) {
      return error(
        400,
        'InvalidArgument',
        `Argument part-number-marker must be an integer between 0 and ${MAX_INTEGER}`,
      );
    }
    if (!store.hasBucket(bucket)) return sendS3Error(reply, noSuchBucket(bucket));
    const uploadId = typeof query.uploadId === 'string' ? query.uploadId : '';
    const upload = uploads.get(uploadId);
    if (!upload || upload.bucket !== bucket || upload.key !== key)
      return sendS3Error(reply, noSuchUpload(uploadId));

    const limit = Math.min(maxParts ?? MAX_PARTS, MAX_PARTS);
    const after = marker ?? 0;
    const remaining = [...upload.parts.values()]
      .filter((part) => part.partNumber > after)
      .sort((a, b) => a.partNumber - b.partNumber);
    const listed = remaining.slice(0, limit);
    const algorithm = upload.checksumAlgorithm;
    const checksumOf = (part: (typeof listed)[number]): string | undefined => {
      if (algorithm === CRC64NVME) return part.checksumValue ?? crc64Nvme(part.body);
      const bytes = algorithm === undefined ? undefined : DIGEST_BYTES[algorithm];
      // fauxqs keeps whichever checksum header came first (the SDK sends a CRC32 by default): shown
      // only when it is one of the upload's algorithm.
      if (bytes === undefined || part.checksumValue === undefined) return undefined;
      return Buffer.from(part.checksumValue, 'base64').length === bytes ? part.checksumValue : undefined;
    };
    const partsXml = listed.map((part) => {
      const checksum = checksumOf(part);
      return [
        '<Part>',
        `<PartNumber>${part.partNumber}</PartNumber>`,
        `<LastModified>${part.lastModified.toISOString()}</LastModified>`,
        `<ETag>${escapeXml(part.etag)}</ETag>`,
        `<Size>${part.body.length}</Size>`,
        checksum === undefined ? '' : `<Checksum${algorithm}>${escapeXml(checksum)}</Checksum${algorithm}>`,
        '</Part>',
      ].join('');
    });
    const xml = [
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
      `<Bucket>${escapeXml(bucket)}</Bucket>`,
      `<Key>${escapeXml(key)}</Key>`,
      `<UploadId>${escapeXml(upload.uploadId)}</UploadId>`,
      `<PartNumberMarker>${after}</PartNumberMarker>`,
      `<NextPartNumberMarker>${listed.at(-1)?.partNumber ?? 0}</NextPartNumberMarker>`,
      `<MaxParts>${limit}</MaxParts>`,
      `<IsTruncated>${remaining.length > listed.length}</IsTruncated>`,
      ...partsXml,
      `<Initiator>${OWNER}</Initiator>`,
      `<Owner>${OWNER}</Owner>`,
      '<StorageClass>STANDARD</StorageClass>',
      ...(algorithm === undefined
        ? []
        : [
            `<ChecksumAlgorithm>${algorithm}</ChecksumAlgorithm>`,
            `<ChecksumType>${algorithm === CRC64NVME ? 'FULL_OBJECT' : 'COMPOSITE'}</ChecksumType>`,
          ]),
      '</ListPartsResult>',
    ].join('\n');
    return reply.code(200).header('content-type', 'application/xml').send(xml);
  });
}

/** A query parameter of 0 to 2^31-1; `undefined` when absent, `null` when it is anything else. */
export function integerParameter(value: unknown): number | undefined | null {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d{1,10}$/.test(value)) return null;
  const number = Number(value);
  return number <= MAX_INTEGER ? number : null;
}
