// The part of the SES client the SES transport uses, imported by name. The transport loads it with
// `import()`, and esbuild keeps every export of a dynamically imported module: `import()` of
// '@aws-sdk/client-sesv2' itself put the aggregated client and all ~100 SES commands into the chunk
// a cold start with `MAIL_TRANSPORT=ses` loads (as packages/runtime/src/claim-check-s3.ts for S3).
export { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
