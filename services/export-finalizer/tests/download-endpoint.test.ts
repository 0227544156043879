import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { S3ExportStore, s3Presigner } from '../src/adapters/s3.ts';
import { DownloadKeyring, fixedSigningKey } from '../src/domain/download-keyring.ts';
import { downloadLinkFactory } from '../src/domain/download-link.ts';
import { createDownloadEndpoint } from '../src/download-endpoint.ts';
import { BUCKET, isSignedFor, type LocalS3, startLocalS3 } from './export-fixture.ts';

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
    signingKeys: new DownloadKeyring(fixedSigningKey(signingKey)),
    head: (bucket, key) => store.head(bucket, key),
    presign: s3Presigner(s3),
    now: () => clock,
  });
}

/**
 * Asks the endpoint for the export with `method` and checks the redirect every method gets: 302,
 * not cached, to a URL presigned for `method` only, for 5 minutes, whose response is an attachment
 * no browser or proxy keeps a copy of (the file holds personal data). Returns the URL.
 */
async function redirectFor(method: 'GET' | 'HEAD'): Promise<URL> {
  clock = new Date('2026-11-24T10:00:00Z');
  const response = await endpointWith()({ method, token: tokenOf(link(KEY, clock).url) });
  expect(response.statusCode).toBe(302);
  expect(response.headers['cache-control']).toBe('no-store');
  const location = new URL(response.headers.location ?? '');
  expect(await isSignedFor(s3, location.href, method)).toBe(true);
  expect(await isSignedFor(s3, location.href, method === 'GET' ? 'HEAD' : 'GET')).toBe(false);
  expect(Object.fromEntries(location.searchParams)).toMatchObject({
    'X-Amz-Expires': '300',
    'response-content-disposition': 'attachment; filename="users-2026-11-24.csv.gz"',
    'response-cache-control': 'private, no-store',
  });
  return location;
}

describe('download endpoint', () => {
  it('redirects a GET to a GetObject presigned for GET that downloads the export, valid 5 minutes, not to be cached', async () => {
    const download = await fetch(await redirectFor('GET'));
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).toString()).toBe('gzip bytes');
    // What S3 answers the presigned URL with: its response-* parameters applied (API_GetObject).
    expect(download.headers.get('cache-control')).toBe('private, no-store');
    expect(download.headers.get('content-disposition')).toBe(
      'attachment; filename="users-2026-11-24.csv.gz"',
    );
  });

  // A presigned URL is signed for one HTTP method: S3 answers a HEAD of a GET URL with 403
  // SignatureDoesNotMatch (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html),
  // and download managers, link checkers and `curl -I -L` send HEAD.
  it('redirects a HEAD to a HeadObject presigned for HEAD, with the same lifetime and response settings', async () => {
    const head = await fetch(await redirectFor('HEAD'), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String('gzip bytes'.length));
    expect(head.headers.get('cache-control')).toBe('private, no-store');
    expect(head.headers.get('content-disposition')).toBe('attachment; filename="users-2026-11-24.csv.gz"');
  });

  it('answers any other method 405 with Allow: GET, HEAD, before reading the token', async () => {
    clock = new Date('2026-11-24T10:00:00Z');
    const token = tokenOf(link(KEY, clock).url);
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'get', undefined]) {
      const response = await endpointWith()({ method, token });
      expect([method, response.statusCode, response.headers.allow]).toEqual([method, 405, 'GET, HEAD']);
      expect(response.headers.location).toBeUndefined();
    }
    expect((await endpointWith()({ method: 'POST', token: undefined })).statusCode).toBe(405);
  });

  it('answers 410 once the link expired, and for an export that is gone', async () => {
    const issued = new Date('2026-11-24T10:00:00Z');
    const token = tokenOf(link(KEY, issued).url);
    clock = new Date('2026-11-25T10:00:00Z');
    expect((await endpointWith()({ method: 'GET', token })).statusCode).toBe(410);
    clock = issued;
    const gone = tokenOf(link('exports/exp_dl1/other.csv.gz', issued).url);
    expect((await endpointWith()({ method: 'GET', token: gone })).statusCode).toBe(410);
  });

  it('answers 403 to a link signed with another key or naming a part, and 400 without a token', async () => {
    clock = new Date('2026-11-24T10:00:00Z');
    const token = tokenOf(link(KEY, clock).url);
    expect((await endpointWith('x'.repeat(32))({ method: 'GET', token })).statusCode).toBe(403);
    const part = tokenOf(link('exports/exp_dl1/parts/manifest.json', clock).url);
    expect((await endpointWith()({ method: 'GET', token: part })).statusCode).toBe(403);
    expect((await endpointWith()({ method: 'GET', token: undefined })).statusCode).toBe(400);
  });
});
