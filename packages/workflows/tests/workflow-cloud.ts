import { type MailSendJob, MailSendJob as MailSendJobSchema, validate } from '@sidestep/contracts';
import { StateMachine } from 'aws-local-stepfunctions';
import { type StateMachineDefinition, workflowIntegrations } from '../src/index.ts';
import { StatusUpdaterFake } from './status-updater-fake.ts';
import {
  environmentOf,
  type LocalHandlers,
  messageSender,
  type RunTaskInput,
  runWorkflow,
  stoppedTask,
  type WorkflowRun,
} from './workflow-run.ts';

/** The wiring the import and export workflows share, named as in the local cloud. */
export const localWiring = {
  statusUpdaterFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:sidestep-local-status-updater',
  batchWorker: {
    clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/sidestep-local',
    taskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/sidestep-local-batch-worker',
    containerName: 'batch-worker',
    subnetIds: ['subnet-0123'],
    securityGroupIds: ['sg-0123'],
  },
  mailQueueUrl: 'http://127.0.0.1:4566/000000000000/sidestep-local-mail',
};

/** What the batch worker does when a task runs it: record its results in the ledger, or fail. */
export type Worker = (jobId: string, status: StatusUpdaterFake) => void;

/** Options of {@link WorkflowCloud}. */
export interface WorkflowCloudOptions {
  readonly worker: Worker;
  /** Errors the mail queue answers the first sends with. @default none */
  readonly sendMailErrors?: Error[];
}

/** The states every workflow has that the cloud serves, by the names one workflow gives them. */
export interface CloudStates {
  /** The `ecs:runTask.sync` state that runs the batch worker. */
  readonly batchTask: string;
  /** The `sqs:sendMessage` states that queue mails. */
  readonly mails: readonly string[];
}

/** The fakes a test's executions run against: the status-updater, the batch task and the mail queue. */
export class WorkflowCloud {
  readonly status = new StatusUpdaterFake();
  /** Every RunTask call, as the workflow made it. */
  readonly tasks: RunTaskInput[] = [];
  /** Every MessageBody sent, as sent (a string). */
  readonly mails: string[] = [];
  readonly sendMailErrors: Error[];
  readonly worker: Worker;

  /** A worker that records `reason` as its error and stops with exit code 1, as a failed task does. */
  static failingWorker(reason: string): Worker {
    return (jobId, status) => {
      status.recordWorker(jobId, { workerError: reason });
      throw stoppedTask(1);
    };
  }

  constructor({ worker, sendMailErrors = [] }: WorkflowCloudOptions) {
    this.worker = worker;
    this.sendMailErrors = sendMailErrors;
  }

  /** The mails queued, each validated as a mail.send job. */
  mailJobs(): MailSendJob[] {
    return this.mails.map((body) => validate(MailSendJobSchema, JSON.parse(body)));
  }

  /**
   * The local handlers of the states the cloud serves: the status-updater's four tasks, the batch
   * task (recorded, then the worker runs with the job id it was given) and the mail sends.
   */
  handlers(states: CloudStates): LocalHandlers {
    const statusTask = this.status.invoke;
    const sendMail = messageSender(this.mails, this.sendMailErrors);
    return {
      RegisterJob: statusTask,
      StartJob: statusTask,
      FinishJob: statusTask,
      MarkFailed: statusTask,
      [states.batchTask]: (task: unknown) => {
        const runTask = task as RunTaskInput;
        this.tasks.push(runTask);
        this.worker(environmentOf(runTask).JOB_ID ?? '', this.status);
        return { Tasks: [{ LastStatus: 'STOPPED', Containers: [{ Name: 'batch-worker', ExitCode: 0 }] }] };
      },
      ...Object.fromEntries(states.mails.map((state) => [state, sendMail])),
    };
  }
}

/**
 * Runs executions of one workflow, named `exec-1`, `exec-2`, ... in the local account. Constructing a
 * StateMachine validates the definition (~0.3 s): one instance serves every execution. Backoff is the
 * definition's business (asserted on the definition); executions here do not wait for it.
 */
export function workflowExecutor(
  workflow: string,
  definition: StateMachineDefinition,
): (input: unknown, handlers: LocalHandlers) => Promise<WorkflowRun> {
  const machine = new StateMachine(definition);
  const taskStates = workflowIntegrations(definition).map(({ state }) => state);
  const waitStates = Object.entries(definition.States).flatMap(([name, state]) =>
    state.Type === 'Wait' ? [name] : [],
  );
  let executions = 0;
  return (input, handlers) =>
    runWorkflow(
      machine,
      input,
      `arn:aws:states:us-east-1:000000000000:execution:sidestep-local-${workflow}:exec-${++executions}`,
      handlers,
      taskStates,
      waitStates,
    );
}
