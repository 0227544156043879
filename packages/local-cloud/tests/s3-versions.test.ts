import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { rejectionOf } from '@sidestep/contracts/testing';
import { clearLocalCloudState } from '../src/local-state.ts';
import type { ObjectCreatedEvent } from '../src/object-created-event.ts';
import { useS3Endpoint, useS3StateDirectory } from './fixtures/s3-endpoint.ts';

// S3 versioning as AWS documents it: https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html
// and the API references of PutObject, GetObject, HeadObject, CopyObject, UploadPartCopy, DeleteObject.
const BUCKET = 'sidestep-local-versions';
const PLAIN_BUCKET = 'sidestep-local-unversioned';

const local = useS3Endpoint({ [BUCKET]: { versioned: true, eventBridge: true }, [PLAIN_BUCKET]: {} });
let s3: S3Client;
const events: ObjectCreatedEvent[] = [];

beforeAll(() => {
  local.endpoint.onObjectCreated((event) => events.push(event));
  s3 = local.s3;
});

const put = (key: string, body: string, bucket = BUCKET) =>
  s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
const get = (key: string, versionId?: string, extra: { Range?: string; IfMatch?: string } = {}) =>
  s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, VersionId: versionId, ...extra }));
const text = async (key: string, versionId?: string) => (await get(key, versionId)).Body?.transformToString();
/** The S3 error a call fails with. */
const s3Rejection = (promise: Promise<unknown>) => rejectionOf(promise, S3ServiceException);
/** The HTTP status and headers of a failed call, as the SDK keeps them. */
const responseOf = (error: unknown) =>
  (error as { $response?: { statusCode: number; headers: Record<string, string> } }).$response;

describe('S3 object versioning on the local endpoint (PutObject, GetObject, HeadObject)', () => {
  it('gives every PutObject to a versioned bucket a new 32-character URL-safe x-amz-version-id', async () => {
    const first = await put('v/ids.csv', 'one');
    const second = await put('v/ids.csv', 'two');
    expect(first.VersionId).toMatch(/^[A-Za-z0-9._-]{32}$/);
    expect(second.VersionId).toMatch(/^[A-Za-z0-9._-]{32}$/);
    expect(second.VersionId).not.toBe(first.VersionId);
    // A bucket without versioning answers without one, as S3 does.
    expect((await put('v/ids.csv', 'one', PLAIN_BUCKET)).VersionId).toBeUndefined();
  });

  it('serves an overwritten version by its versionId: body, ETag, length, and names the version', async () => {
    const first = await put('v/overwritten.csv', 'email\nfirst@x.io\n');
    const second = await put('v/overwritten.csv', 'email\nthe second upload@x.io\n');

    const old = await get('v/overwritten.csv', first.VersionId);
    expect(await old.Body?.transformToString()).toBe('email\nfirst@x.io\n');
    expect(old).toMatchObject({ ETag: first.ETag, ContentLength: 17, VersionId: first.VersionId });
    const latest = await get('v/overwritten.csv');
    expect(await latest.Body?.transformToString()).toBe('email\nthe second upload@x.io\n');
    expect(latest.VersionId).toBe(second.VersionId);
    // The current version by its own id too.
    expect(await text('v/overwritten.csv', second.VersionId)).toBe('email\nthe second upload@x.io\n');

    const head = await s3.send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: 'v/overwritten.csv', VersionId: first.VersionId }),
    );
    expect(head).toMatchObject({ ETag: first.ETag, ContentLength: 17, VersionId: first.VersionId });
  });

  it('serves a ranged GET, If-Match and the checksum of an old version (GetObject API)', async () => {
    const body = 'email\nranged@x.io\n';
    const first = await put('v/ranged.csv', body);
    const second = await put('v/ranged.csv', 'something else entirely\n');

    const ranged = await get('v/ranged.csv', first.VersionId, { Range: 'bytes=6-11', IfMatch: first.ETag });
    expect(await ranged.Body?.transformToString()).toBe('ranged');
    expect(ranged.ContentRange).toBe(`bytes 6-11/${body.length}`);
    // If-Match is checked against the version asked for, not the current object.
    const current = await get('v/ranged.csv');
    const refused = await s3Rejection(get('v/ranged.csv', first.VersionId, { IfMatch: current.ETag }));
    expect(refused).toMatchObject({ name: 'PreconditionFailed' });

    const checksummed = await s3.send(
      new GetObjectCommand({
        Bucket: BUCKET,
        Key: 'v/ranged.csv',
        VersionId: first.VersionId,
        ChecksumMode: 'ENABLED',
      }),
    );
    // The checksum the SDK sent with the first PutObject (CRC32 by default), not the current one's.
    expect(first.ChecksumCRC32).toBeDefined();
    expect(checksummed.ChecksumCRC32).toBe(first.ChecksumCRC32);
    expect(checksummed.ChecksumCRC32).not.toBe(second.ChecksumCRC32);
    expect(await checksummed.Body?.transformToString()).toBe(body);
  });

  it('answers an unknown version id with 404 NoSuchVersion and a malformed one with 400 InvalidArgument', async () => {
    await put('v/unknown.csv', 'x');
    const unknown = await s3Rejection(get('v/unknown.csv', 'A'.repeat(32)));
    expect(unknown).toMatchObject({ name: 'NoSuchVersion' });
    expect(responseOf(unknown)?.statusCode).toBe(404);
    const malformed = await s3Rejection(get('v/unknown.csv', 'not-a-version'));
    expect(malformed).toMatchObject({ name: 'InvalidArgument', message: 'Invalid version id specified' });
    expect(responseOf(malformed)?.statusCode).toBe(400);
    const head = await s3Rejection(
      s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'v/unknown.csv', VersionId: 'B'.repeat(32) })),
    );
    expect(responseOf(head)?.statusCode).toBe(404);
  });
});

describe('S3 object versioning of copies and multipart uploads (CopyObject, UploadPartCopy, CompleteMultipartUpload)', () => {
  it('copies the version x-amz-copy-source names, and gives the copy its own version', async () => {
    const first = await put('v/source.csv', 'the first source\n');
    await put('v/source.csv', 'the second source\n');

    const copied = await s3.send(
      new CopyObjectCommand({
        Bucket: BUCKET,
        Key: 'v/copy.csv',
        CopySource: `${BUCKET}/v/source.csv?versionId=${first.VersionId}`,
      }),
    );
    expect(copied.CopySourceVersionId).toBe(first.VersionId);
    expect(copied.VersionId).toMatch(/^[A-Za-z0-9._-]{32}$/);
    expect(await text('v/copy.csv')).toBe('the first source\n');
    expect(await text('v/copy.csv', copied.VersionId)).toBe('the first source\n');
  });

  it('copies a version into a multipart upload and versions the completed object', async () => {
    const first = await put('v/part-source.csv', 'part from the first version\n');
    await put('v/part-source.csv', 'part from the second version\n');
    const before = await put('v/multipart.csv', 'what the upload replaces\n');

    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'v/multipart.csv' }),
    );
    const part = await s3.send(
      new UploadPartCopyCommand({
        Bucket: BUCKET,
        Key: 'v/multipart.csv',
        UploadId,
        PartNumber: 1,
        CopySource: `${BUCKET}/v/part-source.csv?versionId=${first.VersionId}`,
      }),
    );
    expect(part.CopySourceVersionId).toBe(first.VersionId);
    const completed = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: 'v/multipart.csv',
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.CopyPartResult?.ETag }] },
      }),
    );
    expect(completed.VersionId).toMatch(/^[A-Za-z0-9._-]{32}$/);
    expect(completed.VersionId).not.toBe(before.VersionId);
    expect(await text('v/multipart.csv', completed.VersionId)).toBe('part from the first version\n');
    expect(await text('v/multipart.csv', before.VersionId)).toBe('what the upload replaces\n');
  });
});

describe('S3 "Object Created" events of a versioned bucket', () => {
  it('carry the version id written, with that version size and ETag though the key was overwritten at once', async () => {
    const first = await put('v/event.csv', 'the uploaded file\n');
    await put('v/event.csv', 'overwritten\n');
    const deadline = Date.now() + 5_000;
    while (events.filter((e) => e.detail.object.key === 'v/event.csv').length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const event = events.find((e) => e.detail.object['version-id'] === first.VersionId);
    expect(event?.detail.object).toMatchObject({
      key: 'v/event.csv',
      size: 'the uploaded file\n'.length,
      etag: first.ETag?.replaceAll('"', ''),
      'version-id': first.VersionId,
    });
  });
});

describe('S3 delete markers (DeleteObject on a versioned bucket)', () => {
  it('hides the key behind a delete marker and keeps its versions readable by id', async () => {
    const first = await put('v/deleted.csv', 'kept\n');
    const deleted = await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'v/deleted.csv' }));
    expect(deleted.DeleteMarker).toBe(true);
    expect(deleted.VersionId).toMatch(/^[A-Za-z0-9._-]{32}$/);

    const missing = await s3Rejection(get('v/deleted.csv'));
    expect(missing).toMatchObject({ name: 'NoSuchKey' });
    expect(responseOf(missing)?.headers['x-amz-delete-marker']).toBe('true');
    expect(responseOf(missing)?.headers['x-amz-version-id']).toBe(deleted.VersionId);
    expect(await text('v/deleted.csv', first.VersionId)).toBe('kept\n');
    // The marker by its id: 405 MethodNotAllowed.
    const marker = await s3Rejection(get('v/deleted.csv', deleted.VersionId));
    expect(responseOf(marker)?.statusCode).toBe(405);

    // Removing the marker (DeleteObject with its version id) brings the object back.
    const unmarked = await s3.send(
      new DeleteObjectCommand({ Bucket: BUCKET, Key: 'v/deleted.csv', VersionId: deleted.VersionId }),
    );
    expect(unmarked).toMatchObject({ DeleteMarker: true, VersionId: deleted.VersionId });
    expect(await text('v/deleted.csv')).toBe('kept\n');
  });

  it('removes one version for good with its id, and the version before it is current again', async () => {
    const first = await put('v/removed.csv', 'first\n');
    const second = await put('v/removed.csv', 'second\n');
    await s3.send(
      new DeleteObjectCommand({ Bucket: BUCKET, Key: 'v/removed.csv', VersionId: second.VersionId }),
    );
    const latest = await get('v/removed.csv');
    expect(await latest.Body?.transformToString()).toBe('first\n');
    expect(latest.VersionId).toBe(first.VersionId);
    expect(await s3Rejection(get('v/removed.csv', second.VersionId))).toMatchObject({
      name: 'NoSuchVersion',
    });
  });
});

// https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html and API_DeletedObject.html:
// each object of the request is deleted as DeleteObject deletes it, with or without its VersionId.
describe('S3 DeleteObjects on a versioned bucket', () => {
  const deleteObjects = (objects: { Key: string; VersionId?: string }[], bucket = BUCKET, Quiet?: boolean) =>
    s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, ...(Quiet ? { Quiet } : {}) } }),
    );

  it('removes the versions it names for good and puts delete markers on the keys it names alone', async () => {
    const first = await put('batch/a.csv', 'a1\n');
    const second = await put('batch/a.csv', 'a2\n');
    const kept = await put('batch/b.csv', 'b1\n');
    const result = await deleteObjects([
      { Key: 'batch/a.csv', VersionId: second.VersionId },
      { Key: 'batch/b.csv' },
    ]);
    expect(result.Errors ?? []).toEqual([]);
    const byKey = new Map((result.Deleted ?? []).map((deleted) => [deleted.Key, deleted]));
    expect(byKey.get('batch/a.csv')).toEqual({ Key: 'batch/a.csv', VersionId: second.VersionId });
    const marker = byKey.get('batch/b.csv');
    expect(marker).toMatchObject({ Key: 'batch/b.csv', DeleteMarker: true });
    expect(marker?.DeleteMarkerVersionId).toMatch(/^[A-Za-z0-9._-]{32}$/);
    // The named version is gone and the one before it is current; the other key is behind a marker.
    expect(await text('batch/a.csv')).toBe('a1\n');
    expect((await get('batch/a.csv')).VersionId).toBe(first.VersionId);
    expect(await s3Rejection(get('batch/a.csv', second.VersionId))).toMatchObject({ name: 'NoSuchVersion' });
    expect(await s3Rejection(get('batch/b.csv'))).toMatchObject({ name: 'NoSuchKey' });
    expect(await text('batch/b.csv', kept.VersionId)).toBe('b1\n');

    // Removing the marker by its id answers that it was one, and brings the object back.
    const unmarked = await deleteObjects([{ Key: 'batch/b.csv', VersionId: marker?.DeleteMarkerVersionId }]);
    expect(unmarked.Deleted).toEqual([
      {
        Key: 'batch/b.csv',
        VersionId: marker?.DeleteMarkerVersionId,
        DeleteMarker: true,
        DeleteMarkerVersionId: marker?.DeleteMarkerVersionId,
      },
    ]);
    expect(await text('batch/b.csv')).toBe('b1\n');
  });

  it('answers a malformed version id with an InvalidArgument error for that object and deletes the others', async () => {
    await put('batch/c.csv', 'c1\n');
    const result = await deleteObjects([
      { Key: 'batch/c.csv', VersionId: 'not a version id' },
      { Key: 'batch/gone.csv' },
    ]);
    expect(result.Errors).toEqual([
      expect.objectContaining({ Key: 'batch/c.csv', VersionId: 'not a version id', Code: 'InvalidArgument' }),
    ]);
    expect(result.Deleted?.map((deleted) => deleted.Key)).toEqual(['batch/gone.csv']);
    expect(await text('batch/c.csv')).toBe('c1\n');
  });

  it('lists only the errors in quiet mode, and deletes the null version of an unversioned bucket', async () => {
    await put('batch/plain.csv', 'p\n', PLAIN_BUCKET);
    const quiet = await deleteObjects([{ Key: 'batch/plain.csv', VersionId: 'null' }], PLAIN_BUCKET, true);
    expect([quiet.Deleted ?? [], quiet.Errors ?? []]).toEqual([[], []]);
    const missing = await s3Rejection(
      s3.send(new GetObjectCommand({ Bucket: PLAIN_BUCKET, Key: 'batch/plain.csv' })),
    );
    expect(missing).toMatchObject({ name: 'NoSuchKey' });
  });
});

describe('S3 object versions in a state directory', () => {
  const state = useS3StateDirectory(BUCKET);
  const withEndpoint = <T>(use: (client: S3Client) => Promise<T>) => state.withEndpoint(use);
  const read = async (client: S3Client, key: string, versionId?: string) =>
    (
      await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, VersionId: versionId }))
    ).Body?.transformToString();

  it('keeps every version across a restart, and `--fresh` (clearLocalCloudState) forgets them', async () => {
    const written = await withEndpoint(async (client) => {
      const first = await client.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: 'kept.csv', Body: 'first\n' }),
      );
      const second = await client.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: 'kept.csv', Body: 'second\n' }),
      );
      const gone = await client.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: 'gone.csv', Body: 'gone\n' }),
      );
      const marker = await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'gone.csv' }));
      // A multipart upload replacing an object (its row is replaced inside fauxqs's transaction).
      const single = await client.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: 'multi.csv', Body: 'single\n' }),
      );
      const { UploadId } = await client.send(
        new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'multi.csv' }),
      );
      const part = await client.send(
        new UploadPartCommand({
          Bucket: BUCKET,
          Key: 'multi.csv',
          UploadId,
          PartNumber: 1,
          Body: 'multipart\n',
        }),
      );
      const multipart = await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: BUCKET,
          Key: 'multi.csv',
          UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
        }),
      );
      // The current version removed by its id: the one before is current again, in fauxqs's row.
      const restored = await client.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: 'back.csv', Body: 'back\n' }),
      );
      const dropped = await client.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: 'back.csv', Body: 'dropped\n' }),
      );
      await client.send(
        new DeleteObjectCommand({ Bucket: BUCKET, Key: 'back.csv', VersionId: dropped.VersionId }),
      );
      return { first, second, gone, marker, single, multipart, restored };
    });

    await withEndpoint(async (client) => {
      expect(await read(client, 'kept.csv', written.first.VersionId)).toBe('first\n');
      expect(await read(client, 'kept.csv', written.second.VersionId)).toBe('second\n');
      const latest = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'kept.csv' }));
      expect(latest.VersionId).toBe(written.second.VersionId);
      expect(await read(client, 'gone.csv', written.gone.VersionId)).toBe('gone\n');
      expect(await s3Rejection(read(client, 'gone.csv'))).toMatchObject({ name: 'NoSuchKey' });
      expect(await read(client, 'multi.csv', written.single.VersionId)).toBe('single\n');
      expect(await read(client, 'multi.csv', written.multipart.VersionId)).toBe('multipart\n');
      const back = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'back.csv' }));
      expect(await back.Body?.transformToString()).toBe('back\n');
      expect(back.VersionId).toBe(written.restored.VersionId);
      // A write after the restart keeps the versions written before it.
      const third = await client.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: 'kept.csv', Body: 'third\n' }),
      );
      expect(await read(client, 'kept.csv', written.second.VersionId)).toBe('second\n');
      expect(await read(client, 'kept.csv', third.VersionId)).toBe('third\n');
    });

    await clearLocalCloudState(state.stateDir);
    await withEndpoint(async (client) => {
      expect(await s3Rejection(read(client, 'kept.csv', written.first.VersionId))).toMatchObject({
        name: 'NoSuchVersion',
      });
    });
  });

  // The latest version is the one written last; ListObjectVersions lists a key's versions newest
  // first (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html), however
  // many restarts came between the writes.
  it('keeps writing order across two restarts: the last written is the latest, listed first', async () => {
    const body = (name: string) => ({ Bucket: BUCKET, Key: 'ordered.csv', Body: `${name}\n` });
    const before = await withEndpoint(async (client) => [
      await client.send(new PutObjectCommand(body('one'))),
      await client.send(new PutObjectCommand(body('two'))),
    ]);
    const after = await withEndpoint(async (client) => client.send(new PutObjectCommand(body('three'))));
    await withEndpoint(async (client) => {
      expect(await read(client, 'ordered.csv')).toBe('three\n');
      const { Versions = [] } = await client.send(
        new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: 'ordered.csv' }),
      );
      expect(Versions.map((v) => [v.VersionId, v.IsLatest])).toEqual([
        [after.VersionId, true],
        [before[1]?.VersionId, false],
        [before[0]?.VersionId, false],
      ]);
    });
    await clearLocalCloudState(state.stateDir);
  });
});
