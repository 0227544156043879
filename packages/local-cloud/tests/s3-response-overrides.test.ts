import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { useS3Endpoint } from './fixtures/s3-endpoint.ts';

// GetObject's and HeadObject's response-* query parameters override headers of the successful
// response (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Overriding response
// header values"): the export download relies on response-cache-control=private, no-store.
const BUCKET = 'sidestep-local-overrides';
const VERSIONED = 'sidestep-local-overrides-versioned';
const KEY = 'exports/users.csv.gz';

const local = useS3Endpoint({ [BUCKET]: {}, [VERSIONED]: { versioned: true } });
let s3: S3Client;

beforeAll(async () => {
  s3 = local.s3;
  for (const bucket of [BUCKET, VERSIONED]) {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: KEY,
        Body: 'gzip bytes',
        ContentType: 'application/gzip',
        CacheControl: 'max-age=60',
        ContentDisposition: 'inline',
      }),
    );
  }
});

const EXPIRES = 'Wed, 21 Oct 2026 07:28:00 GMT';
/** All six overrides, as the SDK sends them (query parameters of the signed request). */
const OVERRIDES = {
  ResponseCacheControl: 'private, no-store',
  ResponseContentDisposition: 'attachment; filename="users.csv.gz"',
  ResponseContentEncoding: 'identity',
  ResponseContentLanguage: 'de-CH',
  ResponseContentType: 'text/csv; charset=utf-8',
  ResponseExpires: new Date(EXPIRES),
};
/** What the response says for each override. */
const OVERRIDDEN = {
  CacheControl: 'private, no-store',
  ContentDisposition: 'attachment; filename="users.csv.gz"',
  ContentEncoding: 'identity',
  ContentLanguage: 'de-CH',
  ContentType: 'text/csv; charset=utf-8',
  ExpiresString: EXPIRES,
};

describe('S3 response header overrides on the local endpoint', () => {
  it.each([BUCKET, VERSIONED])(
    'GetObject applies all six over the object’s own headers (%s)',
    async (bucket) => {
      const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: KEY, ...OVERRIDES }));
      expect(response).toMatchObject(OVERRIDDEN);
      expect(await response.Body?.transformToString()).toBe('gzip bytes');
    },
  );

  it.each([BUCKET, VERSIONED])('HeadObject applies all six too (%s)', async (bucket) => {
    expect(await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: KEY, ...OVERRIDES }))).toMatchObject(
      OVERRIDDEN,
    );
  });

  it('applies them to a range of the object, and leaves the stored headers alone without them', async () => {
    const range = await s3.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: KEY, Range: 'bytes=0-3', ...OVERRIDES }),
    );
    expect(range).toMatchObject(OVERRIDDEN);
    expect(await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY }))).toMatchObject({
      CacheControl: 'max-age=60',
      ContentDisposition: 'inline',
      ContentType: 'application/gzip',
    });
  });

  // "You must sign the request, either using an Authorization header or a presigned URL, when using
  // these parameters. They cannot be used with an unsigned (anonymous) request." (API_GetObject)
  it('refuses them on an anonymous request with 400 InvalidRequest', async () => {
    const response = await fetch(
      `${local.endpoint.url}/${BUCKET}/${KEY}?response-cache-control=${encodeURIComponent('public, max-age=31536000')}`,
    );
    expect(response.status).toBe(400);
    const body = await response.text();
    expect(body).toContain('<Code>InvalidRequest</Code>');
    expect(body).toContain('Request specific response headers cannot be used for anonymous GET requests.');
    // Without them, an anonymous GET is served as before.
    expect((await fetch(`${local.endpoint.url}/${BUCKET}/${KEY}`)).status).toBe(200);
  });
});
