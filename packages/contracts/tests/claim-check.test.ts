import { describe, expect, it } from '@jest/globals';
import {
  ClaimCheckPointerError,
  claimCheckMessage,
  claimCheckPointerOf,
  EXTENDED_PAYLOAD_SIZE_ATTRIBUTE,
  messageSize,
  NOT_SQS_TEXT,
  sqsJson,
} from '../src/index.ts';
import { thrownBy } from '../src/testing.ts';

describe('the claim-check wire format', () => {
  it('writes the SQS Extended Client pointer and reads it back', () => {
    const message = claimCheckMessage(
      { bucket: 'sidestep-local-claims-000000000000', key: 'payloads/a' },
      2_000_000,
    );
    expect(JSON.parse(message.body)).toEqual([
      'software.amazon.payloadoffloading.PayloadS3Pointer',
      { s3BucketName: 'sidestep-local-claims-000000000000', s3Key: 'payloads/a' },
    ]);
    expect(message.attributes).toEqual({
      ExtendedPayloadSize: { DataType: 'Number', StringValue: '2000000' },
    });
    expect(claimCheckPointerOf(message.body, Object.keys(message.attributes))).toEqual({
      bucket: 'sidestep-local-claims-000000000000',
      key: 'payloads/a',
    });
  });

  // The Java extended client writes the marker's former name by default
  // (ExtendedClientConfiguration.useLegacyReservedAttributeName = true) and every extended client
  // reads both, and both pointer classes: a job it sends is a claim check to sidestep too.
  it.each([
    ['SQSLargePayloadSize', 'software.amazon.payloadoffloading.PayloadS3Pointer'],
    ['ExtendedPayloadSize', 'com.amazon.sqs.javamessaging.MessageS3Pointer'],
    ['SQSLargePayloadSize', 'com.amazon.sqs.javamessaging.MessageS3Pointer'],
  ])(
    'reads a pointer marked with %s whose class is %s, as the extended clients write it',
    (marker, pointerClass) => {
      const body = JSON.stringify([pointerClass, { s3BucketName: 'claims', s3Key: 'k1' }]);
      expect(claimCheckPointerOf(body, [marker])).toEqual({ bucket: 'claims', key: 'k1' });
    },
  );

  it('treats a message without ExtendedPayloadSize as an ordinary message, whatever its body', () => {
    const body = JSON.stringify([
      'software.amazon.payloadoffloading.PayloadS3Pointer',
      { s3BucketName: 'b', s3Key: 'k' },
    ]);
    expect(claimCheckPointerOf(body, ['sidestep.type'])).toBeUndefined();
  });

  it.each([
    ['not JSON', '{oops', 'not JSON'],
    ['another array', '["x", {}]', 'pointer'],
    ['no bucket', '["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3Key": "k"}]', 's3BucketName'],
    ['no key', '["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": "b"}]', 's3Key'],
    [
      'an empty bucket',
      '["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": "", "s3Key": "k"}]',
      's3BucketName',
    ],
    [
      'an empty key',
      '["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": "b", "s3Key": ""}]',
      's3Key',
    ],
  ])('refuses a marked message whose body is %s, naming the body', (_case, body, reason) => {
    const thrown = thrownBy(
      () => claimCheckPointerOf(body, [EXTENDED_PAYLOAD_SIZE_ATTRIBUTE]),
      ClaimCheckPointerError,
    );
    expect(thrown).toMatchObject({ name: 'ClaimCheckPointerError', permanent: true, field: 'body' });
    expect(thrown.message).toContain(reason);
  });

  // SQS refuses U+FFFE and U+FFFF in a body (API_SendMessage, MessageBody), which JSON.stringify
  // leaves unescaped.
  it('writes a JSON body SQS takes: U+FFFE and U+FFFF escaped, read back unchanged', () => {
    const job = { reason: 'bad byte \uFFFF in \uFFFE name', bell: '\u0007', emoji: '😀' };
    const body = sqsJson(job);
    // Only what SQS takes in a body.
    NOT_SQS_TEXT.lastIndex = 0;
    expect(NOT_SQS_TEXT.test(body)).toBe(false);
    expect(NOT_SQS_TEXT.test(JSON.stringify(job))).toBe(true);
    expect(body).toContain('\\uffff');
    expect(JSON.parse(body)).toEqual(job);
  });

  it('counts the body and every attribute name, type and value as SQS does', () => {
    expect(messageSize('héllo')).toBe(6);
    expect(
      messageSize('x', {
        'sidestep.error.type': { DataType: 'String', StringValue: 'Boom' },
        bin: { DataType: 'Binary', BinaryValue: new Uint8Array(3) },
      }),
    ).toBe(1 + 19 + 6 + 4 + 3 + 6 + 3);
  });
});
