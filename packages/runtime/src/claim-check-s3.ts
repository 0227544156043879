// The part of the S3 client the claim-check store uses, imported by name. The store loads it with
// `import()`, and esbuild keeps every export of a dynamically imported module: `import()` of
// '@aws-sdk/client-s3' itself put all ~100 S3 commands and the aggregated client into the bundle, and
// into the cold start of a service that also imports the S3 client statically (the export-finalizer).
export { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
