/**
 * What Lambda concludes from a function's answer to an SQS batch, with `ReportBatchItemFailures`
 * on (infra always enables it for job queues).
 * See https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html#services-sqs-batchfailurereporting
 */
export type BatchVerdict =
  /** Records listed as failures stay on the queue; every other record is deleted. */
  | { readonly kind: 'partial'; readonly failedMessageIds: ReadonlySet<string> }
  /** Nothing is deleted; every record becomes visible again after the visibility timeout. */
  | { readonly kind: 'batch-failed'; readonly reason: string };

/**
 * Applies Lambda's rules to a successful invocation's payload:
 * - `null`/`undefined`, an object without `batchItemFailures`, a `null` or empty list: all succeeded;
 * - `batchItemFailures` that is not a list, an entry without a non-empty string `itemIdentifier`,
 *   or an `itemIdentifier` that is not a message id of this batch: the whole batch failed;
 * - any other payload (a string, a number, a list) is not a batch response: the whole batch failed.
 */
export function judgeBatchResponse(payload: unknown, batchMessageIds: readonly string[]): BatchVerdict {
  const none: BatchVerdict = { kind: 'partial', failedMessageIds: new Set() };
  if (payload === null || payload === undefined) return none;
  if (typeof payload !== 'object' || Array.isArray(payload)) {
    return {
      kind: 'batch-failed',
      reason: `the response is not a batch response object: ${preview(payload)}`,
    };
  }
  const failures = (payload as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === null || failures === undefined) return none;
  if (!Array.isArray(failures)) {
    return { kind: 'batch-failed', reason: `batchItemFailures is not a list: ${preview(failures)}` };
  }
  const inBatch = new Set(batchMessageIds);
  const failed = new Set<string>();
  for (const [index, failure] of failures.entries()) {
    const identifier =
      failure && typeof failure === 'object'
        ? (failure as { itemIdentifier?: unknown }).itemIdentifier
        : undefined;
    if (typeof identifier !== 'string' || identifier === '') {
      return {
        kind: 'batch-failed',
        reason: `batchItemFailures[${index}].itemIdentifier is missing or empty: ${preview(failure)}`,
      };
    }
    if (!inBatch.has(identifier)) {
      return {
        kind: 'batch-failed',
        reason: `batchItemFailures[${index}].itemIdentifier "${identifier}" is not a message of this batch`,
      };
    }
    failed.add(identifier);
  }
  return { kind: 'partial', failedMessageIds: failed };
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}
