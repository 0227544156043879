import { createHash, randomUUID } from 'node:crypto';
import {
  ExecutionAbortedError,
  ExecutionTimeoutError,
  type RunOptions,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import {
  appendHistory,
  END_EVENTS,
  type ExecutionEventLog,
  type HistoryEvent,
  historyEventsOf,
  taskSubmittedEvent,
  trackCaughtTasks,
  type UnnumberedHistoryEvent,
} from './execution-history.ts';
import {
  definitionStartingAt,
  ExecutionDefinitionMissingError,
  ExecutionNotRedrivableError,
  type RedriveStatus,
  type RedriveToken,
  redriveByToken,
  redriveStartOf,
  redriveStatusOf,
  withRedriveToken,
} from './execution-redrive.ts';
import { type ExecutionStatusChangeEvent, executionStatusChangeEvent } from './execution-status-event.ts';
import type { ExecutionStatus, ExecutionStore, StoredExecution } from './execution-store.ts';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import { checkExecutionInputSize, taskResultTooLarge } from './payload-limits.ts';
import { StatesTaskError, type TaskIntegration } from './task-integrations.ts';

/** A state machine to run locally. */
export interface StateMachineSpec {
  /** The deployed name, e.g. `sidestep-local-import`. */
  readonly name: string;
  /** The ASL definition, as deployed (a JSON object). */
  readonly definition: object;
  /** @default `arn:aws:iam::<account>:role/<name>` */
  readonly roleArn?: string;
}

/** Options of {@link createLocalStepFunctions}. */
export interface LocalStepFunctionsOptions {
  readonly stateMachines: readonly StateMachineSpec[];
  /** The service integrations, by Task `Resource` (`arn:aws:states:::lambda:invoke`, ...). */
  readonly integrations: Readonly<Record<string, TaskIntegration>>;
  readonly region: string;
  readonly accountId: string;
  readonly reporter: LocalCloudReporter;
  /**
   * Pause before every retry, in ms, instead of the `IntervalSeconds` / `BackoffRate` the
   * definition says (tests use 0). @default the definition's intervals
   */
  readonly retryIntervalMs?: number;
  /**
   * Keeps every execution and its history across restarts; the executions it restored are listed
   * again. @default executions live as long as the process
   */
  readonly store?: ExecutionStore;
}

export type { ExecutionStatus } from './execution-store.ts';

/** An execution as `DescribeExecution` reports it, plus its history. */
export interface ExecutionRecord extends StoredExecution {
  readonly history: readonly HistoryEvent[];
  readonly redriveStatus: RedriveStatus;
  /** Why it cannot be redriven, when it cannot. */
  readonly redriveStatusReason?: string;
}

/** An execution as `ListExecutions` reports it: its record without the history. */
export type ExecutionSummary = Omit<ExecutionRecord, 'history'>;

/** A state machine the local Step Functions runs. */
export interface LocalStateMachine {
  readonly name: string;
  readonly stateMachineArn: string;
  readonly roleArn: string;
  /** The definition as given (JSON text is `JSON.stringify(definition)`). */
  readonly definition: object;
  readonly creationDate: Date;
}

/** Step Functions for the local cloud: executions of the deployed definitions, run in-process. */
export interface LocalStepFunctions {
  readonly stateMachines: readonly LocalStateMachine[];
  /** The ARN of a state machine by name; throws {@link StateMachineDoesNotExistError}. */
  stateMachineArn(name: string): string;
  describeStateMachine(stateMachineArn: string): LocalStateMachine;
  /**
   * Starts an execution. A `name` already used with the same input returns that execution, as
   * StartExecution is idempotent for standard workflows; with another input it throws
   * {@link ExecutionAlreadyExistsError}.
   */
  startExecution(request: {
    readonly stateMachineArn: string;
    readonly name?: string;
    /** JSON text. @default '{}' */
    readonly input?: string;
  }): { executionArn: string; startDate: Date };
  /** The execution with its whole history (a closed one's read from the store). */
  describeExecution(executionArn: string): ExecutionRecord;
  /** The execution as DescribeExecution answers, without reading its history. */
  describeExecutionSummary(executionArn: string): ExecutionSummary;
  /** Its history's events, oldest first (GetExecutionHistory). */
  executionHistory(executionArn: string): readonly HistoryEvent[];
  /** Newest first, without their histories (ListExecutions answers none; copying them is the cost). */
  listExecutions(stateMachineArn: string, statusFilter?: ExecutionStatus): ExecutionSummary[];
  /**
   * Restarts a FAILED, TIMED_OUT or ABORTED execution from the state it failed in, with the same
   * ARN (RedriveExecution); throws {@link ExecutionNotRedrivableError} for any other status. A
   * `clientToken` that redrove it in the last 15 minutes, among its last 10, gets that redrive's
   * `redriveDate` and redrives nothing ({@link redriveByToken}), whatever the status is now.
   */
  redriveExecution(
    executionArn: string,
    request?: { readonly clientToken?: string },
  ): Promise<{ redriveDate: Date }>;
  /** Aborts a running execution (StopExecution). */
  stopExecution(executionArn: string, reason?: { error?: string; cause?: string }): { stopDate: Date };
  /** Resolves with the execution once it is no longer RUNNING. */
  waitForExecution(executionArn: string): Promise<ExecutionRecord>;
  /** Aborts every running execution and waits for them to end; starts nothing afterwards. */
  stop(): Promise<void>;
  /**
   * Calls `listener` with Step Functions' "Execution Status Change" event of every execution that
   * starts (RUNNING), is redriven, or ends, as Step Functions sends them to EventBridge. Executions
   * the local cloud aborts because it is stopping are not reported: nothing stopped them on AWS.
   */
  onStatusChange(listener: (event: ExecutionStatusChangeEvent) => void): void;
  /**
   * Reports, to the {@link onStatusChange} listeners, the FAILED status change of each execution the
   * store failed at open because the last run left it RUNNING (a crash, a kill): Step Functions sends
   * the event of every execution it fails, and the status-updater marks the job failed on it rather
   * than a sweep long after. Once; call it when the listeners are there.
   */
  reportLostExecutions(): void;
}

/** A definition uses a `Resource` the local cloud cannot run. */
export class UnsupportedIntegrationError extends Error {
  override readonly name = 'UnsupportedIntegrationError';
  readonly state: string;
  readonly resource: string;
  constructor(stateMachine: string, state: string, resource: string, supported: readonly string[]) {
    super(
      `state machine ${stateMachine}, state "${state}": resource ${resource} has no local integration (supported: ${supported.join(', ')})`,
    );
    this.state = state;
    this.resource = resource;
  }
}

// The errors below are named with the exact AWS error codes: the SDK's JSON protocol turns the
// `__type` the endpoint answers into the matching exception class (`ExecutionDoesNotExist`).

/** No execution with that ARN. */
export class ExecutionDoesNotExistError extends Error {
  override readonly name = 'ExecutionDoesNotExist';
  readonly executionArn: string;
  constructor(executionArn: string) {
    super(`Execution Does Not Exist: '${executionArn}'`);
    this.executionArn = executionArn;
  }
}

/** No state machine with that ARN or name. */
export class StateMachineDoesNotExistError extends Error {
  override readonly name = 'StateMachineDoesNotExist';
  readonly stateMachine: string;
  constructor(stateMachine: string) {
    super(`State Machine Does Not Exist: '${stateMachine}'`);
    this.stateMachine = stateMachine;
  }
}

/** An execution of that name exists with a different input. */
export class ExecutionAlreadyExistsError extends Error {
  override readonly name = 'ExecutionAlreadyExists';
  readonly executionArn: string;
  constructor(executionArn: string) {
    super(`Execution Already Exists: '${executionArn}'`);
    this.executionArn = executionArn;
  }
}

/** StartExecution after {@link LocalStepFunctions.stop}: the local cloud is shutting down. */
export class StepFunctionsStoppedError extends Error {
  override readonly name = 'ServiceUnavailable';
  readonly statusCode = 503;
  constructor() {
    super('The local Step Functions is stopped: the local cloud is shutting down');
  }
}

/** The execution input is not JSON. */
export class InvalidExecutionInputError extends Error {
  override readonly name = 'InvalidExecutionInput';
  readonly statusCode = 400;
  readonly field = 'input';
  constructor(detail: string) {
    super(`Invalid State Machine Execution Input: '${detail}'`);
  }
}

/** An execution name breaks Step Functions' naming rules. */
export class InvalidNameError extends Error {
  override readonly name = 'InvalidName';
  readonly field = 'name';
  constructor(name: string) {
    super(`Invalid Name: '${name}' (1-80 characters, no whitespace, wildcards or control characters)`);
  }
}

/**
 * Largest Task timeout a Node timer can hold (~24.8 days). aws-local-stepfunctions times Task
 * states out after 60 s when the definition sets no `TimeoutSeconds`; Step Functions' default is
 * 99999999 s, so Tasks without one get this instead (a `.sync` import runs for minutes).
 */
const UNBOUNDED_TASK_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/**
 * ARN syntax is not checked: local ARNs (account 000000000000) are valid ARNs, but the library's
 * check rejects some service integration resources it does not know.
 */
const STATE_MACHINE_OPTIONS = { validationOptions: { checkArn: false } } as const;

/** Characters StartExecution refuses in a name, besides control characters. */
const INVALID_NAME_CHARACTER = /[\s<>{}[\]?*"#%\\^|~`$&,;:/]/u;

function hasControlCharacter(name: string): boolean {
  return [...name].some((char) => {
    const code = char.codePointAt(0) ?? 0;
    return code <= 0x1f || (code >= 0x7f && code <= 0x9f);
  });
}

/** The history events that end an execution. */
const END_EVENT_TYPES: ReadonlySet<string> = new Set(Object.values(END_EVENTS));

interface MutableExecution {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  input: string;
  output?: string;
  error?: string;
  cause?: string;
  /**
   * Its history while it runs; once it closed, with a store, the store's file holds it and
   * {@link ExecutionStore.readHistory} reads it back (a redrive reads it into memory again).
   */
  history?: HistoryEvent[];
  /** Set when an append of its history to the store failed: its history then stays in memory. */
  historyUnsaved?: boolean;
  redriveCount: number;
  redriveDate?: Date;
  /** The client tokens of its last successful redrives, oldest first. */
  redriveTokens: RedriveToken[];
  /** The hash of the definition it started with (its redrive runs that one). */
  definitionHash?: string;
  abort: () => void;
  abortReason?: { error?: string; cause?: string };
  finished: Promise<void>;
}

interface PreparedMachine extends LocalStateMachine {
  /** The definition's JSON text, and its hash (what an execution records it started with). */
  readonly definitionText: string;
  readonly definitionHash: string;
  readonly machine: StateMachine;
  /** The names of the definition's top-level states, where a redrive may start. */
  readonly topLevelStates: ReadonlySet<string>;
  /** The machine starting at a given top-level state (built once per state, on first redrive). */
  startingAt(state: string): StateMachine;
  /** Task state name -> Resource, nested states included. */
  readonly tasks: ReadonlyMap<string, string>;
  /** Task state name -> its `TimeoutSeconds`, for the states whose definition sets one. */
  readonly timeouts: ReadonlyMap<string, number>;
}

/**
 * Runs state machines with aws-local-stepfunctions from their deployed definitions, each Task
 * through the local service integration for its `Resource`, and keeps every execution with its
 * history so the Step Functions API can answer for it.
 */
export function createLocalStepFunctions(options: LocalStepFunctionsOptions): LocalStepFunctions {
  const { region, accountId, reporter } = options;
  const supported = Object.keys(options.integrations);
  const prepare = (spec: StateMachineSpec): PreparedMachine => {
    const definitionText = JSON.stringify(spec.definition);
    // A JSON copy, not structuredClone: the library tells nested Parameters objects apart with a
    // prototype check, and structuredClone builds objects of the main realm, not of a jest vm context.
    const definition = JSON.parse(definitionText) as StateMachineDefinition;
    const tasks = new Map<string, string>();
    const timeouts = new Map<string, number>();
    prepareTasks(definition, tasks, timeouts);
    const redriveRunners = new Map<string, StateMachine>();
    for (const [state, resource] of tasks) {
      if (!options.integrations[resource])
        throw new UnsupportedIntegrationError(spec.name, state, resource, supported);
    }
    return {
      name: spec.name,
      stateMachineArn: `arn:aws:states:${region}:${accountId}:stateMachine:${spec.name}`,
      roleArn: spec.roleArn ?? `arn:aws:iam::${accountId}:role/${spec.name}`,
      definition: spec.definition,
      definitionText,
      definitionHash: createHash('sha256').update(definitionText).digest('hex').slice(0, 32),
      creationDate: new Date(),
      machine: new StateMachine(definition, STATE_MACHINE_OPTIONS),
      topLevelStates: new Set(Object.keys(definition.States)),
      startingAt(state) {
        let runner = redriveRunners.get(state);
        if (!runner) {
          // Validated above as the whole definition; from a later StartAt the states before it
          // are unreachable, which the library's validation would refuse.
          runner = new StateMachine(definitionStartingAt(definition, state), {
            validationOptions: { noValidate: true },
          });
          redriveRunners.set(state, runner);
        }
        return runner;
      },
      tasks,
      timeouts,
    };
  };
  const machines = options.stateMachines.map(prepare);
  const { store } = options;
  /**
   * The machine an execution started with, for its redrive: "Redriven executions use the same state
   * machine definition and execution ARN that was used for the original execution attempt"
   * (https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html). Across a restart
   * the state machine's definition may have changed since (a fix of the workflow): the execution's
   * own is read back from the store, prepared once. An execution kept before definitions were has
   * none recorded: it gets the current one.
   */
  const earlierMachines = new Map<string, PreparedMachine>();
  const startedWith = (execution: MutableExecution): PreparedMachine => {
    const current = machineFor(execution.stateMachineArn);
    const hash = execution.definitionHash;
    if (hash === undefined || hash === current.definitionHash) return current;
    let earlier = earlierMachines.get(hash);
    if (!earlier) {
      const text = store?.definitions.get(hash);
      if (text === undefined) throw new ExecutionDefinitionMissingError(execution.executionArn, hash);
      earlier = prepare({
        name: current.name,
        roleArn: current.roleArn,
        definition: JSON.parse(text) as object,
      });
      earlierMachines.set(hash, earlier);
    }
    return earlier;
  };
  const executions = new Map<string, MutableExecution>();
  for (const restored of store?.restored ?? []) {
    const { historyLength: _length, ...fields } = restored;
    executions.set(restored.executionArn, {
      ...fields,
      redriveTokens: [...(restored.redriveTokens ?? [])],
      abort: () => undefined,
      finished: Promise.resolve(),
    });
  }
  /** What {@link LocalStepFunctions.reportLostExecutions} has yet to report. */
  const lostAtOpen = [...(store?.lost ?? [])];
  let stopped = false;
  const statusListeners = new Set<(event: ExecutionStatusChangeEvent) => void>();
  /** Reports the execution's status as it is now to the status change listeners. */
  const statusChanged = (execution: MutableExecution) => {
    const event = executionStatusChangeEvent(execution, { region, accountId });
    for (const listener of statusListeners) listener(event);
  };
  /** Saves an execution's fields (not its history) to the store. */
  const save = (execution: MutableExecution) => {
    const {
      history: _history,
      historyUnsaved: _unsaved,
      abort: _abort,
      abortReason: _reason,
      finished: _finished,
      ...fields
    } = execution;
    store?.saveExecution(fields);
  };
  /** An execution's history: in memory while it runs, read from the store once it closed. */
  const historyOf = (execution: MutableExecution): HistoryEvent[] =>
    execution.history ?? store?.readHistory(execution.executionArn) ?? [];
  /** Appends to an execution's history, and to the store. */
  const record = (execution: MutableExecution, events: readonly UnnumberedHistoryEvent[]) => {
    execution.history ??= historyOf(execution);
    const before = execution.history.length;
    appendHistory(execution.history, events);
    try {
      store?.appendHistory(execution.executionArn, execution.history.slice(before));
    } catch (error) {
      // The execution goes on, its history whole in memory (kept there once it closes) but not on
      // disk: a restart loses what the file did not get. Said once.
      if (!execution.historyUnsaved) {
        reporter({
          type: 'error',
          source: `execution ${execution.name}`,
          message: `its history could not be kept in the executions file: ${(error as Error).message}`,
        });
      }
      execution.historyUnsaved = true;
    }
  };
  const snapshot = (execution: MutableExecution): ExecutionRecord => ({
    ...summary(execution),
    history: [...historyOf(execution)],
  });

  const machineFor = (arnOrName: string): PreparedMachine => {
    const found = machines.find((m) => m.stateMachineArn === arnOrName || m.name === arnOrName);
    if (!found) throw new StateMachineDoesNotExistError(arnOrName);
    return found;
  };
  const executionFor = (executionArn: string): MutableExecution => {
    const found = executions.get(executionArn);
    if (!found) throw new ExecutionDoesNotExistError(executionArn);
    return found;
  };

  const start = (
    machine: PreparedMachine,
    name: string,
    input: string,
    parsed: unknown,
  ): MutableExecution => {
    const execution: MutableExecution = {
      executionArn: `arn:aws:states:${region}:${accountId}:execution:${machine.name}:${name}`,
      stateMachineArn: machine.stateMachineArn,
      name,
      status: 'RUNNING',
      startDate: new Date(),
      input,
      history: [],
      redriveCount: 0,
      redriveTokens: [],
      definitionHash: machine.definitionHash,
      abort: () => undefined,
      finished: Promise.resolve(),
    };
    store?.saveDefinition(machine.definitionHash, machine.definitionText);
    save(execution);
    launch(execution, machine, machine.machine, parsed);
    return execution;
  };

  /**
   * Runs `runner` (the machine's definition, or for a redrive the one starting at the failed
   * state) for `execution`, appending to its history, until it ends.
   */
  const launch = (
    execution: MutableExecution,
    machine: PreparedMachine,
    runner: StateMachine,
    parsed: unknown,
  ): void => {
    const { executionArn, name, input } = execution;
    const startedAt = performance.now();
    const rawResults = new Map<string, unknown>();
    /** A failure no Retry or Catch may handle (States.DataLimitExceeded), once one happened. */
    let terminalFailure: { readonly error: string; readonly cause: string } | undefined;
    const controller = new AbortController();
    const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
    /**
     * Each Task state's attempts: those its handler began, and those whose TaskScheduled and TaskStarted
     * the history has (the library's events reach it through the consumer below, after the handler may
     * have begun). An attempt's TaskSubmitted waits in `submits` until its TaskStarted is recorded.
     * Counted by state name: a Map's iterations or Parallel branches naming a state alike would share
     * one count (none of the workflows has a `.sync` task in either).
     */
    const attempts = { begun: new Map<string, number>(), recorded: new Map<string, number>() };
    const submits: {
      readonly state: string;
      readonly attempt: number;
      readonly event: UnnumberedHistoryEvent;
    }[] = [];
    const recordSubmits = () => {
      for (const submit of [...submits]) {
        if ((attempts.recorded.get(submit.state) ?? 0) < submit.attempt) continue;
        submits.splice(submits.indexOf(submit), 1);
        record(execution, [submit.event]);
      }
    };
    for (const [stateName, resource] of machine.tasks) {
      const integration = options.integrations[resource] as TaskIntegration;
      handlers[stateName] = (resolved) => {
        // When the task started: at once, unless the integration waits its turn first (deferStart).
        // The state's TimeoutSeconds counts from then, here and in the library (patched to read
        // `started` off the promise): "The count begins after the task has been started"
        // (https://docs.aws.amazon.com/step-functions/latest/dg/state-task.html).
        const started = Promise.withResolvers<void>();
        const task = runHandler(resolved, started);
        return Object.assign(task, { started: started.promise });
      };
      const runHandler = async (resolved: unknown, started: PromiseWithResolvers<void>): Promise<unknown> => {
        const attempt = (attempts.begun.get(stateName) ?? 0) + 1;
        attempts.begun.set(stateName, attempt);
        // A stopped execution runs nothing more (API_StopExecution). The library ends a Retry's wait
        // when the execution is aborted and then runs the state once more: refused here, before the
        // integration is called (a Lambda invoked, a task started after the execution was ABORTED).
        if (controller.signal.aborted) throw new ExecutionAbortedError();
        const parameters = (resolved ?? {}) as Record<string, unknown>;
        // The integration is told to stop its work when the execution is stopped and when the state
        // times out: Step Functions stops a `.sync` ECS task in both cases (its role's ecs:StopTask,
        // https://docs.aws.amazon.com/step-functions/latest/dg/ecs-iam.html). The state's own
        // States.Timeout is the library's, raised by its timer at the same moment.
        const call = new AbortController();
        const stop = () => call.abort();
        if (controller.signal.aborted) stop();
        else controller.signal.addEventListener('abort', stop, { once: true });
        const timeoutSeconds = machine.timeouts.get(stateName);
        let timedOut = false;
        let settled = false;
        let timer: NodeJS.Timeout | undefined;
        void started.promise.then(() => {
          if (settled || timeoutSeconds === undefined) return;
          timer = setTimeout(() => {
            timedOut = true;
            stop();
          }, timeoutSeconds * 1000);
        });
        let deferred = false;
        const work = integration((parameters ?? {}) as Record<string, unknown>, {
          executionArn,
          stateName,
          signal: call.signal,
          deferStart: () => {
            deferred = true;
            return () => started.resolve();
          },
          submitted: (output) => {
            // Nothing after the attempt's outcome: settled, timed out (the library's own timer failed
            // the state) or stopped.
            if (settled || timedOut || call.signal.aborted) return;
            submits.push({
              state: stateName,
              attempt,
              event: taskSubmittedEvent(resource, output, new Date()),
            });
            recordSubmits();
          },
        });
        if (!deferred) started.resolve();
        let raw: unknown;
        try {
          // Settling on the execution's abort lets the library clear its task timer.
          raw = await Promise.race([
            work.then(
              (result) => result,
              // What the stopped task answers after its state timed out is not the state's outcome:
              // the library's own timer fails the state with States.Timeout, which this must not beat.
              (error: unknown) => (timedOut ? new Promise<never>(() => undefined) : Promise.reject(error)),
            ),
            new Promise<never>((_resolve, reject) => {
              const onAbort = () => reject(new ExecutionAbortedError());
              if (controller.signal.aborted) onAbort();
              else controller.signal.addEventListener('abort', onAbort, { once: true });
            }),
          ]);
        } finally {
          settled = true;
          clearTimeout(timer);
          controller.signal.removeEventListener('abort', stop);
        }
        const tooLarge = taskResultTooLarge(raw, resource);
        if (tooLarge) {
          // Terminal: the execution fails here whatever the state's Retry and Catch say.
          terminalFailure = tooLarge;
          run.abort();
          controller.abort();
          throw new StatesTaskError(tooLarge.error, tooLarge.cause);
        }
        rawResults.set(stateName, raw);
        return raw;
      };
    }
    const runOptions: RunOptions = {
      overrides: {
        taskResourceLocalHandlers: handlers as NonNullable<
          RunOptions['overrides']
        >['taskResourceLocalHandlers'],
        ...(options.retryIntervalMs !== undefined
          ? {
              retryIntervalOverrides: Object.fromEntries(
                [...machine.tasks.keys()].map((state) => [state, options.retryIntervalMs as number]),
              ),
            }
          : {}),
      },
      // The context object's Execution node as Step Functions fills it: the execution's own input and
      // start, also in a redrive, which adds RedriveTime
      // (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html).
      context: {
        Execution: {
          Id: executionArn,
          Input: JSON.parse(input),
          Name: name,
          RoleArn: machine.roleArn,
          StartTime: execution.startDate.toISOString(),
          RedriveCount: execution.redriveCount,
          ...(execution.redriveDate ? { RedriveTime: execution.redriveDate.toISOString() } : {}),
        },
        StateMachine: { Id: machine.stateMachineArn, Name: machine.name },
      },
    };
    const run = runner.run(parsed as Parameters<StateMachine['run']>[0], runOptions);
    execution.abort = () => {
      run.abort();
      controller.abort();
    };
    const enteredAt = new Map<string, number>();
    // The console's view of the states; the history is the API's.
    const reportStateEvent = (event: ExecutionEventLog) => {
      switch (event.type) {
        case 'StateEntered':
          enteredAt.set(event.state.name, event.timestamp);
          reporter({
            type: 'state-entered',
            execution: name,
            state: event.state.name,
            stateType: event.state.type,
          });
          break;
        case 'StateExited':
          reporter({
            type: 'state-exited',
            execution: name,
            state: event.state.name,
            stateType: event.state.type,
            durationMs: event.timestamp - (enteredAt.get(event.state.name) ?? event.timestamp),
          });
          break;
        case 'StateFailed':
          reporter({
            type: 'state-failed',
            execution: name,
            state: event.state.name,
            error: event.Error,
            cause: String(event.Cause ?? ''),
          });
          break;
        case 'StateRetried':
          reporter({
            type: 'state-retried',
            execution: name,
            state: event.state.name,
            attempt: event.retry.attempt,
          });
          break;
        default:
          break;
      }
    };
    /** The state entered last, and the id of the history event that entered it. */
    let entered: { readonly state: string; readonly eventId: number } | undefined;
    const caughtTasks = new Set<string>();
    const consume = (async () => {
      for await (const logged of run.eventLogs) {
        const event = entered ? runtimeFailureOf(logged, entered) : logged;
        trackCaughtTasks(event, caughtTasks);
        if (event.type === 'StateEntered') {
          entered = { state: event.state.name, eventId: historyOf(execution).length + 1 };
        }
        // A redrive's history goes on from ExecutionRedriven, not from a second ExecutionStarted.
        if (execution.redriveCount > 0 && event.type === 'ExecutionStarted') continue;
        if (terminalFailure && event.type === 'ExecutionAborted') {
          record(execution, [
            {
              timestamp: new Date(event.timestamp),
              type: 'ExecutionFailed',
              executionFailedEventDetails: { ...terminalFailure },
            },
          ]);
          continue;
        }
        record(
          execution,
          historyEventsOf(event, {
            input,
            roleArn: machine.roleArn,
            taskResources: machine.tasks,
            taskResults: rawResults,
            caughtTasks,
            ...(execution.abortReason ? { abortReason: execution.abortReason } : {}),
          }),
        );
        // A Task attempt's TaskScheduled and TaskStarted are in: its TaskSubmitted may follow.
        if ((event.type === 'StateEntered' || event.type === 'StateRetried') && event.state.type === 'Task') {
          attempts.recorded.set(event.state.name, (attempts.recorded.get(event.state.name) ?? 0) + 1);
          recordSubmits();
        }
        reportStateEvent(event);
      }
    })();

    execution.finished = (async () => {
      try {
        const output = await run.result;
        execution.status = 'SUCCEEDED';
        execution.output = JSON.stringify(output);
      } catch (error) {
        const failure = (error as Error).cause as Error | undefined;
        if (terminalFailure) {
          execution.status = 'FAILED';
          execution.error = terminalFailure.error;
          execution.cause = terminalFailure.cause;
        } else if (error instanceof ExecutionAbortedError) {
          execution.status = 'ABORTED';
          if (execution.abortReason?.error) execution.error = execution.abortReason.error;
          if (execution.abortReason?.cause) execution.cause = execution.abortReason.cause;
        } else if (error instanceof ExecutionTimeoutError) {
          execution.status = 'TIMED_OUT';
          execution.error = 'States.Timeout';
        } else {
          execution.status = 'FAILED';
          execution.error = failure?.name ?? (error as Error).name;
          execution.cause = failure?.message ?? (error as Error).message;
        }
      }
      // The event log closes with the execution; the history is complete before the status shows.
      await consume.catch(() => undefined);
      // The cause as the history words it (a States.Runtime one names the state it happened in).
      const last = historyOf(execution).at(-1);
      if (execution.status === 'FAILED' && last?.type === 'ExecutionFailed') {
        execution.cause = (last.executionFailedEventDetails as { cause?: string }).cause ?? execution.cause;
      }
      // Its stop is its history's end event's time, as DescribeExecution's stopDate is (and the
      // CloudWatch count of the end is at that time too).
      execution.stopDate =
        last && END_EVENT_TYPES.has(last.type) ? new Date(last.timestamp.getTime()) : new Date();
      // Nothing is left to abort: the closure would keep the run's whole scope (its runner, its
      // results) alive as long as the execution is kept.
      execution.abort = () => undefined;
      save(execution);
      // Its history is complete and in the store's file: memory holds only the running ones' (and
      // one whose append to the file failed, which the file does not hold whole).
      if (store && !execution.historyUnsaved) delete execution.history;
      if (!stopped) statusChanged(execution);
      reporter({
        type: 'execution-finished',
        stateMachine: machine.name,
        execution: name,
        executionArn,
        status: execution.status,
        durationMs: performance.now() - startedAt,
        ...(execution.error !== undefined ? { error: execution.error } : {}),
        ...(execution.cause !== undefined ? { cause: execution.cause } : {}),
      });
    })();
  };

  return {
    stateMachines: machines.map(({ name, stateMachineArn, roleArn, definition, creationDate }) => ({
      name,
      stateMachineArn,
      roleArn,
      definition,
      creationDate,
    })),
    stateMachineArn: (name) => machineFor(name).stateMachineArn,
    describeStateMachine(stateMachineArn) {
      const { name, roleArn, definition, creationDate } = machineFor(stateMachineArn);
      return {
        name,
        stateMachineArn: machineFor(stateMachineArn).stateMachineArn,
        roleArn,
        definition,
        creationDate,
      };
    },
    startExecution(request) {
      // Nothing may start once stop() ran: its tasks would outlive the cloud.
      if (stopped) throw new StepFunctionsStoppedError();
      const machine = machineFor(request.stateMachineArn);
      const input = request.input ?? '{}';
      checkExecutionInputSize(input);
      let parsed: unknown;
      try {
        parsed = JSON.parse(input);
      } catch (error) {
        throw new InvalidExecutionInputError((error as Error).message);
      }
      const name = request.name ?? randomUUID();
      // https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html#StepFunctions-StartExecution-request-name
      if (
        name.length === 0 ||
        name.length > 80 ||
        INVALID_NAME_CHARACTER.test(name) ||
        hasControlCharacter(name)
      ) {
        throw new InvalidNameError(name);
      }
      const executionArn = `arn:aws:states:${region}:${accountId}:execution:${machine.name}:${name}`;
      const existing = executions.get(executionArn);
      if (existing) {
        if (existing.input === input && existing.status === 'RUNNING') {
          return { executionArn, startDate: existing.startDate };
        }
        throw new ExecutionAlreadyExistsError(executionArn);
      }
      const execution = start(machine, name, input, parsed);
      executions.set(executionArn, execution);
      statusChanged(execution);
      reporter({ type: 'execution-started', stateMachine: machine.name, execution: name, executionArn });
      return { executionArn, startDate: execution.startDate };
    },
    describeExecution: (executionArn) => snapshot(executionFor(executionArn)),
    describeExecutionSummary: (executionArn) => summary(executionFor(executionArn)),
    executionHistory: (executionArn) => historyOf(executionFor(executionArn)),
    listExecutions(stateMachineArn, statusFilter) {
      const machine = machineFor(stateMachineArn);
      return [...executions.values()]
        .filter(
          (e) =>
            e.stateMachineArn === machine.stateMachineArn && (!statusFilter || e.status === statusFilter),
        )
        .reverse()
        .map(summary);
    },
    async redriveExecution(executionArn, { clientToken } = {}) {
      if (stopped) throw new StepFunctionsStoppedError();
      const execution = executionFor(executionArn);
      const refuseUnlessRedrivable = () => {
        const redrivable = redriveStatusOf(execution.status, execution.stopDate);
        if (redrivable.status !== 'REDRIVABLE') {
          throw new ExecutionNotRedrivableError(executionArn, redrivable.reason ?? execution.status);
        }
      };
      // A retry of a redrive that ran (its answer lost), answered as that redrive was. Checked again
      // after the wait: a call with the same token may have redriven it meanwhile.
      const answered = () => redriveByToken(execution.redriveTokens, clientToken);
      const earlier = answered();
      if (earlier) return { redriveDate: earlier.redriveDate };
      refuseUnlessRedrivable();
      // The status shows just before the last attempt's history is complete: wait for the rest.
      await execution.finished;
      const meanwhile = answered();
      if (meanwhile) return { redriveDate: meanwhile.redriveDate };
      refuseUnlessRedrivable();
      const machine = startedWith(execution);
      // Read once: the redrive appends to it.
      execution.history = historyOf(execution);
      const from = redriveStartOf(execution.history, machine.topLevelStates);
      const redriveDate = new Date();
      execution.redriveCount += 1;
      execution.redriveDate = redriveDate;
      if (clientToken !== undefined) {
        execution.redriveTokens = withRedriveToken(execution.redriveTokens, { clientToken, redriveDate });
      }
      execution.status = 'RUNNING';
      delete execution.stopDate;
      delete execution.output;
      delete execution.error;
      delete execution.cause;
      delete execution.abortReason;
      save(execution);
      record(execution, [
        {
          timestamp: redriveDate,
          type: 'ExecutionRedriven',
          executionRedrivenEventDetails: { redriveCount: execution.redriveCount },
        },
      ]);
      launch(
        execution,
        machine,
        from ? machine.startingAt(from.state) : machine.machine,
        JSON.parse(from?.input ?? execution.input),
      );
      statusChanged(execution);
      reporter({
        type: 'execution-started',
        stateMachine: machine.name,
        execution: execution.name,
        executionArn,
      });
      return { redriveDate };
    },
    stopExecution(executionArn, reason = {}) {
      const execution = executionFor(executionArn);
      if (execution.status === 'RUNNING') {
        execution.abortReason = reason;
        execution.abort();
      }
      return { stopDate: execution.stopDate ?? new Date() };
    },
    async waitForExecution(executionArn) {
      const execution = executionFor(executionArn);
      await execution.finished;
      return snapshot(execution);
    },
    onStatusChange(listener) {
      statusListeners.add(listener);
    },
    reportLostExecutions() {
      for (const arn of lostAtOpen.splice(0)) {
        const execution = executions.get(arn);
        if (execution?.status === 'FAILED') statusChanged(execution);
      }
    },
    async stop() {
      stopped = true;
      const running = [...executions.values()].filter((e) => e.status === 'RUNNING');
      for (const execution of running) {
        execution.abortReason = { error: 'LocalCloudStopped', cause: 'the local cloud was stopped' };
        execution.abort();
      }
      await Promise.all(running.map((e) => e.finished));
    },
  };
}

function summary(execution: MutableExecution): ExecutionSummary {
  const { executionArn, stateMachineArn, name, status, startDate, stopDate, input, output, error, cause } =
    execution;
  return {
    executionArn,
    stateMachineArn,
    name,
    status,
    startDate,
    ...(stopDate ? { stopDate } : {}),
    input,
    ...(output !== undefined ? { output } : {}),
    ...(error !== undefined ? { error } : {}),
    ...(cause !== undefined ? { cause } : {}),
    redriveCount: execution.redriveCount,
    ...(execution.redriveDate ? { redriveDate: execution.redriveDate } : {}),
    ...redriveFields(execution.status, execution.stopDate),
  };
}

function redriveFields(
  status: ExecutionStatus,
  stopDate: Date | undefined,
): {
  redriveStatus: RedriveStatus;
  redriveStatusReason?: string;
} {
  const { status: redriveStatus, reason } = redriveStatusOf(status, stopDate);
  return { redriveStatus, ...(reason ? { redriveStatusReason: reason } : {}) };
}

/**
 * A `States.Runtime` failure of the execution with the cause Step Functions gives it, naming the
 * state and the history event that entered it: "An error occurred while executing the state
 * 'ReadRequest' (entered at the event id #2). The function 'States.StringToJson($[0].body)' had the
 * following error: ..." (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html,
 * States.Runtime). Any other event as it is.
 */
function runtimeFailureOf(
  event: ExecutionEventLog,
  entered: { readonly state: string; readonly eventId: number },
): ExecutionEventLog {
  if (event.type !== 'ExecutionFailed' || event.Error !== 'States.Runtime') return event;
  return {
    ...event,
    Cause: `An error occurred while executing the state '${entered.state}' (entered at the event id #${entered.eventId}). ${String(event.Cause ?? '')}`,
  };
}

/**
 * Collects every Task state (nested Parallel branches and Map processors included, since the
 * library looks local handlers up by state name at any depth) and gives Tasks without a timeout
 * Step Functions' effectively unbounded default.
 */
function prepareTasks(
  definition: { States: Record<string, unknown> },
  tasks: Map<string, string>,
  timeouts: Map<string, number>,
): void {
  for (const [name, value] of Object.entries(definition.States)) {
    const state = value as Record<string, unknown>;
    if (state.Type === 'Task' && typeof state.Resource === 'string') {
      tasks.set(name, state.Resource);
      if (
        typeof state.TimeoutSeconds === 'number' &&
        state.TimeoutSeconds <= UNBOUNDED_TASK_TIMEOUT_SECONDS
      ) {
        timeouts.set(name, state.TimeoutSeconds);
      }
      if (state.TimeoutSeconds === undefined && state.TimeoutSecondsPath === undefined) {
        state.TimeoutSeconds = UNBOUNDED_TASK_TIMEOUT_SECONDS;
      }
    }
    for (const branch of (state.Branches as { States: Record<string, unknown> }[] | undefined) ?? []) {
      prepareTasks(branch, tasks, timeouts);
    }
    const processor = (state.ItemProcessor ?? state.Iterator) as
      | { States: Record<string, unknown> }
      | undefined;
    if (processor) prepareTasks(processor, tasks, timeouts);
  }
}
