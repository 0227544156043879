import { defineService } from '@sidestep/manifest';

/**
 * The export-finalizer's wiring: a Step Functions task (lambda:invoke), no queue. The bytes move
 * server-side (UploadPartCopy) and the one read of the result is streamed, so memory stays flat
 * (126-174 MiB peak, bench/RESULTS.md); 1024 MB for the CPU share Lambda gives with it, since the
 * check (gunzip, SHA-256, CSV scan, ~1.3 s per 100 MiB of CSV) is CPU-bound. 15 minutes: the check
 * reads the whole export once.
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
      // No s3:ListMultipartUploadParts: the finalizer keeps the ETags its own part calls return.
      // s3:ListBucket (infra grants it on the bucket for exports/ keys only): the finalizer tests whether
      // its final manifest (absent on every first run), the parts and the combined object exist, and S3
      // answers a missing key with 403 AccessDenied instead of 404 to a caller without it.
      // https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html ("Permissions")
      actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListBucket'],
    },
  ],
});
