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
}

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
      description: `${name} failed an invocation: see its log group for the error; queued jobs are retried, then dead-lettered`,
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
