import { createHash } from 'node:crypto';
import type { ExportWorkerManifest } from '@sidestep/contracts';
import * as z from 'zod/mini';

/**
 * What the finalizer writes to `exports/<jobId>/manifest.json` once the combined object passed its
 * check. Its presence is what makes an export finished: an object at the final key without it is
 * not reported to anyone. `sourceSha256` identifies the worker's upload and parts it was completed
 * from, so a second finalize of the same parts returns this result instead of completing again.
 *
 * @example { "version": 1, "jobId": "exp_01", "bucket": "sidestep-local-exports", "key": "exports/exp_01/users.csv.gz", "fileName": "users", "columns": ["external_id"], "rows": 2, "bytes": 60, "crc64nvme": "rosUhgp5mIg=", "etag": "\"<etag>\"", "parts": 1, "sourceSha256": "<hex>", "finalizedAt": "2026-11-24T10:00:00.000Z" }
 */
export const ExportFinalManifest = z.object({
  version: z.literal(1),
  jobId: z.string(),
  bucket: z.string(),
  key: z.string(),
  fileName: z.string(),
  columns: z.array(z.string()),
  rows: z.int().check(z.minimum(0)),
  bytes: z.int().check(z.minimum(0)),
  /** S3's full-object CRC-64/NVME of the combined object. */
  crc64nvme: z.string().check(z.regex(/^[A-Za-z0-9+/]{11}=$/)),
  /** The combined object's ETag when it was checked: a replay checks the object is still that one. */
  etag: z.string(),
  /** Worker parts in the file. */
  parts: z.int().check(z.minimum(1)),
  sourceSha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  finalizedAt: z.iso.datetime(),
});
export type ExportFinalManifest = z.infer<typeof ExportFinalManifest>;

/**
 * SHA-256 over what the export's file is made of: the columns, the upload, and each part's number,
 * size, ETag and checksum, in order.
 */
export function sourceSha256(manifest: ExportWorkerManifest): string {
  const identity = {
    columns: manifest.columns,
    key: manifest.key,
    uploadId: manifest.uploadId,
    parts: manifest.parts.map((part) => [part.partNumber, part.bytes, part.etag, part.crc64nvme]),
  };
  return createHash('sha256').update(JSON.stringify(identity)).digest('hex');
}
