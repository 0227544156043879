import { randomUUID } from 'node:crypto';
import type { InvokeResult } from '@sidestep/lambda-runtime';

/** The path prefix function URLs are served under on the local endpoint: `/lambda-url/<name>/`. */
export const FUNCTION_URL_PATH_PREFIX = '/lambda-url/';

/** An HTTP request to a function URL, as the endpoint received it. */
export interface FunctionUrlRequest {
  readonly method: string;
  /** The path after `/lambda-url/<name>`, starting with `/`. */
  readonly path: string;
  /** Without the `?`. */
  readonly rawQueryString: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer | undefined;
  readonly sourceIp: string;
  /** The function URL's host, e.g. `127.0.0.1:4566`. */
  readonly domainName: string;
}

/** What the endpoint writes back. */
export interface FunctionUrlResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/**
 * The event a Lambda function URL passes its function: API Gateway's payload format 2.0
 * (`version`, `routeKey: $default`, `rawPath`, `rawQueryString`, lower-case `headers` with repeated
 * headers joined by commas, `queryStringParameters` likewise, `requestContext.http`, `body`
 * base64-encoded unless it is text).
 * https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads
 */
export function functionUrlEvent(
  request: FunctionUrlRequest,
  now: Date = new Date(),
): Record<string, unknown> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  const query = new URLSearchParams(request.rawQueryString);
  const queryStringParameters: Record<string, string> = {};
  for (const key of new Set(query.keys())) queryStringParameters[key] = query.getAll(key).join(',');
  const [domainPrefix = ''] = request.domainName.split('.');
  const contentType = headers['content-type'] ?? '';
  const isText = /^text\/|json|xml|x-www-form-urlencoded|javascript/.test(contentType);
  const hasBody = request.body !== undefined && request.body.length > 0;
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: request.path,
    rawQueryString: request.rawQueryString,
    headers,
    ...(Object.keys(queryStringParameters).length > 0 ? { queryStringParameters } : {}),
    requestContext: {
      accountId: 'anonymous',
      apiId: domainPrefix,
      domainName: request.domainName,
      domainPrefix,
      http: {
        method: request.method,
        path: request.path,
        protocol: 'HTTP/1.1',
        sourceIp: request.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...(hasBody
      ? {
          body: isText ? request.body?.toString('utf8') : request.body?.toString('base64'),
          isBase64Encoded: !isText,
        }
      : { isBase64Encoded: false }),
  };
}

/**
 * The HTTP response for a function's result, as a function URL builds it: a result with a
 * `statusCode` is taken as `{ statusCode, headers, body, isBase64Encoded }`; anything else is
 * returned as a 200 JSON body; a function error is a 502, as Lambda answers it.
 */
export function functionUrlResponse(result: InvokeResult): FunctionUrlResponse {
  if (!result.ok) {
    return {
      statusCode: 502,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify({ Message: 'Internal Server Error' })),
    };
  }
  const payload = result.payload as Record<string, unknown> | null | undefined;
  if (payload && typeof payload === 'object' && typeof payload.statusCode === 'number') {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries((payload.headers as Record<string, unknown>) ?? {})) {
      headers[name.toLowerCase()] = String(value);
    }
    const body = typeof payload.body === 'string' ? payload.body : '';
    return {
      statusCode: payload.statusCode,
      headers,
      body: payload.isBase64Encoded === true ? Buffer.from(body, 'base64') : Buffer.from(body),
    };
  }
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload ?? null)),
  };
}
