import * as z from 'zod/mini';
import { EmailAddress } from './email-address.ts';
import { envelope } from './envelope.ts';
import { lazySchema } from './lazy-schema.ts';
import { MailLocaleSchema } from './mail.ts';

/** A job id as the status-updater makes them (`exp_<uuid>`); the same rule as the other contracts. */
const JobId = /* @__PURE__ */ lazySchema(() =>
  z.string().check(z.minLength(1), z.maxLength(128), z.regex(/^[A-Za-z0-9._:-]+$/)),
);
const Count = /* @__PURE__ */ lazySchema(() => z.int().check(z.minimum(0)));
/** Base64 of a CRC-64/NVME (8 bytes), as S3's `x-amz-checksum-crc64nvme`. */
const Crc64NvmeBase64 = /* @__PURE__ */ lazySchema(() =>
  z.string().check(z.regex(/^[A-Za-z0-9+/]{11}=$/, { message: 'must be a base64 CRC-64/NVME (8 bytes)' })),
);
const BucketName = /* @__PURE__ */ lazySchema(() => z.string().check(z.minLength(3), z.maxLength(63)));
const ObjectKey = /* @__PURE__ */ lazySchema(() => z.string().check(z.minLength(1), z.maxLength(1024)));

/**
 * The base name of an export's file, without extension (the finalizer appends `.csv.gz`). Letters,
 * digits, `.`, `_`, `-`, starting with a letter or digit: it becomes part of an S3 key and of the
 * download's `Content-Disposition`, so no `/` (no path traversal into another job's prefix), no
 * quotes, no control characters (which also makes it a valid `SingleLine`).
 */
export const ExportFileName = /* @__PURE__ */ lazySchema(() =>
  z.string().check(
    z.maxLength(100),
    z.regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, {
      message: 'must start with a letter or digit and contain only letters, digits, ".", "_", "-" (no "/")',
    }),
  ),
);
export type ExportFileName = z.infer<typeof ExportFileName>;

/**
 * The file name an export gets when the request names none: `users-<YYYY-MM-DD>` of `date` in UTC.
 * Not a schema default on purpose: a default that reads the clock would make parsing
 * non-deterministic and the generated JSON Schema change every day. The export workflow applies the
 * same rule with the execution's start time (`$$.Execution.StartTime`), so a redriven or replayed
 * execution names the same file.
 *
 * @example defaultExportFileName(new Date('2026-11-24T09:00:00Z')) // 'users-2026-11-24'
 */
export function defaultExportFileName(date: Date): ExportFileName {
  return `users-${date.toISOString().slice(0, 10)}`;
}

/**
 * Which users an export selects; every condition given must hold (AND). No filter, or an empty one,
 * selects everyone.
 *
 * @example { "updatedSince": "2026-11-01T00:00:00Z", "emailDomain": "example.com" }
 */
export const ExportFilter = /* @__PURE__ */ lazySchema(() =>
  z.strictObject({
    /** Users updated at or after this instant (`updated_at >= updatedSince`). */
    updatedSince: z.optional(z.iso.datetime({ offset: true })),
    /** Users whose email is at this domain, compared case-insensitively (`a@Example.com` matches `example.com`). */
    emailDomain: z.optional(z.hostname().check(z.maxLength(253))),
  }),
);
export type ExportFilter = z.infer<typeof ExportFilter>;

/** The payload of an `export.requested` job. */
export const ExportRequestedPayload = /* @__PURE__ */ lazySchema(() =>
  z.strictObject({
    /** Who asked; the `export.ready` / `export.failed` mail goes to this address (at most 254 characters). */
    requestedBy: EmailAddress,
    /** @default `users-<YYYY-MM-DD>` of the execution's start, UTC ({@link defaultExportFileName}) */
    fileName: z.optional(ExportFileName),
    /** @default everyone */
    filter: z.optional(ExportFilter),
    /**
     * Starts the CSV with a UTF-8 byte order mark (EF BB BF), without which Excel reads a CSV in the
     * system's legacy code page and garbles non-ASCII names (Japanese, accented). Off for consumers that
     * treat the mark as part of the first column name.
     *
     * @default true
     */
    byteOrderMark: z._default(z.boolean(), true),
    /**
     * The language of the `export.ready` / `export.failed` mail: `en` or `ja`, the locales every mail
     * template is written in. Applied by the export workflow, as `fileName` is.
     *
     * @default "en"
     */
    locale: z.optional(MailLocaleSchema),
  }),
);
export type ExportRequestedPayload = z.infer<typeof ExportRequestedPayload>;

/**
 * An export request on `sidestep-<env>-export-requests`. The envelope `id` is the request's identity:
 * the export workflow registers the job by it, so a message delivered twice exports once.
 *
 * @example
 * ```json
 * { "type": "export.requested", "version": 1, "id": "req-2026-11-24-0001",
 *   "createdAt": "2026-11-24T09:00:00.000Z",
 *   "payload": { "requestedBy": "ops@example.com", "fileName": "users-example", "locale": "ja",
 *                "filter": { "updatedSince": "2026-11-01T00:00:00Z", "emailDomain": "example.com" } } }
 * ```
 */
export const ExportRequestedJob = /* @__PURE__ */ lazySchema(() =>
  envelope('export.requested', 1, ExportRequestedPayload),
);
export type ExportRequestedJob = z.infer<typeof ExportRequestedJob>;
export type ExportRequestedJobInput = z.input<typeof ExportRequestedJob>;

/** The S3 multipart limit: an export the finalizer can combine has at most this many parts. */
export const MAX_EXPORT_PARTS = 10_000;

/**
 * The key of an export's file: `exports/<jobId>/<fileName>.csv.gz`. The batch-worker uploads its parts
 * into a multipart upload of this key and the export-finalizer completes it, so both derive it here.
 */
export function exportObjectKey(jobId: string, fileName: ExportFileName): string {
  return `exports/${jobId}/${fileName}.csv.gz`;
}

/** S3's ETag of an uploaded part, quotes included, as UploadPart returns it and CompleteMultipartUpload takes it. */
const PartETag = /* @__PURE__ */ lazySchema(() =>
  z
    .string()
    .check(z.regex(/^"[^"]{1,1022}"$/, { message: 'must be an ETag in double quotes, as S3 returns it' })),
);

/**
 * One part the batch-worker uploaded into the export's multipart upload: one gzip member of whole
 * records. `bytes` and `crc64nvme` are of the uploaded (compressed) bytes; `rows` counts data rows
 * (part 1 also holds the header line, which is not counted).
 */
export const ExportWorkerPart = /* @__PURE__ */ lazySchema(() =>
  z.strictObject({
    /** 1, 2, ... n: the part's number in the upload, its place in the file. */
    partNumber: z.int().check(z.minimum(1), z.maximum(MAX_EXPORT_PARTS)),
    rows: Count,
    bytes: z.int().check(z.minimum(1)),
    /** What UploadPart returned: CompleteMultipartUpload names the part by it. */
    etag: PartETag,
    /** Base64 CRC-64/NVME of the part's bytes: S3 checked the upload against it and lists it (ListParts). */
    crc64nvme: Crc64NvmeBase64,
  }),
);
export type ExportWorkerPart = z.infer<typeof ExportWorkerPart>;

/**
 * What the batch-worker's `export` mode writes to `exports/<jobId>/parts/manifest.json` once every
 * part is uploaded: the multipart upload of the export's file (`key`, `uploadId`) the worker
 * uploaded its parts into, which the export-finalizer verifies (ListParts) and completes. Parts are
 * numbered 1..n in file order; only part 1 carries the CSV header; each part is one complete gzip
 * member, so the completed object is one valid gzip file. `rows` and `bytes` are the sums over the
 * parts (checked here, so a truncated manifest is refused).
 *
 * Version 2: version 1 named parts stored as separate objects, which the finalizer copied into the
 * file (UploadPartCopy); uploading them into the file's own upload takes the copy, and a second
 * stored copy of every export, away.
 *
 * @example
 * ```json
 * { "version": 2, "jobId": "exp_01", "header": true,
 *   "columns": ["external_id", "email", "name", "attributes", "created_at", "updated_at"],
 *   "key": "exports/exp_01/users-2026-11-24.csv.gz", "uploadId": "2~Lx7...",
 *   "parts": [{ "partNumber": 1, "rows": 1000, "bytes": 31234,
 *               "etag": "\"9f86d081884c7d659a2feaa0c55ad015\"", "crc64nvme": "rosUhgp5mIg=" }],
 *   "rows": 1000, "bytes": 31234, "crc64nvme": "rosUhgp5mIg=", "byteOrderMark": true, "resumedParts": 0 }
 * ```
 */
export const ExportWorkerManifest = /* @__PURE__ */ lazySchema(() =>
  z
    .strictObject({
      version: z.literal(2),
      jobId: JobId,
      columns: z.array(z.string().check(z.minLength(1))).check(z.minLength(1)),
      /** The first line of part 1 is the CSV header (always true). */
      header: z.literal(true),
      /** The export's file, `exports/<jobId>/<fileName>.csv.gz` ({@link exportObjectKey}). */
      key: ObjectKey,
      /** The multipart upload of `key` holding the parts. */
      uploadId: z.string().check(z.minLength(1), z.maxLength(1024)),
      parts: z.array(ExportWorkerPart).check(z.minLength(1), z.maxLength(MAX_EXPORT_PARTS)),
      rows: Count,
      bytes: z.int().check(z.minimum(1)),
      /**
       * Base64 CRC-64/NVME of the parts concatenated (the file), combined from the parts' checksums:
       * what S3's full-object checksum of the completed upload must be.
       */
      crc64nvme: Crc64NvmeBase64,
      /** Part 1 starts with the UTF-8 byte order mark, before the header (the request's `byteOrderMark`). */
      byteOrderMark: z.boolean(),
      /**
       * Parts 1..resumedParts were uploaded by an earlier attempt and kept by the one that wrote this
       * manifest; 0 when it read every row itself. Either way the file holds the users as of one
       * point in time: a retry keeps parts only when a read of their rows, in the snapshot it reads
       * the rest in, gives their very bytes, and starts over otherwise. Absent in manifests of
       * workers before it (whose resumed files could mix two points in time).
       */
      resumedParts: z.optional(z.int().check(z.minimum(0), z.maximum(MAX_EXPORT_PARTS))),
    })
    .check(
      z.refine((m) => m.parts.reduce((sum, part) => sum + part.rows, 0) === m.rows, {
        message: 'must equal the sum of the parts’ rows',
        path: ['rows'],
      }),
      z.refine((m) => m.parts.reduce((sum, part) => sum + part.bytes, 0) === m.bytes, {
        message: 'must equal the sum of the parts’ bytes',
        path: ['bytes'],
      }),
      z.refine((m) => m.parts.every((part, index) => part.partNumber === index + 1), {
        message: 'must be numbered 1, 2, ... n in order',
        path: ['parts'],
      }),
      z.refine((m) => (m.resumedParts ?? 0) <= m.parts.length, {
        message: 'must be at most the number of parts',
        path: ['resumedParts'],
      }),
    ),
);
export type ExportWorkerManifest = z.infer<typeof ExportWorkerManifest>;

/**
 * The export-finalizer's input (the `Payload` of its `lambda:invoke` task).
 *
 * @example { "jobId": "exp_01", "bucket": "sidestep-local-exports", "manifestKey": "exports/exp_01/parts/manifest.json", "fileName": "users-2026-11-24" }
 */
export const FinalizeExportInput = /* @__PURE__ */ lazySchema(() =>
  z.object({
    jobId: JobId,
    bucket: BucketName,
    /** `exports/<jobId>/parts/manifest.json`, an {@link ExportWorkerManifest}. */
    manifestKey: ObjectKey,
    fileName: ExportFileName,
  }),
);
export type FinalizeExportInput = z.infer<typeof FinalizeExportInput>;

/**
 * The export-finalizer's result; finalizing the same parts again returns the same object.
 *
 * @example
 * ```json
 * { "jobId": "exp_01", "bucket": "sidestep-local-exports", "key": "exports/exp_01/users-2026-11-24.csv.gz",
 *   "rows": 1000, "bytes": 31234, "crc64nvme": "rosUhgp5mIg=",
 *   "manifestKey": "exports/exp_01/manifest.json",
 *   "downloadUrl": "https://downloads.example.com/exports/exp_01?token=...", "downloadExpiresAt": "2026-12-01T09:00:00.000Z" }
 * ```
 */
export const FinalizeExportOutput = /* @__PURE__ */ lazySchema(() =>
  z.object({
    jobId: JobId,
    bucket: BucketName,
    /** `exports/<jobId>/<fileName>.csv.gz`: one gzip file, the header once, then every row. */
    key: ObjectKey,
    /** Data rows (the header is not counted). */
    rows: Count,
    /** Bytes of the combined object. */
    bytes: Count,
    /**
     * Base64 CRC-64/NVME of the combined object: S3's full-object checksum, which the finalizer checked
     * against the worker's (`HeadObject` with `ChecksumMode: ENABLED` returns it) without reading it.
     */
    crc64nvme: Crc64NvmeBase64,
    /** `exports/<jobId>/manifest.json`: the final manifest. */
    manifestKey: ObjectKey,
    /** What the `export.ready` mail links to. */
    downloadUrl: z.url({ protocol: /^https?$/ }),
    /** When `downloadUrl` stops working. */
    downloadExpiresAt: z.iso.datetime({ offset: true }),
  }),
);
export type FinalizeExportOutput = z.infer<typeof FinalizeExportOutput>;
