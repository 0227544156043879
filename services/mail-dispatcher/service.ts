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
    maximumBatchingWindowSeconds: 1,
    maximumConcurrency: 5,
    maxReceiveCount: 5,
  },
  permissions: [
    { resource: 'mail-identity', actions: ['ses:SendEmail'] },
    { resource: 'database-secret', actions: ['secretsmanager:GetSecretValue'] },
  ],
});
