import { CloudwatchMetricAlarm } from '@cdktn/provider-aws/lib/cloudwatch-metric-alarm/index.js';
import type { Construct } from 'constructs';

/** Props of {@link createNonZeroAlarm}. */
export interface NonZeroAlarmProps {
  /** `sidestep-<env>-<thing>-<condition>`. */
  readonly alarmName: string;
  /** What the alarm means and what to do about it. */
  readonly description: string;
  /** `AWS/Lambda`, `AWS/States`, `AWS/SQS`. */
  readonly namespace: string;
  readonly metricName: string;
  /** The one resource the metric is of, e.g. `{ FunctionName: ... }`. */
  readonly dimensions: Readonly<Record<string, string>>;
  /** @default 'Sum' (a count over the period) */
  readonly statistic?: 'Sum' | 'Maximum';
  /** Seconds per evaluation. @default 300 */
  readonly period?: number;
  /** SNS topic notified on alarm and on recovery. @default none (the alarm only shows in the console) */
  readonly topicArn?: string | undefined;
}

/**
 * An alarm that fires as soon as a metric is above zero for one period: a failure, a throttle, a
 * dead-lettered message. Missing data (an idle resource publishes nothing) is not breaching. Created in
 * `scope` under `id` (a function, not a construct, so the Terraform addresses of existing alarms do not
 * move).
 */
export function createNonZeroAlarm(
  scope: Construct,
  id: string,
  props: NonZeroAlarmProps,
): CloudwatchMetricAlarm {
  const actions = props.topicArn ? [props.topicArn] : undefined;
  return new CloudwatchMetricAlarm(scope, id, {
    alarmName: props.alarmName,
    alarmDescription: props.description,
    namespace: props.namespace,
    metricName: props.metricName,
    dimensions: { ...props.dimensions },
    statistic: props.statistic ?? 'Sum',
    period: props.period ?? 300,
    evaluationPeriods: 1,
    threshold: 0,
    comparisonOperator: 'GreaterThanThreshold',
    treatMissingData: 'notBreaching',
    alarmActions: actions,
    okActions: actions,
  });
}
