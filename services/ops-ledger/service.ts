import { OPS_LEDGER_SERVICE } from '@sidestep/contracts';
import { defineService } from '@sidestep/manifest';

/**
 * The ops-ledger's wiring: no queue, no trigger, no function URL. Operators' tools invoke it with
 * `lambda:InvokeFunction` (IAM-authorised; the `sidestep-<env>-operator` managed policy grants it),
 * so the jobs ledger, in a private database, is read from outside the VPC without a public endpoint.
 * Queries are answered through the function itself; the few writes operators' actions make (fail,
 * retry hand-over, mail release, audit append) only through its `actions` alias, a separate IAM
 * resource. It reads the database secret and nothing else.
 */
export const service = defineService({
  name: OPS_LEDGER_SERVICE,
  description: "Answers operators' typed jobs-ledger queries (read-only) and their audited ledger actions",
  handler: 'index.handler',
  memoryMb: 256,
  timeoutSeconds: 30,
  permissions: [{ resource: 'database-secret', actions: ['secretsmanager:GetSecretValue'] }],
});
