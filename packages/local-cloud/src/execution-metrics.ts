import { END_EVENTS, type HistoryEvent } from './execution-history.ts';
import type { MetricName, MetricSample } from './local-cloudwatch.ts';
import { type LocalStepFunctions, StateMachineDoesNotExistError } from './step-functions.ts';

/**
 * The history event each of Step Functions' execution count metrics counts, per state machine
 * (dimension `StateMachineArn`): "For all redriven executions, the `Executions*` metric is emitted"
 * besides its `RedrivenExecutions*` one, and a redrive is `ExecutionsRedriven`, not a start
 * (https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html).
 */
const COUNTED: Readonly<Record<string, { readonly event: string; readonly redrivenOnly?: boolean }>> = {
  ExecutionsStarted: { event: 'ExecutionStarted' },
  ExecutionsSucceeded: { event: END_EVENTS.SUCCEEDED },
  ExecutionsFailed: { event: END_EVENTS.FAILED },
  ExecutionsAborted: { event: END_EVENTS.ABORTED },
  ExecutionsTimedOut: { event: END_EVENTS.TIMED_OUT },
  ExecutionsRedriven: { event: 'ExecutionRedriven' },
  RedrivenExecutionsSucceeded: { event: END_EVENTS.SUCCEEDED, redrivenOnly: true },
  RedrivenExecutionsFailed: { event: END_EVENTS.FAILED, redrivenOnly: true },
  RedrivenExecutionsAborted: { event: END_EVENTS.ABORTED, redrivenOnly: true },
  RedrivenExecutionsTimedOut: { event: END_EVENTS.TIMED_OUT, redrivenOnly: true },
};

/** What {@link executionMetricSamples} reads of the executions (by default from the Step Functions). */
export interface ExecutionReads {
  /** A redriven execution's history. */
  readonly historyOf: (executionArn: string) => readonly HistoryEvent[];
  /** A state machine's executions. */
  readonly executionsOf: (stateMachineArn: string) => ReturnType<LocalStepFunctions['listExecutions']>;
}

/**
 * The samples (1 each, at the event's time) of an `AWS/States` execution count metric of one state
 * machine, from the local Step Functions' executions: an execution never redriven from its start and
 * end dates, a redriven one from its history (each attempt's end counts; `historyOf` reads it, the
 * queries of one request sharing one read). None for another metric, a state machine the local cloud
 * does not run, or other dimensions.
 */
export function executionMetricSamples(
  stepFunctions: LocalStepFunctions,
  metric: MetricName,
  options: Partial<ExecutionReads> & {
    /** The window asked for, ms since the epoch (`from` included, `to` not): executions wholly outside it are skipped. @default all */
    readonly from?: number;
    readonly to?: number;
  } = {},
): MetricSample[] {
  const historyOf = options.historyOf ?? ((executionArn) => stepFunctions.executionHistory(executionArn));
  const executionsOf =
    options.executionsOf ?? ((stateMachineArn) => stepFunctions.listExecutions(stateMachineArn));
  const from = options.from ?? Number.NEGATIVE_INFINITY;
  const to = options.to ?? Number.POSITIVE_INFINITY;
  const counted = COUNTED[metric.metricName];
  const arn = metric.dimensions.StateMachineArn;
  // The dimension's value is the state machine's ARN (the local Step Functions also takes a name).
  if (
    metric.namespace !== 'AWS/States' ||
    !counted ||
    Object.keys(metric.dimensions).length !== 1 ||
    !arn?.startsWith('arn:')
  ) {
    return [];
  }
  let executions: ReturnType<LocalStepFunctions['listExecutions']>;
  try {
    executions = executionsOf(arn);
  } catch (error) {
    if (error instanceof StateMachineDoesNotExistError) return [];
    throw error;
  }
  const samples: MetricSample[] = [];
  for (const execution of executions) {
    // Every event of an execution falls between its start and, once it closed, its stop (a redrive
    // reopens it: no stopDate while it runs again).
    if (execution.startDate.getTime() >= to || (execution.stopDate && execution.stopDate.getTime() < from)) {
      continue;
    }
    if (execution.redriveCount > 0) {
      samples.push(...countedEvents(historyOf(execution.executionArn), counted));
      continue;
    }
    if (counted.redrivenOnly) continue;
    if (counted.event === 'ExecutionStarted') samples.push({ at: execution.startDate.getTime(), value: 1 });
    else if (
      execution.stopDate &&
      END_EVENTS[execution.status as keyof typeof END_EVENTS] === counted.event
    ) {
      samples.push({ at: execution.stopDate.getTime(), value: 1 });
    }
  }
  return samples;
}

function countedEvents(
  history: readonly HistoryEvent[],
  counted: { readonly event: string; readonly redrivenOnly?: boolean },
): MetricSample[] {
  const samples: MetricSample[] = [];
  let redriven = false;
  for (const event of history) {
    if (event.type === counted.event && (!counted.redrivenOnly || redriven)) {
      samples.push({ at: event.timestamp.getTime(), value: 1 });
    }
    if (event.type === 'ExecutionRedriven') redriven = true;
  }
  return samples;
}

/**
 * The reads {@link executionMetricSamples} makes, each made once for one GetMetricData request, whose
 * queries (`ops status` sends four per workflow) share them: a state machine's executions (a walk of
 * every execution the cloud holds) and a redriven execution's history (read from the file).
 */
export function requestReads(stepFunctions: LocalStepFunctions): ExecutionReads {
  return {
    historyOf: once((executionArn) => stepFunctions.executionHistory(executionArn)),
    executionsOf: once((stateMachineArn) => stepFunctions.listExecutions(stateMachineArn)),
  };
}

/** `read`, each key read once (a read that throws is not kept). */
function once<T>(read: (key: string) => T): (key: string) => T {
  const kept = new Map<string, T>();
  return (key) => {
    if (!kept.has(key)) kept.set(key, read(key));
    return kept.get(key) as T;
  };
}
