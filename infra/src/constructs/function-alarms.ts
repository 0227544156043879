import type { CloudwatchMetricAlarm } from '@cdktn/provider-aws/lib/cloudwatch-metric-alarm/index.js';
import type { LambdaFunction } from '@cdktn/provider-aws/lib/lambda-function/index.js';
import { Construct } from 'constructs';
import { createNonZeroAlarm } from './non-zero-alarm.ts';

/** Props of {@link FunctionAlarms}. */
export interface FunctionAlarmsProps {
  /** The function the alarms watch. */
  readonly function: LambdaFunction;
  /** Its name as a literal (`sidestep-<env>-<service>`): the alarms are `<name>-errors`, `<name>-throttles`. */
  readonly functionName: string;
  /** SNS topic notified on alarm and on recovery. @default none (the alarms only show in the console) */
  readonly topicArn?: string | undefined;
  /**
   * What becomes of the work a failed invocation carried, for the errors alarm's text: it depends on
   * what invokes the function (a queue's mapping, a workflow's step, a function URL).
   */
  readonly onFailure: string;
}

/** {@link FunctionAlarmsProps.onFailure} of a function a queue's event source mapping invokes. */
export const QUEUE_CONSUMER_FAILURE =
  "its queue delivers the batch's failed jobs again, then dead-letters them";

/**
 * {@link FunctionAlarmsProps.onFailure} of a function invoked by a workflow's step, a schedule or a
 * rule: the step's Retry, else the execution fails; an event Lambda retries, then keeps.
 */
export const INVOKED_FUNCTION_FAILURE =
  "a workflow's step retries it or its execution fails (`sidestep executions`); a schedule's or a rule's event is retried by Lambda, then kept in the function's async-failures queue (`sidestep async-failures`)";

/**
 * The two alarms every function gets: `Errors` (an invocation failed: a thrown error, a timeout, out of
 * memory) and `Throttles` (Lambda refused an invocation: the account's or the function's concurrency
 * is used up), each firing on the first occurrence in 5 minutes.
 */
export class FunctionAlarms extends Construct {
  /** Alarm on any failed invocation. */
  readonly errorsAlarm: CloudwatchMetricAlarm;
  /** Alarm on any throttled invocation. */
  readonly throttlesAlarm: CloudwatchMetricAlarm;

  constructor(scope: Construct, id: string, props: FunctionAlarmsProps) {
    super(scope, id);
    const alarm = {
      namespace: 'AWS/Lambda',
      dimensions: { FunctionName: props.function.functionName },
      topicArn: props.topicArn,
    };
    const name = props.functionName;
    this.errorsAlarm = createNonZeroAlarm(this, 'errors-alarm', {
      ...alarm,
      alarmName: `${name}-errors`,
      description: `${name} failed an invocation: the error is in the log group /aws/lambda/${name}; ${props.onFailure}`,
      metricName: 'Errors',
    });
    this.throttlesAlarm = createNonZeroAlarm(this, 'throttles-alarm', {
      ...alarm,
      alarmName: `${name}-throttles`,
      description: `Lambda throttled ${name}: the account's unreserved concurrency (or the function's reservation) is used up`,
      metricName: 'Throttles',
    });
  }
}
