import { describe, expect, it } from '@jest/globals';
import {
  INTEGRATION,
  importWorkflow,
  type StateMachineDefinition,
  WorkflowIntegrationError,
  workflowIntegrations,
} from '../src/index.ts';

const props = {
  statusUpdaterFunctionArn: `\${aws_lambda_function.status-updater.arn}`,
  batchWorker: {
    clusterArn: `\${aws_ecs_cluster.batch.arn}`,
    taskDefinitionArn: `\${aws_ecs_task_definition.batch-worker.arn_without_revision}`,
    containerName: 'batch-worker',
    subnetIds: ['subnet-1'],
    securityGroupIds: ['sg-1'],
  },
  mailQueueUrl: `\${aws_sqs_queue.mail.url}`,
  notifyAddress: 'ops@example.com',
};

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('workflowIntegrations', () => {
  it('lists every task of the import workflow with its integration and target', () => {
    expect(workflowIntegrations(importWorkflow(props))).toEqual([
      { state: 'RegisterJob', resource: INTEGRATION.lambdaInvoke, target: props.statusUpdaterFunctionArn },
      { state: 'StartJob', resource: INTEGRATION.lambdaInvoke, target: props.statusUpdaterFunctionArn },
      {
        state: 'ImportRows',
        resource: INTEGRATION.ecsRunTaskSync,
        target: props.batchWorker.taskDefinitionArn,
      },
      { state: 'FinishJob', resource: INTEGRATION.lambdaInvoke, target: props.statusUpdaterFunctionArn },
      { state: 'NotifyCompleted', resource: INTEGRATION.sqsSendMessage, target: props.mailQueueUrl },
      { state: 'MarkFailed', resource: INTEGRATION.lambdaInvoke, target: props.statusUpdaterFunctionArn },
      { state: 'NotifyFailed', resource: INTEGRATION.sqsSendMessage, target: props.mailQueueUrl },
    ]);
  });

  it('finds tasks inside Parallel branches and Map item processors (and the legacy Iterator)', () => {
    const task = (target: string) =>
      ({
        Type: 'Task',
        Resource: INTEGRATION.sqsSendMessage,
        Parameters: { QueueUrl: target },
        End: true,
      }) as const;
    const definition: StateMachineDefinition = {
      StartAt: 'Fan',
      States: {
        Fan: {
          Type: 'Parallel',
          Next: 'Each',
          Branches: [
            { StartAt: 'A', States: { A: task('queue-a') } },
            {
              StartAt: 'Inner',
              States: {
                Inner: {
                  Type: 'Map',
                  ItemProcessor: { StartAt: 'B', States: { B: task('queue-b') } },
                  End: true,
                },
              },
            },
          ],
        },
        Each: { Type: 'Map', Iterator: { StartAt: 'C', States: { C: task('queue-c') } }, Next: 'Direct' },
        Direct: {
          Type: 'Task',
          Resource: 'arn:aws:lambda:us-east-1:000000000000:function:legacy',
          End: true,
        },
      },
    };
    expect(workflowIntegrations(definition).map(({ state, target }) => [state, target])).toEqual([
      ['A', 'queue-a'],
      ['B', 'queue-b'],
      ['C', 'queue-c'],
      ['Direct', 'arn:aws:lambda:us-east-1:000000000000:function:legacy'],
    ]);
  });

  it('refuses a target chosen at run time, naming the state', () => {
    const error = errorOf(() =>
      workflowIntegrations({
        StartAt: 'Dynamic',
        States: {
          Dynamic: {
            Type: 'Task',
            Resource: INTEGRATION.lambdaInvoke,
            Parameters: { 'FunctionName.$': '$.fn', Payload: {} },
            End: true,
          },
        },
      }),
    );
    expect(error).toBeInstanceOf(WorkflowIntegrationError);
    expect(error).toMatchObject({ name: 'WorkflowIntegrationError', state: 'Dynamic' });
    expect((error as Error).message).toContain('Parameters.FunctionName is a path');
  });

  it('refuses an integration it cannot scope', () => {
    const error = errorOf(() =>
      workflowIntegrations({
        StartAt: 'Scan',
        States: {
          Scan: { Type: 'Task', Resource: 'arn:aws:states:::dynamodb:scan', Parameters: {}, End: true },
        },
      }),
    );
    expect(error).toMatchObject({ name: 'WorkflowIntegrationError', state: 'Scan' });
  });
});
