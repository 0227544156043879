import { AwsApiError, UnknownOperationError } from './aws-api-errors.ts';
import type { JsonApiHandler } from './json-api-handler.ts';

/**
 * The `X-Amz-Target` prefix of CloudWatch's JSON API (awsJson1_0, `GraniteServiceVersion20100801.GetMetricData`),
 * which the AWS SDK for JavaScript's CloudWatch client speaks (its query-compatible JSON protocol).
 */
export const CLOUDWATCH_TARGET_PREFIX = 'GraniteServiceVersion20100801';

/** One value a service sent to CloudWatch: a metric's sample at a time. */
export interface MetricSample {
  /** When, in ms since the epoch. */
  readonly at: number;
  readonly value: number;
}

/** One metric, as a query names it. */
export interface MetricName {
  readonly namespace: string;
  readonly metricName: string;
  /** Its dimensions, by name. */
  readonly dimensions: Readonly<Record<string, string>>;
}

/**
 * Where the local CloudWatch's metrics come from: the samples of a metric between two times (ms since
 * the epoch, `from` included, `to` not), none for a metric nothing sends.
 */
export type MetricSource = (metric: MetricName, from: number, to: number) => Promise<readonly MetricSample[]>;

/**
 * A {@link MetricSource} for one GetMetricData request: what its queries share (the executions'
 * histories its queries of one state machine each read) is read once.
 */
export type MetricSources = () => MetricSource;

/** GetMetricData's most queries in one request (API_GetMetricData: MetricDataQueries, 500 items). */
const MAX_QUERIES = 500;
/** A query's `Id`: "must start with a lowercase letter ... letters, numbers, and underscore" (API_MetricDataQuery). */
const QUERY_ID = /^[a-z][a-zA-Z0-9_]{0,254}$/;
/** The statistics the local CloudWatch computes (percentiles and the rest are refused, naming the field). */
const STATISTICS = ['Sum', 'SampleCount', 'Average', 'Minimum', 'Maximum'] as const;
type Statistic = (typeof STATISTICS)[number];

interface Query {
  readonly id: string;
  readonly label: string;
  readonly metric: MetricName;
  readonly periodMs: number;
  readonly stat: Statistic;
  readonly returnData: boolean;
}

/**
 * CloudWatch's GetMetricData for the metrics the local cloud's services publish on AWS, computed from
 * what the local cloud holds (`source`) when asked: the same request answers as CloudWatch answers it,
 * so operator tools have one code path. Only `MetricStat` queries with the statistics above (a metric
 * math `Expression` is refused); each period's datapoint aggregates the samples in it, periods
 * without samples have none, and the periods start at `StartTime` rounded down to the minute ("Start
 * time less than 15 days ago - Round down to the nearest whole minute",
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html). Every
 * result is `Complete` (no `NextToken`): the local data is small. Where AWS's data arrives a few
 * minutes late, the local data is there at once.
 */
export function createLocalCloudWatch(sources: MetricSources): { readonly api: JsonApiHandler } {
  const getMetricData = async (input: Record<string, unknown>) => {
    const from = epochMs(input.StartTime, 'StartTime');
    const to = epochMs(input.EndTime, 'EndTime');
    if (from >= to) {
      throw new AwsApiError(
        'InvalidParameterValueException',
        'StartTime',
        'The parameter StartTime must be less than the parameter EndTime.',
      );
    }
    const queries = parseQueries(input.MetricDataQueries);
    const ascending = input.ScanBy === 'TimestampAscending';
    if (input.ScanBy !== undefined && !ascending && input.ScanBy !== 'TimestampDescending') {
      throw new AwsApiError(
        'InvalidParameterValueException',
        'ScanBy',
        `The value ${String(input.ScanBy)} for parameter ScanBy is not valid.`,
      );
    }
    const start = Math.floor(from / 60_000) * 60_000;
    const source = sources();
    const results = await Promise.all(
      queries
        .filter((query) => query.returnData)
        .map(async (query) => {
          const periods = new Map<number, number[]>();
          for (const sample of await source(query.metric, start, to)) {
            if (sample.at < start || sample.at >= to) continue;
            const period = start + Math.floor((sample.at - start) / query.periodMs) * query.periodMs;
            const values = periods.get(period) ?? [];
            values.push(sample.value);
            periods.set(period, values);
          }
          const times = [...periods.keys()].sort((a, b) => (ascending ? a - b : b - a));
          return {
            Id: query.id,
            Label: query.label,
            Timestamps: times.map((time) => time / 1000),
            Values: times.map((time) => statistic(query.stat, periods.get(time) ?? [])),
            StatusCode: 'Complete',
          };
        }),
    );
    return { MetricDataResults: results, Messages: [] };
  };
  return {
    api: async (operation, input) => {
      if (operation === 'GetMetricData') return getMetricData(input);
      throw new UnknownOperationError('CloudWatch', operation);
    },
  };
}

function parseQueries(value: unknown): Query[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new AwsApiError(
      'MissingRequiredParameterException',
      'MetricDataQueries',
      'The parameter MetricDataQueries is required.',
    );
  }
  if (value.length > MAX_QUERIES) {
    throw new AwsApiError(
      'InvalidParameterValueException',
      'MetricDataQueries',
      `The collection MetricDataQueries must not have a size greater than ${MAX_QUERIES}.`,
    );
  }
  const ids = new Set<string>();
  return value.map((raw, index): Query => {
    const field = `MetricDataQueries.member.${index + 1}`;
    const query = (raw ?? {}) as Record<string, unknown>;
    const id = query.Id;
    if (typeof id !== 'string' || !QUERY_ID.test(id)) {
      throw new AwsApiError(
        'InvalidParameterValueException',
        `${field}.Id`,
        `The value ${String(id)} for parameter ${field}.Id is not valid: it must start with a lowercase letter and hold only letters, numbers and underscores.`,
      );
    }
    if (ids.has(id)) {
      throw new AwsApiError(
        'InvalidParameterValueException',
        `${field}.Id`,
        `The Id ${id} is used by more than one query.`,
      );
    }
    ids.add(id);
    if (query.Expression !== undefined) {
      throw new AwsApiError(
        'InvalidParameterValueException',
        `${field}.Expression`,
        'The local CloudWatch answers MetricStat queries only, not metric math expressions.',
      );
    }
    const stat = (query.MetricStat ?? {}) as Record<string, unknown>;
    const metric = (stat.Metric ?? {}) as Record<string, unknown>;
    const namespace = requiredString(metric.Namespace, `${field}.MetricStat.Metric.Namespace`);
    const metricName = requiredString(metric.MetricName, `${field}.MetricStat.Metric.MetricName`);
    const dimensions: Record<string, string> = {};
    for (const [dimensionIndex, dimension] of (Array.isArray(metric.Dimensions)
      ? metric.Dimensions
      : []
    ).entries()) {
      const dimensionField = `${field}.MetricStat.Metric.Dimensions.member.${dimensionIndex + 1}`;
      const { Name, Value } = (dimension ?? {}) as Record<string, unknown>;
      dimensions[requiredString(Name, `${dimensionField}.Name`)] = requiredString(
        Value,
        `${dimensionField}.Value`,
      );
    }
    const period = stat.Period;
    // "Valid values are 1, 5, 10, 20, 30, 60, and any multiple of 60" (API_MetricStat).
    if (
      typeof period !== 'number' ||
      !Number.isInteger(period) ||
      period < 1 ||
      (period >= 60 ? period % 60 !== 0 : ![1, 5, 10, 20, 30].includes(period))
    ) {
      throw new AwsApiError(
        'InvalidParameterValueException',
        `${field}.MetricStat.Period`,
        `The value ${String(period)} for parameter ${field}.MetricStat.Period is not valid: 1, 5, 10, 20, 30, 60 or a multiple of 60.`,
      );
    }
    const statName = stat.Stat;
    if (!STATISTICS.includes(statName as Statistic)) {
      throw new AwsApiError(
        'InvalidParameterValueException',
        `${field}.MetricStat.Stat`,
        `The value ${String(statName)} for parameter ${field}.MetricStat.Stat is not one the local CloudWatch computes: ${STATISTICS.join(', ')}.`,
      );
    }
    return {
      id,
      label: typeof query.Label === 'string' ? query.Label : metricName,
      metric: { namespace, metricName, dimensions },
      periodMs: period * 1000,
      stat: statName as Statistic,
      returnData: query.ReturnData !== false,
    };
  });
}

function statistic(stat: Statistic, values: readonly number[]): number {
  switch (stat) {
    case 'Sum':
      return values.reduce((sum, value) => sum + value, 0);
    case 'SampleCount':
      return values.length;
    case 'Average':
      return values.reduce((sum, value) => sum + value, 0) / values.length;
    // Not Math.min(...values): a spread of a long array overflows the stack.
    case 'Minimum':
      return values.reduce((least, value) => Math.min(least, value), Number.POSITIVE_INFINITY);
    case 'Maximum':
      return values.reduce((most, value) => Math.max(most, value), Number.NEGATIVE_INFINITY);
  }
}

function requiredString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new AwsApiError('MissingRequiredParameterException', field, `The parameter ${field} is required.`);
  }
  return value;
}

/** An awsJson timestamp (seconds since the epoch, a number) in ms. */
function epochMs(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new AwsApiError('MissingRequiredParameterException', field, `The parameter ${field} is required.`);
  }
  return value * 1000;
}
