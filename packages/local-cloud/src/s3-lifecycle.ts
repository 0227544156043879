import {
  GetBucketLifecycleConfigurationCommand,
  type LifecycleRule,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import type { FauxqsStores } from './fauxqs-stores.ts';
import type { ObjectVersions } from './s3-versions.ts';
import { type ClockTimer, REAL_CLOCK, type SchedulerClock } from './scheduler.ts';

type S3Store = FauxqsStores['s3Store'];

const DAY_MS = 24 * 60 * 60 * 1000;
/** How often the rules are applied after the pass at start: S3 evaluates them about once a day. */
export const LIFECYCLE_INTERVAL_MS = 60 * 60 * 1000;

/** What one pass of {@link startLifecycle} did. */
export interface LifecyclePass {
  /** Current versions expired: a delete marker added (versioned bucket) or the object removed. */
  readonly expired: number;
  /** Noncurrent versions (and noncurrent delete markers) removed for good. */
  readonly noncurrentRemoved: number;
  /** Expired object delete markers (a delete marker that is a key's only version) removed. */
  readonly deleteMarkersRemoved: number;
  /** Incomplete multipart uploads aborted. */
  readonly uploadsAborted: number;
}

/**
 * When an action `days` days after `from` is due, as S3 counts it: "Amazon S3 calculates the time by
 * adding the number of days specified in the rule to the object creation time and rounding the
 * resulting time to the next day midnight UTC"
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-rules.html); an object
 * written 2026-01-15 10:30 UTC under a 3-day rule expires 2026-01-19 00:00 UTC.
 */
export function lifecycleDueAt(from: Date, days: number): Date {
  return new Date((Math.floor((from.getTime() + days * DAY_MS) / DAY_MS) + 1) * DAY_MS);
}

/**
 * Whether an enabled `rule` selects the object `key` of `size` bytes: its filter's prefix (or the
 * rule's legacy `Prefix`) and object size bounds, alone or under `And`
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-filters.html). A rule that
 * filters on object tags selects nothing: the local endpoint keeps no object tags (a PutObject's
 * `x-amz-tagging` is dropped), so no object could carry them. It acts later than AWS, never earlier.
 */
export function ruleSelects(rule: LifecycleRule, key: string, size: number): boolean {
  if (rule.Status !== 'Enabled') return false;
  const filter = rule.Filter ?? {};
  const and = filter.And ?? {};
  if (filter.Tag || (and.Tags?.length ?? 0) > 0) return false;
  const prefix = filter.Prefix ?? and.Prefix ?? rule.Prefix ?? '';
  const greaterThan = filter.ObjectSizeGreaterThan ?? and.ObjectSizeGreaterThan;
  const lessThan = filter.ObjectSizeLessThan ?? and.ObjectSizeLessThan;
  return (
    key.startsWith(prefix) &&
    (greaterThan === undefined || size > greaterThan) &&
    (lessThan === undefined || size < lessThan)
  );
}

/**
 * A bucket's enabled lifecycle rules, as S3 stored them (GetBucketLifecycleConfiguration through the
 * endpoint as `s3`, the operator); none when it has no configuration or is gone.
 */
export async function bucketLifecycleRules(s3: S3Client, bucket: string): Promise<LifecycleRule[]> {
  try {
    const { Rules } = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
    // Only the enabled rules act (ruleSelects refuses a disabled rule too, for callers that hand it one).
    return (Rules ?? []).filter((rule) => rule.Status === 'Enabled');
  } catch (error) {
    // No configuration, or the bucket went between listing and reading.
    if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404) return [];
    throw error;
  }
}

/**
 * The `x-amz-expiration` header of GetObject and HeadObject for the current version of `key` (`size`
 * bytes, written at `created`) under `rules`: "If the object expiration is configured (see
 * PutBucketLifecycleConfiguration), the response includes this header. It includes the expiry-date
 * and rule-id key-value pairs providing object expiration information. The value of the rule-id is
 * URL-encoded" (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html), e.g.
 * `expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="picture-deletion-rule"`. Of several rules
 * that expire it, the earliest; `undefined` when none does.
 */
export function expirationHeader(
  rules: readonly LifecycleRule[],
  key: string,
  size: number,
  created: Date,
): string | undefined {
  let earliest: { readonly at: Date; readonly id: string } | undefined;
  for (const rule of rules) {
    if (!ruleSelects(rule, key, size)) continue;
    const { Days: days, Date: date } = rule.Expiration ?? {};
    const at = days !== undefined ? lifecycleDueAt(created, days) : date;
    if (at && (!earliest || at.getTime() < earliest.at.getTime())) earliest = { at, id: rule.ID ?? '' };
  }
  return (
    earliest && `expiry-date="${earliest.at.toUTCString()}", rule-id="${encodeURIComponent(earliest.id)}"`
  );
}

/** Options of {@link startLifecycle}. */
export interface LifecycleOptions {
  readonly store: S3Store;
  readonly versions: ObjectVersions;
  /**
   * A bucket's enabled rules as S3 stored them ({@link bucketLifecycleRules}): the endpoint's, which
   * keeps each bucket's as of its last change for the objects' `x-amz-expiration` too.
   */
  readonly rulesOf: (bucket: string) => Promise<readonly LifecycleRule[]>;
  /** @default {@link REAL_CLOCK} */
  readonly clock?: SchedulerClock;
  /** Time between passes. @default {@link LIFECYCLE_INTERVAL_MS} */
  readonly intervalMs?: number;
  /** A pass that failed (the next one runs on time). @default ignored */
  readonly onError?: (error: unknown) => void;
}

/** The running applier: {@link LifecycleApplier.apply} runs a pass now. */
export interface LifecycleApplier {
  /** Runs a pass at the clock's time (after the one running, if any) and says what it did. */
  apply(): Promise<LifecyclePass>;
  /** Cancels the next pass and waits for the one running. */
  stop(): Promise<void>;
}

/**
 * Applies every bucket's lifecycle configuration (what PutBucketLifecycleConfiguration stored, kept
 * in the state directory with the bucket) as S3 does, asynchronously: a pass at start, then one every
 * {@link LifecycleOptions.intervalMs} on the clock (a real-clock timer never keeps the process alive).
 *
 * What a pass does, each action once its time, rounded up to the next midnight UTC
 * ({@link lifecycleDueAt}), is at or before the clock's time
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-expire-general-considerations.html):
 *
 * - `AbortIncompleteMultipartUpload` `DaysAfterInitiation`: aborts the upload (its parts are gone);
 * - `NoncurrentVersionExpiration` `NoncurrentDays`, counted from when the version became noncurrent
 *   (its successor's creation), keeping the `NewerNoncurrentVersions` newest: removes the version
 *   (or noncurrent delete marker) for good;
 * - `Expiration` `ExpiredObjectDeleteMarker`, or `Days` / `Date` counted from the marker's creation:
 *   removes a delete marker that is its key's only version;
 * - `Expiration` `Days` (from the object's creation) or `Date`: expires the current version. A
 *   versioning-enabled bucket gets a delete marker (the version becomes noncurrent), a suspended one
 *   a `null` delete marker replacing the null version, one never versioned loses the object.
 *
 * Transitions are not applied (the local endpoint has one storage class).
 */
export async function startLifecycle(options: LifecycleOptions): Promise<LifecycleApplier> {
  const { store, versions, rulesOf } = options;
  const clock = options.clock ?? REAL_CLOCK;
  const intervalMs = options.intervalMs ?? LIFECYCLE_INTERVAL_MS;
  const uploads = (store as unknown as { multipartUploads: Map<string, FauxqsUpload> }).multipartUploads;
  let running: Promise<unknown> = Promise.resolve();
  let timer: ClockTimer | undefined;
  let stopped = false;

  const pass = async (): Promise<LifecyclePass> => {
    const now = clock.now().getTime();
    const due = (from: Date, days: number | undefined) =>
      days !== undefined && lifecycleDueAt(from, days).getTime() <= now;
    const dateReached = (rule: LifecycleRule) =>
      rule.Expiration?.Date !== undefined && rule.Expiration.Date.getTime() <= now;
    const done = { expired: 0, noncurrentRemoved: 0, deleteMarkersRemoved: 0, uploadsAborted: 0 };
    for (const { name: bucket } of store.listBuckets()) {
      // Only enabled rules are given: a bucket whose rules are all disabled is skipped whole.
      const rules = await rulesOf(bucket);
      if (rules.length === 0) continue;
      for (const upload of [...uploads.values()]) {
        if (upload.bucket !== bucket) continue;
        const aborts = rules.some(
          (rule) =>
            ruleSelects(rule, upload.key, 0) &&
            due(upload.initiated, rule.AbortIncompleteMultipartUpload?.DaysAfterInitiation),
        );
        if (!aborts) continue;
        store.abortMultipartUpload(upload.uploadId);
        done.uploadsAborted += 1;
      }
      for (const key of versions.keys(bucket) ?? []) {
        const listed = versions.versionsOf(bucket, key); // newest first
        let newerNoncurrent = 0;
        for (const [index, version] of listed.entries()) {
          const successor = listed[index - 1];
          if (version.isLatest || !successor) continue;
          const size = version.object?.size ?? 0;
          const removes = rules.some((rule) => {
            const expiration = rule.NoncurrentVersionExpiration;
            return (
              ruleSelects(rule, key, size) &&
              newerNoncurrent >= (expiration?.NewerNoncurrentVersions ?? 0) &&
              due(successor.lastModified, expiration?.NoncurrentDays)
            );
          });
          newerNoncurrent += 1;
          if (!removes) continue;
          versions.deleteVersion(bucket, key, version.versionId);
          done.noncurrentRemoved += 1;
        }
        const [current, ...older] = versions.versionsOf(bucket, key);
        if (!current?.isLatest) continue;
        const size = current.object?.size ?? 0;
        const selecting = rules.filter((rule) => ruleSelects(rule, key, size));
        if (!current.object) {
          // A delete marker: removed only once no version is left behind it.
          const expiredMarker =
            older.length === 0 &&
            selecting.some(
              (rule) =>
                rule.Expiration?.ExpiredObjectDeleteMarker === true ||
                due(current.lastModified, rule.Expiration?.Days) ||
                dateReached(rule),
            );
          if (!expiredMarker) continue;
          versions.deleteVersion(bucket, key, current.versionId);
          done.deleteMarkersRemoved += 1;
          continue;
        }
        const expires = selecting.some(
          (rule) => due(current.lastModified, rule.Expiration?.Days) || dateReached(rule),
        );
        if (!expires) continue;
        versions.expire(bucket, key, new Date(now));
        done.expired += 1;
      }
    }
    return done;
  };

  // One pass at a time: the timer's and a caller's run one after the other.
  const apply = (): Promise<LifecyclePass> => {
    const next = running.then(pass, pass);
    running = next.catch(() => undefined);
    return next;
  };
  // The next pass is armed when one fires, an interval after it was due (after a sleep that skipped
  // some, an interval from now: one pass catches up), not after the pass ends.
  const arm = (from: number) => {
    if (stopped) return;
    const now = clock.now().getTime();
    const at = new Date(from + intervalMs > now ? from + intervalMs : now + intervalMs);
    timer = clock.at(at, () => {
      arm(at.getTime());
      apply().catch((error: unknown) => options.onError?.(error));
    });
  };
  await apply().catch((error: unknown) => options.onError?.(error));
  arm(clock.now().getTime());
  return {
    apply,
    async stop() {
      stopped = true;
      timer?.cancel();
      await running;
    },
  };
}

/** fauxqs's record of a multipart upload in progress, as far as the lifecycle reads it. */
interface FauxqsUpload {
  readonly uploadId: string;
  readonly bucket: string;
  readonly key: string;
  readonly initiated: Date;
}
