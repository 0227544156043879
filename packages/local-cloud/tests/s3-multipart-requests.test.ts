// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform references are literal text in the stack.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  HeadObjectCommand,
  ListPartsCommand,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rejectionOf } from '@sidestep/contracts/testing';
import type { SynthesizedTerraformJson } from '@sidestep/iam';
import { type AwsEndpoint, startAwsEndpoint } from '../src/aws-endpoint.ts';
import { endpointAuthorizer } from '../src/endpoint-authorization.ts';
import { createLocalIam } from '../src/local-iam.ts';
import { allow, role } from './fixtures/iam-stack.ts';
import { createUpload, type Upload, uploadPart } from './fixtures/multipart-uploads.ts';
import { localClientConfig } from './fixtures/sqs-endpoint.ts';

// What S3 refuses of a multipart upload's requests, and fauxqs let through (s3-multipart-requests.ts).
const BUCKET = 'sidestep-local-multipart';
/** S3's smallest part but the last (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html). */
const MIN_PART_BYTES = 5 * 1024 * 1024;

let endpoint: AwsEndpoint;
const clients: S3Client[] = [];
const clientOf = (url: string, accessKeyId = 'local') => {
  const client = new S3Client({ ...localClientConfig(url, accessKeyId), forcePathStyle: true });
  clients.push(client);
  return client;
};

afterAll(async () => {
  for (const client of clients) client.destroy();
  await endpoint?.stop();
});

const complete = (
  client: S3Client,
  upload: Upload,
  parts: { PartNumber: number; ETag?: string }[],
  key = upload.key,
) =>
  client.send(
    new CompleteMultipartUploadCommand({
      Bucket: upload.bucket,
      Key: key,
      UploadId: upload.uploadId,
      MultipartUpload: { Parts: parts },
    }),
  );

const abort = (client: S3Client, upload: Upload, key = upload.key) =>
  client.send(
    new AbortMultipartUploadCommand({ Bucket: upload.bucket, Key: key, UploadId: upload.uploadId }),
  );

/** The S3 error code and HTTP status a call rejects with (fails the test when it succeeds). */
async function refusal(call: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  const error = (await rejectionOf(call, Error)) as Error & { $metadata?: { httpStatusCode?: number } };
  return { name: error.name, status: error.$metadata?.httpStatusCode };
}

const exists = (client: S3Client, key: string) =>
  client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })).then(
    () => true,
    () => false,
  );

describe('the local S3 refuses multipart requests as S3 does', () => {
  let s3: S3Client;
  beforeAll(async () => {
    endpoint = await startAwsEndpoint({ port: 0 });
    await endpoint.createBucket(BUCKET);
    s3 = clientOf(endpoint.url);
  });

  // https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html (NoSuchUpload): an upload id
  // names one upload of one key.
  it('answers UploadPart, CompleteMultipartUpload and AbortMultipartUpload naming another key with 404 NoSuchUpload, and keeps the upload', async () => {
    const upload = await createUpload(s3, BUCKET, 'exports/a.csv.gz', 'CRC64NVME');
    const body = Buffer.from('external_id\nu1\n');
    expect(await refusal(uploadPart(s3, upload, 1, body, { key: 'exports/b.csv.gz' }))).toEqual({
      name: 'NoSuchUpload',
      status: 404,
    });
    const { ETag } = await uploadPart(s3, upload, 1, body);
    expect(await refusal(complete(s3, upload, [{ PartNumber: 1, ETag }], 'exports/b.csv.gz'))).toEqual({
      name: 'NoSuchUpload',
      status: 404,
    });
    expect(await refusal(abort(s3, upload, 'exports/b.csv.gz'))).toEqual({
      name: 'NoSuchUpload',
      status: 404,
    });
    // Neither key was written, and the upload is still there to complete under its own key.
    expect([await exists(s3, 'exports/a.csv.gz'), await exists(s3, 'exports/b.csv.gz')]).toEqual([
      false,
      false,
    ]);
    await complete(s3, upload, [{ PartNumber: 1, ETag }]);
    expect(await exists(s3, 'exports/a.csv.gz')).toBe(true);
  });

  it('answers a completed, an aborted and an unknown upload id with 404 NoSuchUpload', async () => {
    const done = await createUpload(s3, BUCKET, 'exports/done.csv.gz', 'CRC64NVME');
    const { ETag } = await uploadPart(s3, done, 1, Buffer.from('x\n'));
    await complete(s3, done, [{ PartNumber: 1, ETag }]);
    const aborted = await createUpload(s3, BUCKET, 'exports/aborted.csv.gz', 'CRC64NVME');
    await abort(s3, aborted);
    for (const upload of [
      done,
      aborted,
      { bucket: BUCKET, key: 'exports/none.csv.gz', uploadId: 'no-such-upload' },
    ]) {
      expect(await refusal(uploadPart(s3, upload, 2, Buffer.from('y\n')))).toEqual({
        name: 'NoSuchUpload',
        status: 404,
      });
      expect(await refusal(abort(s3, upload))).toEqual({ name: 'NoSuchUpload', status: 404 });
    }
  });

  // https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html: "Part numbers can be any
  // number from 1 to 10,000, inclusive."
  it('refuses UploadPart and UploadPartCopy with a part number outside 1 to 10,000: 400 InvalidArgument', async () => {
    const upload = await createUpload(s3, BUCKET, 'exports/numbers.csv.gz', 'CRC64NVME');
    for (const partNumber of [0, 10_001]) {
      expect(await refusal(uploadPart(s3, upload, partNumber, Buffer.from('z\n')))).toEqual({
        name: 'InvalidArgument',
        status: 400,
      });
    }
    await uploadPart(s3, upload, 10_000, Buffer.from('last\n'));
    const copy = new UploadPartCopyCommand({
      Bucket: BUCKET,
      Key: upload.key,
      UploadId: upload.uploadId,
      PartNumber: 10_001,
      CopySource: `${BUCKET}/exports/a.csv.gz`,
    });
    expect(await refusal(s3.send(copy))).toEqual({ name: 'InvalidArgument', status: 400 });
    const { Parts } = await s3.send(
      new ListPartsCommand({ Bucket: BUCKET, Key: upload.key, UploadId: upload.uploadId }),
    );
    expect(Parts?.map((part) => part.PartNumber)).toEqual([10_000]);
  });

  // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompletedPart.html (PartNumber): with a
  // checksum on each part, the part numbers must start at 1 and be consecutive.
  it('refuses to complete a checksummed upload whose part numbers do not run 1, 2, ..., n: 400 InvalidPartOrder', async () => {
    // Two parts numbered `numbers`, the first of S3's smallest size but the last's, then completed.
    const completeNumbered = async (key: string, numbers: [number, number]) => {
      const upload = await createUpload(s3, BUCKET, key, 'CRC64NVME');
      const bodies = [Buffer.alloc(MIN_PART_BYTES, 'a'), Buffer.from('c\n')];
      const parts = [];
      for (const [index, number] of numbers.entries()) {
        const { ETag } = await uploadPart(s3, upload, number, bodies[index] as Buffer);
        parts.push({ PartNumber: number, ETag });
      }
      return complete(s3, upload, parts);
    };
    expect(await refusal(completeNumbered('exports/gap.csv.gz', [1, 3]))).toEqual({
      name: 'InvalidPartOrder',
      status: 400,
    });
    expect(await refusal(completeNumbered('exports/late.csv.gz', [2, 3]))).toEqual({
      name: 'InvalidPartOrder',
      status: 400,
    });
    expect([await exists(s3, 'exports/gap.csv.gz'), await exists(s3, 'exports/late.csv.gz')]).toEqual([
      false,
      false,
    ]);
  });

  // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompletedMultipartUpload.html: "If you do
  // not supply a valid Part with your request, the service sends back an HTTP 400 response."
  it('refuses to complete an upload with no part: 400 MalformedXML, no empty object', async () => {
    const upload = await createUpload(s3, BUCKET, 'exports/empty.csv.gz', 'CRC64NVME');
    expect(await refusal(complete(s3, upload, []))).toEqual({ name: 'MalformedXML', status: 400 });
    expect(await exists(s3, upload.key)).toBe(false);
  });
});

describe('a multipart upload id and IAM', () => {
  // A stack shaped like infra's: the exporter may write and abort under exports/ only.
  const stack: SynthesizedTerraformJson = {
    provider: { aws: [{ region: 'us-east-1' }] },
    resource: {
      aws_iam_role: { exporter: role('sidestep-local-exporter', 'ecs-tasks.amazonaws.com') },
      aws_iam_role_policy: {
        exporter: allow('exporter', [
          {
            Effect: 'Allow',
            Action: ['s3:PutObject', 's3:AbortMultipartUpload'],
            Resource: '${aws_s3_bucket.data.arn}/exports/*',
          },
        ]),
      },
      aws_s3_bucket: { data: { bucket: BUCKET } },
    },
  };
  let guarded: AwsEndpoint;
  afterAll(async () => {
    await guarded?.stop();
  });

  it('does not let a role allowed exports/* complete or abort an upload of imports/ by naming an exports/ key', async () => {
    const iam = createLocalIam({ stack });
    expect(iam.warnings).toEqual([]);
    guarded = await startAwsEndpoint({ port: 0, authorize: endpointAuthorizer(iam) });
    await guarded.createBucket(BUCKET);
    const operator = clientOf(guarded.url);
    const exporter = clientOf(guarded.url, 'sidestep-local-exporter');
    const upload = await createUpload(operator, BUCKET, 'imports/users.csv', 'CRC64NVME');
    const { ETag } = await uploadPart(operator, upload, 1, Buffer.from('external_id\nu1\n'));
    // Its own key is refused by IAM, as on AWS.
    expect(await refusal(complete(exporter, upload, [{ PartNumber: 1, ETag }]))).toEqual({
      name: 'AccessDenied',
      status: 403,
    });
    // A key it may write names another upload: S3 has none of that key.
    expect(await refusal(complete(exporter, upload, [{ PartNumber: 1, ETag }], 'exports/x.csv.gz'))).toEqual({
      name: 'NoSuchUpload',
      status: 404,
    });
    expect(await refusal(abort(exporter, upload, 'exports/x.csv.gz'))).toEqual({
      name: 'NoSuchUpload',
      status: 404,
    });
    expect([await exists(operator, 'imports/users.csv'), await exists(operator, 'exports/x.csv.gz')]).toEqual(
      [false, false],
    );
    const { Parts } = await operator.send(
      new ListPartsCommand({ Bucket: BUCKET, Key: upload.key, UploadId: upload.uploadId }),
    );
    expect(Parts?.map((part) => part.PartNumber)).toEqual([1]);
  });
});
