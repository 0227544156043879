import { defineService } from '@sidestep/manifest';

/** The status-updater's wiring: a Step Functions task (lambda:invoke), no queue. */
export const service = defineService({
  name: 'status-updater',
  description: "Applies a job's state event in one transaction, guarded by the expected resulting state",
  handler: 'index.handler',
  memoryMb: 256,
  timeoutSeconds: 30,
  permissions: [{ resource: 'database-secret', actions: ['secretsmanager:GetSecretValue'] }],
});
