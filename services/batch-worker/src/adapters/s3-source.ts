import { Readable } from 'node:stream';
import { GetObjectCommand, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { SourceUnavailableError } from '../errors.ts';

/** The object an import reads. */
export interface SourceObject {
  readonly bucket: string;
  readonly key: string;
  /** The exact version the workflow registered, when the bucket is versioned. */
  readonly versionId?: string | undefined;
}

/** An opened source object: its bytes as a stream, and what S3 says about it. */
export interface OpenedSource {
  readonly body: Readable;
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
const PERMANENT_S3_ERRORS = new Set([
  'NoSuchKey',
  'NoSuchBucket',
  'NoSuchVersion',
  'AccessDenied',
  'InvalidArgument',
  'PreconditionFailed',
]);

/**
 * Opens the source object as a stream (GetObject; the body is read as the import consumes it, so the
 * object's size does not matter). `VersionId` pins the version the job was registered for: an object
 * overwritten after the upload event is not imported in its place.
 *
 * An import of tens of millions of rows reads one response for many minutes, and a connection can
 * break off in that time (reset, idle timeout, a load balancer). The SDK retries requests, not a body
 * already being read, so the stream resumes itself: a ranged GetObject from the byte it reached,
 * with `If-Match` on the first response's ETag (and the same version), so the bytes that follow are
 * the same object's. A body that ends short of `Content-Length` counts as broken off too.
 *
 * @throws {SourceUnavailableError} permanent for a missing object or bucket, access denied, or an
 *   object that changed between the first read and a resume; transient otherwise. A body that still
 *   breaks off after `maxResumes` resumes fails the stream with a transient one.
 */
export async function openSourceObject(
  client: S3ObjectReader,
  source: SourceObject,
  options: OpenSourceOptions = {},
): Promise<OpenedSource> {
  const maxResumes = options.maxResumes ?? 5;
  const first = await getObject(client, source, {});
  const etag = first.ETag;
  const length = first.ContentLength;
  const firstBody = first.Body as Readable | undefined; // in Node: an http.IncomingMessage
  if (!firstBody) {
    throw new SourceUnavailableError(
      source.bucket,
      source.key,
      new Error('GetObject returned no body'),
      false,
    );
  }

  async function* bytes(): AsyncGenerator<Buffer> {
    let body = firstBody as Readable;
    let offset = 0;
    for (let attempt = 1; ; attempt++) {
      let error: unknown;
      try {
        // Chunks, not rows: the iteration costs nothing next to parsing, and keeps backpressure.
        for await (const chunk of body) {
          offset += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        if (length === undefined || offset >= length) return;
        error = new Error(`the body ended at byte ${offset} of ${length}`);
      } catch (caught) {
        error = caught;
      }
      if (attempt > maxResumes) {
        throw new SourceUnavailableError(source.bucket, source.key, error, false);
      }
      options.onResume?.({ offset, attempt, error });
      const resumed = await getObject(client, source, {
        Range: `bytes=${offset}-`,
        ...(etag ? { IfMatch: etag } : {}),
      });
      body = resumed.Body as Readable;
    }
  }

  return {
    body: Readable.from(bytes(), { objectMode: false }),
    contentLength: length,
    etag,
    versionId: first.VersionId,
  };
}

async function getObject(
  client: S3ObjectReader,
  source: SourceObject,
  extra: { Range?: string; IfMatch?: string },
): Promise<GetObjectCommandOutput> {
  try {
    return await client.send(
      new GetObjectCommand({
        Bucket: source.bucket,
        Key: source.key,
        ...(source.versionId ? { VersionId: source.versionId } : {}),
        ...extra,
      }),
    );
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    throw new SourceUnavailableError(source.bucket, source.key, error, PERMANENT_S3_ERRORS.has(name));
  }
}
