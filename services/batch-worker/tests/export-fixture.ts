import {
  CompleteMultipartUploadCommand,
  GetObjectCommand,
  ListPartsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { expect } from '@jest/globals';
import type { ExportWorkerManifest } from '@sidestep/contracts';
import type { ExportTarget } from '../src/domain/user-export-store.ts';

/**
 * Every part body uploaded through {@link recording}, by `<uploadId>:<partNumber>` (a later upload of
 * the same number replaces it, as in S3). S3 serves no byte of an upload before it is completed, and
 * completing one needs parts of 5 MiB, larger than the tests' parts: the tests read what was uploaded
 * here and check it against what S3 lists (ListParts: sizes and CRC-64/NVME it computed itself).
 */
const uploaded = new Map<string, Buffer>();

/** `target`, keeping a copy of each part it uploads, and calling `onPart` after each. */
export function recording(target: ExportTarget, onPart?: (partNumber: number) => void): ExportTarget {
  return {
    bucket: target.bucket,
    putObject: (object) => target.putObject(object),
    readText: (key) => target.readText(key),
    createUpload: (key, headers) => target.createUpload(key, headers),
    listParts: (key, uploadId) => target.listParts(key, uploadId),
    abortUpload: (key, uploadId) => target.abortUpload(key, uploadId),
    uploadPart: async (key, uploadId, part) => {
      const etag = await target.uploadPart(key, uploadId, part);
      uploaded.set(`${uploadId}:${part.partNumber}`, Buffer.from(part.body));
      onPart?.(part.partNumber);
      return etag;
    },
  };
}

/**
 * Checks that the manifest's upload holds exactly its parts: ListParts lists the manifest's numbers
 * with its sizes, ETags and CRC-64/NVME (which S3 computed from the bytes it stored).
 */
export async function expectUploadHolds(
  client: S3Client,
  bucket: string,
  manifest: ExportWorkerManifest,
): Promise<void> {
  const listed = await client.send(
    new ListPartsCommand({ Bucket: bucket, Key: manifest.key, UploadId: manifest.uploadId }),
  );
  expect(
    listed.Parts?.map((part) => ({
      partNumber: part.PartNumber,
      bytes: part.Size,
      etag: part.ETag,
      crc64nvme: part.ChecksumCRC64NVME,
    })),
  ).toEqual(
    manifest.parts.map(({ partNumber, bytes, etag, crc64nvme }) => ({ partNumber, bytes, etag, crc64nvme })),
  );
}

/** The bodies of the manifest's parts, in order, once {@link expectUploadHolds} passes. */
export async function uploadedParts(
  client: S3Client,
  bucket: string,
  manifest: ExportWorkerManifest,
): Promise<Buffer[]> {
  await expectUploadHolds(client, bucket, manifest);
  return manifest.parts.map((part) => {
    const body = uploaded.get(`${manifest.uploadId}:${part.partNumber}`);
    if (!body)
      throw new Error(`part ${part.partNumber} of ${manifest.uploadId} was not uploaded through recording()`);
    return body;
  });
}

/**
 * Completes the manifest's upload as the export-finalizer does (its parts, its whole-file
 * CRC-64/NVME) and reads the file back: for exports whose parts are S3-sized (5 MiB but the last).
 */
export async function completedFile(
  client: S3Client,
  bucket: string,
  manifest: ExportWorkerManifest,
): Promise<Buffer> {
  await expectUploadHolds(client, bucket, manifest);
  await client.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: manifest.key,
      UploadId: manifest.uploadId,
      MultipartUpload: {
        Parts: manifest.parts.map((part) => ({
          PartNumber: part.partNumber,
          ETag: part.etag,
          ChecksumCRC64NVME: part.crc64nvme,
        })),
      },
      ChecksumCRC64NVME: manifest.crc64nvme,
      ChecksumType: 'FULL_OBJECT',
    }),
  );
  const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: manifest.key }));
  return Buffer.from((await object.Body?.transformToByteArray()) ?? []);
}
