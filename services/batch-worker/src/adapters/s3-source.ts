import { Readable } from 'node:stream';
import { GetObjectCommand, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { SourceChangedError, SourceUnavailableError, SourceVersionMissingError } from '../errors.ts';

/** The object an import reads. */
export interface SourceObject {
  readonly bucket: string;
  readonly key: string;
  /** The exact version the workflow registered, when the bucket is versioned. */
  readonly versionId?: string | undefined;
  /**
   * The ETag the job was registered for (or that an earlier read found): sent as `If-Match`, so
   * other bytes under the same key (an overwrite) fail the read instead of being imported.
   */
  readonly etag?: string | undefined;
}

/** An opened source object: its bytes as a stream, and what S3 says about it. */
export interface OpenedSource {
  readonly body: Readable;
  /** The object's byte the body starts at (`offset` of the options). */
  readonly offset: number;
  /** The whole object's size (not only the range read). */
  readonly contentLength: number | undefined;
  readonly etag: string | undefined;
  readonly versionId: string | undefined;
}

/** What the adapter needs of an S3 client (an `S3Client` is one). */
export interface S3ObjectReader {
  send(command: GetObjectCommand): Promise<GetObjectCommandOutput>;
}

/** Options of {@link openSourceObject}. */
export interface OpenSourceOptions {
  /** Reads from this byte on (a ranged GET): a resumed import's first unstaged byte. @default 0 */
  readonly offset?: number;
  /** Times a body that breaks off mid-stream is resumed from where it stopped. @default 5 */
  readonly maxResumes?: number;
  /** Called before each resume (for a log line). */
  readonly onResume?: (resume: {
    readonly offset: number;
    readonly attempt: number;
    readonly error: unknown;
  }) => void;
}

/** S3 errors that the same request will meet again: not worth a retry of the task. */
const PERMANENT_S3_ERRORS = new Set(['NoSuchKey', 'NoSuchBucket', 'AccessDenied', 'InvalidArgument']);

/**
 * Opens the source object as a stream (GetObject; the body is read as the import consumes it, so the
 * object's size does not matter), from `offset` on when given (a ranged GET: a resumed import).
 * `VersionId` pins the version the job was registered for, `If-Match` the ETag it was registered
 * for: an object overwritten after the upload event is not imported in its place, and the read
 * fails with {@link SourceChangedError} naming the change. A registered version that no longer
 * exists (expired by the bucket's lifecycle, or deleted) fails with {@link SourceVersionMissingError}.
 *
 * An import of tens of millions of rows reads one response for many minutes, and a connection can
 * break off in that time (reset, idle timeout, a load balancer). The SDK retries requests, not a body
 * already being read, so the stream resumes itself: a ranged GetObject from the byte it reached,
 * with `If-Match` on the first response's ETag (and the same version), so the bytes that follow are
 * the same object's. A body that ends short of `Content-Length` counts as broken off too.
 *
 * @throws {SourceChangedError} the key no longer holds the registered ETag (also between the first
 *   read and a resume).
 * @throws {SourceVersionMissingError} the registered version no longer exists (permanent).
 * @throws {SourceUnavailableError} permanent for a missing object or bucket or access denied;
 *   transient otherwise. A body that still
 *   breaks off after `maxResumes` resumes fails the stream with a transient one.
 */
export async function openSourceObject(
  client: S3ObjectReader,
  source: SourceObject,
  options: OpenSourceOptions = {},
): Promise<OpenedSource> {
  const maxResumes = options.maxResumes ?? 5;
  const start = options.offset ?? 0;
  const first = await getObject(client, source, start > 0 ? { Range: `bytes=${start}-` } : {});
  const etag = first.ETag ?? source.etag;
  const length = objectSize(first, start);
  const firstBody = first.Body as Readable | undefined; // in Node: an http.IncomingMessage
  if (!firstBody) {
    throw new SourceUnavailableError(
      source.bucket,
      source.key,
      new Error('GetObject returned no body'),
      false,
    );
  }

  /** The response being read: destroyed with the stream handed out, read or not. */
  let current: Readable = firstBody;
  // Until the import reads a response, nothing listens on it: its connection failing then (the task
  // stopping right after the source opened) would be an unhandled 'error' event, which ends the
  // process with exit code 1 instead of the stop's 143. The reader still sees such a failure: the
  // iterator of a stream that failed throws its error.
  const unread = () => {};
  firstBody.on('error', unread);

  async function* bytes(): AsyncGenerator<Buffer> {
    let response = firstBody as Readable;
    let offset = start;
    for (let attempt = 1; ; attempt++) {
      let error: unknown;
      try {
        // Chunks, not rows: the iteration costs nothing next to parsing, and keeps backpressure.
        for await (const chunk of response) {
          offset += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        if (length === undefined || offset >= length) return;
        error = new Error(`the body ended at byte ${offset} of ${length}`);
      } catch (caught) {
        error = caught;
      }
      // The reader stopped (the import's SIGTERM destroys the stream, which throws its error in here,
      // or ends the response short): that is no break-off, and nothing more is to be read.
      if (body.destroyed) throw error;
      if (attempt > maxResumes) {
        throw new SourceUnavailableError(source.bucket, source.key, error, false);
      }
      options.onResume?.({ offset, attempt, error });
      const resumed = await getObject(
        client,
        { ...source, etag },
        {
          Range: `bytes=${offset}-`,
        },
      );
      response = resumed.Body as Readable;
      response.on('error', unread);
      current = response;
    }
  }

  const body = Readable.from(bytes(), { objectMode: false });
  // A generator that never started is not run by destroy (its `finally` neither): close the response.
  body.once('close', () => current.destroy());
  return {
    body,
    offset: start,
    contentLength: length,
    etag,
    versionId: first.VersionId,
  };
}

/** The whole object's size: a ranged response's Content-Range total, else its Content-Length. */
function objectSize(response: GetObjectCommandOutput, start: number): number | undefined {
  const total = /\/(\d+)$/.exec(response.ContentRange ?? '')?.[1];
  if (total !== undefined) return Number(total);
  return response.ContentLength === undefined ? undefined : start + response.ContentLength;
}

/**
 * An ETag as HTTP writes it (`"hex"`): S3 event notifications carry it without the quotes, and an
 * emulator may compare `If-Match` literally.
 */
function quotedEtag(etag: string): string {
  return etag.startsWith('"') || etag.startsWith('W/') ? etag : `"${etag}"`;
}

async function getObject(
  client: S3ObjectReader,
  source: SourceObject,
  extra: { Range?: string },
): Promise<GetObjectCommandOutput> {
  try {
    return await client.send(
      new GetObjectCommand({
        Bucket: source.bucket,
        Key: source.key,
        ...(source.versionId ? { VersionId: source.versionId } : {}),
        ...(source.etag ? { IfMatch: quotedEtag(source.etag) } : {}),
        ...extra,
      }),
    );
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    // 404 NoSuchVersion: the version is gone (expired by the bucket's lifecycle, or deleted); a
    // version replaced by a later upload is still readable by its id, so this is no overwrite.
    // https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
    if (name === 'NoSuchVersion' && source.versionId) {
      throw new SourceVersionMissingError({ ...source, versionId: source.versionId }, error);
    }
    // 412 PreconditionFailed: the key holds other bytes than the ETag the job was registered for.
    if (name === 'PreconditionFailed') {
      const expected = source.versionId
        ? `version ${source.versionId}`
        : `ETag ${quotedEtag(source.etag ?? '')}`;
      throw new SourceChangedError(source.bucket, source.key, expected, error);
    }
    throw new SourceUnavailableError(source.bucket, source.key, error, PERMANENT_S3_ERRORS.has(name));
  }
}
