import type { StateMachine } from 'aws-local-stepfunctions';

/** One event of `GetExecutionHistory`, in the API's shape (`type` plus one `<type>EventDetails`). */
export interface HistoryEvent extends UnnumberedHistoryEvent {
  readonly id: number;
  readonly previousEventId: number;
}

/** The history event that ends an execution, by the status it ends in. */
export const END_EVENTS = {
  SUCCEEDED: 'ExecutionSucceeded',
  FAILED: 'ExecutionFailed',
  ABORTED: 'ExecutionAborted',
  TIMED_OUT: 'ExecutionTimedOut',
} as const;

/** A history event before {@link appendHistory} numbers it. */
export interface UnnumberedHistoryEvent {
  readonly timestamp: Date;
  readonly type: string;
  readonly [details: string]: unknown;
}

/** One event aws-local-stepfunctions logs while it runs an execution (the library does not export the type). */
export type ExecutionEventLog =
  ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer Event> ? Event : never;

/** What the history needs that the library's events leave out. */
export interface ExecutionHistoryContext {
  /** The execution's input, JSON text as given to StartExecution. */
  readonly input: string;
  readonly roleArn: string;
  /** Task state name -> its `Resource` (`arn:aws:states:::lambda:invoke`). */
  readonly taskResources: ReadonlyMap<string, string>;
  /** Task state name -> what its integration returned, before `ResultSelector` / `ResultPath`. */
  readonly taskResults: ReadonlyMap<string, unknown>;
  /** What StopExecution was given, for `ExecutionAborted`. */
  readonly abortReason?: { readonly error?: string; readonly cause?: string };
  /**
   * Task states whose last attempt failed and a Catch handled ({@link trackCaughtTasks}): their exit
   * is no success, so no `TaskSucceeded` precedes it.
   */
  readonly caughtTasks?: ReadonlySet<string>;
}

/**
 * Keeps `caught` (the Task states whose failure a Catch handled, until they are entered again) up to
 * date with one more event of the library's log; call it before {@link historyEventsOf} translates
 * the event. The library logs a caught Task's exit as it logs a successful one.
 */
export function trackCaughtTasks(event: ExecutionEventLog, caught: Set<string>): void {
  if (event.type === 'StateCaught' && event.state.type === 'Task') caught.add(event.state.name);
  else if (event.type === 'StateEntered') caught.delete(event.state.name);
}

/**
 * Translates one event of aws-local-stepfunctions' event log into the `GetExecutionHistory` events
 * Step Functions records for it: none (a catch, a parallel branch), one, two (a Task's exit is
 * `TaskSucceeded` then `TaskStateExited`; a Task's retry is `TaskScheduled` then `TaskStarted`), or
 * three (a Task's entry is followed by its first attempt's two). Pure: data in, data out.
 *
 * @see https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html
 */
export function historyEventsOf(
  event: ExecutionEventLog,
  context: ExecutionHistoryContext,
): UnnumberedHistoryEvent[] {
  const timestamp = new Date(event.timestamp);
  const at = (type: string, details: Record<string, unknown>): UnnumberedHistoryEvent => ({
    timestamp,
    type,
    ...details,
  });
  // Each attempt of a Task is TaskScheduled and TaskStarted, then TaskFailed or TaskSucceeded
  // (https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html): without
  // them a history cannot tell a step retried and then succeeded from one that failed. Their
  // `region` and `parameters` are left out: the library's events do not carry them.
  const taskAttempt = (state: string) => [
    at('TaskScheduled', { taskScheduledEventDetails: taskResource(context, state) }),
    at('TaskStarted', { taskStartedEventDetails: taskResource(context, state) }),
  ];
  switch (event.type) {
    case 'ExecutionStarted':
      return [
        at('ExecutionStarted', {
          executionStartedEventDetails: {
            input: context.input,
            inputDetails: { truncated: false },
            roleArn: context.roleArn,
          },
        }),
      ];
    case 'StateEntered': {
      const entered = at(`${event.state.type}StateEntered`, {
        stateEnteredEventDetails: {
          name: event.state.name,
          input: JSON.stringify(event.state.input),
          inputDetails: { truncated: false },
        },
      });
      return event.state.type === 'Task' ? [entered, ...taskAttempt(event.state.name)] : [entered];
    }
    case 'StateRetried':
      return event.state.type === 'Task' ? taskAttempt(event.state.name) : [];
    case 'StateExited': {
      const exited = at(`${event.state.type}StateExited`, {
        stateExitedEventDetails: {
          name: event.state.name,
          output: JSON.stringify(event.state.output ?? null),
          outputDetails: { truncated: false },
        },
      });
      // A caught failure's exit: the attempt ended in TaskFailed, and Step Functions records no
      // success for it (TaskSucceeded: "the successful completion of a task state",
      // https://docs.aws.amazon.com/step-functions/latest/apireference/API_TaskSucceededEventDetails.html).
      if (event.state.type !== 'Task' || context.caughtTasks?.has(event.state.name)) return [exited];
      const succeeded = at('TaskSucceeded', {
        taskSucceededEventDetails: {
          ...taskResource(context, event.state.name),
          output: JSON.stringify(context.taskResults.get(event.state.name) ?? null),
          outputDetails: { truncated: false },
        },
      });
      return [succeeded, exited];
    }
    case 'StateFailed':
      if (event.state.type !== 'Task') return [];
      return [
        at('TaskFailed', {
          taskFailedEventDetails: {
            ...taskResource(context, event.state.name),
            error: event.Error,
            cause: String(event.Cause),
          },
        }),
      ];
    case 'ExecutionSucceeded':
      return [
        at('ExecutionSucceeded', {
          executionSucceededEventDetails: {
            output: JSON.stringify(event.output),
            outputDetails: { truncated: false },
          },
        }),
      ];
    case 'ExecutionFailed':
      return [
        at('ExecutionFailed', {
          executionFailedEventDetails: { error: event.Error, cause: String(event.Cause) },
        }),
      ];
    case 'ExecutionAborted':
      return [at('ExecutionAborted', { executionAbortedEventDetails: { ...context.abortReason } })];
    case 'ExecutionTimeout':
      return [at('ExecutionTimedOut', { executionTimedOutEventDetails: {} })];
    case 'MapIterationStarted':
    case 'MapIterationSucceeded':
    case 'MapIterationFailed': {
      const key = `${event.type.charAt(0).toLowerCase()}${event.type.slice(1)}EventDetails`;
      return [at(event.type, { [key]: { name: event.parentState.name, index: event.index } })];
    }
    default:
      return [];
  }
}

/** Appends events to a history, numbering them on: ids from 1, each pointing at the one before. */
export function appendHistory(history: HistoryEvent[], events: readonly UnnumberedHistoryEvent[]): void {
  for (const event of events) {
    const id = history.length + 1;
    history.push({ id, previousEventId: id - 1, ...event });
  }
}

/**
 * `TaskSubmitted` of a `.sync` Task whose service took the work (`resource`, the state's Resource):
 * the service's answer as its output, between the attempt's TaskStarted and its outcome
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_TaskSubmittedEventDetails.html).
 */
export function taskSubmittedEvent(
  resource: string,
  output: unknown,
  timestamp: Date,
): UnnumberedHistoryEvent {
  return {
    timestamp,
    type: 'TaskSubmitted',
    taskSubmittedEventDetails: {
      ...resourceNames(resource),
      output: JSON.stringify(output),
      outputDetails: { truncated: false },
    },
  };
}

/** `resourceType` and `resource` of a Task event: `lambda` and `invoke` for `arn:aws:states:::lambda:invoke`. */
function taskResource(context: ExecutionHistoryContext, state: string) {
  return resourceNames(context.taskResources.get(state) ?? '');
}

function resourceNames(resource: string) {
  const [service = '', action = ''] = resource.replace('arn:aws:states:::', '').split(':');
  return { resourceType: service, resource: action };
}
