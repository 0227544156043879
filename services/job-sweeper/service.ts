import { defineService } from '@sidestep/manifest';

/**
 * The job-sweeper's wiring: no queue. Its schedule (`stale-job-sweeper`, every 15 minutes, in
 * `SCHEDULES` of @sidestep/workflows) and the operator rule that fires it by hand invoke it with `{}`.
 * It reads and writes the jobs ledger and sends failure mails to the mail queue, and lists the
 * workflows' ended executions (for the ends whose status change event never came). It also needs
 * `NOTIFY_ADDRESS` (who gets an import's failure mail, as the import workflow's `notifyAddress`),
 * which differs per environment and so is set by infra and the local cloud, not here.
 *
 * No reserved concurrency: two sweeps at once (a manual fire during a scheduled one) fail and mail each
 * stale job once (`FOR UPDATE SKIP LOCKED`, tests/sweep-stale-jobs.test.ts), and a new account's
 * concurrency quota of 10 has nothing to reserve. An environment may still reserve some
 * (`SIDESTEP_<ENV>_RESERVED_CONCURRENCY=job-sweeper=1`).
 */
export const service = defineService({
  name: 'job-sweeper',
  description: 'Fails jobs stuck running past their deadline and queues one failure mail for each',
  handler: 'index.handler',
  memoryMb: 256,
  timeoutSeconds: 60,
  permissions: [
    { resource: 'database-secret', actions: ['secretsmanager:GetSecretValue'] },
    { resource: 'mail-queue', actions: ['sqs:SendMessage'] },
    // The scheduled sweep's backstop for the status change events Step Functions sends best effort.
    { resource: 'workflow-executions', actions: ['states:ListExecutions', 'states:DescribeExecution'] },
  ],
});
