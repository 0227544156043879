import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { listUploadParts } from '@sidestep/runtime/list-upload-parts';
import type { ExportFileHeaders, ExportTarget, UploadedPart } from '../domain/user-export-store.ts';
import { ExportTargetError } from '../errors.ts';

/** The tag of every object the worker writes whole (URL query form, as PutObject's `Tagging` takes it). */
export const EXPORT_PART_TAGGING = 'sidestep-export=part';

/** S3 errors that the same request will meet again: not worth a retry of the task. */
const PERMANENT_S3_ERRORS = new Set(['NoSuchBucket', 'AccessDenied', 'InvalidArgument', 'InvalidBucketName']);

/**
 * {@link ExportTarget} on an S3 bucket. The export's file is a multipart upload with a CRC-64/NVME
 * `FULL_OBJECT` checksum: each UploadPart carries the part's `ChecksumCRC64NVME`, so S3 verifies the
 * bytes it received (BadDigest otherwise, nothing stored) and keeps the checksum, which ListParts
 * returns and CompleteMultipartUpload combines into the object's
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html). The JSON
 * records (progress, manifest) are one PutObject each.
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
    await this.#send(object.key, () =>
      this.#client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: object.key,
          Body: object.body,
          ContentLength: object.body.length,
          ContentType: object.contentType,
          ChecksumCRC64NVME: object.crc64nvme,
          // The exports bucket's lifecycle expires objects with this tag within days (infra's
          // EXPORT_PART_TAG): the worker's records are intermediate.
          Tagging: EXPORT_PART_TAGGING,
        }),
      ),
    );
  }

  async readText(key: string): Promise<string | undefined> {
    try {
      const output = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return await output.Body?.transformToString('utf-8');
    } catch (error) {
      if (isNotFound(error, 'NoSuchKey')) return undefined;
      throw this.#error(key, error);
    }
  }

  async createUpload(key: string, headers: ExportFileHeaders): Promise<string> {
    const output = await this.#send(key, () =>
      this.#client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          ContentType: headers.contentType,
          ContentDisposition: headers.contentDisposition,
          ChecksumAlgorithm: 'CRC64NVME',
          ChecksumType: 'FULL_OBJECT',
        }),
      ),
    );
    if (!output.UploadId) throw this.#error(key, new Error('CreateMultipartUpload returned no UploadId'));
    return output.UploadId;
  }

  async uploadPart(
    key: string,
    uploadId: string,
    part: { readonly partNumber: number; readonly body: Buffer; readonly crc64nvme: string },
  ): Promise<string> {
    const output = await this.#send(key, () =>
      this.#client.send(
        new UploadPartCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: part.partNumber,
          Body: part.body,
          ContentLength: part.body.length,
          ChecksumCRC64NVME: part.crc64nvme,
        }),
      ),
    );
    if (!output.ETag) throw this.#error(key, new Error(`UploadPart ${part.partNumber} returned no ETag`));
    return output.ETag;
  }

  async listParts(key: string, uploadId: string): Promise<UploadedPart[] | undefined> {
    return this.#send(key, () =>
      listUploadParts(this.#client, { Bucket: this.bucket, Key: key, UploadId: uploadId }),
    );
  }

  async abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.#client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
      );
    } catch (error) {
      if (isNotFound(error, 'NoSuchUpload')) return;
      throw this.#error(key, error);
    }
  }

  async #send<T>(key: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw this.#error(key, error);
    }
  }

  #error(key: string, error: unknown): ExportTargetError {
    const name = error instanceof Error ? error.name : '';
    return new ExportTargetError(this.bucket, key, error, PERMANENT_S3_ERRORS.has(name));
  }
}

/** S3's 404 answer named `code` (the SDK's error name), or any 404. */
function isNotFound(error: unknown, code: string): boolean {
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return name === code || $metadata?.httpStatusCode === 404;
}
