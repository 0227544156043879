import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ExportTarget } from '../domain/user-export-store.ts';
import { ExportTargetError } from '../errors.ts';

/** The tag of every object the worker writes (URL query form, as PutObject's `Tagging` takes it). */
export const EXPORT_PART_TAGGING = 'sidestep-export=part';

/** S3 errors that the same request will meet again: not worth a retry of the task. */
const PERMANENT_S3_ERRORS = new Set(['NoSuchBucket', 'AccessDenied', 'InvalidArgument', 'InvalidBucketName']);

/**
 * {@link ExportTarget} on an S3 bucket: one PutObject per object (a part is at most a few MiB over
 * the part size, well under PutObject's 5 GiB). `ChecksumCRC64NVME` makes S3 verify the body it
 * received against the worker's checksum (a corrupted upload is refused with BadDigest, not stored)
 * and keeps it on the object, where the finalizer reads it with HeadObject (`ChecksumMode: ENABLED`)
 * instead of downloading the part; the combined file's full-object checksum is made of these.
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
    readonly crc64nvme: string;
  }): Promise<void> {
    try {
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: object.key,
          Body: object.body,
          ContentLength: object.body.length,
          ContentType: object.contentType,
          ChecksumCRC64NVME: object.crc64nvme,
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

  async readText(key: string): Promise<string | undefined> {
    try {
      const output = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return await output.Body?.transformToString('utf-8');
    } catch (error) {
      const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (name === 'NoSuchKey' || $metadata?.httpStatusCode === 404) return undefined;
      throw new ExportTargetError(this.bucket, key, error, PERMANENT_S3_ERRORS.has(name ?? ''));
    }
  }
}
