import { describe, expect, it } from '@jest/globals';
import { MAX_JOB_DEADLINE_SECONDS, type MailLocale } from '@sidestep/contracts';
import aslValidator from 'asl-validator';
import {
  type ImportWorkflowProps,
  InvalidWorkflowPropsError,
  importWorkflow,
  jobDeadlineSeconds,
  MAX_BATCH_TASK_TIMEOUT_SECONDS,
  type TaskState,
} from '../src/index.ts';
import {
  expectEveryTaskCatchesAll,
  expectJobDeadlines,
  expectOnlyTransientRetries,
  jobWorkflowTokens,
  tasksOf,
} from './definition-checks.ts';

const tokens: ImportWorkflowProps = {
  ...jobWorkflowTokens,
  mailQueueUrl: `\${aws_sqs_queue.mail.url}`,
  notifyAddress: 'ops@example.com',
};

const definition = importWorkflow(tokens);
const tasks = tasksOf(definition);

/** asl-validator mutates what it validates (it adds `QueryLanguage` to each state): give it a copy. */
function validateAsl(value: unknown) {
  return aslValidator(structuredClone(value));
}

describe('importWorkflow', () => {
  it('produces a definition asl-validator accepts, with Terraform tokens as values', () => {
    const result = validateAsl(definition);
    expect(result.errorsText()).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('produces a definition asl-validator rejects once a transition target is removed', () => {
    // Proves the validator checks transitions, so the test above can fail.
    const { ImportFailed: _removed, ...rest } = definition.States;
    expect(validateAsl({ ...definition, States: rest }).isValid).toBe(false);
  });

  it('is plain JSON: it survives JSON.stringify unchanged', () => {
    expect(JSON.parse(JSON.stringify(definition))).toEqual(definition);
  });

  it('returns the same definition for the same props', () => {
    expect(importWorkflow(tokens)).toEqual(definition);
  });

  it('calls the status-updater, the batch task and the mail queue named in the props, verbatim', () => {
    const parameters = Object.fromEntries(tasks.map(([name, state]) => [name, state.Parameters]));
    for (const name of ['RegisterJob', 'StartJob', 'FinishJob', 'MarkFailed']) {
      expect(parameters[name]).toMatchObject({ FunctionName: tokens.statusUpdaterFunctionArn });
    }
    expect(parameters.ImportRows).toMatchObject({
      Cluster: tokens.batchWorker.clusterArn,
      TaskDefinition: tokens.batchWorker.taskDefinitionArn,
      LaunchType: 'FARGATE',
      NetworkConfiguration: {
        AwsvpcConfiguration: {
          Subnets: [`\${var.private_subnet_a}`, `\${var.private_subnet_b}`],
          SecurityGroups: [`\${aws_security_group.batch-worker.id}`],
          AssignPublicIp: 'ENABLED',
        },
      },
      Overrides: { ContainerOverrides: [{ Name: 'batch-worker' }] },
    });
    expect(parameters.NotifyCompleted).toMatchObject({ QueueUrl: tokens.mailQueueUrl });
    expect(parameters.NotifyFailed).toMatchObject({ QueueUrl: tokens.mailQueueUrl });
  });

  it('bounds the batch task by the given timeout, by an hour by default, and not the execution', () => {
    expect(definition.States.ImportRows).toMatchObject({ TimeoutSeconds: 7200 });
    const defaults = importWorkflow({
      ...tokens,
      batchWorker: { ...tokens.batchWorker, timeoutSeconds: undefined },
    });
    expect(defaults.States.ImportRows).toMatchObject({ TimeoutSeconds: 3600 });
    // An execution timeout cannot be caught: the job would stay running without a mail.
    expect(definition.TimeoutSeconds).toBeUndefined();
  });

  it('passes every required batch-worker input as a container override', () => {
    const importRows = definition.States.ImportRows as TaskState;
    const overrides = importRows.Parameters?.Overrides as {
      ContainerOverrides: { Environment: { Name: string }[] }[];
    };
    expect(overrides.ContainerOverrides[0]?.Environment.map((variable) => variable.Name)).toEqual([
      'MODE',
      'JOB_ID',
      'EXECUTION_ID',
      'SOURCE_BUCKET',
      'SOURCE_KEY',
      'SOURCE_VERSION_ID',
      'SOURCE_ETAG',
    ]);
  });

  it("gives the job a deadline past every run of its task the workflow may make, whatever the task's timeout", () => {
    expectJobDeadlines(
      'import',
      (timeoutSeconds) =>
        importWorkflow({ ...tokens, batchWorker: { ...tokens.batchWorker, timeoutSeconds } }),
      'ImportRows',
    );
  });

  it('catches every error of every task', () => {
    expect(tasks.length).toBeGreaterThanOrEqual(7);
    expectEveryTaskCatchesAll(tasks);
  });

  it('retries only transient errors, with capped exponential backoff, jittered but for the ledger’s', () => {
    expectOnlyTransientRetries(tasks);
  });

  it('sends every mail as a JSON string built from a composed envelope', () => {
    for (const name of ['NotifyCompleted', 'NotifyFailed']) {
      expect((definition.States[name] as TaskState).Parameters).toEqual({
        QueueUrl: tokens.mailQueueUrl,
        'MessageBody.$': 'States.JsonToString($.mail)',
      });
    }
  });

  it('refuses props that would fail at run time, naming the field', () => {
    const cases: [
      Partial<ImportWorkflowProps> | { batchWorker: Partial<ImportWorkflowProps['batchWorker']> },
      string,
    ][] = [
      [{ statusUpdaterFunctionArn: '' }, 'statusUpdaterFunctionArn'],
      [{ mailQueueUrl: ' ' }, 'mailQueueUrl'],
      [{ notifyAddress: '' }, 'notifyAddress'],
      [{ notifyLocale: 'fr' as MailLocale }, 'notifyLocale'],
      [{ batchWorker: { subnetIds: [] } }, 'batchWorker.subnetIds'],
      [{ batchWorker: { securityGroupIds: [''] } }, 'batchWorker.securityGroupIds'],
      [{ batchWorker: { containerName: '' } }, 'batchWorker.containerName'],
      [{ batchWorker: { timeoutSeconds: 30 } }, 'batchWorker.timeoutSeconds'],
      // A task so long that the job's deadline (every run of it) passes the 7 days a start may set.
      [{ batchWorker: { timeoutSeconds: 86_400 } }, 'batchWorker.timeoutSeconds'],
    ];
    for (const [change, field] of cases) {
      const props = {
        ...tokens,
        ...change,
        batchWorker: { ...tokens.batchWorker, ...('batchWorker' in change ? change.batchWorker : {}) },
      } as ImportWorkflowProps;
      let error: unknown;
      try {
        importWorkflow(props);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(InvalidWorkflowPropsError);
      expect(error).toMatchObject({ name: 'InvalidWorkflowPropsError', field });
    }
  });
});

// StartJob sends the job's deadline, every run of the task included, and the ledger's contract takes
// at most 7 days (MAX_JOB_DEADLINE_SECONDS): a longer task would fail every job at its first step.
describe('the longest batch task', () => {
  it('is the longest whose job deadline the ledger takes, and the props refuse a second more', () => {
    expect(jobDeadlineSeconds(MAX_BATCH_TASK_TIMEOUT_SECONDS)).toBeLessThanOrEqual(MAX_JOB_DEADLINE_SECONDS);
    expect(jobDeadlineSeconds(MAX_BATCH_TASK_TIMEOUT_SECONDS + 1)).toBeGreaterThan(MAX_JOB_DEADLINE_SECONDS);
    const withTimeout = (timeoutSeconds: number) => () =>
      importWorkflow({ ...tokens, batchWorker: { ...tokens.batchWorker, timeoutSeconds } });
    expect(withTimeout(MAX_BATCH_TASK_TIMEOUT_SECONDS)).not.toThrow();
    expect(withTimeout(MAX_BATCH_TASK_TIMEOUT_SECONDS + 1)).toThrow(
      `batchWorker.timeoutSeconds: must be at most ${MAX_BATCH_TASK_TIMEOUT_SECONDS}`,
    );
  });
});
