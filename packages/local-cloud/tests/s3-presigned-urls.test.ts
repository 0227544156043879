import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { PRESIGNED_URL_MAX_EXPIRES_SECONDS, presignedUrlError } from '../src/s3-presigned-url.ts';
import { useS3Endpoint } from './fixtures/s3-endpoint.ts';

// A presigned URL is valid from its X-Amz-Date for X-Amz-Expires seconds, at most 604800 (seven
// days) (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html); after that S3
// refuses it with 403 AccessDenied "Request has expired". The export's download link redirects to
// such a URL, valid for minutes.
const BUCKET = 'sidestep-local-presigned';
const KEY = 'exports/users.csv.gz';

const local = useS3Endpoint({ [BUCKET]: {} });

beforeAll(async () => {
  await local.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: 'gzip bytes' }));
});

/** A GetObject URL presigned at `signingDate` for `expiresIn` seconds, as the export-finalizer makes it. */
const presigned = (expiresIn: number, signingDate = new Date()) =>
  getSignedUrl(local.s3, new GetObjectCommand({ Bucket: BUCKET, Key: KEY }), { expiresIn, signingDate });

/** The URL with its query parameter `name` set to `value`. */
function withParameter(url: string, name: string, value: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set(name, value);
  return parsed.toString();
}

describe('a presigned GetObject URL', () => {
  it('is served while it is valid', async () => {
    const response = await fetch(await presigned(300));
    expect([response.status, await response.text()]).toEqual([200, 'gzip bytes']);
  });

  it('is refused once it has expired: 403 AccessDenied "Request has expired", with when it expired', async () => {
    const signedAt = new Date(Date.now() - 120_000);
    const response = await fetch(await presigned(60, signedAt));
    expect(response.status).toBe(403);
    const body = await response.text();
    expect(body).toContain('<Code>AccessDenied</Code><Message>Request has expired</Message>');
    expect(body).toContain('<X-Amz-Expires>60</X-Amz-Expires>');
    const expiredAt = new Date(signedAt.getTime() + 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    expect(body).toContain(`<Expires>${expiredAt}</Expires>`);
    expect(body).toMatch(/<ServerTime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z<\/ServerTime>/);
  });

  it('is refused for HEAD as well, without a body', async () => {
    const url = await getSignedUrl(local.s3, new GetObjectCommand({ Bucket: BUCKET, Key: KEY }), {
      expiresIn: 1,
      signingDate: new Date(Date.now() - 10_000),
    });
    expect((await fetch(url, { method: 'HEAD' })).status).toBe(403);
  });

  it('is refused with 400 AuthorizationQueryParametersError when presigned for longer than seven days', async () => {
    const url = withParameter(
      await presigned(300),
      'X-Amz-Expires',
      String(PRESIGNED_URL_MAX_EXPIRES_SECONDS + 1),
    );
    const response = await fetch(url);
    expect(response.status).toBe(400);
    const body = await response.text();
    expect(body).toContain('<Code>AuthorizationQueryParametersError</Code>');
    expect(body).toContain('X-Amz-Expires must be less than a week (in seconds) that is 604800');
  });

  it('is served at the longest S3 allows', async () => {
    const url = withParameter(
      await presigned(300),
      'X-Amz-Expires',
      String(PRESIGNED_URL_MAX_EXPIRES_SECONDS),
    );
    expect((await fetch(url)).status).toBe(200);
  });
});

describe('presignedUrlError', () => {
  const query = (overrides: Record<string, string | undefined>) => {
    const parameters: Record<string, string | undefined> = {
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': 'local/20261205/us-east-1/s3/aws4_request',
      'X-Amz-Date': '20261205T120000Z',
      'X-Amz-Expires': '300',
      'X-Amz-SignedHeaders': 'host',
      'X-Amz-Signature': '00',
      ...overrides,
    };
    return new URLSearchParams(
      Object.entries(parameters).flatMap(([name, value]) => (value === undefined ? [] : [[name, value]])),
    );
  };
  const at = (iso: string) => Date.parse(iso);

  it('leaves a request that is not presigned alone', () => {
    expect(presignedUrlError(new URLSearchParams('versionId=1'), at('2030-01-01T00:00:00Z'))).toBeUndefined();
  });

  it('counts the lifetime from X-Amz-Date, to the second', () => {
    expect(presignedUrlError(query({}), at('2026-12-05T12:05:00Z'))).toBeUndefined();
    expect(presignedUrlError(query({}), at('2026-12-05T12:05:01Z'))?.code).toBe('AccessDenied');
  });

  it.each([
    [{ 'X-Amz-Date': undefined }, 'missing: X-Amz-Date'],
    [{ 'X-Amz-Expires': undefined }, 'missing: X-Amz-Expires'],
    [{ 'X-Amz-Expires': '1.5' }, 'X-Amz-Expires should be a number'],
    [{ 'X-Amz-Expires': '-1' }, 'X-Amz-Expires should be a number'],
    [{ 'X-Amz-Date': '2026-12-05T12:00:00Z' }, 'X-Amz-Date must be in the ISO8601 Long Format'],
  ])(
    'refuses a malformed presigned query (%p) with 400 AuthorizationQueryParametersError',
    (overrides, message) => {
      const error = presignedUrlError(query(overrides), at('2026-12-05T12:00:01Z'));
      expect([error?.statusCode, error?.code]).toEqual([400, 'AuthorizationQueryParametersError']);
      expect(error?.message).toContain(message);
    },
  );
});
