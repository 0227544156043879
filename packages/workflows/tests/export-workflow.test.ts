import { describe, expect, it } from '@jest/globals';
import aslValidator from 'asl-validator';
import {
  type ExportWorkflowProps,
  exportWorkflow,
  INTEGRATION,
  InvalidWorkflowPropsError,
  importWorkflow,
  type PassState,
  type State,
  type TaskState,
  TRANSIENT_EXPORT_FINALIZER_ERRORS,
  workflowIntegrations,
} from '../src/index.ts';
import {
  expectEveryTaskCatchesAll,
  expectJobDeadlines,
  expectOnlyTransientRetries,
  jobWorkflowTokens,
  tasksOf,
} from './definition-checks.ts';

const tokens: ExportWorkflowProps = {
  ...jobWorkflowTokens,
  exportFinalizerFunctionArn: `\${aws_lambda_function.export-finalizer.arn}`,
  exportsBucket: `\${aws_s3_bucket.exports.bucket}`,
  mailQueueUrl: `\${aws_sqs_queue.mail.url}`,
};

const definition = exportWorkflow(tokens);
const tasks = tasksOf(definition);

describe('exportWorkflow', () => {
  it('produces a definition asl-validator accepts, with Terraform tokens as values', () => {
    // asl-validator mutates what it validates: give it a copy.
    const result = aslValidator(structuredClone(definition));
    expect(result.errorsText()).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('is plain JSON and the same for the same props', () => {
    expect(JSON.parse(JSON.stringify(definition))).toEqual(definition);
    expect(exportWorkflow(tokens)).toEqual(definition);
  });

  it('calls exactly the functions, task and queue named in the props', () => {
    expect(workflowIntegrations(definition)).toEqual([
      { state: 'RegisterJob', resource: INTEGRATION.lambdaInvoke, target: tokens.statusUpdaterFunctionArn },
      { state: 'StartJob', resource: INTEGRATION.lambdaInvoke, target: tokens.statusUpdaterFunctionArn },
      { state: 'NotifyRejected', resource: INTEGRATION.sqsSendMessage, target: tokens.mailQueueUrl },
      {
        state: 'ExportRows',
        resource: INTEGRATION.ecsRunTaskSync,
        target: tokens.batchWorker.taskDefinitionArn,
      },
      {
        state: 'FinalizeExport',
        resource: INTEGRATION.lambdaInvoke,
        target: tokens.exportFinalizerFunctionArn,
      },
      { state: 'FinishJob', resource: INTEGRATION.lambdaInvoke, target: tokens.statusUpdaterFunctionArn },
      { state: 'NotifyReady', resource: INTEGRATION.sqsSendMessage, target: tokens.mailQueueUrl },
      { state: 'MarkFailed', resource: INTEGRATION.lambdaInvoke, target: tokens.statusUpdaterFunctionArn },
      { state: 'NotifyFailed', resource: INTEGRATION.sqsSendMessage, target: tokens.mailQueueUrl },
    ]);
  });

  it('runs the batch-worker in export mode with the bucket and its timeout, not bounding the execution', () => {
    const exportRows = definition.States.ExportRows as TaskState;
    expect(exportRows).toMatchObject({ TimeoutSeconds: 7200, ResultPath: null });
    expect(exportRows.Parameters?.Overrides).toEqual({
      ContainerOverrides: [
        {
          Name: 'batch-worker',
          Environment: [
            { Name: 'MODE', Value: 'export' },
            { Name: 'JOB_ID', 'Value.$': '$.job.jobId' },
            { Name: 'EXECUTION_ID', 'Value.$': '$$.Execution.Id' },
            { Name: 'EXPORTS_BUCKET', Value: tokens.exportsBucket },
            { Name: 'EXPORT_FILE_NAME', 'Value.$': '$.job.fileName' },
            { Name: 'EXPORT_FILTER', 'Value.$': 'States.JsonToString($.request.payload.filter)' },
            {
              Name: 'EXPORT_BYTE_ORDER_MARK',
              'Value.$': "States.Format('{}', $.request.payload.byteOrderMark)",
            },
          ],
        },
      ],
    });
    expect(definition.TimeoutSeconds).toBeUndefined();
  });

  it('shares the import workflow’s building blocks: same batch task, status calls and failure path', () => {
    const imported = importWorkflow({
      statusUpdaterFunctionArn: tokens.statusUpdaterFunctionArn,
      batchWorker: tokens.batchWorker,
      mailQueueUrl: tokens.mailQueueUrl,
      notifyAddress: 'ops@example.com',
    });
    const withoutOverrides = (state: State | undefined) => {
      const task = state as TaskState;
      return JSON.parse(
        JSON.stringify({
          ...task,
          Comment: undefined,
          Next: undefined,
          Parameters: { ...task.Parameters, Overrides: undefined },
        }).replaceAll('ImportRows', 'ExportRows'),
      );
    };
    expect(withoutOverrides(definition.States.ExportRows)).toEqual(
      withoutOverrides(imported.States.ImportRows),
    );
    for (const name of ['StartJob', 'FailureNotRecorded', 'NotifyFailed']) {
      const same = (state: State | undefined) => JSON.stringify(state).replaceAll('Import', 'Export');
      expect({ name, state: same(definition.States[name]) }).toEqual({
        name,
        state: same(imported.States[name]),
      });
    }
  });

  it("gives the job a deadline past every run of its task the workflow may make, whatever the task's timeout", () => {
    expectJobDeadlines(
      'export',
      (timeoutSeconds) =>
        exportWorkflow({ ...tokens, batchWorker: { ...tokens.batchWorker, timeoutSeconds } }),
      'ExportRows',
    );
  });

  it('catches every error of every task', () => {
    expectEveryTaskCatchesAll(tasks, { RegisterJob: ['RequestConflictError', 'InvalidInputError'] });
  });

  it('retries only transient errors, with capped exponential backoff, jittered but for the ledger’s', () => {
    expectOnlyTransientRetries(tasks, TRANSIENT_EXPORT_FINALIZER_ERRORS);
  });

  it('mails the requester, never a fixed address', () => {
    for (const name of ['ComposeReadyMail', 'ComposeFailedMail', 'ComposeRejectedMail']) {
      const compose = definition.States[name] as PassState;
      const payload = compose.Parameters?.payload as Record<string, unknown>;
      expect({ name, to: payload['to.$'], fixed: payload.to }).toEqual({
        name,
        to: '$.request.payload.requestedBy',
        fixed: undefined,
      });
    }
  });

  it('refuses props that would fail at run time, naming the field', () => {
    const cases: [Partial<ExportWorkflowProps>, string][] = [
      [{ statusUpdaterFunctionArn: '' }, 'statusUpdaterFunctionArn'],
      [{ exportFinalizerFunctionArn: ' ' }, 'exportFinalizerFunctionArn'],
      [{ exportsBucket: '' }, 'exportsBucket'],
      [{ mailQueueUrl: '' }, 'mailQueueUrl'],
      [{ batchWorker: { ...tokens.batchWorker, subnetIds: [] } }, 'batchWorker.subnetIds'],
      [{ batchWorker: { ...tokens.batchWorker, timeoutSeconds: 59 } }, 'batchWorker.timeoutSeconds'],
    ];
    for (const [change, field] of cases) {
      let error: unknown;
      try {
        exportWorkflow({ ...tokens, ...change });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(InvalidWorkflowPropsError);
      expect(error).toMatchObject({ name: 'InvalidWorkflowPropsError', field });
    }
  });
});
