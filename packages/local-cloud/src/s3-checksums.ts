import { combinePartsCrc64Nvme } from '@sidestep/contracts/crc64-nvme';
import { crc64Nvme } from '@sidestep/contracts/crc64-nvme-hash';
import type { buildApp } from 'fauxqs';
import { type FauxqsStores, storedUploads } from './fauxqs-stores.ts';
import { S3ErrorResponse, sendS3Error } from './s3-error-response.ts';

type S3Store = FauxqsStores['s3Store'];
type FauxqsApp = ReturnType<typeof buildApp>;

interface StoredObject {
  checksumAlgorithm?: string;
  checksumValue?: string;
  checksumType?: 'FULL_OBJECT' | 'COMPOSITE';
}

const CRC64NVME = 'CRC64NVME';
const CRC64NVME_HEADER = 'x-amz-checksum-crc64nvme';

/**
 * S3's CRC-64/NVME checksums on fauxqs 2.4, which knows only CRC32, SHA1 and SHA256 and verifies none
 * of them (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html):
 *
 * - PutObject and UploadPart with `x-amz-checksum-crc64nvme`: the body is checked against it, and a
 *   mismatch is refused with 400 `BadDigest`, nothing stored; a match is answered with the header;
 * - every object written without another checksum gets its CRC-64/NVME (`FULL_OBJECT`), as S3 does
 *   by default since 2024; HeadObject / GetObject / GetObjectAttributes with `ChecksumMode: ENABLED`
 *   then return it (fauxqs prints any stored algorithm);
 * - a multipart upload created without another algorithm is CRC-64/NVME `FULL_OBJECT`: each part,
 *   uploaded or copied (UploadPartCopy), gets its CRC-64/NVME, and CompleteMultipartUpload combines
 *   the parts' checksums into the object's (never reading the object), checking it first against
 *   the request's `x-amz-checksum-crc64nvme` when one is given (400 `BadDigest` otherwise).
 *
 * Done around fauxqs's store rather than by patching fauxqs, so its persistence keeps the checksums
 * (they go through its own `checksumData` / `checksumValue` / `checksumAlgorithm` arguments).
 */
export function keepCrc64NvmeChecksums(app: FauxqsApp, store: S3Store): void {
  // A body's checksum, computed once per buffer: by the request check, then by the store, and again
  // when UploadPartCopy copies a whole object (fauxqs hands the part the source's very buffer).
  const known = new WeakMap<Buffer, string>();
  const checksumOf = (body: Buffer): string => {
    let value = known.get(body);
    if (value === undefined) {
      value = crc64Nvme(body);
      known.set(body, value);
    }
    return value;
  };
  const uploads = storedUploads(store);

  // An object's stored full-object CRC-64/NVME is the checksum of the body a read hands out: with
  // persistence, fauxqs reads the body back from SQLite on each read (a new buffer), and
  // UploadPartCopy of a whole object would otherwise compute it again over every byte (~0.7 s for
  // a 10M-row export's ~250 MB with the SDK's pure-JS CRC used then).
  const getObject = store.getObject.bind(store);
  store.getObject = (bucket, key) => {
    const object = getObject(bucket, key);
    const stored = object as unknown as StoredObject;
    if (
      stored.checksumAlgorithm === CRC64NVME &&
      stored.checksumType === 'FULL_OBJECT' &&
      stored.checksumValue !== undefined &&
      object.body.length === object.contentLength
    ) {
      known.set(object.body, stored.checksumValue);
    }
    return object;
  };

  app.addHook('preHandler', async (request, reply) => {
    if (request.routeOptions.url !== '/:bucket/*') return;
    const query = (request.query ?? {}) as Record<string, unknown>;
    // "If the checksum type doesn't match the checksum type that was specified for the object during
    // the CreateMultipartUpload request, it'll result in a BadDigest error"
    // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html,
    // x-amz-checksum-type): a CRC-64/NVME upload is always FULL_OBJECT.
    const checksumType = request.headers['x-amz-checksum-type'];
    if (
      request.method === 'POST' &&
      typeof query.uploadId === 'string' &&
      typeof checksumType === 'string' &&
      checksumType.toUpperCase() !== 'FULL_OBJECT' &&
      uploads.get(query.uploadId)?.checksumAlgorithm === CRC64NVME
    ) {
      return sendS3Error(
        reply,
        new S3ErrorResponse(
          400,
          'BadDigest',
          `The checksum type ${checksumType} does not match the upload's: a CRC64NVME checksum is FULL_OBJECT.`,
        ),
      );
    }
    const expected = request.headers[CRC64NVME_HEADER];
    if (typeof expected !== 'string') return;
    let actual: string | undefined;
    if (request.method === 'PUT' && !request.headers['x-amz-copy-source'] && Buffer.isBuffer(request.body)) {
      // aws-chunked bodies (a streamed upload with a trailing checksum) are left to fauxqs unchecked.
      if (String(request.headers['content-encoding'] ?? '').includes('aws-chunked')) return;
      actual = checksumOf(request.body);
    } else if (request.method === 'POST' && typeof query.uploadId === 'string') {
      const upload = uploads.get(query.uploadId);
      if (!upload || upload.checksumAlgorithm !== CRC64NVME) return; // fauxqs answers NoSuchUpload
      const body = Buffer.isBuffer(request.body) ? request.body.toString('utf8') : String(request.body ?? '');
      const numbers = [...body.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((match) => Number(match[1]));
      const parts = numbers.map((number) => upload.parts.get(number));
      if (parts.some((part) => part === undefined)) return; // fauxqs answers InvalidPart
      actual = combinePartsCrc64Nvme(
        parts.map((part) => {
          const { body: partBody, checksumValue } = part as NonNullable<(typeof parts)[number]>;
          return { crc64nvme: checksumValue ?? checksumOf(partBody), bytes: partBody.length };
        }),
      );
    } else {
      return;
    }
    if (actual === expected) {
      // S3 answers a PutObject or UploadPart with the checksum it verified
      // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html, "x-amz-checksum-crc64nvme");
      // fauxqs echoes only the algorithms it knows.
      if (request.method === 'PUT') reply.header(CRC64NVME_HEADER, expected);
      return;
    }
    return reply
      .code(400)
      .header('content-type', 'application/xml')
      .send(
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>BadDigest</Code><Message>The CRC64NVME you specified did not match the calculated checksum.</Message><RequestId>${request.id}</RequestId></Error>`,
      );
  });

  const putObject = store.putObject.bind(store);
  store.putObject = (bucket, key, body, contentType, metadata, systemMetadata, checksumData) =>
    putObject(
      bucket,
      key,
      body,
      contentType,
      metadata,
      systemMetadata,
      checksumData ??
        ({ algorithm: CRC64NVME, value: checksumOf(body), type: 'FULL_OBJECT' } as unknown as NonNullable<
          typeof checksumData
        >),
    );

  const createMultipartUpload = store.createMultipartUpload.bind(store);
  store.createMultipartUpload = (bucket, key, contentType, metadata, systemMetadata, checksumAlgorithm) =>
    createMultipartUpload(
      bucket,
      key,
      contentType,
      metadata,
      systemMetadata,
      checksumAlgorithm ?? (CRC64NVME as NonNullable<typeof checksumAlgorithm>),
    );

  // A part of a CRC-64/NVME upload keeps its CRC-64/NVME whatever other checksum the client sent
  // (the SDK adds a CRC32 by default), as the object's checksum is made of them; the response still
  // echoes what the client sent.
  const uploadPart = store.uploadPart.bind(store);
  store.uploadPart = (uploadId, partNumber, body, checksumValue) => {
    if (uploads.get(uploadId)?.checksumAlgorithm !== CRC64NVME) {
      return uploadPart(uploadId, partNumber, body, checksumValue);
    }
    const result = uploadPart(uploadId, partNumber, body, checksumOf(body));
    return checksumValue === undefined ? { etag: result.etag } : { ...result, checksumValue };
  };

  // fauxqs would hash a CRC64NVME upload's part checksums with SHA-256 into a COMPOSITE value: the
  // upload is completed as one without an algorithm, and the full-object checksum is put on the
  // object as it is stored (in the persistence call, whose copy is what fauxqs keeps in memory then).
  let completing: StoredObject | undefined;
  const persistence = (
    store as unknown as {
      persistence?: {
        completeMultipartUpload: (uploadId: string, bucket: string, object: StoredObject) => void;
      };
    }
  ).persistence;
  if (persistence) {
    const persist = persistence.completeMultipartUpload.bind(persistence);
    persistence.completeMultipartUpload = (uploadId: string, bucket: string, object: StoredObject) => {
      if (completing) Object.assign(object, completing);
      return persist(uploadId, bucket, object);
    };
  }
  const completeMultipartUpload = store.completeMultipartUpload.bind(store);
  store.completeMultipartUpload = (uploadId, partSpecs) => {
    const upload = uploads.get(uploadId);
    if (upload?.checksumAlgorithm !== CRC64NVME) return completeMultipartUpload(uploadId, partSpecs);
    const parts = partSpecs.map((spec) => upload.parts.get(spec.partNumber));
    const checksum: StoredObject | undefined = parts.every((part) => part !== undefined)
      ? {
          checksumAlgorithm: CRC64NVME,
          checksumValue: combinePartsCrc64Nvme(
            parts.map((part) => ({
              crc64nvme: part.checksumValue ?? checksumOf(part.body),
              bytes: part.body.length,
            })),
          ),
          checksumType: 'FULL_OBJECT',
        }
      : undefined; // fauxqs refuses the call (InvalidPart)
    delete upload.checksumAlgorithm;
    completing = checksum;
    try {
      const object = completeMultipartUpload(uploadId, partSpecs);
      if (checksum) Object.assign(object, checksum);
      return object;
    } catch (error) {
      upload.checksumAlgorithm = CRC64NVME;
      throw error;
    } finally {
      completing = undefined;
    }
  };
}
