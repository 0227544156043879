import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { LoopbackHttpDouble } from '@sidestep/runtime/testing';

/** One SendEmail request the double accepted. */
export interface SentEmail {
  /** The `MessageId` it answered. */
  readonly messageId: string;
  readonly fromEmailAddress: string | undefined;
  readonly configurationSetName: string | undefined;
  /** The raw MIME message (`Content.Raw.Data`, base64 on the wire), decoded. */
  readonly raw: string;
}

/**
 * SES v2 `SendEmail` of a raw message on a loopback port, and nothing else: what the mail-dispatcher's
 * SES transport (nodemailer's, through `SESv2Client`) sends, answered as SES does, 200 with the
 * message's `MessageId` (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html:
 * `POST /v2/email/outbound-emails`, `Content.Raw.Data` a base64 blob in the JSON body). Any other
 * request is answered 404 `NotFoundException` in the REST-JSON error shape (`x-amzn-ErrorType`
 * header, `message` in the body), and a send without a raw message 400 `BadRequestException`, so a
 * client that sends something else fails instead of being counted.
 */
export class Sesv2Double extends LoopbackHttpDouble {
  /** The mails accepted, in order. */
  readonly sent: SentEmail[] = [];
  readonly server: Server = createServer((request, response) => {
    void this.#answer(request, response);
  });

  async #answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const path = new URL(request.url ?? '/', 'http://double').pathname;
    if (request.method !== 'POST' || path !== '/v2/email/outbound-emails') {
      refuse(response, 404, 'NotFoundException', `no such operation: ${request.method} ${path}`);
      return;
    }
    let body: {
      FromEmailAddress?: string;
      ConfigurationSetName?: string;
      Content?: { Raw?: { Data?: string } };
    };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      refuse(response, 400, 'BadRequestException', 'the body is not JSON');
      return;
    }
    const data = body.Content?.Raw?.Data;
    if (typeof data !== 'string' || data === '') {
      refuse(
        response,
        400,
        'BadRequestException',
        'Content.Raw.Data is required (this double sends raw messages only)',
      );
      return;
    }
    const messageId = `bench-${String(this.sent.length + 1).padStart(6, '0')}`;
    this.sent.push({
      messageId,
      fromEmailAddress: body.FromEmailAddress,
      configurationSetName: body.ConfigurationSetName,
      raw: Buffer.from(data, 'base64').toString('utf8'),
    });
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ MessageId: messageId }));
  }
}

function refuse(response: ServerResponse, status: number, type: string, message: string): void {
  response.statusCode = status;
  response.setHeader('content-type', 'application/json');
  response.setHeader('x-amzn-ErrorType', type);
  response.end(JSON.stringify({ message }));
}
