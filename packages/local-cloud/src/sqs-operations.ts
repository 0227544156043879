import { randomUUID } from 'node:crypto';
import * as sqsModel from '@aws-sdk/client-sqs';
import { IN_PROCESS_CALL_HEADERS } from './local-iam.ts';

/** The `X-Amz-Target` prefix of SQS's JSON protocol (`AmazonSQS.SendMessage`). */
const SQS_TARGET_PREFIX = 'AmazonSQS.';
/** The namespace SQS's query protocol answers in. */
const SQS_XML_NAMESPACE = 'http://queue.amazonaws.com/doc/2012-11-05/';

/**
 * Answers one SQS operation: gets its input (JSON-protocol shape), returns its output; throws an
 * error whose `name` is the AWS error code and may carry `statusCode`.
 */
export type SqsOperationHandler = (operation: string, input: Record<string, unknown>) => Promise<unknown>;

/** An SQS operation the endpoint answers itself instead of fauxqs. */
export interface SqsOperation {
  readonly handler: SqsOperationHandler;
  /**
   * Renders the operation's output as the query protocol's `<Operation>Result` element content.
   * @default each top-level field as one element
   */
  readonly toXml?: (output: Record<string, unknown>) => string;
}

/** The parts of a fastify request and reply {@link answerSqsOperation} reads and writes. */
interface SqsRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: unknown;
}
interface SqsReply {
  code(statusCode: number): SqsReply;
  header(name: string, value: string): SqsReply;
  send(payload: string): SqsReply;
}

/**
 * Answers an SQS request for one of `operations` in the protocol it came in: JSON
 * (`X-Amz-Target: AmazonSQS.<Operation>`, what the AWS SDK for JavaScript v3 and the AWS CLI v2
 * send since 2023) or query (`Action=<Operation>` form posts, what older SDKs send). Returns
 * `undefined` for any other request, which fauxqs then serves. Errors carry the AWS error code as
 * `name` and may set `statusCode` (default 400); they go out as SQS does: `__type` plus the
 * `x-amzn-query-error` header in JSON, an `<ErrorResponse>` in query.
 *
 * @see https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-json-faqs.html
 */
export async function answerSqsOperation(
  request: SqsRequest,
  reply: SqsReply,
  operations: ReadonlyMap<string, SqsOperation>,
): Promise<SqsReply | undefined> {
  if (request.method !== 'POST' || request.url.split('?')[0] !== '/') return undefined;
  const contentType = String(request.headers['content-type'] ?? '');
  const target = request.headers['x-amz-target'];
  if (contentType.includes('x-amz-json') && typeof target === 'string') {
    if (!target.startsWith(SQS_TARGET_PREFIX)) return undefined;
    const name = target.slice(SQS_TARGET_PREFIX.length);
    const operation = operations.get(name);
    if (!operation) return undefined;
    const input = request.body && typeof request.body === 'object' ? request.body : {};
    reply.header('content-type', 'application/x-amz-json-1.0');
    try {
      const output = await operation.handler(name, input as Record<string, unknown>);
      return reply.code(200).send(JSON.stringify(output ?? {}));
    } catch (error) {
      const { code, message, statusCode } = errorOf(error);
      return reply
        .code(statusCode)
        .header('x-amzn-query-error', `${code};Sender`)
        .send(JSON.stringify({ __type: `com.amazonaws.sqs#${code}`, message }));
    }
  }
  if (!contentType.includes('x-www-form-urlencoded')) return undefined;
  const form = (request.body ?? {}) as Record<string, string>;
  const name = form.Action ?? '';
  const operation = operations.get(name);
  if (!operation) return undefined;
  const requestId = randomUUID();
  reply.header('content-type', 'text/xml');
  try {
    const output = (await operation.handler(name, queryInput(form))) as Record<string, unknown>;
    const result = (operation.toXml ?? xmlFields)(output ?? {});
    return reply
      .code(200)
      .send(
        `<?xml version="1.0"?><${name}Response xmlns="${SQS_XML_NAMESPACE}"><${name}Result>${result}</${name}Result><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${name}Response>`,
      );
  } catch (error) {
    const { code, message, statusCode } = errorOf(error);
    return reply
      .code(statusCode)
      .send(
        `<?xml version="1.0"?><ErrorResponse xmlns="${SQS_XML_NAMESPACE}"><Error><Type>Sender</Type><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message><Detail/></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
      );
  }
}

/** Each field as `<Name>value</Name>`; arrays of objects as one element per entry. */
export function xmlFields(output: Record<string, unknown>): string {
  return Object.entries(output)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) =>
      value && typeof value === 'object'
        ? `<${key}>${xmlFields(value as Record<string, unknown>)}</${key}>`
        : `<${key}>${escapeXml(String(value))}</${key}>`,
    )
    .join('');
}

/** A query-protocol form as the JSON input: numbers where the form carries digits. */
function queryInput(form: Readonly<Record<string, string>>): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(form)) {
    if (key === 'Action' || key === 'Version') continue;
    input[key] = /^-?\d+$/.test(value) ? Number(value) : value;
  }
  return input;
}

function errorOf(error: unknown): { code: string; message: string; statusCode: number } {
  const { name, message, statusCode } = error as Error & { statusCode?: number };
  return { code: name, message, statusCode: typeof statusCode === 'number' ? statusCode : 400 };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** What {@link injectSqs} needs of fauxqs's fastify app. */
interface InjectingApp {
  inject(request: {
    method: 'POST';
    url: string;
    headers: Record<string, string>;
    payload: string;
  }): PromiseLike<{ statusCode: number; body: string }>;
}

/** An SQS error fauxqs answered to an in-process call, named with its AWS code. */
export class InProcessSqsError extends Error {
  readonly action: string;
  constructor(action: string, code: string, message: string) {
    super(`${action}: ${message}`);
    this.name = code;
    this.action = action;
  }
}

/**
 * Calls fauxqs's SQS JSON API in-process (`app.inject`, no socket): the same validation and state
 * a client on the wire gets. Returns the output; throws {@link InProcessSqsError} named with the code.
 */
export function injectSqs(app: InjectingApp) {
  return async (action: string, input: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const response = await app.inject({
      method: 'POST',
      url: '/',
      headers: {
        ...IN_PROCESS_CALL_HEADERS,
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': `${SQS_TARGET_PREFIX}${action}`,
      },
      payload: JSON.stringify(input),
    });
    const output = (response.body ? JSON.parse(response.body) : {}) as Record<string, unknown>;
    if (response.statusCode !== 200) {
      const code = String(output.__type ?? 'InternalFailure')
        .split('#')
        .pop() as string;
      throw new InProcessSqsError(action, code, String(output.message ?? response.body));
    }
    return output;
  };
}

/**
 * AWS's common error codes (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html),
 * which SQS sends without the `AWS.SimpleQueueService.` prefix its own codes carry.
 */
const COMMON_ERROR_CODES: ReadonlySet<string> = new Set([
  'InvalidParameterValue',
  'MissingParameter',
  'InvalidParameterCombination',
  'InvalidAction',
  'AccessDenied',
  'ValidationError',
]);

/**
 * The code SQS sends in `x-amzn-query-error` for each error of its model, by the error's name (its
 * `__type`): the error's `awsQueryError` trait where it has one (`QueueDoesNotExist` ->
 * `AWS.SimpleQueueService.NonExistentQueue`, `QueueNameExists` -> `QueueAlreadyExists`), else the
 * name itself (`InvalidAttributeValue`, `InvalidMessageContents`). Read from the SDK's own schemas
 * (an error schema is `[-3, namespace, name, traits, ...]`), the table the SDK maps the header back
 * to an error class with.
 */
const MODELLED_QUERY_CODES: ReadonlyMap<string, string> = new Map(
  Object.values(sqsModel).flatMap((schema): [string, string][] => {
    if (!Array.isArray(schema) || schema[0] !== -3 || typeof schema[2] !== 'string') return [];
    const traits = schema[3] as { awsQueryError?: [string, number] } | undefined;
    return [[schema[2], traits?.awsQueryError?.[0] ?? schema[2]]];
  }),
);

/**
 * fauxqs prefixes every code in `x-amzn-query-error` with `AWS.SimpleQueueService.`; SQS does that
 * only where its model says so (`AWS.SimpleQueueService.NonExistentQueue`), and sends the common
 * errors unprefixed. The SDK names the error after this header, so a too-large message reached the
 * caller as `AWS.SimpleQueueService.InvalidParameterValue` instead of `InvalidParameterValue`, and a
 * CreateQueue of an existing name as an unmodelled `AWS.SimpleQueueService.QueueNameExists` instead
 * of `QueueNameExists`.
 */
export function awsQueryErrorHeader(header: string): string {
  const match = /^AWS\.SimpleQueueService\.([^;]+)(;.*)?$/.exec(header);
  if (!match?.[1]) return header;
  const code =
    MODELLED_QUERY_CODES.get(match[1]) ?? (COMMON_ERROR_CODES.has(match[1]) ? match[1] : undefined);
  return code === undefined ? header : `${code}${match[2] ?? ''}`;
}
