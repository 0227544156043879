import { connectPostgresOnFirstUse } from '@sidestep/db/postgres';
import { createTaskHandler, databaseUrlSource } from '@sidestep/runtime';
import { loadConfig } from './config.ts';
import type { IdempotencyRecords } from './purge-expired.ts';
import type { WorkflowExecutions } from './reconcile-ended-executions.ts';
import type { MailQueue } from './sweep-stale-jobs.ts';
import { sweepTask } from './sweep-task.ts';

// Cold start: the environment is checked once, so a function that cannot reach its database or its
// mail queue fails at init naming the variable.
const config = loadConfig();

// The connection is opened on first use (the URL may come from Secrets Manager) and kept warm.
const connect = connectPostgresOnFirstUse({
  // Asked again past the secret's cache when the server refuses the password (a rotation).
  url: databaseUrlSource(),
  max: 1,
});

// The mail queue's producer (and the SQS client under it) loads with the first mail to send, not at
// cold start: a sweep that finds nothing stale sends nothing.
let producerMailQueue: Promise<MailQueue> | undefined;
const mailQueue: MailQueue = {
  send: async (mails) => {
    producerMailQueue ??= import('./adapters/mail-queue.ts').then(({ ProducerMailQueue }) =>
      ProducerMailQueue.forQueue(config.mailQueueUrl),
    );
    return (await producerMailQueue).send(mails);
  },
};

// The mail-dispatcher's idempotency store (Powertools idempotency under it), whose expired records a
// scheduled sweep purges on the same connection, loads with the first such sweep, not at cold start.
let idempotencyStore: Promise<IdempotencyRecords> | undefined;
const idempotencyRecords: IdempotencyRecords = {
  purgeExpired: async (now, options) => {
    idempotencyStore ??= import('@sidestep/idempotency').then(
      ({ PostgresPersistenceLayer }) => new PostgresPersistenceLayer({ database: connect }),
    );
    return (await idempotencyStore).purgeExpired(now, options);
  },
};

// The Step Functions client loads with the first scheduled sweep, not at cold start: a workflow-ended
// event needs none.
let stepFunctions: Promise<WorkflowExecutions> | undefined;
const loadStepFunctions = () =>
  (stepFunctions ??= import('./adapters/step-functions.ts').then(
    ({ StepFunctionsWorkflowExecutions }) => new StepFunctionsWorkflowExecutions(),
  ));
const workflowExecutions: WorkflowExecutions = {
  ended: async function* (stateMachineArn, status, startedSince) {
    yield* (await loadStepFunctions()).ended(stateMachineArn, status, startedSince);
  },
  describe: async (executionArn) => (await loadStepFunctions()).describe(executionArn),
};

/** The job-sweeper's Lambda handler (image CMD `index.handler`), invoked by its schedule. */
export const handler = createTaskHandler(
  sweepTask({
    database: connect,
    mailQueue,
    notifyAddress: config.notifyAddress,
    idempotencyRecords,
    retentionDays: config.jobRetentionDays,
    workflowExecutions: {
      executions: workflowExecutions,
      stateMachineArns: config.workflowStateMachineArns,
      graceMs: config.workflowEndGraceMs,
    },
  }),
);
