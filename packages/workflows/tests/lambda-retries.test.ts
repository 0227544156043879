import { describe, expect, it } from '@jest/globals';
import {
  type Branch,
  type ExportWorkflowProps,
  exportWorkflow,
  type ImportWorkflowProps,
  importWorkflow,
  type TaskState,
} from '../src/index.ts';

const batchWorker = {
  clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/sidestep-test',
  taskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/sidestep-test-batch-worker',
  containerName: 'batch-worker',
  subnetIds: ['subnet-0123'],
  securityGroupIds: ['sg-0123'],
};
const importProps: ImportWorkflowProps = {
  statusUpdaterFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:sidestep-test-status-updater',
  batchWorker,
  mailQueueUrl: 'http://127.0.0.1:4566/000000000000/sidestep-test-mail',
  notifyAddress: 'ops@example.com',
};
const exportProps: ExportWorkflowProps = {
  statusUpdaterFunctionArn: importProps.statusUpdaterFunctionArn,
  batchWorker,
  exportFinalizerFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:sidestep-test-export-finalizer',
  exportsBucket: 'sidestep-test-exports',
  mailQueueUrl: importProps.mailQueueUrl,
};

/**
 * The errors Step Functions reports when the Lambda service, not the function, failed an invocation
 * (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html): every step
 * is idempotent, so each must be retried. Spelled out here rather than imported, so that dropping one
 * from the shared list fails this test.
 */
const LAMBDA_SERVICE_ERRORS = [
  'Sandbox.Timedout',
  // The page's own Retry example: the 500s of a transient Lambda service error.
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  // The page's note: Lambda's invocation limit reached, and an unhandled error (out of memory, timeout).
  'Lambda.TooManyRequestsException',
  'Lambda.Unknown',
  // The function's process died mid-invocation (killed, out of memory): Lambda reports
  // `Runtime.ExitError` as the function's error. The steps are idempotent, so running one again is
  // safe; the chaos suite's status-updater kills in RegisterJob/FinishJob failed jobs without it.
  'Runtime.ExitError',
];

/** Every Task state of a definition, nested ones (Parallel branches, Map processors) included. */
function allTasks(branch: Branch): [string, TaskState][] {
  return Object.entries(branch.States).flatMap(([name, state]): [string, TaskState][] => {
    if (state.Type === 'Task') return [[name, state]];
    if (state.Type === 'Parallel') return state.Branches.flatMap(allTasks);
    if (state.Type === 'Map' && state.ItemProcessor) return allTasks(state.ItemProcessor);
    return [];
  });
}

describe.each([
  ['import', importWorkflow(importProps)],
  ['export', exportWorkflow(exportProps)],
])('the %s workflow', (_name, definition) => {
  const lambdaTasks = allTasks(definition).filter(([, state]) => state.Resource.includes(':lambda:'));

  it('invokes Lambda in some task (so the checks below check something)', () => {
    expect(lambdaTasks.length).toBeGreaterThan(0);
  });

  it.each(LAMBDA_SERVICE_ERRORS)(
    'retries %s in every task that invokes Lambda, with jittered backoff',
    (error) => {
      for (const [name, state] of lambdaTasks) {
        const retrier = state.Retry?.find((candidate) => candidate.ErrorEquals.includes(error));
        expect({ name, retried: retrier !== undefined }).toEqual({ name, retried: true });
        expect(retrier).toMatchObject({ JitterStrategy: 'FULL', BackoffRate: 2, MaxDelaySeconds: 60 });
        expect(retrier?.MaxAttempts).toBeGreaterThanOrEqual(3);
        expect(retrier?.IntervalSeconds).toBeGreaterThan(0);
      }
    },
  );
});
