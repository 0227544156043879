import { randomBytes } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import type { buildApp } from 'fauxqs';
import { type FauxqsStores, loadFauxqs } from './fauxqs-stores.ts';
import { type DeleteObjectsEntry, deleteObjectsRequest, deniedDeletesOf } from './s3-delete-objects.ts';
import { escapeXml } from './xml-text.ts';

type S3Store = FauxqsStores['s3Store'];
type FauxqsApp = ReturnType<typeof buildApp>;
/** fauxqs's stored object (`S3Object`: metadata and, in memory, the body). */
type StoredObject = ReturnType<S3Store['getObject']>;

/** One version of a key, as S3 keeps it in a versioned bucket. */
interface ObjectVersion {
  readonly versionId: string;
  /** Orders every write the endpoint recorded (persisted, so the order survives a restart). */
  readonly sequence: number;
  readonly deleteMarker: boolean;
  readonly lastModified: Date;
  /**
   * A noncurrent version's object: with its body in memory, or its metadata only when the body is
   * kept in the state directory. Undefined for the current version (fauxqs's store holds it) and for
   * delete markers.
   */
  object?: StoredObject;
}

/** The version id S3 gives objects written before versioning was enabled, or while it is suspended. */
export const NULL_VERSION = 'null';
/** The ids this endpoint hands out: 32 URL-safe characters, the length of S3's. */
export const VERSION_ID = /^[A-Za-z0-9._-]{32}$/;

/** The S3 errors fauxqs answers with (its `S3Error`: code, message, status, resource). */
type S3ErrorConstructor = new (
  code: string,
  message: string,
  statusCode?: number,
  resource?: string,
) => Error;
/** One of fauxqs's S3 actions: reads the request, calls the store, sends the reply. */
type S3Action = (request: unknown, reply: unknown, store: S3Store) => void;

/**
 * A bucket's versioning configuration
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_VersioningConfiguration.html). A bucket never
 * versioned has none; once set, S3 can suspend versioning but never turn it off.
 */
export interface VersioningConfiguration {
  readonly status: 'Enabled' | 'Suspended';
  /** `Disabled` once a PutBucketVersioning named it, which S3 then returns (MFA delete is not served). */
  readonly mfaDelete?: 'Disabled';
}

/** One entry of ListObjectVersions: an object version, or a delete marker. */
export interface ListedVersion {
  readonly versionId: string;
  readonly isLatest: boolean;
  readonly lastModified: Date;
  /** The object version's metadata; undefined for a delete marker. */
  readonly object?: {
    readonly etag: string;
    readonly size: number;
    readonly checksumAlgorithm?: string;
    readonly checksumType?: string;
  };
}

/** What {@link keepObjectVersions} gives the endpoint. */
export interface ObjectVersions {
  /**
   * Turns versioning on for a bucket whose versioning was never set (a bucket infra creates); one
   * whose versioning was set keeps it (Suspended by PutBucketVersioning stays Suspended).
   */
  enable(bucket: string): void;
  /** The bucket's versioning configuration; undefined when it was never set. */
  configuration(bucket: string): VersioningConfiguration | undefined;
  /** Sets versioning Enabled or Suspended (PutBucketVersioning); kept in the state directory. */
  configure(bucket: string, configuration: VersioningConfiguration): void;
  /**
   * Every key of the bucket with an object, a version or a delete marker, in no order; undefined
   * when there is no such bucket.
   */
  keys(bucket: string): string[] | undefined;
  /**
   * A key's versions and delete markers as ListObjectVersions lists them: newest first, the
   * current one latest.
   */
  versionsOf(bucket: string, key: string): ListedVersion[];
  /**
   * Removes a version or delete marker for good, as DeleteObject with its version id does: when it
   * was the current one, the version before it becomes current again.
   */
  deleteVersion(bucket: string, key: string, versionId: string): void;
  /**
   * Expires the key's current object as an S3 lifecycle Expiration does: a delete marker dated `at`
   * in a versioned bucket (`null` while versioning is suspended), the object itself in a bucket never
   * versioned.
   */
  expire(bucket: string, key: string, at: Date): void;
}

/**
 * S3 object versioning (https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html) on
 * fauxqs 2.4, which has none, for the buckets {@link ObjectVersions.enable} names (every bucket
 * infra creates is versioned: `infra/src/constructs/private-bucket.ts`) or PutBucketVersioning
 * configures (served by s3-versioning-apis.ts, with ListObjectVersions):
 *
 * - every PutObject, CopyObject and CompleteMultipartUpload gets a new version id, answered in
 *   `x-amz-version-id`; the version it replaces is kept, noncurrent;
 * - GetObject and HeadObject with `versionId` serve that version (range, `If-Match`, checksums and
 *   part numbers as fauxqs serves the current one), and every answer names its version; an id this
 *   endpoint could not have given is 400 `InvalidArgument`, an unknown one 404 `NoSuchVersion`;
 * - CopyObject and UploadPartCopy copy the version `x-amz-copy-source: bucket/key?versionId=` names;
 * - DeleteObject without a version id adds a delete marker (GET and HEAD then answer 404 `NoSuchKey`
 *   with `x-amz-delete-marker`; the versions stay readable by id); with one, it removes that version
 *   for good, and the one before becomes current again;
 * - while versioning is Suspended
 *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/VersionSuspendedBehavior.html) a write
 *   gets the version id `null`, answered without `x-amz-version-id`, and a DeleteObject without a
 *   version id adds a delete marker whose id is `null`: either replaces the key's null version for
 *   good, wherever it stands, and keeps the versions with ids.
 *
 * The requests a version changes are answered here with fauxqs's own actions, given a store that
 * resolves the version for that one request; fauxqs's store keeps holding the current versions,
 * so listing, multipart uploads and everything else stay fauxqs's. With a state directory the
 * noncurrent versions (metadata and bytes) and the current versions' ids are kept in fauxqs's SQLite
 * database, in tables of sidestep's own (`sidestep_s3_*`): a replaced version's bytes are copied
 * from fauxqs's row to ours inside SQLite, never through a buffer. In memory, a noncurrent version
 * keeps the very object (and buffer) fauxqs stored.
 *
 * - DeleteObjects deletes each object it names as DeleteObject does, with or without its version id.
 *
 * Lifecycle rules act through {@link ObjectVersions.deleteVersion} and {@link ObjectVersions.expire}
 * (s3-lifecycle.ts). Not served: `versionId` on GetObjectAttributes / tagging calls.
 */
export async function keepObjectVersions(app: FauxqsApp, store: S3Store): Promise<ObjectVersions> {
  const [S3Error, getObject, headObject, putObject, uploadPart, completeMultipartUpload] = await Promise.all([
    loadFauxqs<S3ErrorConstructor>('common/errors.js', 'S3Error'),
    loadFauxqs<S3Action>('s3/actions/getObject.js', 'getObject'),
    loadFauxqs<S3Action>('s3/actions/headObject.js', 'headObject'),
    loadFauxqs<S3Action>('s3/actions/putObject.js', 'putObject'),
    loadFauxqs<S3Action>('s3/actions/uploadPart.js', 'uploadPart'),
    loadFauxqs<S3Action>('s3/actions/completeMultipartUpload.js', 'completeMultipartUpload'),
  ]);
  const fauxqs = store as unknown as {
    buckets: Map<string, Map<string, StoredObject>>;
    multipartUploads: Map<string, { readonly bucket: string; readonly key: string }>;
    persistence?: {
      readonly db: DatabaseSync;
      upsertObject(bucket: string, object: StoredObject): void;
      deleteObject(bucket: string, key: string): void;
    };
  };
  const saved = fauxqs.persistence ? versionTables(fauxqs.persistence.db) : undefined;
  const configurations = new Map<string, VersioningConfiguration>(saved?.configurations() ?? []);
  /** Whether writes to the bucket get the version id `null` (versioning suspended). */
  const suspended = (bucket: string) => configurations.get(bucket)?.status === 'Suspended';
  /** bucket -> key -> versions, oldest first; the last is the current one unless it was removed. */
  const versions = new Map<string, Map<string, ObjectVersion[]>>();
  let sequence = 0;

  const stored = (bucket: string, key: string) => fauxqs.buckets.get(bucket)?.get(key);
  const versionsOf = (bucket: string, key: string): ObjectVersion[] => {
    const byKey = versions.get(bucket) ?? new Map<string, ObjectVersion[]>();
    versions.set(bucket, byKey);
    const list = byKey.get(key) ?? [];
    byKey.set(key, list);
    return list;
  };
  /**
   * The key's current version: the last recorded one if it is a delete marker or fauxqs holds the
   * object, else `null` (an object written before versioning); undefined when there is none.
   */
  const current = (bucket: string, key: string): ObjectVersion | undefined => {
    const last = versions.get(bucket)?.get(key)?.at(-1);
    const object = stored(bucket, key);
    if (last && !last.object && (last.deleteMarker || object)) return last;
    if (!object) return undefined;
    return { versionId: NULL_VERSION, sequence: 0, deleteMarker: false, lastModified: object.lastModified };
  };
  /**
   * Runs a fauxqs call that replaces or drops the key's current object, then keeps what it replaced
   * as a noncurrent version (in memory: the very object fauxqs held). With a state directory the
   * object's bytes are copied to our table by the persistence hook below, just before fauxqs
   * overwrites or deletes its row. A call that throws changes nothing.
   *
   * A write of the null version (versioning suspended) replaces the key's null version for good
   * instead: S3 keeps one null version per key.
   */
  let archiving: { bucket: string; key: string; version: ObjectVersion; object: StoredObject } | undefined;
  const replacing = <T>(bucket: string, key: string, writesNull: boolean, write: () => T): T => {
    const replaced = current(bucket, key);
    const previous = stored(bucket, key);
    const overwritten = writesNull && replaced?.versionId === NULL_VERSION;
    archiving =
      replaced && previous && !replaced.deleteMarker && !overwritten
        ? { bucket, key, version: replaced, object: previous }
        : undefined;
    let result: T;
    try {
      result = write();
    } finally {
      archiving = undefined;
    }
    const list = versionsOf(bucket, key);
    if (replaced && !overwritten) {
      if (replaced.versionId === NULL_VERSION) {
        // S3 keeps one `null` version per key.
        const older = list.findIndex((v) => v.versionId === NULL_VERSION);
        if (older >= 0) list.splice(older, 1);
        list.push(replaced);
      }
      if (!replaced.deleteMarker) replaced.object = previous;
    }
    if (writesNull) {
      // The null version, current or not, object or delete marker, is gone (record adds the new one).
      const older = list.findIndex((v) => v.versionId === NULL_VERSION);
      if (older >= 0) list.splice(older, 1);
      saved?.remove(bucket, key, NULL_VERSION);
    }
    return result;
  };
  const record = (
    bucket: string,
    key: string,
    deleteMarker: boolean,
    lastModified: Date,
    writesNull: boolean,
  ): ObjectVersion => {
    sequence += 1;
    const versionId = writesNull ? NULL_VERSION : newVersionId();
    const version = { versionId, sequence, deleteMarker, lastModified };
    versionsOf(bucket, key).push(version);
    saved?.insert(bucket, key, version);
    return version;
  };
  const find = (bucket: string, key: string, versionId: string): ObjectVersion | undefined => {
    if (versionId !== NULL_VERSION && !VERSION_ID.test(versionId)) {
      throw new S3Error('InvalidArgument', 'Invalid version id specified', 400);
    }
    const now = current(bucket, key);
    if (now?.versionId === versionId) return now;
    // A noncurrent version has its object kept; a noncurrent delete marker has none.
    return versions
      .get(bucket)
      ?.get(key)
      ?.find((v) => v.versionId === versionId && (v.object || v.deleteMarker));
  };

  if (saved) {
    for (const row of saved.load()) {
      sequence = Math.max(sequence, row.sequence);
      const list = versionsOf(row.bucket, row.key);
      list.push(row.version);
    }
    // A current version whose object fauxqs no longer has (removed by a path that keeps no
    // versions) or that a later write replaced is dropped.
    for (const [bucket, byKey] of versions) {
      for (const [key, list] of byKey) {
        const keep = list.filter(
          (v, index) => v.object || v.deleteMarker || (index === list.length - 1 && stored(bucket, key)),
        );
        for (const v of list) if (!keep.includes(v)) saved.remove(bucket, key, v.versionId);
        byKey.set(key, keep);
      }
    }
  }

  // fauxqs's writes and deletes: the version they replace is kept (in memory: the object itself).
  const persistence = fauxqs.persistence;
  if (persistence && saved) {
    // Called by fauxqs just before it replaces or drops its row (inside its transaction, for
    // CompleteMultipartUpload): the replaced version's bytes are copied to ours first.
    const archive = (bucket: string, key: string) => {
      if (archiving?.bucket !== bucket || archiving.key !== key) return;
      saved.archive(bucket, key, archiving.version, archiving.object);
      archiving = undefined;
    };
    const upsert = persistence.upsertObject.bind(persistence);
    persistence.upsertObject = (bucket, object) => {
      archive(bucket, object.key);
      upsert(bucket, object);
    };
    const remove = persistence.deleteObject.bind(persistence);
    persistence.deleteObject = (bucket, key) => {
      archive(bucket, key);
      remove(bucket, key);
    };
  }
  const storePut = store.putObject.bind(store);
  store.putObject = (bucket, key, ...rest) => {
    if (!configurations.has(bucket) || !fauxqs.buckets.has(bucket)) return storePut(bucket, key, ...rest);
    const writesNull = suspended(bucket);
    const object = replacing(bucket, key, writesNull, () => storePut(bucket, key, ...rest));
    record(bucket, key, false, object.lastModified, writesNull);
    return object;
  };
  const storeComplete = store.completeMultipartUpload.bind(store);
  store.completeMultipartUpload = (uploadId, parts) => {
    const upload = fauxqs.multipartUploads.get(uploadId);
    if (!upload || !configurations.has(upload.bucket)) return storeComplete(uploadId, parts);
    const { bucket, key } = upload;
    const writesNull = suspended(bucket);
    // Throws (InvalidPart, EntityTooSmall, ...) before it replaces anything.
    const object = replacing(bucket, key, writesNull, () => storeComplete(uploadId, parts));
    record(bucket, key, false, object.lastModified, writesNull);
    return object;
  };
  const storeDelete = store.deleteObject.bind(store);
  /** Deletes the key without a version id: a delete marker dated `at` in a versioned bucket. */
  const deleteKey = (bucket: string, key: string, at: Date) => {
    if (!configurations.has(bucket) || !fauxqs.buckets.has(bucket)) return storeDelete(bucket, key);
    // S3 adds a delete marker whether or not the key has an object.
    const writesNull = suspended(bucket);
    replacing(bucket, key, writesNull, () => storeDelete(bucket, key));
    record(bucket, key, true, at, writesNull);
  };
  store.deleteObject = (bucket, key) => deleteKey(bucket, key, new Date());

  /**
   * DeleteObject with a version id: that version is gone for good; when it was the current one,
   * the version before it (if any) is current again.
   */
  const deleteVersion = (bucket: string, key: string, versionId: string): ObjectVersion | undefined => {
    const version = find(bucket, key, versionId);
    if (!version) return undefined; // S3 answers 204 for a version that is not there
    const list = versionsOf(bucket, key);
    // Without an object a version is the current one, or a delete marker (current when it is last).
    const wasCurrent = version.deleteMarker ? list.at(-1) === version : !version.object;
    const index = list.indexOf(version);
    if (index >= 0) list.splice(index, 1);
    saved?.remove(bucket, key, versionId);
    if (!wasCurrent) return version;
    if (!version.deleteMarker) storeDelete(bucket, key); // fauxqs's own delete: nothing is kept
    const previous = list.at(-1);
    if (previous?.object) {
      // The previous object version becomes fauxqs's current object again.
      const object = previous.object;
      previous.object = undefined;
      if (saved) saved.promote(bucket, key, previous, object);
      store.restoreObject(bucket, object);
    }
    return version;
  };

  /** A version's object with its body (read from the state directory when kept there). */
  const withBody = (bucket: string, key: string, version: ObjectVersion): StoredObject => {
    const object = version.object;
    if (!object) return store.getObject(bucket, key);
    if (saved && object.body.length === 0 && object.contentLength > 0) {
      return { ...object, body: saved.readBody(bucket, key, version.versionId) };
    }
    return object;
  };

  /**
   * DeleteObjects (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html) on a
   * versioned bucket, or naming versions: each object is deleted as DeleteObject deletes it, a named
   * version for good, a key alone behind a delete marker, and answered as S3 answers it
   * (API_DeletedObject.html: `VersionId` when one was named; `DeleteMarker` and
   * `DeleteMarkerVersionId` for a marker made, or a marker removed by its id). A malformed version id
   * is an `<Error>` for that object, and so is one IAM denied (`AccessDenied`, as S3 answers it; see
   * `EndpointDeniedObjects`); the others are still deleted. `undefined` when fauxqs answers it (an
   * unversioned bucket, no version named and nothing denied: it deletes the keys).
   */
  const deleteObjects = (
    bucket: string,
    body: unknown,
    denied: readonly DeleteObjectsEntry[],
  ): string | undefined => {
    const { quiet, objects } = deleteObjectsRequest(body);
    const versioned = configurations.has(bucket);
    const unversioned = objects.every((object) => object.versionId === undefined);
    if (!versioned && unversioned && denied.length === 0) return undefined;
    const entryId = ({ key, versionId }: DeleteObjectsEntry) => `${key}\0${versionId ?? ''}`;
    const refused = new Set(denied.map(entryId));
    const tag = (name: string, value: string | undefined) =>
      value === undefined ? '' : `<${name}>${escapeXml(value)}</${name}>`;
    /** The `<Deleted>` entry of `key`; `marker` is the delete marker made, or removed by its id. */
    const deleted = (key: string, versionId: string | undefined, marker: ObjectVersion | undefined) =>
      quiet
        ? ''
        : `<Deleted>${tag('Key', key)}${tag('VersionId', versionId)}${
            marker?.deleteMarker
              ? `<DeleteMarker>true</DeleteMarker>${tag('DeleteMarkerVersionId', marker.versionId)}`
              : ''
          }</Deleted>`;
    const results = objects.map((object) => {
      const { key, versionId } = object;
      if (refused.has(entryId(object))) {
        return `<Error>${tag('Key', key)}${tag('VersionId', versionId)}<Code>AccessDenied</Code><Message>Access Denied</Message></Error>`;
      }
      try {
        if (versionId !== undefined) return deleted(key, versionId, deleteVersion(bucket, key, versionId));
        store.deleteObject(bucket, key);
        return deleted(key, undefined, versioned ? current(bucket, key) : undefined);
      } catch (error) {
        if (!(error instanceof S3Error)) throw error;
        const { code } = error as Error & { code: string };
        return `<Error>${tag('Key', key)}${tag('VersionId', versionId)}${tag('Code', code)}${tag('Message', error.message)}</Error>`;
      }
    });
    return `<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${results.join('')}</DeleteResult>`;
  };

  // After IAM and the checksum checks (added before), before fauxqs's S3 routes.
  app.addHook('preHandler', async (request, reply) => {
    const route = request.routeOptions.url;
    if (route !== '/:bucket/*' && route !== '/:bucket') return;
    const { bucket = '', '*': key = '' } = request.params as { bucket?: string; '*'?: string };
    const query = (request.query ?? {}) as Record<string, unknown>;
    // The SDK sends it to `/bucket/?delete` (the wildcard route, an empty key) or `/bucket?delete`.
    if (!key && request.method === 'POST' && 'delete' in query && fauxqs.buckets.has(bucket)) {
      const answer = deleteObjects(bucket, request.body, deniedDeletesOf(request));
      if (answer === undefined) return;
      return reply.code(200).header('content-type', 'application/xml').send(answer);
    }
    if (!key) return;
    const versionId = typeof query.versionId === 'string' ? query.versionId : undefined;
    const isHead = request.method === 'HEAD';
    const copySource = copySourceOf(request.headers['x-amz-copy-source']);
    // A write answers with the version it made while versioning is Enabled; a null version written
    // while it is Suspended is answered without `x-amz-version-id`, as S3 does.
    const namingVersion = (writtenBucket: string, writtenKey: string) => {
      const written = current(writtenBucket, writtenKey);
      if (written && configurations.get(writtenBucket)?.status === 'Enabled') {
        reply.header('x-amz-version-id', written.versionId);
      }
    };
    try {
      if ((request.method === 'GET' || isHead) && !('attributes' in query) && !('tagging' in query)) {
        if (!configurations.has(bucket) && versionId === undefined) return;
        if (!fauxqs.buckets.has(bucket)) return; // fauxqs answers NoSuchBucket
        const version =
          versionId === undefined ? current(bucket, key) : (find(bucket, key, versionId) ?? noSuchVersion());
        if (!version) return; // fauxqs answers NoSuchKey / NoSuchBucket
        if (configurations.has(bucket) || versionId !== undefined)
          reply.header('x-amz-version-id', version.versionId);
        if (version.deleteMarker) {
          reply.header('x-amz-delete-marker', 'true');
          if (versionId === undefined) {
            throw new S3Error('NoSuchKey', 'The specified key does not exist.', 404, `/${bucket}/${key}`);
          }
          reply.header('last-modified', version.lastModified.toUTCString());
          throw new S3Error(
            'MethodNotAllowed',
            'The specified method is not allowed against this resource.',
            405,
          );
        }
        const served = Object.create(store) as S3Store;
        served.getObject = () => withBody(bucket, key, version);
        served.headObject = () => version.object ?? store.headObject(bucket, key);
        (isHead ? headObject : getObject)(request, reply, served);
        return reply;
      }
      if (request.method === 'PUT' && !('renameObject' in query)) {
        const isPart = 'uploadId' in query;
        if (!(copySource?.versionId !== undefined || (!isPart && configurations.has(bucket)))) return;
        const writing = Object.create(store) as S3Store;
        if (copySource) {
          const source = copySource.versionId
            ? find(copySource.bucket, copySource.key, copySource.versionId)
            : current(copySource.bucket, copySource.key);
          if (!source && copySource.versionId) noSuchVersion();
          if (source?.deleteMarker) {
            if (!copySource.versionId) {
              throw new S3Error(
                'NoSuchKey',
                'The specified key does not exist.',
                404,
                `/${copySource.bucket}/${copySource.key}`,
              );
            }
            throw new S3Error(
              'InvalidRequest',
              'The source of a copy request may not specifically refer to a delete marker by version id.',
              400,
            );
          }
          // `x-amz-copy-source-version-id`: the version copied, when its bucket is versioned.
          if (source && (copySource.versionId || configurations.has(copySource.bucket))) {
            reply.header('x-amz-copy-source-version-id', source.versionId);
          }
          writing.getObject = (sourceBucket, sourceKey) =>
            source
              ? withBody(copySource.bucket, copySource.key, source)
              : store.getObject(sourceBucket, sourceKey);
        }
        writing.putObject = (...args) => {
          const object = store.putObject(...args);
          namingVersion(args[0], args[1]);
          return object;
        };
        (isPart ? uploadPart : putObject)(request, reply, writing);
        return reply;
      }
      if (request.method === 'POST' && typeof query.uploadId === 'string' && configurations.has(bucket)) {
        const completing = Object.create(store) as S3Store;
        completing.completeMultipartUpload = (uploadId, parts) => {
          const object = store.completeMultipartUpload(uploadId, parts);
          namingVersion(bucket, object.key);
          return object;
        };
        completeMultipartUpload(request, reply, completing);
        return reply;
      }
      if (request.method === 'DELETE' && !('uploadId' in query) && configurations.has(bucket)) {
        if (!fauxqs.buckets.has(bucket)) return; // fauxqs answers NoSuchBucket
        // https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObject.html
        const removed = versionId === undefined ? undefined : deleteVersion(bucket, key, versionId);
        if (versionId === undefined) store.deleteObject(bucket, key);
        const marker = versionId === undefined ? current(bucket, key) : removed;
        if (marker) reply.header('x-amz-version-id', marker.versionId);
        if (marker?.deleteMarker) reply.header('x-amz-delete-marker', 'true');
        return reply.code(204).send();
      }
    } catch (error) {
      if (!(error instanceof S3Error)) throw error;
      const { statusCode } = error as Error & { statusCode: number };
      reply.code(statusCode);
      if (isHead) return reply.send();
      reply.header('content-type', 'application/xml');
      return reply.send((error as Error & { toXml(): string }).toXml());
    }
  });

  function noSuchVersion(): never {
    throw new S3Error('NoSuchVersion', 'The specified version does not exist.', 404);
  }

  const configure = (bucket: string, configuration: VersioningConfiguration) => {
    const mfaDelete = configuration.mfaDelete ?? configurations.get(bucket)?.mfaDelete;
    const next = { status: configuration.status, ...(mfaDelete ? { mfaDelete } : {}) };
    configurations.set(bucket, next);
    saved?.configure(bucket, next);
  };
  return {
    enable(bucket) {
      if (!configurations.has(bucket)) configure(bucket, { status: 'Enabled' });
    },
    configuration: (bucket) => configurations.get(bucket),
    configure,
    keys(bucket) {
      const objects = fauxqs.buckets.get(bucket);
      if (!objects) return undefined;
      return [...new Set([...objects.keys(), ...(versions.get(bucket)?.keys() ?? [])])];
    },
    deleteVersion(bucket, key, versionId) {
      deleteVersion(bucket, key, versionId);
    },
    expire: deleteKey,
    versionsOf(bucket, key) {
      const now = current(bucket, key);
      const older = (versions.get(bucket)?.get(key) ?? [])
        .filter((v) => v !== now && (v.object || v.deleteMarker))
        .reverse();
      return (now ? [now, ...older] : older).map((version) => {
        const object = version.deleteMarker ? undefined : (version.object ?? stored(bucket, key));
        return {
          versionId: version.versionId,
          isLatest: version === now,
          lastModified: version.lastModified,
          ...(object
            ? {
                object: {
                  etag: object.etag,
                  size: object.contentLength,
                  ...(object.checksumAlgorithm ? { checksumAlgorithm: object.checksumAlgorithm } : {}),
                  ...(object.checksumType ? { checksumType: object.checksumType } : {}),
                },
              }
            : {}),
        };
      });
    },
  };
}

/** A new version id: 32 URL-safe random characters (24 random bytes). */
function newVersionId(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * The copy source of CopyObject / UploadPartCopy: `[/]bucket/key[?versionId=id]`, the key URL-encoded
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html#API_CopyObject_RequestSyntax).
 */
function copySourceOf(
  header: string | string[] | undefined,
): { bucket: string; key: string; versionId?: string } | undefined {
  if (typeof header !== 'string') return undefined;
  const at = header.lastIndexOf('?versionId=');
  let path: string;
  let versionId: string | undefined;
  try {
    path = decodeURIComponent(at < 0 ? header : header.slice(0, at)).replace(/^\//, '');
    versionId = at < 0 ? undefined : decodeURIComponent(header.slice(at + '?versionId='.length));
  } catch {
    return undefined; // not URL-encoded: left to fauxqs
  }
  const slash = path.indexOf('/');
  if (slash < 0) return undefined; // fauxqs answers InvalidArgument
  return { bucket: path.slice(0, slash), key: path.slice(slash + 1), ...(versionId ? { versionId } : {}) };
}

/** A version row as loaded. */
interface SavedVersion {
  readonly bucket: string;
  readonly key: string;
  readonly sequence: number;
  readonly version: ObjectVersion;
}

/**
 * sidestep's tables next to fauxqs's in its SQLite database: the buckets whose versioning was set
 * (Enabled or Suspended), and every version of their keys. The current object version has a row
 * without `object` or `body` (fauxqs's `s3_objects` holds it); a noncurrent one has its metadata
 * (fauxqs's object without the body, as JSON) and its bytes; a delete marker has neither.
 */
function versionTables(db: DatabaseSync) {
  db.exec(`
    CREATE TABLE IF NOT EXISTS sidestep_s3_versioned_buckets (
      name TEXT PRIMARY KEY,
      status TEXT NOT NULL DEFAULT 'Enabled',
      mfa_delete TEXT
    );
    CREATE TABLE IF NOT EXISTS sidestep_s3_object_versions (
      bucket TEXT NOT NULL,
      key TEXT NOT NULL,
      version_id TEXT NOT NULL,
      sequence INTEGER NOT NULL,
      delete_marker INTEGER NOT NULL,
      last_modified TEXT NOT NULL,
      object TEXT,
      body BLOB,
      PRIMARY KEY (bucket, key, version_id)
    );
  `);
  // A state directory from before suspension was served lists its (Enabled) buckets by name only.
  const columns = db.prepare('PRAGMA table_info(sidestep_s3_versioned_buckets)').all() as { name: string }[];
  if (!columns.some((column) => column.name === 'status')) {
    db.exec(`
      ALTER TABLE sidestep_s3_versioned_buckets ADD COLUMN status TEXT NOT NULL DEFAULT 'Enabled';
      ALTER TABLE sidestep_s3_versioned_buckets ADD COLUMN mfa_delete TEXT;
    `);
  }
  const configure = db.prepare(
    `INSERT INTO sidestep_s3_versioned_buckets (name, status, mfa_delete) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET status = excluded.status, mfa_delete = excluded.mfa_delete`,
  );
  const insert = db.prepare(
    `INSERT OR REPLACE INTO sidestep_s3_object_versions
       (bucket, key, version_id, sequence, delete_marker, last_modified, object, body)
     VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)`,
  );
  // The bytes go from fauxqs's row to ours inside SQLite.
  const archive = db.prepare(
    `INSERT OR REPLACE INTO sidestep_s3_object_versions
       (bucket, key, version_id, sequence, delete_marker, last_modified, object, body)
     SELECT ?, ?, ?, ?, 0, ?, ?, body FROM s3_objects WHERE bucket = ? AND key = ?`,
  );
  const promote = db.prepare(
    `UPDATE sidestep_s3_object_versions SET object = NULL, body = NULL
      WHERE bucket = ? AND key = ? AND version_id = ?`,
  );
  const restore = db.prepare(
    `INSERT OR REPLACE INTO s3_objects (bucket, key, body, content_type, content_length, etag, last_modified, metadata,
       content_language, content_disposition, cache_control, content_encoding, parts, checksum_algorithm, checksum_value,
       checksum_type, part_checksums)
     SELECT bucket, key, body, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
       FROM sidestep_s3_object_versions WHERE bucket = ? AND key = ? AND version_id = ?`,
  );
  const remove = db.prepare(
    'DELETE FROM sidestep_s3_object_versions WHERE bucket = ? AND key = ? AND version_id = ?',
  );
  const readBody = db.prepare(
    'SELECT body FROM sidestep_s3_object_versions WHERE bucket = ? AND key = ? AND version_id = ?',
  );
  return {
    configurations: () =>
      (
        db.prepare('SELECT name, status, mfa_delete FROM sidestep_s3_versioned_buckets').all() as {
          name: string;
          status: VersioningConfiguration['status'];
          mfa_delete: 'Disabled' | null;
        }[]
      ).map((r): [string, VersioningConfiguration] => [
        r.name,
        { status: r.status, ...(r.mfa_delete ? { mfaDelete: r.mfa_delete } : {}) },
      ]),
    configure: (bucket: string, configuration: VersioningConfiguration) =>
      void configure.run(bucket, configuration.status, configuration.mfaDelete ?? null),
    insert(bucket: string, key: string, version: ObjectVersion) {
      insert.run(
        bucket,
        key,
        version.versionId,
        version.sequence,
        version.deleteMarker ? 1 : 0,
        version.lastModified.toISOString(),
      );
    },
    archive(bucket: string, key: string, version: ObjectVersion, object: StoredObject) {
      const { body: _body, ...metadata } = object;
      archive.run(
        bucket,
        key,
        version.versionId,
        version.sequence,
        version.lastModified.toISOString(),
        JSON.stringify(metadata),
        bucket,
        key,
      );
    },
    /** Makes a noncurrent version fauxqs's current object again: its row goes back to `s3_objects`. */
    promote(bucket: string, key: string, version: ObjectVersion, object: StoredObject) {
      restore.run(
        object.contentType,
        object.contentLength,
        object.etag,
        object.lastModified.toISOString(),
        JSON.stringify(object.metadata),
        object.contentLanguage ?? null,
        object.contentDisposition ?? null,
        object.cacheControl ?? null,
        object.contentEncoding ?? null,
        object.parts ? JSON.stringify(object.parts) : null,
        object.checksumAlgorithm ?? null,
        object.checksumValue ?? null,
        object.checksumType ?? null,
        object.partChecksums ? JSON.stringify(object.partChecksums) : null,
        bucket,
        key,
        version.versionId,
      );
      promote.run(bucket, key, version.versionId);
    },
    remove: (bucket: string, key: string, versionId: string) => void remove.run(bucket, key, versionId),
    readBody(bucket: string, key: string, versionId: string): Buffer {
      const row = readBody.get(bucket, key, versionId) as { body: Uint8Array | null } | undefined;
      return row?.body ? Buffer.from(row.body) : Buffer.alloc(0);
    },
    load(): SavedVersion[] {
      const rows = db
        .prepare(
          `SELECT bucket, key, version_id, sequence, delete_marker, last_modified, object
             FROM sidestep_s3_object_versions ORDER BY sequence`,
        )
        .all() as {
        bucket: string;
        key: string;
        version_id: string;
        sequence: number;
        delete_marker: number;
        last_modified: string;
        object: string | null;
      }[];
      return rows.map((row) => {
        const version: ObjectVersion = {
          versionId: row.version_id,
          sequence: row.sequence,
          deleteMarker: row.delete_marker === 1,
          lastModified: new Date(row.last_modified),
        };
        if (row.object) {
          const metadata = JSON.parse(row.object) as Omit<StoredObject, 'body' | 'lastModified'> & {
            lastModified: string;
          };
          // The body stays in SQLite until a read asks for it, as fauxqs keeps its current objects.
          version.object = {
            ...metadata,
            lastModified: new Date(metadata.lastModified),
            body: Buffer.alloc(0),
          };
        }
        return { bucket: row.bucket, key: row.key, sequence: row.sequence, version };
      });
    },
  };
}
