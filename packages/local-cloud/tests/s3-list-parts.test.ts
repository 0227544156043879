// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform references are literal text in the stack.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  HeadObjectCommand,
  ListPartsCommand,
  type ListPartsCommandOutput,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { crc64Nvme } from '@sidestep/contracts/crc64-nvme-hash';
import { rejectionOf } from '@sidestep/contracts/testing';
import type { SynthesizedTerraformJson } from '@sidestep/iam';
import { type AwsEndpoint, startAwsEndpoint } from '../src/aws-endpoint.ts';
import { endpointAuthorizer } from '../src/endpoint-authorization.ts';
import { createLocalIam } from '../src/local-iam.ts';
import { allow, role } from './fixtures/iam-stack.ts';
import { completeUpload, createUpload, type Upload, uploadPart } from './fixtures/multipart-uploads.ts';
import { localClientConfig } from './fixtures/sqs-endpoint.ts';

// https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListParts.html
const BUCKET = 'sidestep-local-list-parts';
const VERSIONED_BUCKET = 'sidestep-local-list-parts-versioned';

let endpoint: AwsEndpoint;
let s3: S3Client;
const clients: S3Client[] = [];

const clientOf = (url: string, accessKeyId = 'local', options: { bare?: boolean } = {}) => {
  const client = new S3Client({
    ...localClientConfig(url, accessKeyId),
    forcePathStyle: true,
    // A client that sends no checksum of its own (the SDK's default adds a CRC32 to every part).
    ...(options.bare ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const } : {}),
  });
  clients.push(client);
  return client;
};

beforeAll(async () => {
  endpoint = await startAwsEndpoint({ port: 0 });
  await endpoint.createBucket(BUCKET);
  await endpoint.createBucket(VERSIONED_BUCKET, { versioned: true });
  s3 = clientOf(endpoint.url);
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await endpoint?.stop();
});

/** The error a call rejects with (fails the test when it succeeds). */
const failure = (call: Promise<unknown>) =>
  rejectionOf(call, Error) as Promise<Error & { $metadata?: { httpStatusCode?: number } }>;

const listParts = (
  client: S3Client,
  upload: Upload,
  page: { MaxParts?: number; PartNumberMarker?: string } = {},
): Promise<ListPartsCommandOutput> =>
  client.send(
    new ListPartsCommand({ Bucket: upload.bucket, Key: upload.key, UploadId: upload.uploadId, ...page }),
  );

/** A part's body of `size` bytes, different for every `seed`. */
const bodyOf = (seed: number, size: number) => Buffer.alloc(size, `part ${seed};`);

describe('the local S3 ListParts', () => {
  it('lists the parts in part-number order with the sizes, ETags and CRC-64/NVME UploadPart took', async () => {
    const upload = await createUpload(s3, BUCKET, 'ordered.csv', 'CRC64NVME');
    const bodies = new Map([
      [3, bodyOf(3, 300)],
      [1, bodyOf(1, 100)],
      [2, bodyOf(2, 200)],
    ]);
    const receipts = new Map<number, { ETag?: string }>();
    const before = Date.now();
    for (const [number, body] of bodies) receipts.set(number, await uploadPart(s3, upload, number, body));

    const listing = await listParts(s3, upload);
    expect(listing).toMatchObject({
      Bucket: BUCKET,
      Key: 'ordered.csv',
      UploadId: upload.uploadId,
      PartNumberMarker: '0',
      NextPartNumberMarker: '3',
      MaxParts: 1000,
      IsTruncated: false,
      StorageClass: 'STANDARD',
      ChecksumAlgorithm: 'CRC64NVME',
      ChecksumType: 'FULL_OBJECT',
    });
    expect(listing.Owner?.ID).toBeDefined();
    expect(listing.Initiator?.ID).toBeDefined();
    const parts = listing.Parts ?? [];
    expect(
      parts.map(({ PartNumber, Size, ETag, ChecksumCRC64NVME }) => ({
        PartNumber,
        Size,
        ETag,
        ChecksumCRC64NVME,
      })),
    ).toEqual(
      [1, 2, 3].map((number) => ({
        PartNumber: number,
        Size: bodies.get(number)?.length,
        ETag: receipts.get(number)?.ETag,
        // The CRC-64/NVME the client sent with the part.
        ChecksumCRC64NVME: crc64Nvme(bodies.get(number) as Buffer),
      })),
    );
    // ETags quoted, as UploadPart returned them.
    for (const part of parts) {
      expect(part.ETag).toMatch(/^"[0-9a-f]{32}"$/);
      expect(part.LastModified?.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(part.LastModified?.getTime()).toBeLessThanOrEqual(Date.now());
    }
  });

  it('gives every part of an upload created without a checksum its CRC-64/NVME (FULL_OBJECT)', async () => {
    const bare = clientOf(endpoint.url, 'local', { bare: true });
    const upload = await createUpload(bare, BUCKET, 'no-checksum.csv');
    const body = bodyOf(7, 777);
    await uploadPart(bare, upload, 1, body, { withCrc64: false });
    const listing = await listParts(bare, upload);
    expect(listing).toMatchObject({ ChecksumAlgorithm: 'CRC64NVME', ChecksumType: 'FULL_OBJECT' });
    expect(listing.Parts?.map((part) => part.ChecksumCRC64NVME)).toEqual([crc64Nvme(body)]);
  });

  it('lists a CRC32 upload’s parts with the CRC32 UploadPart took, as a COMPOSITE upload', async () => {
    const upload = await createUpload(s3, BUCKET, 'crc32.csv', 'CRC32');
    const part = await s3.send(
      new UploadPartCommand({
        Bucket: BUCKET,
        Key: 'crc32.csv',
        UploadId: upload.uploadId,
        PartNumber: 1,
        Body: bodyOf(1, 64),
        ChecksumAlgorithm: 'CRC32',
      }),
    );
    expect(part.ChecksumCRC32).toBeDefined();
    const listing = await listParts(s3, upload);
    expect(listing).toMatchObject({ ChecksumAlgorithm: 'CRC32', ChecksumType: 'COMPOSITE' });
    expect(listing.Parts).toEqual([
      expect.objectContaining({ PartNumber: 1, ETag: part.ETag, ChecksumCRC32: part.ChecksumCRC32 }),
    ]);
    expect(listing.Parts?.[0]?.ChecksumCRC64NVME).toBeUndefined();
  });

  it('pages through 5 parts with MaxParts 2, NextPartNumberMarker and IsTruncated', async () => {
    const upload = await createUpload(s3, BUCKET, 'paged.csv', 'CRC64NVME');
    for (const number of [5, 4, 3, 2, 1]) await uploadPart(s3, upload, number, bodyOf(number, 10 * number));

    const pages: { numbers: number[]; truncated?: boolean; marker?: string; next?: string; max?: number }[] =
      [];
    let marker: string | undefined;
    for (let page = 0; page < 5; page += 1) {
      const listing = await listParts(s3, upload, {
        MaxParts: 2,
        ...(marker === undefined ? {} : { PartNumberMarker: marker }),
      });
      pages.push({
        numbers: (listing.Parts ?? []).map((part) => part.PartNumber ?? 0),
        truncated: listing.IsTruncated,
        marker: listing.PartNumberMarker,
        next: listing.NextPartNumberMarker,
        max: listing.MaxParts,
      });
      // Clients stop on IsTruncated: S3 always names a NextPartNumberMarker.
      if (!listing.IsTruncated) break;
      marker = listing.NextPartNumberMarker;
    }
    expect(pages).toEqual([
      { numbers: [1, 2], truncated: true, marker: '0', next: '2', max: 2 },
      { numbers: [3, 4], truncated: true, marker: '2', next: '4', max: 2 },
      { numbers: [5], truncated: false, marker: '4', next: '5', max: 2 },
    ]);

    // Past the last part: an empty page, NextPartNumberMarker 0 as S3 answers it.
    const past = await listParts(s3, upload, { PartNumberMarker: '5' });
    expect(past).toMatchObject({ IsTruncated: false, NextPartNumberMarker: '0' });
    expect(past.Parts ?? []).toEqual([]);
    // MaxParts is at most 1000.
    expect((await listParts(s3, upload, { MaxParts: 5000 })).MaxParts).toBe(1000);
    expect((await listParts(s3, upload, { MaxParts: 5000 })).Parts).toHaveLength(5);
  });

  it('lists a part uploaded again under the same number as the later upload only', async () => {
    const upload = await createUpload(s3, BUCKET, 'replaced.csv', 'CRC64NVME');
    const first = await uploadPart(s3, upload, 1, bodyOf(1, 50));
    const again = bodyOf(2, 80);
    const second = await uploadPart(s3, upload, 1, again);
    expect(second.ETag).not.toBe(first.ETag);
    const listing = await listParts(s3, upload);
    expect(listing.Parts).toEqual([
      expect.objectContaining({
        PartNumber: 1,
        Size: again.length,
        ETag: second.ETag,
        ChecksumCRC64NVME: crc64Nvme(again),
      }),
    ]);
  });

  it('answers 404 NoSuchUpload for an unknown upload id, and for an upload of another key or bucket (NoSuchBucket for a missing bucket)', async () => {
    const upload = await createUpload(s3, BUCKET, 'mine.csv', 'CRC64NVME');
    await uploadPart(s3, upload, 1, bodyOf(1, 10));
    const other = await createUpload(s3, VERSIONED_BUCKET, 'mine.csv', 'CRC64NVME');
    for (const asked of [
      { ...upload, uploadId: 'not-an-upload' },
      { ...upload, key: 'theirs.csv' },
      { ...upload, bucket: VERSIONED_BUCKET },
      { ...other, bucket: BUCKET },
    ]) {
      const error = await failure(listParts(s3, asked));
      expect({ name: error.name, status: error.$metadata?.httpStatusCode }).toEqual({
        name: 'NoSuchUpload',
        status: 404,
      });
    }
    // S3's XML error: Code, Message, RequestId.
    const response = await fetch(`${endpoint.url}/${BUCKET}/mine.csv?uploadId=not-an-upload`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toContain('application/xml');
    const body = await response.text();
    expect(body).toContain('<Code>NoSuchUpload</Code>');
    expect(body).toMatch(/<Message>The specified upload does not exist\.[^<]*<\/Message>/);
    expect(body).toMatch(/<RequestId>[^<]+<\/RequestId>/);
    // A missing bucket is NoSuchBucket, as for S3's other object calls.
    const noBucket = await failure(listParts(s3, { ...upload, bucket: 'sidestep-local-no-such-bucket' }));
    expect(noBucket.name).toBe('NoSuchBucket');
    // The upload asked with its own bucket and key is still listed.
    expect((await listParts(s3, upload)).Parts).toHaveLength(1);
  });

  it('answers NoSuchUpload once the upload was completed, and once it was aborted', async () => {
    const completed = await createUpload(s3, BUCKET, 'completed.csv', 'CRC64NVME');
    const part = await uploadPart(s3, completed, 1, bodyOf(1, 20));
    expect((await listParts(s3, completed)).Parts).toHaveLength(1);
    await completeUpload(s3, completed, [{ PartNumber: 1, ETag: part.ETag }]);
    expect((await failure(listParts(s3, completed))).name).toBe('NoSuchUpload');

    const aborted = await createUpload(s3, BUCKET, 'aborted.csv', 'CRC64NVME');
    await uploadPart(s3, aborted, 1, bodyOf(1, 20));
    expect((await listParts(s3, aborted)).Parts).toHaveLength(1);
    await s3.send(
      new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'aborted.csv', UploadId: aborted.uploadId }),
    );
    expect((await failure(listParts(s3, aborted))).name).toBe('NoSuchUpload');
  });

  it('lists the parts of an upload to a key of a versioned bucket that has an object already', async () => {
    await s3.send(new PutObjectCommand({ Bucket: VERSIONED_BUCKET, Key: 'existing.csv', Body: 'v1' }));
    const upload = await createUpload(s3, VERSIONED_BUCKET, 'existing.csv', 'CRC64NVME');
    const body = bodyOf(1, 33);
    const part = await uploadPart(s3, upload, 1, body);
    const listing = await listParts(s3, upload);
    expect(listing.Bucket).toBe(VERSIONED_BUCKET);
    expect(listing.Parts).toEqual([expect.objectContaining({ PartNumber: 1, ETag: part.ETag, Size: 33 })]);
  });

  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html, Last-Modified: "For
  // multipart uploads, the object creation date is the date of initiation of the multipart upload"; the
  // lifecycle's expiry (and the export link's, capped by it) counts from that date.
  it("dates a completed upload's object from the upload's initiation, not its completion, versioned or not", async () => {
    for (const bucket of [BUCKET, VERSIONED_BUCKET]) {
      const before = Date.now();
      const upload = await createUpload(s3, bucket, 'dated.csv', 'CRC64NVME');
      const created = Date.now();
      // Over a second: the completion's second is after every second the initiation could have had.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const part = await uploadPart(s3, upload, 1, bodyOf(1, 20));
      await completeUpload(s3, upload, [{ PartNumber: 1, ETag: part.ETag }]);
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'dated.csv' }));
      // Last-Modified has whole seconds: the initiation's second, before the completion's.
      const lastModified = head.LastModified?.getTime() ?? Number.NaN;
      expect({
        bucket,
        initiated: lastModified >= Math.floor(before / 1000) * 1000 && lastModified <= created,
      }).toEqual({
        bucket,
        initiated: true,
      });
    }
  });

  it('refuses a max-parts or part-number-marker that is no integer from 0 to 2^31-1 with InvalidArgument', async () => {
    const upload = await createUpload(s3, BUCKET, 'arguments.csv', 'CRC64NVME');
    for (const query of [
      'max-parts=two',
      'max-parts=-1',
      'part-number-marker=1.5',
      'part-number-marker=2147483648',
    ]) {
      const response = await fetch(
        `${endpoint.url}/${BUCKET}/arguments.csv?uploadId=${upload.uploadId}&${query}`,
      );
      expect({ query, status: response.status }).toEqual({ query, status: 400 });
      expect(await response.text()).toContain('<Code>InvalidArgument</Code>');
    }
  });
});

describe('ListParts across a restart', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sidestep-list-parts-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('lists the same parts after a restart on the same state directory', async () => {
    const first = await startAwsEndpoint({ port: 0, dataDir });
    const { upload, before } = await (async () => {
      try {
        await first.createBucket(BUCKET);
        const client = clientOf(first.url);
        const created = await createUpload(client, BUCKET, 'kept.csv', 'CRC64NVME');
        for (const number of [2, 1]) await uploadPart(client, created, number, bodyOf(number, 40 * number));
        return { upload: created, before: await listParts(client, created) };
      } finally {
        await first.stop();
      }
    })();
    expect(before.Parts?.map((part) => part.PartNumber)).toEqual([1, 2]);

    const second = await startAwsEndpoint({ port: 0, dataDir });
    try {
      await second.createBucket(BUCKET);
      const after = await listParts(clientOf(second.url), upload);
      expect(after.Parts).toEqual(before.Parts);
      expect(after).toMatchObject({ ChecksumAlgorithm: 'CRC64NVME', ChecksumType: 'FULL_OBJECT' });
    } finally {
      await second.stop();
    }
  });
});

describe('ListParts and IAM', () => {
  // A stack shaped like infra's: one role may list an upload's parts, the other may only read objects.
  const stack: SynthesizedTerraformJson = {
    provider: { aws: [{ region: 'us-east-1' }] },
    resource: {
      aws_iam_role: { uploader: role('sidestep-local-uploader'), reader: role('sidestep-local-reader') },
      aws_iam_role_policy: {
        uploader: allow('uploader', [
          {
            Effect: 'Allow',
            Action: ['s3:ListMultipartUploadParts'],
            Resource: '${aws_s3_bucket.uploads.arn}/*',
          },
        ]),
        reader: allow('reader', [
          { Effect: 'Allow', Action: 's3:GetObject', Resource: '${aws_s3_bucket.uploads.arn}/*' },
        ]),
      },
      aws_s3_bucket: { uploads: { bucket: BUCKET } },
    },
  };
  let guarded: AwsEndpoint;
  let upload: Upload;
  beforeAll(async () => {
    const iam = createLocalIam({ stack });
    expect(iam.warnings).toEqual([]);
    guarded = await startAwsEndpoint({ port: 0, authorize: endpointAuthorizer(iam) });
    await guarded.createBucket(BUCKET);
    const operator = clientOf(guarded.url);
    upload = await createUpload(operator, BUCKET, 'guarded.csv', 'CRC64NVME');
    await uploadPart(operator, upload, 1, bodyOf(1, 10));
  });
  afterAll(async () => {
    await guarded?.stop();
  });

  it('refuses a role without s3:ListMultipartUploadParts with 403 AccessDenied, and lists for one with it', async () => {
    const error = await failure(listParts(clientOf(guarded.url, 'sidestep-local-reader'), upload));
    expect({ name: error.name, status: error.$metadata?.httpStatusCode }).toEqual({
      name: 'AccessDenied',
      status: 403,
    });
    expect(error.message).toContain(
      `is not authorized to perform: s3:ListMultipartUploadParts on resource: arn:aws:s3:::${BUCKET}/guarded.csv`,
    );
    const listing = await listParts(clientOf(guarded.url, 'sidestep-local-uploader'), upload);
    expect(listing.Parts?.map((part) => part.PartNumber)).toEqual([1]);
  });
});
