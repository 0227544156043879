import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { crc64Nvme } from '@sidestep/contracts/crc64-nvme-hash';
import { S3ExportStore, storageError } from '../src/adapters/s3.ts';
import { downloadLinkFactory } from '../src/domain/download-link.ts';
import type { ExportObjectStore } from '../src/domain/export-object-store.ts';
import { finalizeExport } from '../src/finalize-export.ts';
import {
  BUCKET,
  COLUMNS,
  type LocalS3,
  type PartSpec,
  putManifest,
  rowsForMiB,
  startLocalS3,
  withParts,
  writeExport,
} from './export-fixture.ts';

// Against fauxqs as the local cloud runs it (startAwsEndpoint): S3's multipart rules, UploadPartCopy
// with ranges, the 5 MiB minimum part enforced at CompleteMultipartUpload.
let local: LocalS3;
let s3: S3Client;
let store: S3ExportStore;

beforeAll(async () => {
  local = await startLocalS3();
  s3 = local.s3;
  store = new S3ExportStore(s3);
}, 30_000);

afterAll(() => local?.stop());

const options = {
  downloadLink: downloadLinkFactory({
    baseUrl: 'http://127.0.0.1:4566/lambda-url/export-download/',
    signingKey: 's'.repeat(32),
    ttlSeconds: 7 * 86_400,
  }),
  now: () => new Date('2026-11-24T10:00:00Z'),
};

/** The real store with some of its calls replaced. */
function storeWith(overrides: Partial<ExportObjectStore>): ExportObjectStore {
  return {
    head: (...args) => store.head(...args),
    read: (...args) => store.read(...args),
    readText: (...args) => store.readText(...args),
    putJson: (...args) => store.putJson(...args),
    createMultipartUpload: (...args) => store.createMultipartUpload(...args),
    copyPart: (...args) => store.copyPart(...args),
    uploadPart: (...args) => store.uploadPart(...args),
    completeMultipartUpload: (...args) => store.completeMultipartUpload(...args),
    abortMultipartUpload: (...args) => store.abortMultipartUpload(...args),
    ...overrides,
  };
}

let jobs = 0;
const newJobId = () => `exp_test${++jobs}`;

async function objectBytes(key: string): Promise<Buffer> {
  const output = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(
    await (output.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
  );
}

async function exists(key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return true;
  } catch {
    return false;
  }
}

/** Writes an export of `specs`, finalizes it and checks the object is the header once plus every row. */
async function finalizeAndCheck(specs: readonly PartSpec[], using: ExportObjectStore = store) {
  const jobId = newJobId();
  const written = await writeExport(s3, BUCKET, jobId, specs);
  const result = await finalizeExport(
    using,
    { jobId, bucket: BUCKET, manifestKey: written.manifestKey, fileName: 'users-2026-11-24' },
    options,
  );
  const combined = await objectBytes(result.output.key);
  // One gzip file of concatenated members; gunzip gives back exactly the worker's CSV.
  expect(gunzipSync(combined).toString('utf8')).toBe(written.csv);
  expect(combined.equals(Buffer.concat(written.bodies))).toBe(true);
  expect(result.output).toMatchObject({
    jobId,
    bucket: BUCKET,
    key: `exports/${jobId}/users-2026-11-24.csv.gz`,
    rows: written.manifest.rows,
    bytes: combined.length,
    manifestKey: `exports/${jobId}/manifest.json`,
    downloadExpiresAt: '2026-12-01T10:00:00.000Z',
  });
  return { jobId, written, result };
}

describe('finalizeExport against fauxqs S3', () => {
  it('copies parts that are all at least 5 MiB server-side, uploading nothing and reading nothing', async () => {
    let reads = 0;
    const counting: ExportObjectStore = storeWith({
      read: (...args: Parameters<ExportObjectStore['read']>) => {
        reads += 1;
        return store.read(...args);
      },
    });
    const { result } = await finalizeAndCheck(
      [{ rows: rowsForMiB(5), level: 0 }, { rows: rowsForMiB(5), level: 0 }, { rows: 300 }],
      counting,
    );
    // Verified with S3's checksums (HeadObject), not by reading the object back.
    expect(reads).toBe(0);
    expect(result.output.crc64nvme).toBe(crc64Nvme(await objectBytes(result.output.key)));
    expect(result.stats).toMatchObject({
      outcome: 'finalized',
      copiedParts: 3,
      uploadedParts: 0,
      uploadedBytes: 0,
    });
  }, 60_000);

  it('uploads parts that are all small as one part', async () => {
    const { result, written } = await finalizeAndCheck([
      { rows: 500 },
      { rows: 400 },
      { rows: 1 },
      { rows: 250 },
    ]);
    expect(result.stats).toMatchObject({
      copiedParts: 0,
      uploadedParts: 1,
      uploadedBytes: written.manifest.bytes,
    });
  }, 60_000);

  it('combines mixed sizes: small runs uploaded (borrowing a range of the next large part), the rest copied', async () => {
    const { result, written } = await finalizeAndCheck([
      { rows: 2000 },
      { rows: rowsForMiB(11), level: 0 },
      { rows: rowsForMiB(5), level: 0 },
      { rows: 100 },
      { rows: 50 },
    ]);
    // part 1 + the head of part 2 uploaded; the rest of part 2 and part 3 copied; parts 4-5 uploaded last.
    expect(result.stats).toMatchObject({ copiedParts: 2, uploadedParts: 2 });
    expect(result.stats.uploadedBytes).toBeLessThan(5 * 1024 * 1024 + (written.bodies[3]?.length ?? 0) * 3);
  }, 60_000);

  it('finalizes a single part', async () => {
    const { result } = await finalizeAndCheck([{ rows: 0 }]);
    expect(result.output.rows).toBe(0);
    expect(result.stats).toMatchObject({ copiedParts: 1, uploadedParts: 0 });
  }, 30_000);

  it('finalizing twice returns the same object without combining again', async () => {
    const { jobId, written, result } = await finalizeAndCheck([{ rows: 10 }, { rows: 20 }]);
    const etag = (await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: result.output.key }))).ETag;
    const again = await finalizeExport(
      store,
      { jobId, bucket: BUCKET, manifestKey: written.manifestKey, fileName: 'users-2026-11-24' },
      options,
    );
    expect(again.stats.outcome).toBe('replayed');
    expect(again.output).toEqual(result.output);
    expect((await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: result.output.key }))).ETag).toBe(
      etag,
    );
    const final = JSON.parse((await objectBytes(result.output.manifestKey)).toString('utf8'));
    expect(final).toMatchObject({ rows: 30, crc64nvme: result.output.crc64nvme, columns: COLUMNS, parts: 2 });
  }, 30_000);

  it('combines again when the worker re-ran with other parts, or the object was replaced', async () => {
    const { jobId, written, result } = await finalizeAndCheck([{ rows: 10 }, { rows: 20 }]);
    const input = { jobId, bucket: BUCKET, manifestKey: written.manifestKey, fileName: 'users-2026-11-24' };
    // The worker ran again (a redriven export): new parts, new manifest.
    const rerun = await writeExport(s3, BUCKET, jobId, [{ rows: 7 }]);
    const second = await finalizeExport(store, input, options);
    expect(second.stats.outcome).toBe('finalized');
    expect(second.output.rows).toBe(7);
    expect(second.output.crc64nvme).not.toBe(result.output.crc64nvme);
    expect(gunzipSync(await objectBytes(second.output.key)).toString()).toBe(rerun.csv);
    // Someone overwrote the combined object: the recorded ETag no longer matches, so it is rebuilt.
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: second.output.key, Body: 'tampered' }));
    const third = await finalizeExport(store, input, options);
    expect(third.stats.outcome).toBe('finalized');
    expect(gunzipSync(await objectBytes(third.output.key)).toString()).toBe(rerun.csv);
  }, 30_000);

  describe('refuses', () => {
    async function refused(jobId: string, manifestKey: string) {
      const error = await finalizeExport(
        store,
        { jobId, bucket: BUCKET, manifestKey, fileName: 'users' },
        options,
      ).then(
        () => undefined,
        (thrown: unknown) => thrown as Error & Record<string, unknown>,
      );
      expect(error).toBeDefined();
      // Nothing is reported: no final manifest.
      expect(await exists(`exports/${jobId}/manifest.json`)).toBe(false);
      return error as Error & Record<string, unknown>;
    }

    it('a missing part, naming it', async () => {
      const jobId = newJobId();
      const { manifest, manifestKey } = await writeExport(s3, BUCKET, jobId, [{ rows: 5 }, { rows: 5 }]);
      const missing = `exports/${jobId}/parts/part-00003.csv.gz`;
      await putManifest(
        s3,
        BUCKET,
        manifestKey,
        withParts(manifest, [
          ...manifest.parts,
          { key: missing, rows: 0, bytes: 20, sha256: '0'.repeat(64), crc64nvme: 'AAAAAAAAAAA=' },
        ]),
      );
      const error = await refused(jobId, manifestKey);
      expect(error).toMatchObject({
        name: 'PartMissingError',
        partKey: missing,
        permanent: true,
        field: 'parts',
      });
    });

    it('a part of the wrong size, naming it', async () => {
      const jobId = newJobId();
      const { manifest, manifestKey } = await writeExport(s3, BUCKET, jobId, [{ rows: 5 }, { rows: 5 }]);
      const [first, second] = manifest.parts as [(typeof manifest.parts)[0], (typeof manifest.parts)[0]];
      await putManifest(
        s3,
        BUCKET,
        manifestKey,
        withParts(manifest, [first, { ...second, bytes: second.bytes + 1 }]),
      );
      const error = await refused(jobId, manifestKey);
      expect(error).toMatchObject({
        name: 'PartSizeMismatchError',
        partKey: second.key,
        expectedBytes: second.bytes + 1,
        actualBytes: second.bytes,
        permanent: true,
      });
    });

    it('a part overwritten after the worker wrote it (same size, other bytes), before combining anything', async () => {
      const jobId = newJobId();
      const { manifest, manifestKey, bodies } = await writeExport(s3, BUCKET, jobId, [
        { rows: 5 },
        { rows: 5 },
        { rows: 5 },
      ]);
      const part = manifest.parts[1] as (typeof manifest.parts)[0];
      // One byte of the stored gzip changed (its trailer's CRC-32, so it is even a valid-looking gzip).
      const tampered = Buffer.from(bodies[1] as Buffer);
      tampered[tampered.length - 5] = (tampered[tampered.length - 5] as number) ^ 0xff;
      await s3.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: part.key,
          Body: tampered,
          ChecksumAlgorithm: 'CRC64NVME',
        }),
      );
      const error = await refused(jobId, manifestKey);
      expect(error).toMatchObject({
        name: 'PartChecksumMismatchError',
        partKey: part.key,
        expectedCrc64nvme: part.crc64nvme,
        actualCrc64nvme: crc64Nvme(tampered),
        permanent: true,
      });
      expect(await exists(`exports/${jobId}/users.csv.gz`)).toBe(false);
    });

    it('a manifest whose file checksum is not its parts’ combined', async () => {
      const jobId = newJobId();
      const { manifest, manifestKey } = await writeExport(s3, BUCKET, jobId, [{ rows: 5 }, { rows: 5 }]);
      await putManifest(s3, BUCKET, manifestKey, { ...manifest, crc64nvme: 'AAAAAAAAAAA=' });
      expect(await refused(jobId, manifestKey)).toMatchObject({
        name: 'WorkerManifestInvalidError',
        field: 'crc64nvme',
      });
    });

    it('a combined object S3 does not confirm with the file’s checksum (BadDigest), aborting the upload', async () => {
      const jobId = newJobId();
      const { manifestKey } = await writeExport(s3, BUCKET, jobId, [{ rows: 5 }, { rows: 5 }]);
      const aborted: string[] = [];
      // The parts as stored, a full-object checksum that is not theirs sent at completion.
      const wrongChecksum: ExportObjectStore = storeWith({
        completeMultipartUpload: (
          ...[bucket, key, uploadId, parts]: Parameters<ExportObjectStore['completeMultipartUpload']>
        ) => store.completeMultipartUpload(bucket, key, uploadId, parts, crc64Nvme(Buffer.from('other'))),
        abortMultipartUpload: async (bucket: string, key: string, uploadId: string) => {
          aborted.push(uploadId);
          await store.abortMultipartUpload(bucket, key, uploadId);
        },
      });
      const error = await finalizeExport(
        wrongChecksum,
        { jobId, bucket: BUCKET, manifestKey, fileName: 'users' },
        options,
      ).catch((thrown: unknown) => thrown as Error & Record<string, unknown>);
      expect(error).toMatchObject({ name: 'ExportVerificationError', field: 'crc64nvme', permanent: true });
      expect(aborted).toHaveLength(1);
      expect(await exists(`exports/${jobId}/users.csv.gz`)).toBe(false);
      expect(await exists(`exports/${jobId}/manifest.json`)).toBe(false);
    });

    it('a missing, invalid or foreign worker manifest, naming the field', async () => {
      const jobId = newJobId();
      const missing = await refused(jobId, `exports/${jobId}/parts/manifest.json`);
      expect(missing).toMatchObject({ name: 'WorkerManifestInvalidError', field: 'manifestKey' });

      const { manifest, manifestKey } = await writeExport(s3, BUCKET, jobId, [{ rows: 1 }]);
      await putManifest(s3, BUCKET, manifestKey, { ...manifest, rows: 2 });
      expect(await refused(jobId, manifestKey)).toMatchObject({
        name: 'WorkerManifestInvalidError',
        field: 'rows',
      });

      await putManifest(s3, BUCKET, manifestKey, { ...manifest, jobId: 'exp_other' });
      expect(await refused(jobId, manifestKey)).toMatchObject({
        name: 'WorkerManifestInvalidError',
        field: 'jobId',
      });

      const foreign = {
        ...(manifest.parts[0] as (typeof manifest.parts)[0]),
        key: 'exports/exp_other/parts/part-00001.csv.gz',
      };
      await putManifest(s3, BUCKET, manifestKey, { ...manifest, parts: [foreign] });
      expect(await refused(jobId, manifestKey)).toMatchObject({
        name: 'WorkerManifestInvalidError',
        field: 'parts.0.key',
      });
    });
  });

  it('aborts the multipart upload when a part fails, and reports a retryable error', async () => {
    const jobId = newJobId();
    const { manifestKey } = await writeExport(s3, BUCKET, jobId, [{ rows: 5 }, { rows: 5 }]);
    const aborted: string[] = [];
    // The real store, with UploadPart failing as S3 does when it throttles.
    const failing = storeWith({
      uploadPart: async () => {
        const slowDown = Object.assign(new Error('Please reduce your request rate.'), {
          name: 'SlowDown',
          $metadata: { httpStatusCode: 503 },
        });
        throw storageError('UploadPart', slowDown);
      },
      abortMultipartUpload: async (bucket, key, uploadId) => {
        aborted.push(uploadId);
        await store.abortMultipartUpload(bucket, key, uploadId);
      },
    });
    const error = await finalizeExport(
      failing,
      { jobId, bucket: BUCKET, manifestKey, fileName: 'users' },
      options,
    ).catch((thrown: unknown) => thrown as Error & { permanent?: boolean });
    expect(error).toMatchObject({ name: 'ExportStorageUnavailableError', permanent: false });
    expect(aborted).toHaveLength(1);
    expect(await exists(`exports/${jobId}/users.csv.gz`)).toBe(false);
  });
});
