import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandInput,
  type ListObjectVersionsCommandOutput,
  PutBucketVersioningCommand,
  type PutBucketVersioningCommandInput,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { rejectionOf } from '@sidestep/contracts/testing';
import type { AwsEndpoint } from '../src/aws-endpoint.ts';
import { useS3Endpoint, useS3StateDirectory } from './fixtures/s3-endpoint.ts';

// The APIs as AWS documents them:
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketVersioning.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketVersioning.html
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/VersionSuspendedBehavior.html
const BUCKET = 'sidestep-local-listing';
const PLAIN_BUCKET = 'sidestep-local-listing-plain';
/** fauxqs's account: the owner of every object. */
const OWNER = { ID: '000000000000' };

const local = useS3Endpoint({ [BUCKET]: { versioned: true }, [PLAIN_BUCKET]: {} });
let endpoint: AwsEndpoint;
let s3: S3Client;
beforeAll(() => {
  ({ endpoint, s3 } = local);
});

const put = (key: string, body: string, bucket = BUCKET) =>
  s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
const remove = (key: string, bucket = BUCKET, versionId?: string) =>
  s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
const list = (input: Partial<ListObjectVersionsCommandInput> = {}, client = s3) =>
  client.send(new ListObjectVersionsCommand({ Bucket: BUCKET, ...input }));
const read = async (bucket: string, key: string, versionId?: string) => {
  const output = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  return { body: await output.Body?.transformToString(), versionId: output.VersionId };
};
const versioning = (
  bucket: string,
  configuration: PutBucketVersioningCommandInput['VersioningConfiguration'],
) => s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: configuration }));
const versioningOf = async (bucket: string) => {
  const { $metadata: _, ...configuration } = await s3.send(
    new GetBucketVersioningCommand({ Bucket: bucket }),
  );
  return configuration;
};
/** A fresh bucket (a name per test keeps them apart), versioned as asked. */
const bucketNamed = async (name: string, versioned = false) => {
  await endpoint.createBucket(name, { versioned });
  return name;
};
/** The S3 error a call fails with, and its HTTP status. */
const s3Error = async (promise: Promise<unknown>) => {
  const error = await rejectionOf(promise, S3ServiceException);
  return { name: error.name, message: error.message, status: error.$metadata.httpStatusCode };
};
/**
 * The listing's entries in the order S3 sends them. The SDK parses versions and delete markers
 * into two arrays, which lose their interleaving; with one entry a page, each page names its one.
 */
type Listed = readonly [key: string, versionId: string, kind: 'version' | 'marker', isLatest: boolean];
const entriesOf = (page: ListObjectVersionsCommandOutput): Listed[] => [
  ...(page.Versions ?? []).map(
    (v): Listed => [v.Key ?? '', v.VersionId ?? '', 'version', v.IsLatest ?? false],
  ),
  ...(page.DeleteMarkers ?? []).map(
    (m): Listed => [m.Key ?? '', m.VersionId ?? '', 'marker', m.IsLatest ?? false],
  ),
];
async function pageThrough(input: Partial<ListObjectVersionsCommandInput>, maxKeys: number) {
  const entries: Listed[] = [];
  const pages: ListObjectVersionsCommandOutput[] = [];
  let markers: Partial<ListObjectVersionsCommandInput> = {};
  // Bounded: a listing that never ends fails here rather than at the test's timeout.
  for (let page = 0; page < 20; page += 1) {
    const next = await list({ ...input, ...markers, MaxKeys: maxKeys });
    pages.push(next);
    const listed = entriesOf(next);
    expect(listed.length).toBeLessThanOrEqual(maxKeys);
    entries.push(...listed);
    if (!next.IsTruncated) return { entries, pages };
    markers = { KeyMarker: next.NextKeyMarker, VersionIdMarker: next.NextVersionIdMarker };
  }
  throw new Error('the listing is still truncated after 20 pages');
}

describe('ListObjectVersions (API_ListObjectVersions.html)', () => {
  it('lists each version and delete marker with Key, VersionId, IsLatest, LastModified, ETag, Size, checksum, Owner and StorageClass', async () => {
    const b1 = await put('shape/b.csv', 'b1');
    const b2 = await put('shape/b.csv', 'the b2 body');
    const a = await put('shape/a.csv', 'a');
    const c = await put('shape/c.csv', 'c!');
    const marker = await remove('shape/c.csv');
    const head = await s3.send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: 'shape/b.csv', VersionId: b1.VersionId }),
    );

    const { $metadata: _, ...listing } = await list({ Prefix: 'shape/' });
    const version = { IsLatest: false, StorageClass: 'STANDARD', Owner: OWNER, ChecksumAlgorithm: ['CRC32'] };
    expect(listing).toEqual({
      Name: BUCKET,
      Prefix: 'shape/',
      KeyMarker: '',
      VersionIdMarker: '',
      MaxKeys: 1000,
      IsTruncated: false,
      Versions: [
        {
          ...version,
          Key: 'shape/a.csv',
          VersionId: a.VersionId,
          IsLatest: true,
          ETag: a.ETag,
          Size: 1,
          ChecksumType: 'FULL_OBJECT',
          LastModified: expect.any(Date),
        },
        {
          ...version,
          Key: 'shape/b.csv',
          VersionId: b2.VersionId,
          IsLatest: true,
          ETag: b2.ETag,
          Size: 11,
          ChecksumType: 'FULL_OBJECT',
          LastModified: expect.any(Date),
        },
        {
          ...version,
          Key: 'shape/b.csv',
          VersionId: b1.VersionId,
          ETag: b1.ETag,
          Size: 2,
          ChecksumType: 'FULL_OBJECT',
          LastModified: head.LastModified,
        },
        {
          ...version,
          Key: 'shape/c.csv',
          VersionId: c.VersionId,
          ETag: c.ETag,
          Size: 2,
          ChecksumType: 'FULL_OBJECT',
          LastModified: expect.any(Date),
        },
      ],
      DeleteMarkers: [
        {
          Key: 'shape/c.csv',
          VersionId: marker.VersionId,
          IsLatest: true,
          Owner: OWNER,
          LastModified: expect.any(Date),
        },
      ],
    });
    // LastModified to the second, as S3 keeps it (the listing and HeadObject agree).
    expect(listing.Versions?.[2]?.LastModified?.getTime()).toBe(head.LastModified?.getTime());
  });

  it('orders keys by their UTF-8 bytes and a key’s versions newest first, delete markers in place, across pages of every size', async () => {
    // In UTF-8 "B" (0x42) < "a" (0x61), and U+E000 (EE 80 80) < U+1F600 (F0 9F 98 80), though
    // JavaScript's UTF-16 order puts the emoji (a surrogate pair, D83D ...) first.
    const a1 = await put('order/a', '1');
    const a2 = await put('order/a', '2');
    const aGone = await remove('order/a');
    const a3 = await put('order/a', '3');
    const upper = await put('order/B', 'B');
    const emoji = await put('order/\u{1F600}', 'emoji');
    const privateUse = await put('order/\uE000', 'private');
    const expected: Listed[] = [
      ['order/B', `${upper.VersionId}`, 'version', true],
      ['order/a', `${a3.VersionId}`, 'version', true],
      ['order/a', `${aGone.VersionId}`, 'marker', false],
      ['order/a', `${a2.VersionId}`, 'version', false],
      ['order/a', `${a1.VersionId}`, 'version', false],
      ['order/\uE000', `${privateUse.VersionId}`, 'version', true],
      ['order/\u{1F600}', `${emoji.VersionId}`, 'version', true],
    ];

    const oneByOne = await pageThrough({ Prefix: 'order/' }, 1);
    expect(oneByOne.entries).toEqual(expected);
    // Each truncated page names its own entry as the next markers (as S3 does), and is truncated.
    for (const [index, page] of oneByOne.pages.entries()) {
      const last = index === oneByOne.pages.length - 1;
      expect(page.IsTruncated).toBe(!last);
      expect(page.NextKeyMarker).toBe(last ? undefined : expected[index]?.[0]);
      expect(page.NextVersionIdMarker).toBe(last ? undefined : expected[index]?.[1]);
    }
    expect(oneByOne.pages[3]).toMatchObject({ KeyMarker: 'order/a', VersionIdMarker: aGone.VersionId });

    // Pages of three: the first ends inside "order/a", the next resumes after its marker.
    const byThree = await pageThrough({ Prefix: 'order/' }, 3);
    expect(byThree.pages.map((page) => [page.NextKeyMarker, page.NextVersionIdMarker])).toEqual([
      ['order/a', aGone.VersionId],
      ['order/\uE000', privateUse.VersionId],
      [undefined, undefined],
    ]);
    expect(byThree.pages[1]?.Versions?.map((v) => v.VersionId)).toEqual([
      a2.VersionId,
      a1.VersionId,
      privateUse.VersionId,
    ]);

    // The noncurrent delete marker by its id: GET is 405 MethodNotAllowed, DELETE removes it.
    expect(await s3Error(read(BUCKET, 'order/a', aGone.VersionId))).toMatchObject({
      name: 'MethodNotAllowed',
      status: 405,
    });
    expect(await remove('order/a', BUCKET, aGone.VersionId)).toMatchObject({ DeleteMarker: true });
    expect((await list({ Prefix: 'order/a' })).DeleteMarkers).toBeUndefined();
  });

  it('rolls keys up into CommonPrefixes with a delimiter, each counted once, and pages past a common prefix', async () => {
    await put('tree/in/1.csv', 'one');
    await put('tree/in/1.csv', 'one again');
    await put('tree/in/2.csv', 'two');
    await put('tree/out/x.csv', 'x');
    const top = await put('tree/top.csv', 'top');
    const last = await put('tree/zz.csv', 'zz');

    const whole = await list({ Prefix: 'tree/', Delimiter: '/' });
    expect(whole.CommonPrefixes).toEqual([{ Prefix: 'tree/in/' }, { Prefix: 'tree/out/' }]);
    expect(whole.Versions?.map((v) => v.Key)).toEqual(['tree/top.csv', 'tree/zz.csv']);
    expect(whole.Delimiter).toBe('/');

    const first = await list({ Prefix: 'tree/', Delimiter: '/', MaxKeys: 2 });
    expect(first).toMatchObject({ IsTruncated: true, NextKeyMarker: 'tree/out/' });
    expect(first.NextVersionIdMarker).toBeUndefined();
    expect(first.CommonPrefixes).toEqual([{ Prefix: 'tree/in/' }, { Prefix: 'tree/out/' }]);
    expect(first.Versions).toBeUndefined();
    const second = await list({
      Prefix: 'tree/',
      Delimiter: '/',
      MaxKeys: 2,
      KeyMarker: first.NextKeyMarker,
    });
    expect(second.CommonPrefixes).toBeUndefined();
    expect(second.Versions?.map((v) => v.VersionId)).toEqual([top.VersionId, last.VersionId]);
    expect(second.IsTruncated).toBe(false);
  });

  it('lists each object of a bucket never versioned once, as the latest version "null"', async () => {
    await put('plain/one.csv', 'first', PLAIN_BUCKET);
    const overwrite = await put('plain/one.csv', 'second!', PLAIN_BUCKET);
    await put('plain/two.csv', 'two', PLAIN_BUCKET);
    const listing = await list({ Bucket: PLAIN_BUCKET, Prefix: 'plain/' });
    expect(listing.Versions?.map((v) => [v.Key, v.VersionId, v.IsLatest, v.Size, v.ETag])).toEqual([
      ['plain/one.csv', 'null', true, 7, overwrite.ETag],
      ['plain/two.csv', 'null', true, 3, expect.any(String)],
    ]);
    expect(listing.DeleteMarkers).toBeUndefined();
  });

  it('keeps an object written before versioning was enabled as the noncurrent version "null"', async () => {
    const bucket = await bucketNamed('sidestep-local-enabled-later');
    await put('k.csv', 'before', bucket);
    await versioning(bucket, { Status: 'Enabled' });
    const after = await put('k.csv', 'after', bucket);
    const listing = await list({ Bucket: bucket });
    expect(listing.Versions?.map((v) => [v.VersionId, v.IsLatest, v.Size])).toEqual([
      [after.VersionId, true, 5],
      ['null', false, 6],
    ]);
    expect(await read(bucket, 'k.csv', 'null')).toEqual({ body: 'before', versionId: 'null' });
  });

  it('lists at most 1000 entries a page (the default), echoing a larger max-keys', async () => {
    const bucket = await bucketNamed('sidestep-local-thousand', true);
    for (let batch = 0; batch < 11; batch += 1) {
      await Promise.all(
        Array.from({ length: batch < 10 ? 100 : 1 }, (_, i) => put(`many/${batch}-${i}.csv`, 'x', bucket)),
      );
    }
    const byDefault = await list({ Bucket: bucket });
    expect(byDefault).toMatchObject({ MaxKeys: 1000, IsTruncated: true });
    expect(byDefault.Versions).toHaveLength(1000);
    const largest = await list({ Bucket: bucket, MaxKeys: 2147483647 });
    expect(largest).toMatchObject({ MaxKeys: 2147483647, IsTruncated: true });
    expect(largest.Versions).toHaveLength(1000);
    const rest = await list({
      Bucket: bucket,
      KeyMarker: largest.NextKeyMarker,
      VersionIdMarker: largest.NextVersionIdMarker,
    });
    expect(rest).toMatchObject({ IsTruncated: false });
    expect(rest.Versions).toHaveLength(1);
    // max-keys 0 lists nothing and is not truncated.
    const none = await list({ Bucket: bucket, MaxKeys: 0 });
    expect(none).toMatchObject({ MaxKeys: 0, IsTruncated: false });
    expect(none.Versions).toBeUndefined();
  });

  it('URL-encodes keys, prefix and markers with encoding-type=url', async () => {
    const key = 'enc/a b&c+d.csv';
    await put(key, 'x');
    const listing = await list({ Prefix: 'enc/', EncodingType: 'url' });
    expect(listing.EncodingType).toBe('url');
    expect(listing.Prefix).toBe('enc%2F');
    expect(listing.Versions?.map((v) => v.Key)).toEqual(['enc%2Fa%20b%26c%2Bd.csv']);
    expect(decodeURIComponent(listing.Versions?.[0]?.Key ?? '')).toBe(key);
  });

  it('resumes after the key with version-id-marker "null" when the key has no null version', async () => {
    const first = await put('null-marker/a.csv', 'a');
    const next = await put('null-marker/b.csv', 'b');
    const listing = await list({
      Prefix: 'null-marker/',
      KeyMarker: 'null-marker/a.csv',
      VersionIdMarker: 'null',
    });
    expect(listing.Versions?.map((v) => v.VersionId)).toEqual([next.VersionId]);
    expect(listing.Versions?.map((v) => v.VersionId)).not.toContain(first.VersionId);
  });

  it('answers only the operation IAM authorizes: GET ?uploads&versions is ListMultipartUploads (not served: 501), not a listing', async () => {
    await put('subresource/a.csv', 'a');
    const withUploads = new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: 'subresource/' });
    withUploads.middlewareStack.add(
      (next) => (args) => {
        const request = args.request as { query?: Record<string, string> };
        request.query = { ...request.query, uploads: '' };
        return next(args);
      },
      { step: 'build' },
    );
    expect(await s3Error(s3.send(withUploads))).toEqual({
      name: 'NotImplemented',
      message: 'A header you provided implies functionality that is not implemented',
      status: 501,
    });
    expect((await list({ Prefix: 'subresource/' })).Versions).toHaveLength(1);
  });

  it('refuses a missing bucket with 404 NoSuchBucket and bad parameters with 400 InvalidArgument, with S3’s messages', async () => {
    expect(await s3Error(list({ Bucket: 'sidestep-local-no-such-bucket' }))).toMatchObject({
      name: 'NoSuchBucket',
      status: 404,
    });
    const invalid = (message: string) => ({ name: 'InvalidArgument', status: 400, message });
    expect(await s3Error(list({ MaxKeys: -1 }))).toEqual(invalid('max-keys cannot be negative'));
    expect(await s3Error(list({ MaxKeys: 1.5 }))).toEqual(
      invalid('Provided max-keys not an integer or within integer range'),
    );
    expect(await s3Error(list({ MaxKeys: 2147483648 }))).toEqual(
      invalid('Provided max-keys not an integer or within integer range'),
    );
    expect(await s3Error(list({ VersionIdMarker: 'null' }))).toEqual(
      invalid('A version-id marker cannot be specified without a key marker.'),
    );
    expect(await s3Error(list({ KeyMarker: 'k', VersionIdMarker: 'not-a-version' }))).toEqual(
      invalid('Invalid version id specified'),
    );
    // Well formed, but not a version of that key (S3 refuses ids it did not give).
    expect(await s3Error(list({ KeyMarker: 'shape/a.csv', VersionIdMarker: 'A'.repeat(32) }))).toEqual(
      invalid('Invalid version id specified'),
    );
    expect(await s3Error(list({ EncodingType: 'base64' as 'url' }))).toEqual(
      invalid('Invalid Encoding Method specified in Request'),
    );
  });
});

describe('GetBucketVersioning and PutBucketVersioning (API_GetBucketVersioning.html, API_PutBucketVersioning.html)', () => {
  it('answers no Status for a bucket never versioned, Enabled for one the local cloud versions', async () => {
    expect(await versioningOf(PLAIN_BUCKET)).toEqual({});
    expect(await versioningOf(BUCKET)).toEqual({ Status: 'Enabled' });
  });

  it('sets Enabled and Suspended, never back to unversioned, and returns MFADelete once it was set', async () => {
    const bucket = await bucketNamed('sidestep-local-toggled');
    await versioning(bucket, { Status: 'Suspended' });
    expect(await versioningOf(bucket)).toEqual({ Status: 'Suspended' });
    await versioning(bucket, { Status: 'Enabled' });
    expect(await versioningOf(bucket)).toEqual({ Status: 'Enabled' });
    await versioning(bucket, { Status: 'Suspended', MFADelete: 'Disabled' });
    expect(await versioningOf(bucket)).toEqual({ Status: 'Suspended', MFADelete: 'Disabled' });
    await versioning(bucket, { Status: 'Enabled' });
    expect(await versioningOf(bucket)).toEqual({ Status: 'Enabled', MFADelete: 'Disabled' });
    // createBucket at the next start does not undo a suspension.
    await versioning(bucket, { Status: 'Suspended' });
    await endpoint.createBucket(bucket, { versioned: true });
    expect((await versioningOf(bucket)).Status).toBe('Suspended');
  });

  it('refuses what S3 refuses: a bad Status, no Status, MFA delete (not served), a missing bucket', async () => {
    const bucket = await bucketNamed('sidestep-local-refusing');
    expect(await s3Error(versioning(bucket, { Status: 'Disabled' as 'Enabled' }))).toMatchObject({
      name: 'MalformedXML',
      status: 400,
    });
    expect(await s3Error(versioning(bucket, {}))).toEqual({
      name: 'IllegalVersioningConfigurationException',
      status: 400,
      message: 'The Versioning element must be specified',
    });
    const mfa = await s3Error(versioning(bucket, { Status: 'Enabled', MFADelete: 'Enabled' }));
    expect(mfa).toMatchObject({ name: 'NotImplemented', status: 501 });
    expect(mfa.message).toContain('MFA delete');
    expect(await versioningOf(bucket)).toEqual({});
    expect(await s3Error(versioning('sidestep-local-no-such-bucket', { Status: 'Enabled' }))).toMatchObject({
      name: 'NoSuchBucket',
      status: 404,
    });
    expect(await s3Error(versioningOf('sidestep-local-no-such-bucket'))).toMatchObject({
      name: 'NoSuchBucket',
    });
  });
});

describe('S3 objects while versioning is suspended (VersionSuspendedBehavior.html)', () => {
  it('gives writes the version id "null", replacing the null version and keeping the versions with ids', async () => {
    const bucket = await bucketNamed('sidestep-local-suspended', true);
    const v1 = await put('k.csv', 'v1', bucket);
    await versioning(bucket, { Status: 'Suspended' });

    const first = await put('k.csv', 'null one', bucket);
    // S3 answers a write of the null version without x-amz-version-id.
    expect(first.VersionId).toBeUndefined();
    expect(await read(bucket, 'k.csv')).toEqual({ body: 'null one', versionId: 'null' });
    const copied = await s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'k.csv',
        CopySource: `${bucket}/k.csv?versionId=${v1.VersionId}`,
      }),
    );
    expect(copied).toMatchObject({ CopySourceVersionId: v1.VersionId });
    expect(copied.VersionId).toBeUndefined();

    // One null version: the copy replaced the first; v1 is kept.
    const listing = await list({ Bucket: bucket });
    expect(listing.Versions?.map((v) => [v.VersionId, v.IsLatest, v.Size])).toEqual([
      ['null', true, 2],
      [v1.VersionId, false, 2],
    ]);
    expect(await read(bucket, 'k.csv', 'null')).toEqual({ body: 'v1', versionId: 'null' });
    expect(await read(bucket, 'k.csv', v1.VersionId)).toEqual({ body: 'v1', versionId: v1.VersionId });
  });

  it('deletes with a delete marker "null" that replaces the null version; removing it makes the version before current', async () => {
    const bucket = await bucketNamed('sidestep-local-suspended-delete', true);
    const v1 = await put('k.csv', 'v1', bucket);
    await versioning(bucket, { Status: 'Suspended' });
    await put('k.csv', 'the null version', bucket);

    const deleted = await remove('k.csv', bucket);
    expect(deleted).toMatchObject({ DeleteMarker: true, VersionId: 'null' });
    expect(await s3Error(read(bucket, 'k.csv'))).toMatchObject({ name: 'NoSuchKey', status: 404 });
    // The null version is now the marker: its object is gone for good.
    expect(await s3Error(read(bucket, 'k.csv', 'null'))).toMatchObject({ status: 405 });
    const listing = await list({ Bucket: bucket });
    expect(listing.DeleteMarkers?.map((m) => [m.VersionId, m.IsLatest])).toEqual([['null', true]]);
    expect(listing.Versions?.map((v) => [v.VersionId, v.IsLatest])).toEqual([[v1.VersionId, false]]);

    const unmarked = await remove('k.csv', bucket, 'null');
    expect(unmarked).toMatchObject({ DeleteMarker: true, VersionId: 'null' });
    expect(await read(bucket, 'k.csv')).toEqual({ body: 'v1', versionId: v1.VersionId });
  });

  it('gives writes new ids again once versioning is re-enabled, keeping the null version noncurrent', async () => {
    const bucket = await bucketNamed('sidestep-local-reenabled', true);
    const v1 = await put('k.csv', 'v1', bucket);
    await versioning(bucket, { Status: 'Suspended' });
    await put('k.csv', 'null', bucket);
    await versioning(bucket, { Status: 'Enabled' });
    const v3 = await put('k.csv', 'v3', bucket);
    expect(v3.VersionId).toMatch(/^[A-Za-z0-9._-]{32}$/);
    const listing = await list({ Bucket: bucket });
    expect(listing.Versions?.map((v) => [v.VersionId, v.IsLatest])).toEqual([
      [v3.VersionId, true],
      ['null', false],
      [v1.VersionId, false],
    ]);
    expect(await read(bucket, 'k.csv', 'null')).toEqual({ body: 'null', versionId: 'null' });
  });
});

describe('bucket versioning in a state directory', () => {
  // Each start versions BUCKET, as the local cloud versions every bucket at start.
  const state = useS3StateDirectory(BUCKET);
  const withEndpoint = <T>(use: (client: S3Client) => Promise<T>) => state.withEndpoint(use);
  const listed = async (client: S3Client) => {
    const { $metadata: _, ...listing } = await list({}, client);
    return listing;
  };

  it('keeps the configuration (Suspended, MFADelete) and every version, null ones and delete markers, across a restart', async () => {
    const before = await withEndpoint(async (client) => {
      const send = (key: string, body: string) =>
        client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
      await send('kept.csv', 'v1');
      await send('gone.csv', 'gone');
      await client.send(
        new PutBucketVersioningCommand({
          Bucket: BUCKET,
          VersioningConfiguration: { Status: 'Suspended', MFADelete: 'Disabled' },
        }),
      );
      await send('kept.csv', 'the null version');
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'gone.csv' }));
      return listed(client);
    });
    expect(before.Versions).toHaveLength(3);
    expect(before.DeleteMarkers).toHaveLength(1);

    await withEndpoint(async (client) => {
      // The start's createBucket(versioned) leaves the suspension as it was.
      const { $metadata: _, ...configuration } = await client.send(
        new GetBucketVersioningCommand({ Bucket: BUCKET }),
      );
      expect(configuration).toEqual({ Status: 'Suspended', MFADelete: 'Disabled' });
      expect(await listed(client)).toEqual(before);
      // Writes after the restart still replace the null version.
      const again = await client.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: 'kept.csv', Body: 'again' }),
      );
      expect(again.VersionId).toBeUndefined();
      const after = await listed(client);
      expect(after.Versions?.filter((v) => v.Key === 'kept.csv').map((v) => [v.VersionId, v.Size])).toEqual([
        ['null', 5],
        [before.Versions?.find((v) => v.Key === 'kept.csv' && !v.IsLatest)?.VersionId, 2],
      ]);
    });
  });

  it('reads a state directory written before suspension was served as Enabled', async () => {
    await withEndpoint(async () => undefined);
    // The table as it was: bucket names only.
    const db = new DatabaseSync(join(state.dataDir, 'fauxqs.db'));
    db.exec(`
      DROP TABLE sidestep_s3_versioned_buckets;
      CREATE TABLE sidestep_s3_versioned_buckets (name TEXT PRIMARY KEY);
      INSERT INTO sidestep_s3_versioned_buckets (name) VALUES ('${BUCKET}');
    `);
    db.close();
    await withEndpoint(async (client) => {
      const { Status } = await client.send(new GetBucketVersioningCommand({ Bucket: BUCKET }));
      expect(Status).toBe('Enabled');
      await client.send(
        new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Suspended' } }),
      );
    });
    await withEndpoint(async (client) => {
      const { Status } = await client.send(new GetBucketVersioningCommand({ Bucket: BUCKET }));
      expect(Status).toBe('Suspended');
    });
  });
});
