// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform references are literal text in the stack.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteObjectCommand,
  GetBucketLifecycleConfigurationCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type LifecycleRule,
  ListObjectVersionsCommand,
  ListPartsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { rejectionOf } from '@sidestep/contracts/testing';
import { type AwsEndpoint, startAwsEndpoint } from '../src/aws-endpoint.ts';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import { startLocalCloud } from '../src/local-cloud.ts';
import { lifecycleDueAt, ruleSelects } from '../src/s3-lifecycle.ts';
import { createVirtualClock, type VirtualClock } from '../src/scheduler.ts';
import { StackLifecycleError, stackLifecycleRules } from '../src/stack-lifecycle-rules.ts';
import { createUpload } from './fixtures/multipart-uploads.ts';
import { localS3Client } from './fixtures/s3-endpoint.ts';

// S3 Lifecycle as AWS documents it:
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-rules.html (days counted from
// creation, rounded up to the next midnight UTC) and
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-expire-general-considerations.html
// (a versioned bucket's expiration adds a delete marker; expired object delete markers).
const DAY = 24 * 60 * 60 * 1000;

/** infra's rules for an upload bucket (s3-trigger.ts), scoped to `uploads/`, and the marker rule. */
const UPLOAD_RULES: LifecycleRule[] = [
  {
    ID: 'expire-uploads',
    Status: 'Enabled',
    Filter: { Prefix: 'uploads/' },
    Expiration: { Days: 1 },
    NoncurrentVersionExpiration: { NoncurrentDays: 1 },
    AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
  },
  {
    ID: 'remove-expired-delete-markers',
    Status: 'Enabled',
    Filter: { Prefix: '' },
    Expiration: { ExpiredObjectDeleteMarker: true },
  },
];

const s3Rejection = (promise: Promise<unknown>) => rejectionOf(promise, S3ServiceException);

describe('lifecycleDueAt', () => {
  it('adds the days to the creation time and rounds up to the next midnight UTC, as S3 counts', () => {
    // The User Guide's example: written 2014-01-15 10:30 UTC, 3 days -> expires 2014-01-19 00:00 UTC.
    expect(lifecycleDueAt(new Date('2014-01-15T10:30:00Z'), 3)).toEqual(new Date('2014-01-19T00:00:00Z'));
    expect(lifecycleDueAt(new Date('2014-01-15T23:59:59Z'), 1)).toEqual(new Date('2014-01-17T00:00:00Z'));
  });
});

describe('ruleSelects', () => {
  const rule = (extra: Partial<LifecycleRule>): LifecycleRule => ({ Status: 'Enabled', ...extra });

  it('selects keys under the filter prefix (or the legacy rule prefix) within the size bounds', () => {
    expect(ruleSelects(rule({ Filter: { Prefix: 'exports/' } }), 'exports/a.csv.gz', 10)).toBe(true);
    expect(ruleSelects(rule({ Filter: { Prefix: 'exports/' } }), 'imports/a.csv', 10)).toBe(false);
    expect(ruleSelects(rule({ Prefix: 'a/' }), 'b/x', 1)).toBe(false);
    const bounded = rule({
      Filter: { And: { Prefix: 'a/', ObjectSizeGreaterThan: 10, ObjectSizeLessThan: 20 } },
    });
    expect(ruleSelects(bounded, 'a/x', 15)).toBe(true);
    expect(ruleSelects(bounded, 'a/x', 10)).toBe(false);
    expect(ruleSelects(bounded, 'a/x', 20)).toBe(false);
  });

  it('selects nothing for a disabled rule or one filtering on tags (the endpoint keeps no object tags)', () => {
    expect(ruleSelects({ Status: 'Disabled', Filter: { Prefix: '' } }, 'x', 1)).toBe(false);
    expect(ruleSelects(rule({ Filter: { Tag: { Key: 'k', Value: 'v' } } }), 'x', 1)).toBe(false);
    const tagged = rule({
      Filter: { And: { Prefix: 'exports/', Tags: [{ Key: 'sidestep-export', Value: 'part' }] } },
    });
    expect(ruleSelects(tagged, 'exports/p', 1)).toBe(false);
  });
});

describe('S3 lifecycle on the local endpoint', () => {
  const VERSIONED = 'sidestep-local-lifecycle';
  const PLAIN = 'sidestep-local-lifecycle-plain';
  let endpoint: AwsEndpoint;
  let s3: S3Client;
  let clock: VirtualClock;
  let start: Date;

  beforeAll(async () => {
    start = new Date();
    clock = createVirtualClock(start);
    endpoint = await startAwsEndpoint({ port: 0, lifecycle: { clock } });
    await endpoint.createBucket(VERSIONED, { versioned: true, lifecycleRules: UPLOAD_RULES });
    await endpoint.createBucket(PLAIN, { lifecycleRules: UPLOAD_RULES });
    s3 = localS3Client(endpoint.url);
  });
  afterAll(async () => {
    s3.destroy();
    await endpoint.stop();
  });

  const put = (bucket: string, key: string, body: string) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const versionsOf = async (bucket: string, key: string) => {
    const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
    return {
      versions: (listed.Versions ?? []).filter((v) => v.Key === key),
      markers: (listed.DeleteMarkers ?? []).filter((m) => m.Key === key),
    };
  };
  /** Moves the clock to `at` and runs a pass there. */
  const passAt = async (at: Date) => {
    await clock.advanceTo(at);
    return endpoint.applyLifecycle();
  };

  it('keeps the rules as S3 stored them (GetBucketLifecycleConfiguration)', async () => {
    const { Rules } = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: VERSIONED }));
    expect(Rules?.map((rule) => rule.ID)).toEqual(['expire-uploads', 'remove-expired-delete-markers']);
    expect(Rules?.[0]?.Expiration?.Days).toBe(1);
  });

  it('expires a current version behind a delete marker once due, not a millisecond before; keys outside the prefix stay', async () => {
    const written = await put(VERSIONED, 'uploads/a.csv', 'email\na@x.io\n');
    await put(VERSIONED, 'other/a.csv', 'kept');
    await put(PLAIN, 'uploads/plain.csv', 'gone');
    const upload = await createUpload(s3, VERSIONED, 'uploads/big.csv');
    const outside = await createUpload(s3, VERSIONED, 'other/big.csv');
    const headOf = await s3.send(new HeadObjectCommand({ Bucket: VERSIONED, Key: 'uploads/a.csv' }));
    const due = lifecycleDueAt(headOf.LastModified ?? start, 1);

    expect(await passAt(new Date(due.getTime() - 1))).toEqual({
      expired: 0,
      noncurrentRemoved: 0,
      deleteMarkersRemoved: 0,
      uploadsAborted: 0,
    });
    expect(await s3.send(new GetObjectCommand({ Bucket: VERSIONED, Key: 'uploads/a.csv' }))).toBeDefined();

    const pass = await passAt(due);
    expect(pass).toMatchObject({ expired: 2, uploadsAborted: 1 });
    // Versioning-enabled: a delete marker is the current version; the object is a noncurrent version.
    const error = await s3Rejection(
      s3.send(new GetObjectCommand({ Bucket: VERSIONED, Key: 'uploads/a.csv' })),
    );
    expect(error.name).toBe('NoSuchKey');
    const { versions, markers } = await versionsOf(VERSIONED, 'uploads/a.csv');
    expect(markers).toEqual([expect.objectContaining({ IsLatest: true, LastModified: due })]);
    expect(versions).toEqual([expect.objectContaining({ VersionId: written.VersionId, IsLatest: false })]);
    // Never versioned: the object itself is gone.
    expect((await versionsOf(PLAIN, 'uploads/plain.csv')).versions).toEqual([]);
    // Outside the prefix: the object and the upload stay.
    await expect(
      s3.send(new GetObjectCommand({ Bucket: VERSIONED, Key: 'other/a.csv' })),
    ).resolves.toBeDefined();
    await expect(
      s3.send(new ListPartsCommand({ Bucket: VERSIONED, Key: outside.key, UploadId: outside.uploadId })),
    ).resolves.toBeDefined();
    const aborted = await s3Rejection(
      s3.send(new ListPartsCommand({ Bucket: VERSIONED, Key: upload.key, UploadId: upload.uploadId })),
    );
    expect(aborted.name).toBe('NoSuchUpload');

    // The version became noncurrent when the marker was made: it goes NoncurrentDays after that,
    // and the marker, then alone, with it (ExpiredObjectDeleteMarker).
    const noncurrentDue = lifecycleDueAt(due, 1);
    expect(await passAt(new Date(noncurrentDue.getTime() - 1))).toMatchObject({ noncurrentRemoved: 0 });
    expect(await passAt(noncurrentDue)).toMatchObject({ noncurrentRemoved: 1, deleteMarkersRemoved: 1 });
    expect(await versionsOf(VERSIONED, 'uploads/a.csv')).toEqual({ versions: [], markers: [] });
  });

  // "If the current object version is the only object version and it is also a delete marker ...,
  // Amazon S3 removes the expired object delete marker" under an Expiration of Days or Date, no
  // ExpiredObjectDeleteMarker needed (lifecycle-expire-general-considerations.html, above).
  it('removes a lone delete marker under an Expiration Days rule once it is due', async () => {
    const bucket = 'sidestep-local-lifecycle-days';
    await endpoint.createBucket(bucket, {
      versioned: true,
      lifecycleRules: [{ ID: 'expire', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 1 } }],
    });
    const written = await put(bucket, 'lone.csv', 'x');
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'lone.csv' }));
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'lone.csv', VersionId: written.VersionId }));
    const { markers } = await versionsOf(bucket, 'lone.csv');
    expect(markers).toHaveLength(1);
    const due = lifecycleDueAt(markers[0]?.LastModified ?? start, 1);
    const at = new Date(Math.max(due.getTime(), clock.now().getTime()));
    expect(await passAt(at)).toMatchObject({ expired: 0, deleteMarkersRemoved: 1 });
    expect(await versionsOf(bucket, 'lone.csv')).toEqual({ versions: [], markers: [] });
  });

  // "If the object expiration is configured (see PutBucketLifecycleConfiguration), the response
  // includes this header. It includes the expiry-date and rule-id key-value pairs providing object
  // expiration information. The value of the rule-id is URL-encoded."
  // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html, x-amz-expiration)
  it('says when and by which rule an object expires on HeadObject and GetObject (x-amz-expiration)', async () => {
    const bucket = 'sidestep-local-lifecycle-expiring';
    await endpoint.createBucket(bucket, { lifecycleRules: UPLOAD_RULES });
    await put(bucket, 'uploads/expiring.csv', 'x');
    await put(bucket, 'kept/forever.csv', 'x');
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'uploads/expiring.csv' }));
    const due = lifecycleDueAt(head.LastModified ?? new Date(0), 1);
    expect(head.Expiration).toBe(`expiry-date="${due.toUTCString()}", rule-id="expire-uploads"`);
    const got = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: 'uploads/expiring.csv', Range: 'bytes=0-0' }),
    );
    expect(got.Expiration).toBe(head.Expiration);
    await got.Body?.transformToString();
    const kept = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'kept/forever.csv' }));
    expect(kept.Expiration).toBeUndefined();
  });

  it('reads a changed lifecycle configuration for the header, and names the earliest rule, its id URL-encoded', async () => {
    const bucket = 'sidestep-local-lifecycle-header';
    await endpoint.createBucket(bucket, { lifecycleRules: UPLOAD_RULES });
    await put(bucket, 'uploads/a.csv', 'x');
    const before = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'uploads/a.csv' }));
    expect(before.Expiration).toContain('rule-id="expire-uploads"');
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket,
        LifecycleConfiguration: {
          Rules: [
            { ID: 'later', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 30 } },
            { ID: 'sooner one', Status: 'Enabled', Filter: { Prefix: 'uploads/' }, Expiration: { Days: 2 } },
          ],
        },
      }),
    );
    // S3 applies a new configuration after a while ("there might be a delay before a new or updated
    // Lifecycle configuration is fully propagated"); the local endpoint reads it once the change is answered.
    const deadline = Date.now() + 5_000;
    let after = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'uploads/a.csv' }));
    while (after.Expiration === before.Expiration && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      after = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'uploads/a.csv' }));
    }
    const due = lifecycleDueAt(after.LastModified ?? new Date(0), 2);
    expect(after.Expiration).toBe(`expiry-date="${due.toUTCString()}", rule-id="sooner%20one"`);
  });
});

describe('S3 lifecycle of noncurrent versions on the local endpoint', () => {
  const BUCKET = 'sidestep-local-lifecycle-noncurrent';
  let endpoint: AwsEndpoint;
  let s3: S3Client;
  let clock: VirtualClock;

  beforeAll(async () => {
    clock = createVirtualClock(new Date());
    endpoint = await startAwsEndpoint({ port: 0, lifecycle: { clock } });
    await endpoint.createBucket(BUCKET, {
      versioned: true,
      lifecycleRules: [
        {
          ID: 'keep-one-noncurrent',
          Status: 'Enabled',
          Filter: { Prefix: 'claims/' },
          NoncurrentVersionExpiration: { NoncurrentDays: 1, NewerNoncurrentVersions: 1 },
        },
      ],
    });
    s3 = localS3Client(endpoint.url);
  });
  afterAll(async () => {
    s3.destroy();
    await endpoint.stop();
  });

  it('removes a replaced version NoncurrentDays after its successor was written, beyond the NewerNoncurrentVersions kept', async () => {
    const put = (key: string, body: string) =>
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
    const first = await put('claims/a.json', 'one');
    const second = await put('claims/a.json', 'two');
    const third = await put('claims/a.json', 'three');
    const outside = await put('other/a.json', 'one');
    await put('other/a.json', 'two');
    await put('other/a.json', 'three');
    const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET }));
    const written = (versionId: string | undefined) =>
      listed.Versions?.find((v) => v.VersionId === versionId)?.LastModified ?? new Date(0);
    // The first version became noncurrent when the second was written.
    const due = lifecycleDueAt(written(second.VersionId), 1);
    const kept = async () =>
      ((await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET }))).Versions ?? []).map(
        (v) => v.VersionId,
      );

    await clock.advanceTo(new Date(due.getTime() - 1));
    await endpoint.applyLifecycle();
    expect(await kept()).toContain(first.VersionId);

    await clock.advanceTo(due);
    expect(await endpoint.applyLifecycle()).toMatchObject({ noncurrentRemoved: 1 });
    const after = await kept();
    expect(after).not.toContain(first.VersionId);
    // The newest noncurrent version stays (NewerNoncurrentVersions 1), the current one, and the
    // versions outside the prefix.
    expect(after).toEqual(expect.arrayContaining([second.VersionId, third.VersionId, outside.VersionId]));
  });
});

describe('S3 lifecycle passes on the clock', () => {
  it('runs a pass every interval on its clock, with nobody asking', async () => {
    const clock = createVirtualClock(new Date());
    const endpoint = await startAwsEndpoint({ port: 0, lifecycle: { clock, intervalMs: 60 * 60 * 1000 } });
    const s3 = localS3Client(endpoint.url);
    try {
      await endpoint.createBucket('sidestep-local-lifecycle-timer', { lifecycleRules: UPLOAD_RULES });
      await s3.send(
        new PutObjectCommand({ Bucket: 'sidestep-local-lifecycle-timer', Key: 'uploads/x', Body: 'x' }),
      );
      await clock.advanceBy(3 * DAY);
      const gone = async () => {
        for (let attempt = 0; attempt < 100; attempt += 1) {
          const listed = await s3.send(
            new ListObjectVersionsCommand({ Bucket: 'sidestep-local-lifecycle-timer' }),
          );
          if ((listed.Versions ?? []).length === 0) return true;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return false;
      };
      expect(await gone()).toBe(true);
    } finally {
      s3.destroy();
      await endpoint.stop();
    }
  });
});

describe('S3 lifecycle across a restart on the state directory', () => {
  const BUCKET = 'sidestep-local-lifecycle-restart';
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sidestep-lifecycle-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });
  let running: AwsEndpoint | undefined;
  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  it('applies at start what came due while the cloud was stopped, from the configuration it kept', async () => {
    const first = await startAwsEndpoint({ port: 0, dataDir });
    running = first;
    await first.createBucket(BUCKET, { versioned: true, lifecycleRules: UPLOAD_RULES });
    let s3 = localS3Client(first.url);
    const written = await put(s3, 'uploads/kept-over-restart.csv', 'x');
    await put(s3, 'uploads/recent.csv', 'x');
    const upload = await createUpload(s3, BUCKET, 'uploads/part.csv');
    s3.destroy();
    await first.stop();
    running = undefined;

    // Two days later: everything written before is due (rounded up, at most 2 days after writing).
    const later = new Date(Date.now() + 2 * DAY);
    const restarted = await startAwsEndpoint({
      port: 0,
      dataDir,
      lifecycle: { clock: createVirtualClock(later) },
    });
    running = restarted;
    s3 = localS3Client(restarted.url);
    try {
      const error = await s3Rejection(
        s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'uploads/kept-over-restart.csv' })),
      );
      expect(error.name).toBe('NoSuchKey');
      const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: 'uploads/' }));
      expect(listed.DeleteMarkers?.map((m) => m.Key).sort()).toEqual([
        'uploads/kept-over-restart.csv',
        'uploads/recent.csv',
      ]);
      expect(listed.Versions?.map((v) => v.VersionId)).toContain(written.VersionId);
      const aborted = await s3Rejection(
        s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: upload.key, UploadId: upload.uploadId })),
      );
      expect(aborted.name).toBe('NoSuchUpload');
    } finally {
      s3.destroy();
    }
  });

  const put = (client: S3Client, key: string, body: string) =>
    client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
});

/** A synthesized stack with the exports bucket and its lifecycle `rule` blocks, as infra writes them. */
const exportsStack = (rule: object[]) => ({
  resource: {
    aws_s3_bucket: { 'exports-bucket_1': { bucket: 'sidestep-local-exports' } },
    aws_s3_bucket_lifecycle_configuration: {
      'exports-bucket_lifecycle_2': { bucket: '${aws_s3_bucket.exports-bucket_1.id}', rule },
    },
  },
});

describe('startLocalCloud with a stack', () => {
  it("gives each bucket it creates the stack's lifecycle rules", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'sidestep-lifecycle-cloud-'));
    const cloud = await startLocalCloud({
      rootDir: stateDir,
      stateDir,
      services: [],
      buckets: ['sidestep-local-exports'],
      // The rules without IAM: no service runs here, so the stack has no roles.
      stack: exportsStack([
        {
          id: 'expire-exports',
          status: 'Enabled',
          filter: [{ prefix: 'exports/' }],
          expiration: [{ days: 7 }],
        },
      ]),
      iam: false,
      port: 0,
      smtpPort: 0,
      reporter: createCollectingReporter().reporter,
    });
    const s3 = localS3Client(cloud.endpoint);
    try {
      const { Rules } = await s3.send(
        new GetBucketLifecycleConfigurationCommand({ Bucket: 'sidestep-local-exports' }),
      );
      expect(Rules).toEqual([
        expect.objectContaining({
          ID: 'expire-exports',
          Filter: { Prefix: 'exports/' },
          Expiration: { Days: 7 },
        }),
      ]);
    } finally {
      s3.destroy();
      await cloud.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});

describe('stackLifecycleRules', () => {
  it("reads each bucket's rules from the synthesized stack, as infra deploys them", () => {
    const rules = stackLifecycleRules(
      exportsStack([
        {
          id: 'expire-exports',
          status: 'Enabled',
          filter: [{ prefix: 'exports/' }],
          expiration: [{ days: 7 }],
          noncurrent_version_expiration: [{ noncurrent_days: 1 }],
        },
        {
          id: 'expire-export-parts',
          status: 'Enabled',
          filter: [{ and: [{ prefix: 'exports/', tags: { 'sidestep-export': 'part' } }] }],
          expiration: [{ days: 2 }],
        },
        {
          id: 'abort',
          status: 'Enabled',
          filter: [{}],
          abort_incomplete_multipart_upload: [{ days_after_initiation: 1 }],
        },
        {
          id: 'markers',
          status: 'Enabled',
          filter: [{}],
          expiration: [{ expired_object_delete_marker: true }],
        },
      ]),
    );
    expect(rules.get('sidestep-local-exports')).toEqual([
      {
        ID: 'expire-exports',
        Status: 'Enabled',
        Filter: { Prefix: 'exports/' },
        Expiration: { Days: 7 },
        NoncurrentVersionExpiration: { NoncurrentDays: 1 },
      },
      {
        ID: 'expire-export-parts',
        Status: 'Enabled',
        Filter: { And: { Prefix: 'exports/', Tags: [{ Key: 'sidestep-export', Value: 'part' }] } },
        Expiration: { Days: 2 },
      },
      {
        ID: 'abort',
        Status: 'Enabled',
        Filter: { Prefix: '' },
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
      },
      {
        ID: 'markers',
        Status: 'Enabled',
        Filter: { Prefix: '' },
        Expiration: { ExpiredObjectDeleteMarker: true },
      },
    ]);
  });

  it('refuses a configuration whose bucket is not one of the stack, naming the field', () => {
    const error = (() => {
      try {
        stackLifecycleRules({
          resource: {
            aws_s3_bucket_lifecycle_configuration: {
              x: { bucket: '${aws_s3_bucket.missing.id}', rule: [] },
            },
          },
        });
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(StackLifecycleError);
    expect((error as StackLifecycleError).field).toBe('aws_s3_bucket_lifecycle_configuration.x.bucket');
  });
});
