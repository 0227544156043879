import { gunzipSync } from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { crc64Nvme } from '@sidestep/contracts/crc64-nvme-hash';
import { lifecycleExpiry, S3ExportStore, storageError } from '../src/adapters/s3.ts';
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

// Against fauxqs as the local cloud runs it (startAwsEndpoint): S3's multipart rules with the 5 MiB
// minimum part enforced at CompleteMultipartUpload, ListParts, CRC-64/NVME full-object checksums.
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
    readText: (...args) => store.readText(...args),
    putJson: (...args) => store.putJson(...args),
    listParts: (...args) => store.listParts(...args),
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
  const written = await writeExport(s3, BUCKET, jobId, specs, 'users-2026-11-24');
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

/** What finalizing `jobId`'s export (file name `users`) through `using` throws, or undefined. */
function finalizeFailure(jobId: string, manifestKey: string, using: ExportObjectStore = store) {
  return finalizeExport(using, { jobId, bucket: BUCKET, manifestKey, fileName: 'users' }, options).then(
    () => undefined,
    (thrown: unknown) => thrown as Error & Record<string, unknown>,
  );
}

/** Puts a file of `bytes` bytes that is not the export's at `key`, its CRC-64/NVME stored; returns that. */
async function putOtherFile(key: string, bytes: number): Promise<string> {
  const body = Buffer.alloc(bytes, 'x');
  const checksum = crc64Nvme(body);
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ChecksumCRC64NVME: checksum }));
  return checksum;
}

/** The upload of `key` still exists (ListParts answers). */
async function uploadExists(key: string, uploadId: string): Promise<boolean> {
  try {
    await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId }));
    return true;
  } catch (error) {
    if ((error as Error).name === 'NoSuchUpload') return false;
    throw error;
  }
}

describe('finalizeExport against fauxqs S3', () => {
  it('completes the worker’s upload after ListParts, reading, copying and uploading nothing', async () => {
    const calls: string[] = [];
    const counting: ExportObjectStore = storeWith({
      listParts: (...args) => {
        calls.push('listParts');
        return store.listParts(...args);
      },
      completeMultipartUpload: (...args) => {
        calls.push('complete');
        return store.completeMultipartUpload(...args);
      },
    });
    let completeBody = '';
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'CompleteMultipartUploadCommand') {
          completeBody = String((args.request as { body?: unknown }).body ?? '');
        }
        return next(args);
      },
      { step: 'finalizeRequest', name: 'recordComplete' },
    );
    const { result, written } = await finalizeAndCheck(
      [{ rows: rowsForMiB(5), level: 0 }, { rows: rowsForMiB(5), level: 0 }, { rows: 300 }],
      counting,
    ).finally(() => s3.middlewareStack.remove('recordComplete'));
    // Every part named with its ETag and its CRC-64/NVME.
    expect(
      [...completeBody.matchAll(/<ChecksumCRC64NVME>([^<]+)<\/ChecksumCRC64NVME>/g)].map((m) => m[1]),
    ).toEqual(written.manifest.parts.map((part) => part.crc64nvme));
    // Verified with S3's checksums (ListParts, HeadObject): the store has no call that reads bytes.
    expect(calls).toEqual(['listParts', 'complete']);
    expect(result.output.crc64nvme).toBe(crc64Nvme(await objectBytes(result.output.key)));
    expect(result.stats).toEqual({ outcome: 'finalized', workerParts: 3, listPages: 1 });
    expect(await uploadExists(written.manifest.key, written.manifest.uploadId)).toBe(false);
    // The headers the worker gave the upload: a download saves the .csv.gz as it is.
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: result.output.key }));
    expect(head).toMatchObject({
      ContentType: 'application/gzip',
      ContentDisposition: 'attachment; filename="users-2026-11-24.csv.gz"',
    });
    expect(head.ContentEncoding).toBeUndefined();
  }, 60_000);

  it('finalizes a single part', async () => {
    const { result } = await finalizeAndCheck([{ rows: 0 }]);
    expect(result.output.rows).toBe(0);
    expect(result.stats).toMatchObject({ outcome: 'finalized', workerParts: 1 });
  }, 30_000);

  it('finalizing twice returns the same object without completing again', async () => {
    const { jobId, written, result } = await finalizeAndCheck([{ rows: 30 }]);
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
    expect(final).toMatchObject({ rows: 30, crc64nvme: result.output.crc64nvme, columns: COLUMNS, parts: 1 });
  }, 30_000);

  // A retried step (Step Functions after a lost answer) must give the same output: the link in the
  // export.ready mail. A replay a second later signed a new link with a new expiry.
  it('a replay returns the same download link as the first finalize, until half its lifetime is gone', async () => {
    const jobId = newJobId();
    const written = await writeExport(s3, BUCKET, jobId, [{ rows: 5 }], 'users-2026-11-24');
    const input = { jobId, bucket: BUCKET, manifestKey: written.manifestKey, fileName: 'users-2026-11-24' };
    const at = (iso: string) => ({ ...options, now: () => new Date(iso) });
    const first = await finalizeExport(store, input, at('2026-11-24T10:00:00.900Z'));
    expect(first.output.downloadExpiresAt).toBe('2026-12-01T10:00:00.000Z');
    const secondLater = await finalizeExport(store, input, at('2026-11-24T10:00:01.100Z'));
    expect(secondLater.stats.outcome).toBe('replayed');
    expect(secondLater.output).toEqual(first.output);
    const daysLater = await finalizeExport(store, input, at('2026-11-27T09:00:00Z'));
    expect(daysLater.output).toEqual(first.output);
    // Past half of the link's 7 days the mail would carry a link about to expire: a fresh one.
    const late = await finalizeExport(store, input, at('2026-11-28T11:00:00Z'));
    expect(late.output).toEqual({
      ...first.output,
      downloadUrl: expect.not.stringMatching(first.output.downloadUrl),
      downloadExpiresAt: '2026-12-05T11:00:00.000Z',
    });
  }, 30_000);

  it('finishes the job when an earlier attempt completed the upload but lost the answer', async () => {
    const jobId = newJobId();
    const written = await writeExport(s3, BUCKET, jobId, [{ rows: 12 }], 'users-2026-11-24');
    const input = { jobId, bucket: BUCKET, manifestKey: written.manifestKey, fileName: 'users-2026-11-24' };
    // The first attempt completes, then S3 fails the final manifest's write (a retryable error).
    const throttled = storeWith({
      putJson: async () => {
        throw storageError(
          'PutObject',
          Object.assign(new Error('Please reduce your request rate.'), {
            name: 'SlowDown',
            $metadata: { httpStatusCode: 503 },
          }),
        );
      },
    });
    await expect(finalizeExport(throttled, input, options)).rejects.toMatchObject({
      name: 'ExportStorageUnavailableError',
      permanent: false,
    });
    expect(await exists(written.manifest.key)).toBe(true);
    // The retry: ListParts says NoSuchUpload, the object is the manifest's file: finished.
    const retried = await finalizeExport(store, input, options);
    expect(retried.stats.outcome).toBe('completed-before');
    expect(gunzipSync(await objectBytes(retried.output.key)).toString()).toBe(written.csv);
    expect(await exists(retried.output.manifestKey)).toBe(true);
  }, 30_000);

  // S3 dates a multipart object from the day its upload started and expires it by lifecycle at the
  // next midnight UTC after the rule's days (https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-rules.html);
  // HeadObject's Expiration says when (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).
  it("ends the link when S3 expires the file, if that comes before the link's own TTL, and replays the same link", async () => {
    const expiring = storeWith({
      head: async (...args) => {
        const object = await store.head(...args);
        return object && { ...object, expiresAt: new Date('2026-11-30T00:00:00Z') };
      },
    });
    const jobId = newJobId();
    const written = await writeExport(s3, BUCKET, jobId, [{ rows: 3 }], 'users');
    const input = { jobId, bucket: BUCKET, manifestKey: written.manifestKey, fileName: 'users' };
    // Finalized 2026-11-24 10:00: the 7-day link would work until 12-01 10:00, the file is gone 11-30.
    const result = await finalizeExport(expiring, input, options);
    expect(result.output.downloadExpiresAt).toBe('2026-11-30T00:00:00.000Z');
    const replayed = await finalizeExport(expiring, input, options);
    expect(replayed.stats.outcome).toBe('replayed');
    expect(replayed.output).toEqual(result.output);
    // Without an expiry (no lifecycle rule, as in the local S3) the TTL stands.
    const other = await writeExport(s3, BUCKET, newJobId(), [{ rows: 3 }], 'users');
    const plain = await finalizeExport(
      store,
      { jobId: other.manifest.jobId, bucket: BUCKET, manifestKey: other.manifestKey, fileName: 'users' },
      options,
    );
    expect(plain.output.downloadExpiresAt).toBe('2026-12-01T10:00:00.000Z');
  }, 30_000);

  it("reads S3's x-amz-expiration header, and nothing from a missing or unreadable one", () => {
    expect(
      lifecycleExpiry('expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="picture-deletion-rule"'),
    ).toEqual(new Date('2012-12-23T00:00:00Z'));
    expect(lifecycleExpiry(undefined)).toBeUndefined();
    expect(lifecycleExpiry('rule-id="x"')).toBeUndefined();
    expect(lifecycleExpiry('expiry-date="not a date"')).toBeUndefined();
  });

  // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html: completing may
  // take minutes, and NoSuchUpload is an upload "aborted or completed". A retried step (its first
  // invocation timed out mid-Complete) lists the parts before the first completes, then completes.
  it('finishes when an earlier attempt completed the upload between its ListParts and its Complete', async () => {
    const jobId = newJobId();
    const written = await writeExport(s3, BUCKET, jobId, [{ rows: 10 }], 'users');
    const input = { jobId, bucket: BUCKET, manifestKey: written.manifestKey, fileName: 'users' };
    const first = storeWith({
      // The first attempt's answer is lost after it completed: its final manifest is never written.
      putJson: async () => {
        throw new Error('Sandbox.Timedout');
      },
    });
    const retry = storeWith({
      listParts: async (...args) => {
        const listed = await store.listParts(...args);
        // The first attempt completes now, after this one listed the parts.
        await finalizeExport(first, input, options).catch(() => {});
        return listed;
      },
    });
    const retried = await finalizeExport(retry, input, options);
    expect(retried.stats.outcome).toBe('completed-before');
    expect(gunzipSync(await objectBytes(retried.output.key)).toString()).toBe(written.csv);
    expect(await exists(retried.output.manifestKey)).toBe(true);
  }, 30_000);

  it('completes the new upload when the worker re-ran, and refuses an object replaced since', async () => {
    const { jobId, result } = await finalizeAndCheck([{ rows: 10 }]);
    // The worker ran again (a redriven export): a new upload, a new manifest.
    const rerun = await writeExport(s3, BUCKET, jobId, [{ rows: 7 }], 'users-2026-11-24');
    const input = { jobId, bucket: BUCKET, manifestKey: rerun.manifestKey, fileName: 'users-2026-11-24' };
    const second = await finalizeExport(store, input, options);
    expect(second.stats.outcome).toBe('finalized');
    expect(second.output.rows).toBe(7);
    expect(second.output.crc64nvme).not.toBe(result.output.crc64nvme);
    expect(gunzipSync(await objectBytes(second.output.key)).toString()).toBe(rerun.csv);
    // Someone overwrote the file: the recorded ETag no longer matches, and the parts it was made of
    // are gone with the completed upload, so it cannot be made again: refused, not reported.
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: second.output.key, Body: 'tampered' }));
    await expect(finalizeExport(store, input, options)).rejects.toMatchObject({
      name: 'UploadMissingError',
      field: 'uploadId',
      permanent: true,
    });
  }, 30_000);

  it('refuses an object replaced since with one of the same size (its ETag is not the recorded one)', async () => {
    const { jobId, written, result } = await finalizeAndCheck([{ rows: 10 }]);
    const input = { jobId, bucket: BUCKET, manifestKey: written.manifestKey, fileName: 'users-2026-11-24' };
    await putOtherFile(result.output.key, result.output.bytes);
    await expect(finalizeExport(store, input, options)).rejects.toMatchObject({
      name: 'UploadMissingError',
      field: 'uploadId',
      permanent: true,
    });
  }, 30_000);

  it('reads every page of ListParts (1,000 parts a page)', async () => {
    const jobId = newJobId();
    const { manifest, manifestKey } = await writeExport(
      s3,
      BUCKET,
      jobId,
      Array.from({ length: 1001 }, () => ({ rows: 1 })),
    );
    const last = manifest.parts[1000] as (typeof manifest.parts)[0];
    // Part 1,001 (on the second page) as the manifest says, but one byte longer: found, and refused.
    await putManifest(
      s3,
      BUCKET,
      manifestKey,
      withParts(manifest, [...manifest.parts.slice(0, 1000), { ...last, bytes: last.bytes + 1 }]),
    );
    expect(await finalizeFailure(jobId, manifestKey)).toMatchObject({
      name: 'PartSizeMismatchError',
      part: `part 1001 of ${manifest.key}`,
      actualBytes: last.bytes,
    });
  }, 60_000);

  describe('refuses', () => {
    async function refused(jobId: string, manifestKey: string) {
      const error = await finalizeFailure(jobId, manifestKey);
      expect(error).toBeDefined();
      // Nothing is reported: no final manifest, no file.
      expect(await exists(`exports/${jobId}/manifest.json`)).toBe(false);
      expect(await exists(`exports/${jobId}/users.csv.gz`)).toBe(false);
      return error as Error & Record<string, unknown>;
    }

    it('a missing part, naming it, and aborts the upload', async () => {
      const jobId = newJobId();
      const { manifest, manifestKey } = await writeExport(s3, BUCKET, jobId, [{ rows: 5 }, { rows: 5 }]);
      await putManifest(
        s3,
        BUCKET,
        manifestKey,
        withParts(manifest, [
          ...manifest.parts,
          { partNumber: 3, rows: 0, bytes: 20, etag: '"0"', crc64nvme: 'AAAAAAAAAAA=' },
        ]),
      );
      const error = await refused(jobId, manifestKey);
      expect(error).toMatchObject({
        name: 'PartMissingError',
        part: `part 3 of ${manifest.key}`,
        permanent: true,
        field: 'parts',
      });
      // Its parts can never make this export (and hold personal data): aborted, not left for a day.
      expect(await uploadExists(manifest.key, manifest.uploadId)).toBe(false);
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
        part: `part 2 of ${manifest.key}`,
        expectedBytes: second.bytes + 1,
        actualBytes: second.bytes,
        permanent: true,
      });
    });

    it('a part uploaded again after the worker wrote the manifest (same size, other bytes)', async () => {
      const jobId = newJobId();
      const { manifest, manifestKey, bodies } = await writeExport(s3, BUCKET, jobId, [
        { rows: 5 },
        { rows: 5 },
        { rows: 5 },
      ]);
      const part = manifest.parts[1] as (typeof manifest.parts)[0];
      // One byte of the gzip changed (its trailer's CRC-32, so it is even a valid-looking gzip).
      const tampered = Buffer.from(bodies[1] as Buffer);
      tampered[tampered.length - 5] = (tampered[tampered.length - 5] as number) ^ 0xff;
      await s3.send(
        new UploadPartCommand({
          Bucket: BUCKET,
          Key: manifest.key,
          UploadId: manifest.uploadId,
          PartNumber: 2,
          Body: tampered,
          ChecksumCRC64NVME: crc64Nvme(tampered),
        }),
      );
      const error = await refused(jobId, manifestKey);
      expect(error).toMatchObject({
        name: 'PartChecksumMismatchError',
        part: `part 2 of ${manifest.key}`,
        expectedCrc64nvme: part.crc64nvme,
        actualCrc64nvme: crc64Nvme(tampered),
        permanent: true,
      });
    });

    it('an upload aborted before it was completed (the bucket’s lifecycle rule)', async () => {
      const jobId = newJobId();
      const { manifest, manifestKey } = await writeExport(s3, BUCKET, jobId, [{ rows: 5 }]);
      await s3.send(
        new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: manifest.key, UploadId: manifest.uploadId }),
      );
      expect(await refused(jobId, manifestKey)).toMatchObject({
        name: 'UploadMissingError',
        uploadId: manifest.uploadId,
        permanent: true,
      });
    });

    it('an upload aborted, with another file of the same size at its key (its CRC-64/NVME is not the parts’)', async () => {
      const jobId = newJobId();
      const { manifest, manifestKey } = await writeExport(s3, BUCKET, jobId, [{ rows: 5 }]);
      await s3.send(
        new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: manifest.key, UploadId: manifest.uploadId }),
      );
      const other = await putOtherFile(manifest.key, manifest.bytes);
      expect(await finalizeFailure(jobId, manifestKey)).toMatchObject({
        name: 'UploadMissingError',
        uploadId: manifest.uploadId,
        permanent: true,
        message: expect.stringContaining(`has CRC-64/NVME ${other}, the parts ${manifest.crc64nvme}`),
      });
      expect(await exists(`exports/${jobId}/manifest.json`)).toBe(false);
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

    it('a completed object S3 does not confirm with the file’s checksum (BadDigest), aborting the upload', async () => {
      const jobId = newJobId();
      const { manifest, manifestKey } = await writeExport(s3, BUCKET, jobId, [{ rows: 5 }]);
      // The parts as uploaded, a full-object checksum that is not theirs sent at completion.
      const wrongChecksum: ExportObjectStore = storeWith({
        completeMultipartUpload: (
          ...[bucket, key, uploadId, parts]: Parameters<ExportObjectStore['completeMultipartUpload']>
        ) => store.completeMultipartUpload(bucket, key, uploadId, parts, crc64Nvme(Buffer.from('other'))),
      });
      expect(await finalizeFailure(jobId, manifestKey, wrongChecksum)).toMatchObject({
        name: 'ExportVerificationError',
        field: 'crc64nvme',
        permanent: true,
      });
      expect(await uploadExists(manifest.key, manifest.uploadId)).toBe(false);
      expect(await exists(`exports/${jobId}/users.csv.gz`)).toBe(false);
      expect(await exists(`exports/${jobId}/manifest.json`)).toBe(false);
    });

    it('a completed object that is not the parts’ file when checked (same size, another CRC-64/NVME), naming crc64nvme', async () => {
      const jobId = newJobId();
      const { manifest, manifestKey } = await writeExport(s3, BUCKET, jobId, [{ rows: 5 }]);
      // Completed, then overwritten with a file of the same size before HeadObject checks it.
      const replaced = storeWith({
        completeMultipartUpload: async (...args) => {
          const completed = await store.completeMultipartUpload(...args);
          await putOtherFile(manifest.key, manifest.bytes);
          return completed;
        },
      });
      expect(await finalizeFailure(jobId, manifestKey, replaced)).toMatchObject({
        name: 'ExportVerificationError',
        field: 'crc64nvme',
        permanent: true,
      });
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

      // Another job's file, or another name than the request's: never completed or linked to.
      for (const key of ['exports/exp_other/users.csv.gz', `exports/${jobId}/other.csv.gz`]) {
        await putManifest(s3, BUCKET, manifestKey, { ...manifest, key });
        expect(await refused(jobId, manifestKey)).toMatchObject({
          name: 'WorkerManifestInvalidError',
          field: 'key',
        });
      }
    });
  });

  it('keeps the upload when S3 fails for a while, so the retried step completes it', async () => {
    const jobId = newJobId();
    const { manifestKey, manifest, csv } = await writeExport(s3, BUCKET, jobId, [{ rows: 5 }]);
    const input = { jobId, bucket: BUCKET, manifestKey, fileName: 'users' };
    // The real store, with CompleteMultipartUpload failing as S3 does when it throttles.
    const failing = storeWith({
      completeMultipartUpload: async () => {
        const slowDown = Object.assign(new Error('Please reduce your request rate.'), {
          name: 'SlowDown',
          $metadata: { httpStatusCode: 503 },
        });
        throw storageError('CompleteMultipartUpload', slowDown);
      },
    });
    const error = await finalizeExport(failing, input, options).catch(
      (thrown: unknown) => thrown as Error & { permanent?: boolean },
    );
    expect(error).toMatchObject({ name: 'ExportStorageUnavailableError', permanent: false });
    expect(await uploadExists(manifest.key, manifest.uploadId)).toBe(true);
    const retried = await finalizeExport(store, input, options);
    expect(retried.stats.outcome).toBe('finalized');
    expect(gunzipSync(await objectBytes(retried.output.key)).toString()).toBe(csv);
  });
});
