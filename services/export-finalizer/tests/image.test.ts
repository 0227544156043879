import { copyFileSync, globSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type FunctionHost, startFunction } from '@sidestep/lambda-runtime';
import { BUNDLE_IMAGE_FILES, expectThirdPartyNotices } from '@sidestep/lambda-runtime/testing';
import { type AwsEndpoint, startAwsEndpoint } from '@sidestep/local-cloud';
import { service } from '../service.ts';
import { isSignedFor, rowsForMiB, writeExport } from './export-fixture.ts';

// The image contract: the files the Dockerfile copies (and nothing else) run through the Lambda
// Runtime API with a read-only task root, as the Lambda Node.js base image runs them, against S3
// over the wire. The same bundle serves the download endpoint (CMD `index.downloadHandler`).
const packageDir = join(import.meta.dirname, '..');
const dockerfile = readFileSync(join(packageDir, 'Dockerfile'), 'utf8');
const BUCKET = 'sidestep-test-exports';

/** The sources of the Dockerfile's COPY into ${LAMBDA_TASK_ROOT}. */
function copiedFiles(): string[] {
  const copy = dockerfile.split('\n').find((line) => /^COPY\s.*\$\{LAMBDA_TASK_ROOT\}/.test(line));
  if (!copy) throw new Error('Dockerfile has no COPY into the Lambda task root');
  return copy.trim().split(/\s+/).slice(1, -1);
}

let taskRoot: string;
let endpoint: AwsEndpoint;
let s3: S3Client;
let finalizer: FunctionHost;
let download: FunctionHost;

beforeAll(async () => {
  taskRoot = mkdtempSync(join(tmpdir(), 'export-finalizer-task-'));
  // COPY sources are globs (the bundle's lazily loaded chunks are dist/chunk-*.mjs), as Docker expands them.
  for (const file of copiedFiles().flatMap((pattern) => globSync(pattern, { cwd: packageDir })))
    copyFileSync(join(packageDir, file), join(taskRoot, file.split('/').at(-1) as string));
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
    POWERTOOLS_SERVICE_NAME: service.name,
  };
  const common = {
    bundleDir: taskRoot,
    memoryMb: service.memoryMb,
    timeoutSeconds: 30,
    readOnly: true,
    isolate: true,
    onLog: () => {},
  };
  // As infra configures them: the finalizer knows the endpoint's URL, the endpoint its bucket only
  // (a function cannot be given its own URL).
  [finalizer, download] = await Promise.all([
    startFunction({
      ...common,
      name: 'sidestep-test-export-finalizer',
      handler: service.handler,
      environment: { ...environment, DOWNLOAD_BASE_URL: `${endpoint.url}/lambda-url/export-download/` },
    }),
    startFunction({
      ...common,
      name: 'sidestep-test-export-download',
      handler: 'index.downloadHandler',
      environment: { ...environment, EXPORTS_BUCKET: BUCKET },
    }),
  ]);
}, 60_000);

afterAll(async () => {
  await finalizer?.close();
  await download?.close();
  s3?.destroy();
  await endpoint?.stop();
  rmSync(taskRoot, { recursive: true, force: true });
});

describe('export-finalizer image', () => {
  it('copies only the bundle, its maps and its third-party notices, and names the manifest handler as CMD', () => {
    expect(copiedFiles()).toEqual(BUNDLE_IMAGE_FILES);
    expect(dockerfile).toMatch(/^FROM public\.ecr\.aws\/lambda\/nodejs:24\b/m);
    expect(/^CMD \["([^"]+)"\]/m.exec(dockerfile)?.[1]).toBe(service.handler);
  });

  it('carries the notices of every third-party package whose code is in its .mjs files', () => {
    expectThirdPartyNotices(taskRoot, packageDir);
  });

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
