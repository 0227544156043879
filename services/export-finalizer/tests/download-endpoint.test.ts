import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { S3ExportStore, s3Presigner } from '../src/adapters/s3.ts';
import { downloadLinkFactory } from '../src/domain/download-link.ts';
import { createDownloadEndpoint } from '../src/download-endpoint.ts';
import { BUCKET, type LocalS3, startLocalS3 } from './export-fixture.ts';

const KEY = 'exports/exp_dl1/users-2026-11-24.csv.gz';
const SIGNING_KEY = 'd'.repeat(32);
let local: LocalS3;
let s3: S3Client;

beforeAll(async () => {
  local = await startLocalS3();
  s3 = local.s3;
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: Buffer.from('gzip bytes') }));
}, 30_000);

afterAll(() => local?.stop());

let clock = new Date('2026-11-24T10:00:00Z');
const link = downloadLinkFactory({
  baseUrl: 'http://127.0.0.1/lambda-url/export-download/',
  signingKey: SIGNING_KEY,
  ttlSeconds: 86_400,
});
const tokenOf = (url: string) => new URL(url).searchParams.get('token') ?? undefined;

function endpointWith(signingKey = SIGNING_KEY) {
  const store = new S3ExportStore(s3);
  return createDownloadEndpoint({
    bucket: BUCKET,
    signingKey,
    head: (bucket, key) => store.head(bucket, key),
    presign: s3Presigner(s3),
    now: () => clock,
  });
}

describe('download endpoint', () => {
  it('redirects a valid link to a presigned GetObject that downloads the export, valid 5 minutes', async () => {
    clock = new Date('2026-11-24T10:00:00Z');
    const response = await endpointWith()({ token: tokenOf(link(KEY, clock).url) });
    expect(response.statusCode).toBe(302);
    expect(response.headers['cache-control']).toBe('no-store');
    const location = new URL(response.headers.location ?? '');
    expect(location.searchParams.get('X-Amz-Expires')).toBe('300');
    expect(location.searchParams.get('response-content-disposition')).toBe(
      'attachment; filename="users-2026-11-24.csv.gz"',
    );
    const download = await fetch(location);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).toString()).toBe('gzip bytes');
  });

  it('answers 410 once the link expired, and for an export that is gone', async () => {
    const issued = new Date('2026-11-24T10:00:00Z');
    const token = tokenOf(link(KEY, issued).url);
    clock = new Date('2026-11-25T10:00:00Z');
    expect((await endpointWith()({ token })).statusCode).toBe(410);
    clock = issued;
    const gone = tokenOf(link('exports/exp_dl1/other.csv.gz', issued).url);
    expect((await endpointWith()({ token: gone })).statusCode).toBe(410);
  });

  it('answers 403 to a link signed with another key or naming a part, and 400 without a token', async () => {
    clock = new Date('2026-11-24T10:00:00Z');
    const token = tokenOf(link(KEY, clock).url);
    expect((await endpointWith('x'.repeat(32))({ token })).statusCode).toBe(403);
    const part = tokenOf(link('exports/exp_dl1/parts/manifest.json', clock).url);
    expect((await endpointWith()({ token: part })).statusCode).toBe(403);
    expect((await endpointWith()({ token: undefined })).statusCode).toBe(400);
  });
});
