/**
 * The keys Powertools' Logger and Lambda's context give every line a sidestep function or task logs
 * (https://docs.aws.amazon.com/powertools/typescript/latest/core/logger/#standard-structured-keys,
 * `addContext`'s `cold_start` and `function_*`): the same on every line, so what a line says is its
 * `level`, its `message` and the keys its handler added.
 */
export const LOG_LINE_STANDARD_KEYS: ReadonlySet<string> = new Set([
  'level',
  'message',
  'timestamp',
  'service',
  'cold_start',
  'function_arn',
  'function_memory_size',
  'function_name',
  'function_request_id',
  'sampling_rate',
  'xray_trace_id',
]);

/** A log line's keys as `key=value` words (`jobId=imp_1 rows=3`), a value not a string as its JSON. */
export function logFieldsText(fields: Readonly<Record<string, unknown>>): string {
  return Object.entries(fields)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
}
