import { SidestepError } from './errors.ts';

/**
 * The claim check: a message body too large for SQS is stored in S3 and the queue carries a pointer
 * to it. sidestep uses the wire convention of the Amazon SQS Extended Client Library (Java, Python;
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-managing-large-messages.html)
 * so that its producers and consumers interoperate with sidestep's: the body is
 * `["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"...","s3Key":"..."}]` and
 * the message attribute `ExtendedPayloadSize` (Number) holds the stored body's size in bytes. A
 * message is a pointer when it carries that attribute, or its former name `SQSLargePayloadSize`
 * (the extended clients decide the same way, and the Java one writes the former by default).
 */

/**
 * The largest message SQS accepts: body plus every attribute's name, data type and value, 1 MiB
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html,
 * "MessageBody": "The maximum size is 1 MiB or 1,048,576 bytes"; raised from 256 KiB in 2025). A
 * Lambda SQS event source delivers such a message: it invokes synchronously with up to 6 MB
 * (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), batching fewer records.
 */
export const SQS_MESSAGE_SIZE_LIMIT_BYTES = 1_048_576;

/**
 * What SQS refuses in a message body (and so in a String attribute's value): anything outside `#x9 |
 * #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF`
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html,
 * MessageBody). Global: reset `lastIndex` before `test`.
 */
export const NOT_SQS_TEXT = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/**
 * `value` as a JSON message body SQS takes. A body may hold only `#x9 | #xA | #xD | #x20 to #xD7FF |
 * #xE000 to #xFFFD | #x10000 to #x10FFFF`, else SQS refuses it with `InvalidMessageContents`
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html,
 * MessageBody). `JSON.stringify` escapes control characters and lone surrogates but leaves the
 * noncharacters U+FFFE and U+FFFF as they are, so a valid job quoting one (an error text, a file name)
 * was refused for good; they go as `\ufffe` / `\uffff`, which `JSON.parse` reads back unchanged.
 */
export function sqsJson(value: unknown): string {
  // Every character SQS refuses that JSON leaves as it is (U+FFFE, U+FFFF) goes as its escape.
  return JSON.stringify(value).replace(
    NOT_SQS_TEXT,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** The extended clients' attribute that marks a pointer and gives the stored body's size. */
export const EXTENDED_PAYLOAD_SIZE_ATTRIBUTE = 'ExtendedPayloadSize';

/**
 * The same attribute's former name, which the Java extended client still writes by default
 * (`ExtendedClientConfiguration.useLegacyReservedAttributeName = true`; awslabs/amazon-sqs-java-extended-client-lib)
 * and every extended client reads as a pointer's marker too. sidestep writes the current name and reads both.
 */
export const LEGACY_EXTENDED_PAYLOAD_SIZE_ATTRIBUTE = 'SQSLargePayloadSize';

/** The attributes that mark a claim-check pointer, current name first. */
export const CLAIM_CHECK_MARKER_ATTRIBUTES: readonly string[] = [
  EXTENDED_PAYLOAD_SIZE_ATTRIBUTE,
  LEGACY_EXTENDED_PAYLOAD_SIZE_ATTRIBUTE,
];

/** The first element of a pointer body: the Java class the extended clients (de)serialise. */
export const PAYLOAD_S3_POINTER_CLASS = 'software.amazon.payloadoffloading.PayloadS3Pointer';

/** The class older extended clients (and the legacy mode of the current ones) name in a pointer. */
export const LEGACY_PAYLOAD_S3_POINTER_CLASS = 'com.amazon.sqs.javamessaging.MessageS3Pointer';

/** Key prefixes of the claim-check bucket: what producers store, and what the runtime dead-letters. */
export const CLAIM_CHECK_PREFIXES = { payloads: 'payloads/', deadLetters: 'dead-letters/' } as const;

/** The environment variable naming the claim-check bucket (`sidestep-<env>-claims-<account>`). */
export const CLAIM_CHECK_BUCKET_VARIABLE = 'CLAIM_CHECK_BUCKET';

/** Where a claim check's body is stored. */
export interface ClaimCheckPointer {
  readonly bucket: string;
  readonly key: string;
}

/** An attribute as SendMessage takes it (and as ReceiveMessage returns it). */
export interface MessageAttributeInput {
  readonly DataType?: string | undefined;
  readonly StringValue?: string | undefined;
  readonly BinaryValue?: Uint8Array | undefined;
}

/**
 * The size SQS counts against {@link SQS_MESSAGE_SIZE_LIMIT_BYTES}: the body's UTF-8 bytes plus, per
 * attribute, its name, data type and value
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html).
 */
export function messageSize(
  body: string,
  attributes: Readonly<Record<string, MessageAttributeInput>> = {},
): number {
  let size = Buffer.byteLength(body, 'utf8');
  for (const [name, attribute] of Object.entries(attributes)) {
    size += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(attribute.DataType ?? '', 'utf8');
    if (attribute.StringValue !== undefined) size += Buffer.byteLength(attribute.StringValue, 'utf8');
    if (attribute.BinaryValue !== undefined) size += attribute.BinaryValue.byteLength;
  }
  return size;
}

/** The pointer body and attribute that replace a body stored at `pointer`. */
export function claimCheckMessage(
  pointer: ClaimCheckPointer,
  storedBytes: number,
): { readonly body: string; readonly attributes: Record<string, MessageAttributeInput> } {
  return {
    body: JSON.stringify([PAYLOAD_S3_POINTER_CLASS, { s3BucketName: pointer.bucket, s3Key: pointer.key }]),
    attributes: {
      [EXTENDED_PAYLOAD_SIZE_ATTRIBUTE]: { DataType: 'Number', StringValue: String(storedBytes) },
    },
  };
}

/**
 * The pointer a message carries, or `undefined` when the message is not a claim check (neither of
 * {@link CLAIM_CHECK_MARKER_ATTRIBUTES}). A message with a marker and a body that is not a pointer
 * (of either pointer class) is refused with a {@link ClaimCheckPointerError}.
 */
export function claimCheckPointerOf(
  body: string,
  attributeNames: Iterable<string>,
): ClaimCheckPointer | undefined {
  if (![...attributeNames].some((name) => CLAIM_CHECK_MARKER_ATTRIBUTES.includes(name))) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new ClaimCheckPointerError('the body is not JSON');
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    (parsed[0] !== PAYLOAD_S3_POINTER_CLASS && parsed[0] !== LEGACY_PAYLOAD_S3_POINTER_CLASS)
  ) {
    throw new ClaimCheckPointerError(`the body is not a ["${PAYLOAD_S3_POINTER_CLASS}", {...}] pointer`);
  }
  const target = parsed[1] as { s3BucketName?: unknown; s3Key?: unknown } | null;
  if (typeof target?.s3BucketName !== 'string' || target.s3BucketName === '') {
    throw new ClaimCheckPointerError('s3BucketName is missing');
  }
  if (typeof target.s3Key !== 'string' || target.s3Key === '') {
    throw new ClaimCheckPointerError('s3Key is missing');
  }
  return { bucket: target.s3BucketName, key: target.s3Key };
}

/**
 * A message carries {@link EXTENDED_PAYLOAD_SIZE_ATTRIBUTE} but its body is no pointer. Permanent:
 * the message will never resolve. `field` is `body`.
 */
export class ClaimCheckPointerError extends SidestepError {
  override readonly name: string = 'ClaimCheckPointerError';
  constructor(reason: string) {
    super(
      `body: a message with ${EXTENDED_PAYLOAD_SIZE_ATTRIBUTE} (or ${LEGACY_EXTENDED_PAYLOAD_SIZE_ATTRIBUTE}) must be a claim-check pointer: ${reason}`,
      {
        permanent: true,
        field: 'body',
      },
    );
  }
}
