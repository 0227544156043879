import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { crc64Nvme } from '@sidestep/contracts/crc64-nvme-hash';
import { rejectionOf } from '@sidestep/contracts/testing';
import { type AwsEndpoint, startAwsEndpoint } from '../src/aws-endpoint.ts';
import { localClientConfig } from './fixtures/sqs-endpoint.ts';

const BUCKET = 'sidestep-local-checksums';
const MIB = 1024 * 1024;

let endpoint: AwsEndpoint;
let s3: S3Client;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sidestep-checksums-'));
  endpoint = await startAwsEndpoint({ port: 0 });
  await endpoint.createBucket(BUCKET);
  s3 = new S3Client({ ...localClientConfig(endpoint.url), forcePathStyle: true });
});

afterAll(async () => {
  s3?.destroy();
  await endpoint?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const head = (client: S3Client, key: string) =>
  client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key, ChecksumMode: 'ENABLED' }));

/**
 * Three parts: the first uploaded with its checksum (S3's 5 MiB minimum), the second copied whole
 * from an object (UploadPartCopy), the last uploaded small.
 */
async function multipart(client: S3Client, key: string) {
  const parts = [Buffer.alloc(5 * MIB, 'a'), Buffer.alloc(5 * MIB, 'b'), Buffer.from('the last part\n')];
  await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${key}.source`, Body: parts[1] }));
  const { UploadId } = await client.send(
    new CreateMultipartUploadCommand({
      Bucket: BUCKET,
      Key: key,
      ChecksumAlgorithm: 'CRC64NVME',
      ChecksumType: 'FULL_OBJECT',
    }),
  );
  const upload = async (number: number, body: Buffer) => {
    const part = await client.send(
      new UploadPartCommand({
        Bucket: BUCKET,
        Key: key,
        UploadId,
        PartNumber: number,
        Body: body,
        ChecksumCRC64NVME: crc64Nvme(body),
      }),
    );
    return { PartNumber: number, ETag: part.ETag };
  };
  const first = await upload(1, parts[0] as Buffer);
  const copied = await client.send(
    new UploadPartCopyCommand({
      Bucket: BUCKET,
      Key: key,
      UploadId,
      PartNumber: 2,
      CopySource: `${BUCKET}/${key}.source`,
    }),
  );
  const last = await upload(3, parts[2] as Buffer);
  const receipts = [first, { PartNumber: 2, ETag: copied.CopyPartResult?.ETag }, last];
  return { UploadId, receipts, whole: Buffer.concat(parts) };
}

describe('the local S3 CRC-64/NVME checksums', () => {
  it('gives an object written without a checksum its CRC-64/NVME, as S3 does by default', async () => {
    const body = Buffer.from('external_id,email\n"u1","a@example.com"\n');
    // A client that sends no checksum of its own (the SDK's default adds a CRC32, which S3 keeps).
    const bare = new S3Client({
      ...localClientConfig(endpoint.url),
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    await bare.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'plain.csv', Body: body }));
    bare.destroy();
    const object = await head(s3, 'plain.csv');
    expect(object.ChecksumCRC64NVME).toBe(crc64Nvme(body));
    expect(object.ChecksumType).toBe('FULL_OBJECT');
    // GetObject returns it too, and the SDK validates the body against it.
    const got = await s3.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: 'plain.csv', ChecksumMode: 'ENABLED' }),
    );
    expect(got.ChecksumCRC64NVME).toBe(crc64Nvme(body));
    expect(await got.Body?.transformToString()).toBe(body.toString());
  });

  it('answers a PutObject and an UploadPart with the CRC-64/NVME it verified, as S3 does', async () => {
    // https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html (x-amz-checksum-crc64nvme)
    const body = Buffer.from('echoed\n');
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'echoed.csv',
        Body: body,
        ChecksumCRC64NVME: crc64Nvme(body),
      }),
    );
    expect(put.ChecksumCRC64NVME).toBe(crc64Nvme(body));
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({
        Bucket: BUCKET,
        Key: 'echoed-upload.csv',
        ChecksumAlgorithm: 'CRC64NVME',
        ChecksumType: 'FULL_OBJECT',
      }),
    );
    const part = await s3.send(
      new UploadPartCommand({
        Bucket: BUCKET,
        Key: 'echoed-upload.csv',
        UploadId,
        PartNumber: 1,
        Body: body,
        ChecksumCRC64NVME: crc64Nvme(body),
      }),
    );
    expect(part.ChecksumCRC64NVME).toBe(crc64Nvme(body));
  });

  it('refuses a PutObject whose body does not match its CRC-64/NVME with BadDigest and stores nothing', async () => {
    const error = await rejectionOf(
      s3.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: 'corrupted.csv',
          Body: 'what arrived',
          ChecksumCRC64NVME: crc64Nvme(Buffer.from('what was sent')),
        }),
      ),
      Error,
    );
    expect(error).toMatchObject({ name: 'BadDigest', $metadata: { httpStatusCode: 400 } });
    expect(await rejectionOf(head(s3, 'corrupted.csv'), Error)).toMatchObject({ name: 'NotFound' });
  });

  it('combines the parts of a multipart upload, uploaded and copied, into the full-object checksum of the bytes', async () => {
    const { UploadId, receipts, whole } = await multipart(s3, 'combined.csv');
    const completed = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: 'combined.csv',
        UploadId,
        MultipartUpload: { Parts: receipts },
        ChecksumCRC64NVME: crc64Nvme(whole),
        ChecksumType: 'FULL_OBJECT',
      }),
    );
    expect(completed.ChecksumCRC64NVME).toBe(crc64Nvme(whole));
    const object = await head(s3, 'combined.csv');
    expect(object).toMatchObject({
      ChecksumCRC64NVME: crc64Nvme(whole),
      ChecksumType: 'FULL_OBJECT',
      ContentLength: whole.length,
    });
  });

  it('refuses a CompleteMultipartUpload whose full-object checksum is not the parts’ with BadDigest', async () => {
    const { UploadId, receipts, whole } = await multipart(s3, 'mismatch.csv');
    const error = await rejectionOf(
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: BUCKET,
          Key: 'mismatch.csv',
          UploadId,
          MultipartUpload: { Parts: receipts },
          ChecksumCRC64NVME: crc64Nvme(Buffer.concat([whole, Buffer.from('x')])),
          ChecksumType: 'FULL_OBJECT',
        }),
      ),
      Error,
    );
    expect(error).toMatchObject({ name: 'BadDigest' });
    expect(await rejectionOf(head(s3, 'mismatch.csv'), Error)).toMatchObject({ name: 'NotFound' });
    // The upload is still there: the right checksum completes it.
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: 'mismatch.csv',
        UploadId,
        MultipartUpload: { Parts: receipts },
        ChecksumCRC64NVME: crc64Nvme(whole),
        ChecksumType: 'FULL_OBJECT',
      }),
    );
    expect((await head(s3, 'mismatch.csv')).ChecksumCRC64NVME).toBe(crc64Nvme(whole));
  });

  // "If the checksum type doesn't match the checksum type that was specified for the object during
  // the CreateMultipartUpload request, it'll result in a BadDigest error" (API_CompleteMultipartUpload,
  // x-amz-checksum-type); a CRC-64/NVME upload is FULL_OBJECT. The export-finalizer sends FULL_OBJECT.
  it('refuses a CompleteMultipartUpload of a CRC-64/NVME upload that says COMPOSITE with BadDigest', async () => {
    const { UploadId, receipts, whole } = await multipart(s3, 'composite.csv');
    const complete = (ChecksumType: 'COMPOSITE' | 'FULL_OBJECT') =>
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: BUCKET,
          Key: 'composite.csv',
          UploadId,
          MultipartUpload: { Parts: receipts },
          ChecksumType,
        }),
      );
    expect(await rejectionOf(complete('COMPOSITE'), Error)).toMatchObject({ name: 'BadDigest' });
    expect((await complete('FULL_OBJECT')).ChecksumCRC64NVME).toBe(crc64Nvme(whole));
  });

  // A part CompleteMultipartUpload names with an ETag not the part's is refused InvalidPart
  // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html); the upload
  // stays, and completing it right gives the object its full-object checksum still.
  it('completes an upload refused InvalidPart once named right, with its CRC-64/NVME FULL_OBJECT checksum', async () => {
    const { UploadId, receipts, whole } = await multipart(s3, 'retried.csv');
    const complete = (parts: typeof receipts) =>
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: BUCKET,
          Key: 'retried.csv',
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    // The last part named with an ETag it does not have.
    const misnamed = [...receipts.slice(0, 2), { PartNumber: 3, ETag: receipts[0]?.ETag }];
    expect(await rejectionOf(complete(misnamed), Error)).toMatchObject({ name: 'InvalidPart' });
    const completed = await complete(receipts);
    expect(completed.ChecksumCRC64NVME).toBe(crc64Nvme(whole));
    expect(await head(s3, 'retried.csv')).toMatchObject({
      ChecksumCRC64NVME: crc64Nvme(whole),
      ChecksumType: 'FULL_OBJECT',
      ContentLength: whole.length,
    });
  });

  it('keeps the checksums of objects and completed uploads across a restart on the same state directory', async () => {
    const first = await startAwsEndpoint({ port: 0, dataDir });
    await first.createBucket(BUCKET);
    const client = new S3Client({ ...localClientConfig(first.url), forcePathStyle: true });
    const { UploadId, receipts, whole } = await multipart(client, 'kept.csv');
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: 'kept.csv',
        UploadId,
        MultipartUpload: { Parts: receipts },
      }),
    );
    expect((await head(client, 'kept.csv')).ChecksumCRC64NVME).toBe(crc64Nvme(whole));
    client.destroy();
    await first.stop();

    const second = await startAwsEndpoint({ port: 0, dataDir });
    const again = new S3Client({ ...localClientConfig(second.url), forcePathStyle: true });
    try {
      expect((await head(again, 'kept.csv')).ChecksumCRC64NVME).toBe(crc64Nvme(whole));
    } finally {
      again.destroy();
      await second.stop();
    }
  });
});
