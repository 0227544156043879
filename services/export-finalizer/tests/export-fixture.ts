import { gzipSync } from 'node:zlib';
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import { type ExportWorkerManifest, exportObjectKey } from '@sidestep/contracts';
import { combinePartsCrc64Nvme } from '@sidestep/contracts/crc64-nvme';
import { crc64Nvme } from '@sidestep/contracts/crc64-nvme-hash';
import { type AwsEndpoint, startAwsEndpoint } from '@sidestep/local-cloud';

/** The bucket every export-finalizer test writes its exports to. */
export const BUCKET = 'sidestep-test-exports';

/** S3 as the local cloud serves it, with a bucket created, and a client for it. */
export interface LocalS3 {
  readonly endpoint: AwsEndpoint;
  readonly s3: S3Client;
  /** Destroys the client and stops the endpoint. */
  stop(): Promise<void>;
}

/**
 * Starts the local cloud's S3 (fauxqs behind `startAwsEndpoint`: S3's multipart rules with the 5 MiB
 * minimum part at completion, ListParts, CRC-64/NVME full-object checksums) on a free loopback port
 * and creates `bucket`. The benchmark runs on it too.
 */
export async function startLocalS3(bucket = BUCKET): Promise<LocalS3> {
  const endpoint = await startAwsEndpoint({ port: 0 });
  const s3 = new S3Client({
    endpoint: endpoint.url,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    s3,
    stop: async () => {
      s3.destroy();
      await endpoint.stop();
    },
  };
}

/** The columns the batch-worker's export writes. */
export const COLUMNS = ['external_id', 'email', 'name', 'attributes', 'created_at', 'updated_at'];
export const HEADER = COLUMNS.join(',');

/** One part to write: `rows` data rows, gzip `level` 0 (stored: size ~ raw) for parts that must be large. */
export interface PartSpec {
  readonly rows: number;
  readonly level?: number;
}

let sequence = 0;

/** A CSV row as COPY writes it, with the cells that make CSV hard: quotes, commas, newlines, formulas. */
function row(n: number): string {
  const id = `u${String(n).padStart(9, '0')}`;
  const name = n % 7 === 0 ? `"line one\nline ""two"", ${n}"` : n % 11 === 0 ? `"'=1+${n}"` : `User ${n}`;
  return `${id},${id}@example.com,${name},"{""n"": ${n}}",2026-11-01 00:00:00+00,2026-11-02 00:00:00+00\n`;
}

/**
 * Uploads parts into the multipart upload of `exports/<jobId>/<fileName>.csv.gz` and writes the worker
 * manifest, as the batch-worker does; returns the manifest and the CSV text. S3 completes an upload
 * only when every part but the last is at least 5 MiB: specs of smaller parts make uploads the
 * finalizer can verify but not complete.
 */
export async function writeExport(
  s3: S3Client,
  bucket: string,
  jobId: string,
  specs: readonly PartSpec[],
  fileName = 'users',
): Promise<{ manifest: ExportWorkerManifest; manifestKey: string; csv: string; bodies: Buffer[] }> {
  const key = exportObjectKey(jobId, fileName);
  const { UploadId: uploadId = '' } = await s3.send(
    new CreateMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      ContentType: 'application/gzip',
      ContentDisposition: `attachment; filename="${fileName}.csv.gz"`,
      ChecksumAlgorithm: 'CRC64NVME',
      ChecksumType: 'FULL_OBJECT',
    }),
  );
  const parts: ExportWorkerManifest['parts'][number][] = [];
  const bodies: Buffer[] = [];
  let csv = '';
  for (const [index, spec] of specs.entries()) {
    let text = index === 0 ? `${HEADER}\n` : '';
    for (let i = 0; i < spec.rows; i += 1) text += row(++sequence);
    csv += text;
    const body = gzipSync(text, { level: spec.level ?? 6 });
    const crc64nvme = crc64Nvme(body);
    // With its CRC-64/NVME, as the worker uploads: the local S3 verifies and keeps it.
    const { ETag: etag = '' } = await s3.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        PartNumber: index + 1,
        Body: body,
        ChecksumCRC64NVME: crc64nvme,
      }),
    );
    parts.push({ partNumber: index + 1, rows: spec.rows, bytes: body.length, etag, crc64nvme });
    bodies.push(body);
  }
  const manifest: ExportWorkerManifest = {
    version: 2,
    jobId,
    columns: COLUMNS,
    header: true,
    key,
    uploadId,
    parts,
    rows: parts.reduce((sum, part) => sum + part.rows, 0),
    bytes: parts.reduce((sum, part) => sum + part.bytes, 0),
    crc64nvme: combinePartsCrc64Nvme(parts),
    byteOrderMark: false,
  };
  const manifestKey = `exports/${jobId}/parts/manifest.json`;
  await putManifest(s3, bucket, manifestKey, manifest);
  return { manifest, manifestKey, csv, bodies };
}

export async function putManifest(
  s3: S3Client,
  bucket: string,
  key: string,
  manifest: unknown,
): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify(manifest) }));
}

/** Rows of ~110 bytes stored uncompressed: enough rows for a part of at least `mib` MiB. */
export function rowsForMiB(mib: number): number {
  return Math.ceil((mib * 1024 * 1024) / 100);
}

/**
 * `manifest` with `parts` in place of its own, its totals and whole-file checksum recomputed: a
 * manifest the worker could have written for those parts (so only the parts' own fault is tested).
 */
export function withParts(
  manifest: ExportWorkerManifest,
  parts: ExportWorkerManifest['parts'],
): ExportWorkerManifest {
  return {
    ...manifest,
    parts,
    rows: parts.reduce((sum, part) => sum + part.rows, 0),
    bytes: parts.reduce((sum, part) => sum + part.bytes, 0),
    crc64nvme: combinePartsCrc64Nvme(parts),
  };
}

/**
 * Whether presigned `url` is signed for `method`. S3 signs the HTTP method into the canonical request
 * of a presigned URL, so a URL signed for GET answers any other method with 403
 * SignatureDoesNotMatch (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html),
 * which the local cloud does not check: this signs the URL's request again for `method`, with the
 * same credentials, date and lifetime, and compares the signatures.
 */
export async function isSignedFor(s3: S3Client, url: string, method: string): Promise<boolean> {
  const location = new URL(url);
  const query: Record<string, string> = {};
  for (const [name, value] of location.searchParams) if (name !== 'X-Amz-Signature') query[name] = value;
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(query['X-Amz-Date'] ?? '');
  if (!date) throw new Error(`not a presigned URL: ${url}`);
  const [, year, month, day, hours, minutes, seconds] = date;
  const presigner = new S3RequestPresigner({ ...s3.config });
  const signed = await presigner.presign(
    {
      method,
      protocol: location.protocol,
      hostname: location.hostname,
      ...(location.port ? { port: Number(location.port) } : {}),
      path: location.pathname,
      query,
      headers: { host: location.host },
    },
    {
      signingDate: new Date(`${year}-${month}-${day}T${hours}:${minutes}:${seconds}Z`),
      expiresIn: Number(query['X-Amz-Expires']),
    },
  );
  return signed.query?.['X-Amz-Signature'] === location.searchParams.get('X-Amz-Signature');
}
