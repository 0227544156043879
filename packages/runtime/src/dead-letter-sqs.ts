// The part of the SQS client the dead-letter path uses, imported by name. It is loaded with
// `import()` on the first dead-lettering, and esbuild keeps every export of a dynamically imported
// module: `import()` of '@aws-sdk/client-sqs' itself put all of its commands and the aggregated
// client into the chunk.
export { ChangeMessageVisibilityCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
