import { defineService } from '@sidestep/manifest';

/** The mail-dispatcher's wiring: read by infra (Terraform) and by the local cloud. */
export const service = defineService({
  name: 'mail-dispatcher',
  description: 'Renders mail jobs from the mail queue and sends each at most once per idempotency key',
  handler: 'index.handler',
  memoryMb: 512,
  timeoutSeconds: 30,
  queue: {
    name: 'mail',
    jobTypes: ['mail.send'],
    batchSize: 10,
    // No batching window: a mail someone waits for (an export is ready, a job failed) is sent as
    // soon as the poller receives it, where a window of 1 s delayed every lone mail by up to 1 s. A
    // burst still arrives in full batches: a long poll returns up to 10 messages of a backlog at once.
    // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html (MaximumBatchingWindowInSeconds, default 0)
    maximumBatchingWindowSeconds: 0,
    maximumConcurrency: 5,
    maxReceiveCount: 5,
  },
  permissions: [
    // SES v2 SendEmail with raw content (nodemailer composes the MIME message) is authorized as
    // ses:SendRawEmail too, which AWS's action table does not list (aws/aws-actionmailer-ses-ruby#10,
    // anymail/django-anymail#384: denied with only ses:SendEmail).
    { resource: 'mail-identity', actions: ['ses:SendEmail', 'ses:SendRawEmail'] },
    { resource: 'database-secret', actions: ['secretsmanager:GetSecretValue'] },
  ],
});
