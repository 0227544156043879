import { randomUUID } from 'node:crypto';
import { escapeXml } from './xml-text.ts';

/** The reply of a fastify hook, as far as an S3 error needs it. */
interface ErrorReply {
  code(statusCode: number): ErrorReply;
  header(name: string, value: string): ErrorReply;
  send(payload: string): ErrorReply;
}

/**
 * An S3 REST error as S3 answers it (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html):
 * the status, `<Code>`, `<Message>`, then the elements naming what was refused, in S3's order
 * (`ArgumentName` and `ArgumentValue`, `BucketName`, `UploadId`).
 */
export class S3ErrorResponse extends Error {
  override readonly name = 'S3ErrorResponse';
  readonly statusCode: number;
  readonly code: string;
  readonly details: readonly (readonly [element: string, text: string])[];
  constructor(
    statusCode: number,
    code: string,
    message: string,
    details: readonly (readonly [element: string, text: string])[] = [],
  ) {
    super(message);
    this.statusCode = statusCode;
    this.code = code;
    this.details = details;
  }
}

/** 404 `NoSuchBucket`, naming the bucket. */
export function noSuchBucket(bucket: string): S3ErrorResponse {
  return new S3ErrorResponse(404, 'NoSuchBucket', 'The specified bucket does not exist', [
    ['BucketName', bucket],
  ]);
}

/** 404 `NoSuchUpload`: an upload id never created, completed, aborted, or of another bucket or key. */
export function noSuchUpload(uploadId: string): S3ErrorResponse {
  return new S3ErrorResponse(
    404,
    'NoSuchUpload',
    'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
    [['UploadId', uploadId]],
  );
}

/** Sends `error` as S3's XML error document, with a request id as S3 gives one. */
export function sendS3Error<Reply extends ErrorReply>(reply: Reply, error: S3ErrorResponse): Reply {
  const requestId = randomUUID().replaceAll('-', '').toUpperCase().slice(0, 16);
  const details = error.details
    .map(([element, text]) => `<${element}>${escapeXml(text)}</${element}>`)
    .join('');
  reply
    .code(error.statusCode)
    .header('content-type', 'application/xml')
    .header('x-amz-request-id', requestId)
    .send(
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${error.code}</Code><Message>${escapeXml(error.message)}</Message>${details}<RequestId>${requestId}</RequestId></Error>`,
    );
  return reply;
}
