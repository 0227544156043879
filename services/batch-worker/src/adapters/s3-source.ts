import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
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

/** S3 errors that the same request will meet again: not worth a retry of the task. */
const PERMANENT_S3_ERRORS = new Set([
  'NoSuchKey',
  'NoSuchBucket',
  'NoSuchVersion',
  'AccessDenied',
  'InvalidArgument',
]);

/**
 * Opens the source object as a stream (GetObject; the body is read as the import consumes it, so the
 * object's size does not matter). `VersionId` pins the version the job was registered for: an object
 * overwritten after the upload event is not imported in its place.
 *
 * @throws {SourceUnavailableError} permanent for a missing object or bucket and access denied.
 */
export async function openSourceObject(client: S3Client, source: SourceObject): Promise<OpenedSource> {
  try {
    const output = await client.send(
      new GetObjectCommand({
        Bucket: source.bucket,
        Key: source.key,
        ...(source.versionId ? { VersionId: source.versionId } : {}),
      }),
    );
    // In Node the SDK's body is an http.IncomingMessage (a Readable) mixed with SDK helpers.
    const body = output.Body as Readable | undefined;
    if (!body) throw new Error('GetObject returned no body');
    return {
      body,
      contentLength: output.ContentLength,
      etag: output.ETag,
      versionId: output.VersionId,
    };
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    throw new SourceUnavailableError(source.bucket, source.key, error, PERMANENT_S3_ERRORS.has(name));
  }
}
