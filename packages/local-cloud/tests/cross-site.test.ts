import { request as httpRequest } from 'node:http';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { SynthesizedTerraformJson } from '@sidestep/iam';
import { type AwsEndpoint, startAwsEndpoint } from '../src/aws-endpoint.ts';
import { endpointAuthorizer } from '../src/endpoint-authorization.ts';
import { createLocalIam } from '../src/local-iam.ts';
import { presignedQuery } from './fixtures/presigned-query.ts';
import { localS3Client } from './fixtures/s3-endpoint.ts';

// `npm start`'s endpoint on 127.0.0.1 as a page of another site, in the developer's browser, can
// reach it: a "simple" cross-site request (a form, or fetch with mode no-cors: no preflight), or a
// page on a DNS-rebound name (the attacker's name resolving to 127.0.0.1, its Host header the
// attacker's). The local cloud verifies no signature (no secret keys), so it refuses what a browser
// marks as another site's, and every Host that is not a loopback name.
const BUCKET = 'sidestep-local-exports';
const KEY = 'exports/j1/users.csv.gz';
const OPERATOR =
  'AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0';
/** What Chrome sends with `fetch(url, { method: 'POST', mode: 'no-cors' })` from http://evil.example. */
const NO_CORS_FROM_ANOTHER_SITE = {
  origin: 'http://evil.example',
  'sec-fetch-site': 'cross-site',
  'sec-fetch-mode': 'no-cors',
  'sec-fetch-dest': 'empty',
} as const;
/** What Chrome sends following a link of another site (a mail's) to a page. */
const NAVIGATION_FROM_ANOTHER_SITE = {
  'sec-fetch-site': 'cross-site',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'sec-fetch-user': '?1',
} as const;

let endpoint: AwsEndpoint;
let s3: S3Client;
let queueUrl: string;

beforeAll(async () => {
  const stack = {
    resource: { aws_s3_bucket: { data: { bucket: BUCKET } } },
  } as unknown as SynthesizedTerraformJson;
  endpoint = await startAwsEndpoint({ port: 0, authorize: endpointAuthorizer(createLocalIam({ stack })) });
  await endpoint.createBucket(BUCKET);
  s3 = localS3Client(endpoint.url);
});

afterAll(async () => {
  s3?.destroy();
  await endpoint?.stop();
});

/** One request exactly as given (node:http sends the Host header it is told), and its answer. */
function send(
  method: string,
  path: string,
  headers: Readonly<Record<string, string>>,
  body?: string,
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(endpoint.url);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: hostname, port, method, path, headers }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** Puts `KEY` as the operator, with the SDK: Node, no Origin, no Fetch Metadata. */
async function putObject(body = 'pii'): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: body }));
}

async function objectBody(): Promise<string> {
  return (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY }))).Body?.transformToString() ?? '';
}

/** A presigned URL's parameters naming any key: the local cloud checks no signature. */
const FORGED_PRESIGNED_QUERY = presignedQuery('anyone').toString();

const DELETE_BODY = `<Delete><Object><Key>${KEY}</Key></Object></Delete>`;

describe("a request a browser marks as another site's", () => {
  it('is refused: the DeleteObjects a page of any site sent with fetch no-cors deletes nothing', async () => {
    await putObject();
    const answer = await send(
      'POST',
      `/${BUCKET}?delete&X-Amz-Credential=anyone%2Fx`,
      { ...NO_CORS_FROM_ANOTHER_SITE, 'content-type': 'text/plain;charset=UTF-8' },
      DELETE_BODY,
    );
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('<Code>AccessDenied</Code>');
    expect(await objectBody()).toBe('pii');
  });

  it('is refused by its Origin alone, for a browser that sends no Fetch Metadata', async () => {
    await putObject();
    for (const origin of ['http://evil.example', 'null', 'http://127.0.0.1.evil.example:4566']) {
      const answer = await send(
        'POST',
        `/${BUCKET}?delete`,
        { origin, authorization: OPERATOR, 'content-type': 'text/plain' },
        DELETE_BODY,
      );
      expect([origin, answer.status]).toEqual([origin, 403]);
    }
    expect(await objectBody()).toBe('pii');
  });

  it('is refused from another port of this machine too (same-site)', async () => {
    const answer = await send('GET', `/${BUCKET}/${KEY}`, {
      authorization: OPERATOR,
      origin: 'http://127.0.0.1:8080',
      'sec-fetch-site': 'same-site',
      'sec-fetch-mode': 'cors',
      'sec-fetch-dest': 'empty',
    });
    expect(answer.status).toBe(403);
  });

  it("is refused for SQS's query protocol: a cross-site form receives no message", async () => {
    const created = await send(
      'POST',
      '/',
      {
        authorization: OPERATOR,
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'AmazonSQS.CreateQueue',
      },
      JSON.stringify({ QueueName: 'sidestep-local-mail-dlq' }),
    );
    queueUrl = (JSON.parse(created.body) as { QueueUrl: string }).QueueUrl;
    await send(
      'POST',
      '/',
      {
        authorization: OPERATOR,
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'AmazonSQS.SendMessage',
      },
      JSON.stringify({ QueueUrl: queueUrl, MessageBody: 'dead letter body' }),
    );
    // With the operator's credentials, as the Origin-alone test: refused by the browser guard, not
    // as an anonymous caller (the last test shows an unsigned request is refused anyway).
    const answer = await send(
      'POST',
      new URL(queueUrl).pathname,
      {
        ...NO_CORS_FROM_ANOTHER_SITE,
        authorization: OPERATOR,
        'content-type': 'application/x-www-form-urlencoded',
      },
      'Action=ReceiveMessage&MaxNumberOfMessages=10&VisibilityTimeout=600',
    );
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('The local cloud refuses a request a browser sent from another site');
    expect(answer.body).not.toContain('dead letter body');
    expect((await endpoint.peek('sidestep-local-mail-dlq'))?.map((message) => message.body)).toEqual([
      'dead letter body',
    ]);
  });

  it("is served when it follows a link to a presigned GetObject URL (the export mail's download)", async () => {
    await putObject('gzip bytes');
    const url = new URL(
      await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: KEY }), { expiresIn: 300 }),
    );
    const followed = await send('GET', `${url.pathname}${url.search}`, NAVIGATION_FROM_ANOTHER_SITE);
    expect([followed.status, followed.body]).toEqual([200, 'gzip bytes']);
    // The same URL fetched by a page of another site, which could not read it anyway: refused.
    const fetched = await send('GET', `${url.pathname}${url.search}`, NO_CORS_FROM_ANOTHER_SITE);
    expect(fetched.status).toBe(403);
  });

  it('is refused when it navigates to an action of a Query-protocol API (Action= in the query)', async () => {
    // Signed as the operator as far as the local cloud can tell: it checks no signature.
    const answer = await send(
      'GET',
      `/?Action=ListQueues&${FORGED_PRESIGNED_QUERY}`,
      NAVIGATION_FROM_ANOTHER_SITE,
    );
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('<Code>AccessDenied</Code>');
  });

  it('is served from a loopback origin of the same site (a page of this endpoint itself)', async () => {
    await putObject('own');
    const answer = await send('GET', `/${BUCKET}/${KEY}`, {
      authorization: OPERATOR,
      origin: endpoint.url,
      'sec-fetch-site': 'same-origin',
    });
    expect([answer.status, answer.body]).toEqual([200, 'own']);
  });
});

describe('a request whose Host is not a loopback name', () => {
  it('is refused with 421, whoever signed it: a DNS-rebound page reads nothing', async () => {
    await putObject('email,name\na@example.com,A');
    const port = new URL(endpoint.url).port;
    for (const host of [
      `rebind.evil.example:${port}`,
      `${BUCKET}.evil.example:${port}`,
      '10.0.0.1',
      'localhost.evil.example',
    ]) {
      const answer = await send('GET', `/${BUCKET}/${KEY}`, { host, authorization: OPERATOR });
      expect([host, answer.status]).toEqual([host, 421]);
      expect(answer.body).not.toContain('a@example.com');
    }
  });

  it('is served for every loopback name, a virtual-hosted bucket under localhost included', async () => {
    await putObject('loopback');
    const port = new URL(endpoint.url).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'localhost']) {
      const answer = await send('GET', `/${BUCKET}/${KEY}`, { host, authorization: OPERATOR });
      expect([host, answer.status, answer.body]).toEqual([host, 200, 'loopback']);
    }
    const virtualHosted = await send('GET', `/${KEY}`, {
      host: `${BUCKET}.localhost:${port}`,
      authorization: OPERATOR,
    });
    expect([virtualHosted.status, virtualHosted.body]).toEqual([200, 'loopback']);
  });
});

describe("a query string's X-Amz-Credential", () => {
  it('names no caller without the rest of a presigned URL: S3 answers 400 AuthorizationQueryParametersError', async () => {
    await putObject();
    const deleted = await send(
      'POST',
      `/${BUCKET}?delete&X-Amz-Credential=anyone%2F20260101%2Fus-east-1%2Fs3%2Faws4_request`,
      { 'content-type': 'application/xml' },
      DELETE_BODY,
    );
    expect(deleted.status).toBe(400);
    expect(deleted.body).toContain('<Code>AuthorizationQueryParametersError</Code>');
    const read = await send('GET', `/${BUCKET}/${KEY}?X-Amz-Credential=anyone%2Fx`, {});
    expect(read.status).toBe(400);
    expect(await objectBody()).toBe('pii');
  });

  it('names no caller of SQS either: an unsigned query-protocol request is anonymous, and refused', async () => {
    const answer = await send(
      'POST',
      `${new URL(queueUrl).pathname}?X-Amz-Credential=anyone%2Fx`,
      { 'content-type': 'application/x-www-form-urlencoded' },
      'Action=ReceiveMessage&MaxNumberOfMessages=10&VisibilityTimeout=600',
    );
    expect(answer.status).toBe(403);
    expect(answer.body).not.toContain('dead letter body');
  });
});

describe("the SDK's own requests (Node: no Origin, no Fetch Metadata)", () => {
  it('are served as ever', async () => {
    await putObject('sdk');
    expect(await objectBody()).toBe('sdk');
  });
});
