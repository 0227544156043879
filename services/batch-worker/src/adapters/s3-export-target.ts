import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ExportTarget } from '../domain/user-export-store.ts';
import { ExportTargetError } from '../errors.ts';

/** The tag of every object the worker writes (URL query form, as PutObject's `Tagging` takes it). */
export const EXPORT_PART_TAGGING = 'sidestep-export=part';

/** S3 errors that the same request will meet again: not worth a retry of the task. */
const PERMANENT_S3_ERRORS = new Set(['NoSuchBucket', 'AccessDenied', 'InvalidArgument', 'InvalidBucketName']);

/**
 * {@link ExportTarget} on an S3 bucket: one PutObject per object (a part is at most a few MiB over
 * the part size, well under PutObject's 5 GiB). `ChecksumSHA256` makes S3 verify the body it
 * received against the worker's digest (a corrupted upload is refused, not stored) and keeps the
 * digest on the object, where the finalizer can read it with HeadObject (`ChecksumMode: ENABLED`)
 * instead of downloading the part.
 */
export class S3ExportTarget implements ExportTarget {
  readonly bucket: string;
  readonly #client: S3Client;

  constructor(client: S3Client, bucket: string) {
    this.#client = client;
    this.bucket = bucket;
  }

  async putObject(object: {
    readonly key: string;
    readonly body: Buffer;
    readonly contentType: string;
    readonly sha256: string;
  }): Promise<void> {
    try {
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: object.key,
          Body: object.body,
          ContentLength: object.body.length,
          ContentType: object.contentType,
          ChecksumSHA256: Buffer.from(object.sha256, 'hex').toString('base64'),
          // The exports bucket's lifecycle expires objects with this tag within days (infra's
          // EXPORT_PART_TAG): parts are intermediate, the finalizer combines them within minutes.
          Tagging: EXPORT_PART_TAGGING,
        }),
      );
    } catch (error) {
      const name = error instanceof Error ? error.name : '';
      throw new ExportTargetError(this.bucket, object.key, error, PERMANENT_S3_ERRORS.has(name));
    }
  }
}
