import { defineService } from '@sidestep/manifest';

/**
 * The export-finalizer's wiring: a Step Functions task (lambda:invoke), no queue. It reads and
 * combines objects in the exports bucket; the bytes move server-side (UploadPartCopy), and the one
 * read of the result streams through 1 MiB-ish buffers, so memory does not grow with the export.
 * 15 minutes: checking the combined object reads it once (measured in the README).
 */
export const service = defineService({
  name: 'export-finalizer',
  description: 'Verifies an export’s parts, combines them into one gzip CSV and writes the final manifest',
  handler: 'index.handler',
  memoryMb: 1024,
  timeoutSeconds: 900,
  permissions: [
    {
      resource: 'exports-bucket',
      // GetObject covers HeadObject; PutObject covers CreateMultipartUpload, UploadPart(Copy) and
      // CompleteMultipartUpload (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions).
      actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
    },
  ],
});
