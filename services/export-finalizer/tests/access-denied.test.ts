import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { S3ExportStore, s3Presigner, storageError } from '../src/adapters/s3.ts';
import { DownloadKeyring, fixedSigningKey } from '../src/domain/download-keyring.ts';
import { downloadLinkFactory } from '../src/domain/download-link.ts';
import { createDownloadEndpoint } from '../src/download-endpoint.ts';
import { finalizeExport } from '../src/finalize-export.ts';
import { BUCKET, type LocalS3, startLocalS3, writeExport } from './export-fixture.ts';

// AWS answers a GetObject or HeadObject of a missing key with 403 AccessDenied, not 404, when the caller
// lacks s3:ListBucket on the bucket (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html,
// "Permissions"). fauxqs answers 404 whoever asks, so this client turns its 404s into the 403 AWS sends
// such a caller: the SDK parses a real 403 response, as on AWS.
let local: LocalS3;
let denied: S3Client;

const ACCESS_DENIED =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>';

function withoutListBucket(endpoint: string): S3Client {
  const config = {
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  };
  const inner = new S3Client(config).config.requestHandler;
  return new S3Client({
    ...config,
    requestHandler: {
      handle: async (
        request: Parameters<typeof inner.handle>[0],
        options?: Parameters<typeof inner.handle>[1],
      ) => {
        const output = await inner.handle(request, options);
        const { response } = output;
        if (response.statusCode !== 404) return output;
        (response.body as Readable | undefined)?.resume();
        const body = request.method === 'HEAD' ? '' : ACCESS_DENIED;
        response.statusCode = 403;
        response.headers = { 'content-type': 'application/xml', 'content-length': String(body.length) };
        response.body = Readable.from([Buffer.from(body)]);
        return output;
      },
    },
  });
}

beforeAll(async () => {
  local = await startLocalS3();
  denied = withoutListBucket(local.endpoint.url);
}, 30_000);

afterAll(async () => {
  denied?.destroy();
  await local?.stop();
});

const options = {
  downloadLink: downloadLinkFactory({
    baseUrl: 'http://127.0.0.1/lambda-url/export-download/',
    signingKey: 's'.repeat(32),
    ttlSeconds: 86_400,
  }),
  now: () => new Date('2026-11-24T10:00:00Z'),
};

describe('S3 answering 403 for a missing key (no s3:ListBucket)', () => {
  it('fails the finalizer with an error naming the missing permission, not "no final manifest yet"', async () => {
    const jobId = 'exp_denied1';
    const { manifestKey } = await writeExport(local.s3, BUCKET, jobId, [{ rows: 3 }]);
    const error = await finalizeExport(
      new S3ExportStore(denied),
      { jobId, bucket: BUCKET, manifestKey, fileName: 'users' },
      options,
    ).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toMatchObject({
      name: 'ExportStorageAccessDeniedError',
      permanent: true,
      operation: 'GetObject',
      key: `exports/${jobId}/manifest.json`,
      permissions: ['s3:GetObject', 's3:ListBucket'],
    });
    expect(String((error as Error).message)).toMatch(/s3:ListBucket/);
  });

  it('is never taken for "the export is gone" by the download endpoint', async () => {
    const store = new S3ExportStore(denied);
    const endpoint = createDownloadEndpoint({
      bucket: BUCKET,
      signingKeys: new DownloadKeyring(fixedSigningKey('d'.repeat(32))),
      head: (bucket, key) => store.head(bucket, key),
      presign: s3Presigner(denied),
      now: () => new Date('2026-11-24T10:00:00Z'),
    });
    const link = downloadLinkFactory({
      baseUrl: 'http://127.0.0.1/lambda-url/export-download/',
      signingKey: 'd'.repeat(32),
      ttlSeconds: 86_400,
    })('exports/exp_gone/users.csv.gz', new Date('2026-11-24T09:00:00Z'));
    const token = new URL(link.url).searchParams.get('token') ?? undefined;
    await expect(endpoint({ method: 'GET', token })).rejects.toMatchObject({
      name: 'ExportStorageAccessDeniedError',
      operation: 'HeadObject',
      permissions: ['s3:GetObject', 's3:ListBucket'],
    });
  });

  it('maps a 403 of any operation to the permanent access-denied error, naming what to grant', () => {
    const forbidden = Object.assign(new Error('Access Denied'), {
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    expect(storageError('PutObject', forbidden, { bucket: BUCKET, key: 'exports/a' })).toMatchObject({
      name: 'ExportStorageAccessDeniedError',
      permanent: true,
      permissions: ['s3:PutObject'],
    });
  });
});
