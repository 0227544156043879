import { GetAccountCommand, SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Sesv2Double } from '../src/bench/sesv2-double.ts';

let double: Sesv2Double;
let ses: SESv2Client;

beforeAll(async () => {
  double = await new Sesv2Double().start();
  ses = new SESv2Client({
    endpoint: double.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
});

afterAll(async () => {
  ses.destroy();
  await double.stop();
});

// https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html
describe('Sesv2Double', () => {
  it('answers a raw SendEmail with its MessageId and keeps the message as sent', async () => {
    const raw = 'From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody é\r\n';
    const answer = await ses.send(
      new SendEmailCommand({
        FromEmailAddress: 'a@example.com',
        ConfigurationSetName: 'sidestep-local-mail',
        Content: { Raw: { Data: Buffer.from(raw) } },
      }),
    );
    expect(answer.MessageId).toBe(double.sent.at(-1)?.messageId);
    expect(double.sent.at(-1)).toMatchObject({
      fromEmailAddress: 'a@example.com',
      configurationSetName: 'sidestep-local-mail',
      raw,
    });
  });

  it('refuses a send without a raw message, and any other operation, in the REST-JSON error shape', async () => {
    const before = double.sent.length;
    await expect(
      ses.send(
        new SendEmailCommand({
          FromEmailAddress: 'a@example.com',
          Destination: { ToAddresses: ['b@example.com'] },
          Content: { Simple: { Subject: { Data: 's' }, Body: { Text: { Data: 't' } } } },
        }),
      ),
    ).rejects.toMatchObject({ name: 'BadRequestException', $metadata: { httpStatusCode: 400 } });
    await expect(ses.send(new GetAccountCommand({}))).rejects.toMatchObject({
      name: 'NotFoundException',
      $metadata: { httpStatusCode: 404 },
    });
    expect(double.sent).toHaveLength(before);
  });
});
