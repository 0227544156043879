import { randomUUID } from 'node:crypto';
import { lambdaFunctionArn } from '@sidestep/iam';
import type { InvokeResult, LambdaErrorBody } from '@sidestep/lambda-runtime';
import { AwsApiError, AwsValidationError } from './aws-api-errors.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION, localName } from './local-names.ts';
import { firstHeaderValue, splitRequestUrl } from './request-parts.ts';
import { TooManyRequestsError } from './too-many-requests-error.ts';

// Lambda's Invoke (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html) on the local
// endpoint: `POST /2015-03-31/functions/{FunctionName}/invocations`, REST-JSON, the payload as the
// raw body, the invocation type in `X-Amz-Invocation-Type`.

/** The path of an Invoke request, the function name (URL-encoded) its first group. */
export const LAMBDA_INVOKE_PATH = /^\/2015-03-31\/functions\/([^/?]+)\/invocations(?:\?|$)/;
/** The endpoint's route of Invoke (POST): the paths {@link LAMBDA_INVOKE_PATH} matches. */
export const LAMBDA_INVOKE_ROUTE = '/2015-03-31/functions/:FunctionName/invocations';

/**
 * `FunctionName` as the API's pattern reads it: a name, `name:qualifier`, a partial ARN
 * (`<account>:function:<name>`) or an ARN, each with an optional qualifier.
 */
const FUNCTION_NAME =
  /^(?:arn:aws[a-zA-Z-]*:lambda:)?(?:([a-z]{2}(?:-gov)?-[a-z]+-\d):)?(?:(\d{12}):)?(?:function:)?([a-zA-Z0-9_.-]+)(?::(\$LATEST|[a-zA-Z0-9_-]+))?$/;
const QUALIFIER = /^(\$LATEST|[a-zA-Z0-9_-]{1,128})$/;
const INVOCATION_TYPES = ['Event', 'RequestResponse', 'DryRun'] as const;
type InvocationType = (typeof INVOCATION_TYPES)[number];

/**
 * The largest payload of a synchronous (6 MB) and an asynchronous (1 MB) invocation
 * (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
 */
const SYNC_PAYLOAD_LIMIT_BYTES = 6_291_456;
const ASYNC_PAYLOAD_LIMIT_BYTES = 1_048_576;
/** The largest body the endpoint reads for Invoke: a larger one is {@link payloadTooLarge} unread. */
export const LAMBDA_INVOKE_BODY_LIMIT = SYNC_PAYLOAD_LIMIT_BYTES;

/** A function Invoke names, as IAM and the API resolve it. */
export interface InvokeTarget {
  /** The function's name, without ARN parts or qualifier. */
  readonly name: string;
  /** From `Qualifier` or the name's `:<qualifier>`. */
  readonly qualifier: string | undefined;
  /** The function's ARN (qualified when a qualifier was given), in the account and region the name gave. */
  readonly arn: string;
  /** Whether the name's account and region, when it gave them, are the local cloud's. */
  readonly local: boolean;
}

/** The parts of a Lambda `FunctionName` ({@link FUNCTION_NAME}); `undefined` when it is not one. */
export function parseFunctionName(functionName: string):
  | {
      readonly region: string | undefined;
      readonly accountId: string | undefined;
      readonly name: string;
      readonly qualifier: string | undefined;
    }
  | undefined {
  const match = functionName.length <= 170 ? FUNCTION_NAME.exec(functionName) : null;
  const [, region, accountId, name = '', qualifier] = match ?? [];
  if (!match || name.length > 64) return undefined;
  return { region, accountId, name, qualifier };
}

/** The function a request names: `FunctionName` from the path, `Qualifier` from the query. */
export function invokeTarget(url: string): InvokeTarget {
  const { path, query } = splitRequestUrl(url);
  const encoded = LAMBDA_INVOKE_PATH.exec(path)?.[1] ?? '';
  const functionName = decodeURIComponent(encoded);
  const qualifierParameter = new URLSearchParams(query).get('Qualifier') ?? undefined;
  const parsed = parseFunctionName(functionName);
  if (parsed === undefined) {
    throw new AwsValidationError(
      'functionName',
      `Member must be a function name, ARN or partial ARN of at most 64 characters of [a-zA-Z0-9-_.] (with an optional :<qualifier>), not '${functionName}'`,
    );
  }
  if (qualifierParameter !== undefined && !QUALIFIER.test(qualifierParameter)) {
    throw new AwsValidationError(
      'qualifier',
      `Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+), not '${qualifierParameter}'`,
    );
  }
  const { region, accountId, name, qualifier: nameQualifier } = parsed;
  if (
    nameQualifier !== undefined &&
    qualifierParameter !== undefined &&
    nameQualifier !== qualifierParameter
  ) {
    throw new AwsApiError(
      'InvalidParameterValueException',
      'Qualifier',
      'The derived qualifier from the function name does not match the specified qualifier.',
    );
  }
  const qualifier = nameQualifier ?? qualifierParameter;
  const scope = { region: region ?? LOCAL_REGION, accountId: accountId ?? LOCAL_ACCOUNT_ID };
  return {
    name,
    qualifier,
    arn: lambdaFunctionArn(scope, name, qualifier),
    local: scope.region === LOCAL_REGION && scope.accountId === LOCAL_ACCOUNT_ID,
  };
}

/** An Invoke request as the endpoint received it (after IAM allowed it). */
export interface LambdaInvokeRequest {
  /** Path and query, as sent. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The raw payload (empty when none was sent). */
  readonly body: Buffer;
}

/** What the endpoint writes back. */
export interface LambdaInvokeResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** What Invoke runs: the cloud's services, by service name. */
export interface LambdaInvokeOptions {
  /** Invokes a running service and waits for its result (RequestResponse); `undefined` when it does not run. */
  invoke(service: string, payload: unknown): Promise<InvokeResult> | undefined;
  /**
   * Hands an event to the service's asynchronous invocations (Lambda's retries and on-failure
   * destination) under `requestId`; `false` when it does not run.
   */
  invokeAsync(service: string, payload: unknown, requestId: string): boolean;
  /** Whether the cloud runs the service. */
  runs(service: string): boolean;
}

/**
 * Answers Invoke for the cloud's services (`sidestep-local-<service>`, `$LATEST` only: the local
 * cloud publishes no versions or aliases): RequestResponse runs the function and answers 200 with its
 * result, or with `X-Amz-Function-Error: Unhandled` and `{errorType, errorMessage, trace}` for a
 * function error (the status reflects the API call, not the function); Event hands the event to the
 * asynchronous invocations a schedule or a rule uses (retries, then the `-async-failures` queue) and
 * answers 202; DryRun answers 204 without running anything. A RequestResponse past the account's
 * concurrency (`lambdaConcurrency`) answers 429 `TooManyRequestsException` and runs nothing; an Event
 * is accepted, and its invocation waits for room as Lambda's asynchronous queue does. IAM (lambda:InvokeFunction on the
 * function's ARN) is the endpoint's authorizer's, before this runs.
 */
export function lambdaInvokeApi(options: LambdaInvokeOptions) {
  return async (request: LambdaInvokeRequest): Promise<LambdaInvokeResponse> => {
    try {
      return await answer(options, request);
    } catch (error) {
      if (error instanceof AwsApiError) {
        return lambdaErrorResponse(error.name, error.message, error.statusCode);
      }
      if (error instanceof TooManyRequestsError) return tooManyRequestsResponse(error);
      throw error;
    }
  };
}

async function answer(
  options: LambdaInvokeOptions,
  request: LambdaInvokeRequest,
): Promise<LambdaInvokeResponse> {
  const type = invocationTypeOf(request.headers);
  if (!INVOCATION_TYPES.includes(type as InvocationType)) {
    throw new AwsValidationError(
      'invocationType',
      `Member must satisfy enum value set: [${INVOCATION_TYPES.join(', ')}], not '${type}'`,
    );
  }
  const target = invokeTarget(request.url);
  const limit = payloadLimit(type);
  if (request.body.length > limit) throw requestTooLarge(limit);
  const service = serviceOf(target, options);
  if (service === undefined) {
    throw functionNotFound(target);
  }
  const payload = parsePayload(request.body);
  const requestId = randomUUID();
  if (type === 'DryRun') return { statusCode: 204, headers: { 'x-amzn-requestid': requestId }, body: '' };
  if (type === 'Event') {
    if (!options.invokeAsync(service, payload, requestId)) {
      throw functionNotFound(target);
    }
    return { statusCode: 202, headers: { 'x-amzn-requestid': requestId }, body: '' };
  }
  const invocation = options.invoke(service, payload);
  if (!invocation) {
    throw functionNotFound(target);
  }
  const result = await invocation;
  const headers = {
    'content-type': 'application/json',
    'x-amzn-requestid': result.requestId,
    'x-amz-executed-version': '$LATEST',
  };
  if (result.ok) return { statusCode: 200, headers, body: JSON.stringify(result.payload ?? null) };
  return {
    statusCode: 200,
    headers: { ...headers, 'x-amz-function-error': 'Unhandled' },
    body: JSON.stringify(lambdaErrorPayload(result.error)),
  };
}

/**
 * A function error as Lambda returns it (Invoke's body, Step Functions' Cause): the Node.js runtime's
 * payload names the stack `trace`; an error Lambda reports itself (a timeout, a runtime that exited)
 * has none.
 */
export function lambdaErrorPayload(error: LambdaErrorBody): {
  errorType: string;
  errorMessage: string;
  trace?: readonly string[];
} {
  const { errorType, errorMessage, stackTrace } = error;
  return { errorType, errorMessage, ...(stackTrace ? { trace: stackTrace } : {}) };
}

/** The service behind a target: `sidestep-local-<service>`, unqualified or `$LATEST`, in the local account. */
function serviceOf(target: InvokeTarget, options: LambdaInvokeOptions): string | undefined {
  const prefix = localName('');
  if (!target.local || (target.qualifier !== undefined && target.qualifier !== '$LATEST')) return undefined;
  if (!target.name.startsWith(prefix)) return undefined;
  const service = target.name.slice(prefix.length);
  return options.runs(service) ? service : undefined;
}

/** `X-Amz-Invocation-Type`, RequestResponse when absent (not yet validated). */
function invocationTypeOf(headers: LambdaInvokeRequest['headers']): string {
  return firstHeaderValue(headers['x-amz-invocation-type']) ?? 'RequestResponse';
}

/** The largest payload of an invocation type. */
function payloadLimit(type: string): number {
  return type === 'Event' ? ASYNC_PAYLOAD_LIMIT_BYTES : SYNC_PAYLOAD_LIMIT_BYTES;
}

/** Lambda's refusal of a payload over `limit` bytes. */
function requestTooLarge(limit: number): AwsApiError {
  return new AwsApiError(
    'RequestTooLargeException',
    'Payload',
    `Request must be smaller than ${limit} bytes for the InvokeFunction operation`,
    413,
  );
}

/** The answer to a body over {@link LAMBDA_INVOKE_BODY_LIMIT}, which the endpoint does not read. */
export function payloadTooLarge(headers: LambdaInvokeRequest['headers']): LambdaInvokeResponse {
  const error = requestTooLarge(payloadLimit(invocationTypeOf(headers)));
  return lambdaErrorResponse(error.name, error.message, error.statusCode);
}

/** Lambda's answer for a function it does not have (of that name, version, account or region). */
function functionNotFound(target: InvokeTarget): AwsApiError {
  return new AwsApiError(
    'ResourceNotFoundException',
    'FunctionName',
    `Function not found: ${target.arn}`,
    404,
  );
}

/** The event: the body's JSON, `{}` for an empty body, as Lambda passes it. */
function parsePayload(body: Buffer): unknown {
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new AwsApiError(
      'InvalidRequestContentException',
      'Payload',
      `Could not parse request body into json: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/**
 * Lambda's 429 for an invocation past the account's concurrency, Invoke's and a function URL's: the
 * body `{"Reason","Type","message"}`, as Invoke answers it (the SDKs read `Reason` into the error,
 * https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_Errors).
 */
export function tooManyRequestsResponse(error: TooManyRequestsError): LambdaInvokeResponse {
  return {
    ...lambdaErrorResponse(error.name, error.message, error.statusCode),
    body: JSON.stringify({ Reason: error.reason, Type: 'User', message: error.message }),
  };
}

/**
 * Lambda's REST-JSON error: the code in `x-amzn-ErrorType` and the body's `Type`/`Message`, which
 * the SDK reads as the error's name and message.
 */
export function lambdaErrorResponse(code: string, message: string, statusCode: number): LambdaInvokeResponse {
  return {
    statusCode,
    headers: {
      'content-type': 'application/json',
      'x-amzn-errortype': code,
      'x-amzn-requestid': randomUUID(),
    },
    body: JSON.stringify({ Type: 'User', Message: message }),
  };
}
