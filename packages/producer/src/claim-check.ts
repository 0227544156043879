import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  CLAIM_CHECK_PREFIXES,
  claimCheckMessage,
  type MessageAttributeInput,
  messageSize,
  SQS_MESSAGE_SIZE_LIMIT_BYTES,
} from '@sidestep/contracts';

/**
 * The producer's claim check: a message over the SQS limit is stored in S3 and the queue gets a
 * pointer to it, in the Amazon SQS Extended Client's wire format (see `@sidestep/contracts`), which
 * sidestep's runtime (and the Java and Python extended clients) resolve transparently.
 */
export interface ProducerClaimCheck {
  /** The claim-check bucket (`sidestep-<env>-claims-<account>`; `CLAIM_CHECK_BUCKET` in services). */
  readonly bucket: string;
  /** @default a new S3Client from the environment, created on the first large message */
  readonly s3?: S3Client;
  /**
   * Messages (body plus attributes) larger than this go through S3.
   * @default 1,048,576 bytes, the SQS limit (`SQS_MESSAGE_SIZE_LIMIT_BYTES`)
   */
  readonly thresholdBytes?: number;
}

/** A {@link ProducerClaimCheck} with its client made on first use. */
export interface ClaimCheckTarget {
  readonly bucket: string;
  readonly thresholdBytes?: number | undefined;
  readonly s3: () => Promise<S3Client>;
}

/** A message as it will be sent: its body and attributes. */
export interface OutgoingMessage {
  readonly body: string;
  readonly attributes: Readonly<Record<string, MessageAttributeInput>>;
}

/**
 * Returns `message` unchanged when it fits under the threshold; otherwise stores its body under
 * `payloads/<queue name>/<uuid>` and returns the pointer message (the original attributes kept).
 */
export async function claimCheckIfLarge(
  message: OutgoingMessage,
  queueUrl: string,
  claimCheck: ClaimCheckTarget,
): Promise<OutgoingMessage> {
  const threshold = claimCheck.thresholdBytes ?? SQS_MESSAGE_SIZE_LIMIT_BYTES;
  if (messageSize(message.body, message.attributes) <= threshold) return message;
  const queueName = queueUrl.split('/').at(-1) || 'queue';
  const key = `${CLAIM_CHECK_PREFIXES.payloads}${queueName}/${randomUUID()}`;
  const { PutObjectCommand } = await import('@aws-sdk/client-s3');
  await (await claimCheck.s3()).send(
    new PutObjectCommand({
      Bucket: claimCheck.bucket,
      Key: key,
      Body: message.body,
      ContentType: 'application/json',
    }),
  );
  const pointer = claimCheckMessage(
    { bucket: claimCheck.bucket, key },
    Buffer.byteLength(message.body, 'utf8'),
  );
  return { body: pointer.body, attributes: { ...message.attributes, ...pointer.attributes } };
}
