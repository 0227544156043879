import { type MessageAttributeInput, messageSize, SQS_MESSAGE_SIZE_LIMIT_BYTES } from '@sidestep/contracts';
import type { buildApp } from 'fauxqs';
import { answerSqsOperation } from './sqs-operations.ts';

type FauxqsApp = ReturnType<typeof buildApp>;

/**
 * The most message attributes SQS takes on one message: "up to 10 metadata attributes"
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html).
 */
export const SQS_MAX_MESSAGE_ATTRIBUTES = 10;

/** The most entries of one SendMessageBatch, and what an entry id may be (API_SendMessageBatchRequestEntry). */
const MAX_BATCH_ENTRIES = 10;
const BATCH_ENTRY_ID = /^[A-Za-z0-9_-]{1,80}$/;

/** A message with more than {@link SQS_MAX_MESSAGE_ATTRIBUTES} attributes, refused as SQS refuses it. */
export class TooManyMessageAttributesError extends Error {
  override readonly name = 'InvalidParameterValue';
  readonly field = 'MessageAttributes';
  readonly count: number;
  constructor(count: number) {
    super(
      `Number of message attributes [${count}] exceeds the allowed maximum [${SQS_MAX_MESSAGE_ATTRIBUTES}].`,
    );
    this.count = count;
  }
}

/** A SendMessageBatch entry that failed on its own, as the response's `Failed` lists it. */
interface FailedEntry {
  readonly Id: string;
  readonly SenderFault: true;
  readonly Code: string;
  readonly Message: string;
}

/**
 * Refuses a message with more than {@link SQS_MAX_MESSAGE_ATTRIBUTES} attributes, which fauxqs
 * took: SendMessage is answered 400 `InvalidParameterValue` (the message SQS sends:
 * "Number of message attributes [11] exceeds the allowed maximum [10]."); in SendMessageBatch the
 * entry fails alone, in `Failed` with `SenderFault`, and the others are sent. A batch SQS refuses
 * whole (too many entries, repeated or malformed ids, over 1 MiB together) is left to fauxqs, which
 * refuses it so, with every entry it holds.
 *
 * The batch's over-limit entries are taken out before fauxqs sees it and put back into its answer's
 * `Failed`; when it held nothing else fauxqs answers `EmptyBatchRequest` (after finding the queue),
 * which becomes the answer with every entry failed. SQS's JSON protocol only: fauxqs serves no other.
 */
export function refuseExtraMessageAttributes(app: FauxqsApp): void {
  const failedEntries = new WeakMap<object, readonly FailedEntry[]>();

  app.addHook('preHandler', async (request, reply) => {
    const target = request.headers['x-amz-target'];
    const input = request.body;
    if (request.method !== 'POST' || typeof target !== 'string' || !isRecord(input)) return;
    if (target === 'AmazonSQS.SendMessage') {
      const count = attributeCount(input);
      if (count <= SQS_MAX_MESSAGE_ATTRIBUTES) return;
      const refuse = async () => {
        throw new TooManyMessageAttributesError(count);
      };
      return answerSqsOperation(request, reply, new Map([['SendMessage', { handler: refuse }]]));
    }
    if (target !== 'AmazonSQS.SendMessageBatch' || !Array.isArray(input.Entries)) return;
    const entries = input.Entries.filter(isRecord);
    const over = entries.filter((entry) => attributeCount(entry) > SQS_MAX_MESSAGE_ATTRIBUTES);
    if (over.length === 0 || refusedWhole(entries)) return;
    failedEntries.set(
      request,
      over.map((entry) => ({
        Id: String(entry.Id),
        SenderFault: true,
        Code: 'InvalidParameterValue',
        Message: new TooManyMessageAttributesError(attributeCount(entry)).message,
      })),
    );
    request.body = { ...input, Entries: entries.filter((entry) => !over.includes(entry)) };
  });

  // A callback hook, as the endpoint's first onSend hook is: with a second async one, fastify wrote an
  // S3 write's headers twice (ERR_HTTP_HEADERS_SENT: onResponse saw a 500 and raised no "Object
  // Created"), though the client had its 200.
  app.addHook('onSend', (request, reply, payload, done) => {
    const failed = failedEntries.get(request);
    if (!failed || typeof payload !== 'string') return done(null, payload);
    if (reply.statusCode === 200) {
      const output = JSON.parse(payload) as { Failed?: FailedEntry[] };
      return done(null, JSON.stringify({ ...output, Failed: [...(output.Failed ?? []), ...failed] }));
    }
    if (!payload.includes('#EmptyBatchRequest')) return done(null, payload);
    reply.code(200).removeHeader('x-amzn-query-error');
    done(null, JSON.stringify({ Successful: [], Failed: failed }));
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function attributeCount(message: Record<string, unknown>): number {
  return isRecord(message.MessageAttributes) ? Object.keys(message.MessageAttributes).length : 0;
}

/** Whether SQS refuses the whole batch, before looking at any entry's attributes. */
function refusedWhole(entries: readonly Record<string, unknown>[]): boolean {
  const ids = entries.map((entry) => entry.Id);
  if (entries.length > MAX_BATCH_ENTRIES || new Set(ids).size !== ids.length) return true;
  if (!ids.every((id) => typeof id === 'string' && BATCH_ENTRY_ID.test(id))) return true;
  const size = entries.reduce((total, entry) => total + entrySize(entry), 0);
  return size > SQS_MESSAGE_SIZE_LIMIT_BYTES;
}

/** An entry's size as SQS counts it; the JSON protocol carries a binary value as base64. */
function entrySize(entry: Record<string, unknown>): number {
  const attributes: Record<string, MessageAttributeInput> = {};
  for (const [name, value] of Object.entries(
    isRecord(entry.MessageAttributes) ? entry.MessageAttributes : {},
  )) {
    if (!isRecord(value)) continue;
    attributes[name] = {
      DataType: typeof value.DataType === 'string' ? value.DataType : undefined,
      StringValue: typeof value.StringValue === 'string' ? value.StringValue : undefined,
      BinaryValue:
        typeof value.BinaryValue === 'string' ? Buffer.from(value.BinaryValue, 'base64') : undefined,
    };
  }
  return messageSize(typeof entry.MessageBody === 'string' ? entry.MessageBody : '', attributes);
}
