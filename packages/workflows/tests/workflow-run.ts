import { ExecutionError, type StateMachine } from 'aws-local-stepfunctions';

/** aws-local-stepfunctions does not export its event type; it is what `run().eventLogs` yields. */
export type EventLog =
  ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

/** The options of one run that the workflow tests vary. */
type RunOptions = NonNullable<Parameters<StateMachine['run']>[1]>;
export type LocalHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;

/** What one execution did: its output or failure, its event log, the states it entered, how it ended. */
export interface WorkflowRun {
  readonly output: unknown;
  readonly failure: ExecutionError | undefined;
  readonly events: EventLog[];
  readonly statesEntered: string[];
  readonly end: EventLog | undefined;
}

/**
 * Runs one execution of `machine` with in-process task handlers, no retry backoff and no pause in
 * `waitStates` (backoff is the definition's business, asserted on the definition and on the states'
 * inputs). `executionArn` becomes `$$.Execution.Id`, which the library does not make itself.
 */
export async function runWorkflow(
  machine: StateMachine,
  input: unknown,
  executionArn: string,
  handlers: LocalHandlers,
  retryStates: readonly string[],
  waitStates: readonly string[] = [],
): Promise<WorkflowRun> {
  const execution = machine.run(input as never, {
    context: { Execution: { Id: executionArn } },
    overrides: {
      taskResourceLocalHandlers: handlers,
      retryIntervalOverrides: Object.fromEntries(retryStates.map((state) => [state, 0])),
      waitTimeOverrides: Object.fromEntries(waitStates.map((state) => [state, 0])),
    },
  });
  let output: unknown;
  let failure: ExecutionError | undefined;
  try {
    output = await execution.result;
  } catch (error) {
    if (!(error instanceof ExecutionError)) throw error;
    failure = error;
  }
  const events: EventLog[] = [];
  for await (const event of execution.eventLogs) events.push(event);
  const statesEntered = events.flatMap((event) => (event.type === 'StateEntered' ? [event.state.name] : []));
  const end = events.find((event) => event.type === 'ExecutionFailed' || event.type === 'ExecutionSucceeded');
  return { output, failure, events, statesEntered, end };
}

/** The mail a run that ended at a `<mail>MailNotSent` state could not queue: its end's Cause, parsed. */
export function unsentMail(run: WorkflowRun): unknown {
  const { end } = run;
  if (end?.type !== 'ExecutionFailed') throw new Error(`the run ended ${end?.type ?? 'nowhere'}, not failed`);
  return JSON.parse(String(end.Cause));
}

/** A service integration error as Step Functions names them: `<Service>.<Exception>`. */
export function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** The `ecs:runTask.sync` parameters a handler receives. */
export type RunTaskInput = {
  Cluster: string;
  TaskDefinition: string;
  LaunchType: string;
  NetworkConfiguration: unknown;
  Overrides: { ContainerOverrides: { Name: string; Environment: { Name: string; Value: string }[] }[] };
};

/** The container environment a RunTask call overrides, as a record. */
export function environmentOf(task: RunTaskInput): Record<string, string> {
  return Object.fromEntries(
    task.Overrides.ContainerOverrides[0]?.Environment.map((e) => [e.Name, e.Value]) ?? [],
  );
}

/** ECS's reason for each stop code a test uses (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html). */
const STOPPED_REASONS: Record<string, string> = {
  EssentialContainerExited: 'Essential container in task exited',
  SpotInterruption: 'Your Spot Task was interrupted.',
  TerminationNotice: 'Task stopped due to a task retirement',
  TaskFailedToStart: 'ResourceInitializationError: unable to pull secrets or registry auth',
  UserInitiated: 'Task stopped by user',
};

/**
 * The Cause of a failed `ecs:runTask.sync`: the stopped task as DescribeTasks describes it (PascalCase
 * keys), compact JSON as Step Functions writes it.
 */
export function stoppedTask(exitCode: number, stopCode = 'EssentialContainerExited'): Error {
  return namedError(
    'States.TaskFailed',
    JSON.stringify({
      LastStatus: 'STOPPED',
      StopCode: stopCode,
      StoppedReason: STOPPED_REASONS[stopCode] ?? stopCode,
      Containers: [{ Name: 'batch-worker', ExitCode: exitCode, LastStatus: 'STOPPED' }],
    }),
  );
}

/**
 * An `sqs:sendMessage` handler: records every `MessageBody` (which must be a string, as SQS wants),
 * or throws the next of `errors`.
 */
export function messageSender(sent: string[], errors: Error[]) {
  return (input: unknown) => {
    const { MessageBody } = input as { QueueUrl: string; MessageBody?: unknown };
    const error = errors.shift();
    if (error) throw error;
    if (typeof MessageBody !== 'string')
      throw new Error(`MessageBody must be a string, got ${typeof MessageBody}`);
    sent.push(MessageBody);
    return { MessageId: `msg-${sent.length}`, MD5OfMessageBody: 'd41d8cd98f00b204e9800998ecf8427e' };
  };
}
