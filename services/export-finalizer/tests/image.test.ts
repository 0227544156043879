import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FunctionHost } from '@sidestep/lambda-runtime';
import { itKeepsTheImageContract, stageLambdaImage } from '@sidestep/lambda-runtime/testing';
import { type AwsEndpoint, startAwsEndpoint } from '@sidestep/local-cloud';
import { service } from '../service.ts';
import { isSignedFor, rowsForMiB, writeExport } from './export-fixture.ts';

// The image contract: the files the Dockerfile copies (and nothing else) run through the Lambda
// Runtime API with a read-only task root, as the Lambda Node.js base image runs them, against S3
// over the wire. The same bundle serves the download endpoint (CMD `index.downloadHandler`).
const packageDir = join(import.meta.dirname, '..');
const image = stageLambdaImage(packageDir, service);
const BUCKET = 'sidestep-test-exports';

let endpoint: AwsEndpoint;
let s3: S3Client;
let finalizer: FunctionHost;
let download: FunctionHost;

beforeAll(async () => {
  endpoint = await startAwsEndpoint({ port: 0 });
  s3 = new S3Client({
    endpoint: endpoint.url,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const environment = {
    AWS_ENDPOINT_URL: endpoint.url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_S3_FORCE_PATH_STYLE: 'true',
    DOWNLOAD_SIGNING_KEY: 'i'.repeat(32),
  };
  // As infra configures them: the finalizer knows the endpoint's URL, the endpoint its bucket only
  // (a function cannot be given its own URL).
  [finalizer, download] = await Promise.all([
    image.start({
      name: 'sidestep-test-export-finalizer',
      environment: { ...environment, DOWNLOAD_BASE_URL: `${endpoint.url}/lambda-url/export-download/` },
    }),
    image.start({
      name: 'sidestep-test-export-download',
      handler: 'index.downloadHandler',
      environment: { ...environment, EXPORTS_BUCKET: BUCKET },
    }),
  ]);
}, 60_000);

afterAll(async () => {
  await image.close();
  s3?.destroy();
  await endpoint?.stop();
});

describe('export-finalizer image', () => {
  itKeepsTheImageContract(image);

  it('finalizes an export twice with one result, and its link downloads the file', async () => {
    // Two parts, the first S3-sized (5 MiB, stored), as the worker uploads them.
    const { manifestKey, csv, manifest } = await writeExport(
      s3,
      BUCKET,
      'exp_image1',
      [{ rows: rowsForMiB(5), level: 0 }, { rows: 2 }],
      'users-2026-11-24',
    );
    const input = { jobId: 'exp_image1', bucket: BUCKET, manifestKey, fileName: 'users-2026-11-24' };
    const first = await finalizer.invoke(input);
    const second = await finalizer.invoke(input);
    expect(first.ok).toBe(true);
    if (!first.ok || !second.ok) return;
    const output = first.payload as { key: string; rows: number; downloadUrl: string };
    expect(output).toMatchObject({ key: 'exports/exp_image1/users-2026-11-24.csv.gz', rows: manifest.rows });
    expect(second.payload).toEqual(first.payload);

    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: output.key }));
    const bytes = Buffer.from(
      await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
    expect(gunzipSync(bytes).toString()).toBe(csv);

    // A function URL's event: the method is requestContext.http.method
    // (https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads).
    const token = new URL(output.downloadUrl).searchParams.get('token');
    const request = (method: string) =>
      download.invoke({
        rawPath: '/',
        queryStringParameters: { token },
        requestContext: { http: { method } },
      });
    const redirect = await request('GET');
    expect(redirect.ok && redirect.payload).toMatchObject({ statusCode: 302 });
    if (!redirect.ok) return;
    const location = (redirect.payload as { headers: { location: string } }).headers.location;
    expect(await isSignedFor(s3, location, 'GET')).toBe(true);
    const fetched = await fetch(location);
    expect(Buffer.from(await fetched.arrayBuffer()).equals(bytes)).toBe(true);
    const headRedirect = await request('HEAD');
    expect(headRedirect.ok && headRedirect.payload).toMatchObject({ statusCode: 302 });
    if (!headRedirect.ok) return;
    const headLocation = (headRedirect.payload as { headers: { location: string } }).headers.location;
    expect(await isSignedFor(s3, headLocation, 'HEAD')).toBe(true);
    expect((await fetch(headLocation, { method: 'HEAD' })).headers.get('content-length')).toBe(
      String(bytes.length),
    );
    const refused = await request('POST');
    expect(refused.ok && refused.payload).toMatchObject({
      statusCode: 405,
      headers: { allow: 'GET, HEAD' },
    });
  }, 30_000);

  it('reports a bad input and a missing manifest by their error names', async () => {
    const invalid = await finalizer.invoke({ jobId: 'exp_image2', bucket: BUCKET, fileName: 'a/b' });
    expect(!invalid.ok && invalid.error.errorType).toBe('InvalidInputError');
    const missing = await finalizer.invoke({
      jobId: 'exp_image2',
      bucket: BUCKET,
      manifestKey: 'exports/exp_image2/parts/manifest.json',
      fileName: 'users',
    });
    expect(!missing.ok && missing.error.errorType).toBe('WorkerManifestInvalidError');
    expect(!missing.ok && missing.error.errorMessage).toContain('exports/exp_image2/parts/manifest.json');
  }, 30_000);
});
