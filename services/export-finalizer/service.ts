import { defineService } from '@sidestep/manifest';

/**
 * The export-finalizer's wiring: a Step Functions task (lambda:invoke), no queue. It moves no byte of
 * an export: ListParts, CompleteMultipartUpload and a few small objects, so its work follows the
 * number of parts (bench/RESULTS.md). 1024 MB not for memory (it holds the manifests and the client,
 * ~120 MiB) but for the CPU Lambda gives in proportion to it
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html): most of an invocation is
 * a cold start compiling the S3 client, and it stands between the export and its mail. 5 minutes:
 * S3 may take minutes to complete a large upload ("Processing of a Complete Multipart Upload request
 * could take several minutes", https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html).
 */
export const service = defineService({
  name: 'export-finalizer',
  description:
    'Verifies the parts an export uploaded (ListParts), completes its gzip CSV and writes the final manifest',
  handler: 'index.handler',
  memoryMb: 1024,
  timeoutSeconds: 300,
  permissions: [
    {
      resource: 'exports-bucket',
      // GetObject covers HeadObject; PutObject covers CompleteMultipartUpload; ListParts needs
      // s3:ListMultipartUploadParts; an upload whose parts are not the manifest's is aborted
      // (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions).
      // s3:ListBucket (infra grants it on the bucket for exports/ keys only): the finalizer tests whether
      // its final manifest (absent on every first run) and the completed object exist, and S3 answers
      // a missing key with 403 AccessDenied instead of 404 to a caller without it.
      // https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html ("Permissions")
      actions: [
        's3:GetObject',
        's3:PutObject',
        's3:ListMultipartUploadParts',
        's3:AbortMultipartUpload',
        's3:ListBucket',
      ],
    },
  ],
});
