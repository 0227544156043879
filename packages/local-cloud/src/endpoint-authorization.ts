import {
  type AuthorizationCheck,
  cloudWatchAuthorization,
  eventsAuthorization,
  lambdaAuthorization,
  logsAuthorization,
  type S3RequestTarget,
  s3Authorization,
  s3BucketArn,
  s3ReadsObject,
  secretsManagerAuthorization,
  sqsAuthorization,
  statesAuthorization,
} from '@sidestep/iam';
import { JsonBodyError } from './aws-api-errors.ts';
import { FAUXQS_INSPECTION_PATH_PREFIX, jsonBody } from './aws-endpoint.ts';
import type {
  EndpointAuthorizer,
  EndpointLookups,
  EndpointRefusal,
  EndpointRequest,
} from './endpoint-authorizer.ts';
import { FUNCTION_URL_PATH_PREFIX } from './function-url.ts';
import { invokeTarget, LAMBDA_INVOKE_PATH, lambdaErrorResponse } from './lambda-invoke.ts';
import { CLOUDWATCH_TARGET_PREFIX } from './local-cloudwatch.ts';
import { type AccessDenial, ANONYMOUS, accessKeyIdOf, type LocalCaller, type LocalIam } from './local-iam.ts';
import { LOGS_TARGET_PREFIX, logGroupOf } from './local-logs.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION, localName } from './local-names.ts';
import { firstHeaderValue, splitRequestUrl } from './request-parts.ts';
import { s3BucketOperation } from './s3-bucket-operation.ts';
import { type DeleteObjectsEntry, deleteObjectsRequest } from './s3-delete-objects.ts';
import { escapeXml } from './xml-text.ts';

const SCOPE = { region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID };

/** What a request is, for IAM: its API, operation and the checks AWS makes. */
export interface RequestAuthorization {
  readonly api:
    | 'sqs'
    | 's3'
    | 'states'
    | 'events'
    | 'secretsmanager'
    | 'logs'
    | 'cloudwatch'
    | 'lambda'
    | 'lambda-url';
  readonly operation: string;
  readonly checks: readonly AuthorizationCheck[];
  /** SQS only: the protocol of the request, for the error's shape. */
  readonly sqsProtocol?: 'query' | 'json';
  /**
   * S3 GetObject, HeadObject, GetObjectAttributes: the object (the version, when the request names
   * one), whose absence answers 403 without s3:ListBucket.
   */
  readonly object?: { readonly bucket: string; readonly key: string; readonly versionId?: string };
  /**
   * S3 DeleteObjects: each object with its own checks (`checks` is all of them). A denied object is
   * answered with an AccessDenied entry of the result; the request goes on for the others.
   */
  readonly objects?: readonly {
    readonly entry: DeleteObjectsEntry;
    readonly checks: readonly AuthorizationCheck[];
  }[];
}

/** A request the mapping cannot name the operation or resource of (refused for roles, fail closed). */
export class UnmappedRequestError extends Error {
  override readonly name = 'UnmappedRequestError';
  readonly field = 'operation';
}

/**
 * An authorizer for the endpoint: who calls (the SigV4 access key id), what the request needs
 * (the Service Authorization Reference's action and resource for each API the endpoint serves)
 * and whether the stack's policies allow it; a refusal gets the status, code and message shape
 * AWS gives in that API's protocol.
 *
 * S3 GetObject/HeadObject of a missing key answers 404 NoSuchKey only to a caller with
 * s3:ListBucket on the bucket, 403 AccessDenied otherwise, as S3 does
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html). The page makes no exception
 * for a request that names a version: a missing version (deleted, expired, or of a key that never
 * was) is 404 NoSuchVersion with s3:ListBucket and 403 without it.
 */
export function endpointAuthorizer(
  iam: LocalIam,
  report?: (denial: AccessDenial) => void,
): EndpointAuthorizer {
  return async (request, lookups) => {
    const query = new URLSearchParams(splitRequestUrl(request.url).query);
    const isFunctionUrl = request.url.startsWith(FUNCTION_URL_PATH_PREFIX);
    // A function URL with auth type NONE ignores signatures: every caller is anonymous to it.
    // fauxqs's inspection route (`GET /_fauxqs/queues/<name>`) is the local cloud's own, no AWS API:
    // no IAM action names it. The operator's tools read a local queue's message ages through it.
    if (request.url.startsWith(FAUXQS_INSPECTION_PATH_PREFIX)) return undefined;
    const caller: LocalCaller = isFunctionUrl
      ? ANONYMOUS
      : iam.callerFor(accessKeyIdOf(request.headers, query));
    if (caller.type === 'operator') return undefined;
    let authorization: RequestAuthorization;
    try {
      authorization = requestAuthorization(request, query, lookups);
    } catch (error) {
      const message = `the local cloud cannot authorize ${request.method} ${request.url.split('?')[0]}: ${
        error instanceof Error ? error.message : String(error)
      }`;
      const api = guessApi(request);
      return refusal(api, message, request.headers['x-amz-target'] ? 'json' : 'query');
    }
    if (authorization.objects) {
      const deniedObjects = authorization.objects.flatMap(({ entry, checks }) => {
        const denial = iam.authorize(caller, checks);
        if (denial) report?.(denial);
        return denial ? [entry] : [];
      });
      return deniedObjects.length > 0 ? { deniedObjects } : undefined;
    }
    const denial = iam.authorize(caller, authorization.checks);
    if (denial) {
      report?.(denial);
      return refusal(authorization.api, denial.message, authorization.sqsProtocol);
    }
    const { object } = authorization;
    if (object) {
      const listBucket = { action: 's3:ListBucket', resource: s3BucketArn(object.bucket) };
      const cannotList = iam.authorize(caller, [listBucket]);
      if (cannotList && !(await lookups.objectExists(object.bucket, object.key, object.versionId))) {
        return refusal('s3', cannotList.message, undefined, request.method === 'HEAD');
      }
    }
    return undefined;
  };
}

function guessApi(request: EndpointRequest): RequestAuthorization['api'] {
  if (LAMBDA_INVOKE_PATH.test(request.url)) return 'lambda';
  const target = String(request.headers['x-amz-target'] ?? '');
  if (target.startsWith('AWSStepFunctions.')) return 'states';
  if (target.startsWith('AWSEvents.')) return 'events';
  if (target.startsWith('secretsmanager.')) return 'secretsmanager';
  if (target.startsWith(`${LOGS_TARGET_PREFIX}.`)) return 'logs';
  if (target.startsWith(`${CLOUDWATCH_TARGET_PREFIX}.`)) return 'cloudwatch';
  if (target.startsWith('AmazonSQS.') || isSqsQuery(request)) return 'sqs';
  return 's3';
}

function isSqsQuery(request: EndpointRequest): boolean {
  return (
    request.method === 'POST' &&
    String(request.headers['content-type'] ?? '').includes('x-www-form-urlencoded')
  );
}

/**
 * The API, operation and checks of one request; `lookups.secretArn` resolves the secret a Secrets
 * Manager request names.
 */
export function requestAuthorization(
  request: EndpointRequest,
  query: URLSearchParams,
  lookups: Pick<EndpointLookups, 'secretArn'>,
): RequestAuthorization {
  const path = request.url.split('?')[0] ?? '/';
  if (path.startsWith(FUNCTION_URL_PATH_PREFIX)) {
    const name = decodeURIComponent(path.slice(FUNCTION_URL_PATH_PREFIX.length).split('/')[0] ?? '');
    return {
      api: 'lambda-url',
      operation: 'InvokeFunctionUrl',
      // sidestep's function URLs are public (auth type NONE), as infra deploys them.
      checks: lambdaAuthorization('InvokeFunctionUrl', {
        ...SCOPE,
        functionName: localName(name),
        functionUrlAuthType: 'NONE',
      }),
    };
  }
  if (request.method === 'POST' && LAMBDA_INVOKE_PATH.test(request.url)) {
    // Every invocation type, DryRun included (it checks exactly this), needs lambda:InvokeFunction on
    // the function's ARN, qualified when the call names a version or alias. A malformed name is the
    // API's ValidationException, which the authorizer's refusal cannot say: it maps to no check here.
    let target: ReturnType<typeof invokeTarget> | undefined;
    try {
      target = invokeTarget(request.url);
    } catch {
      target = undefined;
    }
    return {
      api: 'lambda',
      operation: 'Invoke',
      checks: target ? lambdaAuthorization('Invoke', { ...SCOPE, functionName: target.arn }) : [],
    };
  }
  const target = request.headers['x-amz-target'];
  if (typeof target === 'string') {
    const [prefix = '', operation = ''] = target.split('.');
    const body = objectBody(request.body);
    if (prefix === 'AmazonSQS') {
      return { api: 'sqs', operation, sqsProtocol: 'json', checks: sqsChecks(operation, body, path) };
    }
    if (prefix === 'AWSStepFunctions') {
      return {
        api: 'states',
        operation,
        checks: statesAuthorization(operation, {
          ...(typeof body.stateMachineArn === 'string' ? { stateMachineArn: body.stateMachineArn } : {}),
          ...(typeof body.executionArn === 'string' ? { executionArn: body.executionArn } : {}),
        }),
      };
    }
    if (prefix === 'AWSEvents') return { api: 'events', operation, checks: eventsChecks(operation, body) };
    if (prefix === 'secretsmanager') {
      return { api: 'secretsmanager', operation, checks: secretsManagerChecks(operation, body, lookups) };
    }
    if (prefix === LOGS_TARGET_PREFIX) {
      return { api: 'logs', operation, checks: logsChecks(operation, body) };
    }
    if (prefix === CLOUDWATCH_TARGET_PREFIX) {
      return { api: 'cloudwatch', operation, checks: cloudWatchAuthorization(operation) };
    }
    throw new UnmappedRequestError(`no authorization mapping for X-Amz-Target ${target}`);
  }
  if (isSqsQuery(request)) {
    const form = formBody(request.body);
    const operation = form.Action ?? '';
    return { api: 'sqs', operation, sqsProtocol: 'query', checks: sqsChecks(operation, form, path) };
  }
  return s3RequestAuthorization(request, path, query);
}

/**
 * The request's JSON object, read as the API that answers it reads it ({@link jsonBody}); a body
 * that is not JSON maps to no fields here, and the API then answers it with SerializationException.
 */
function objectBody(body: unknown): Record<string, unknown> {
  try {
    return jsonBody(typeof body === 'string' ? Buffer.from(body) : body);
  } catch (error) {
    if (error instanceof JsonBodyError) return {};
    throw error;
  }
}

function formBody(body: unknown): Record<string, string> {
  if (Buffer.isBuffer(body) || typeof body === 'string') {
    return Object.fromEntries(new URLSearchParams(body.toString()));
  }
  return body && typeof body === 'object'
    ? Object.fromEntries(Object.entries(body).map(([k, v]) => [k, String(v)]))
    : {};
}

/** `arn:aws:sqs:...:<name>` or `<endpoint>/<account>/<name>` -> `<name>`. */
function queueNameOf(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  if (value.startsWith('arn:')) return value.split(':')[5];
  return value.split('?')[0]?.split('/').filter(Boolean).pop();
}

function sqsChecks(operation: string, body: Record<string, unknown>, path: string): AuthorizationCheck[] {
  // The queue: QueueUrl, else the queue URL the request was sent to, else QueueName (GetQueueUrl,
  // CreateQueue), else the move task's SourceArn / TaskHandle.
  const fromPath = /^\/\d{12}\/([^/]+)$/.exec(path)?.[1];
  const queueName =
    queueNameOf(body.QueueUrl) ??
    fromPath ??
    (typeof body.QueueName === 'string' ? body.QueueName : undefined) ??
    queueNameOf(body.SourceArn) ??
    taskHandleQueue(body.TaskHandle);
  // StartMessageMoveTask without DestinationArn moves messages back to the queue the DLQ serves:
  // sidestep names every DLQ `<queue>-dlq`.
  const destinationQueueName =
    queueNameOf(body.DestinationArn) ??
    (operation === 'StartMessageMoveTask' ? queueName?.replace(/-dlq$/, '') : undefined);
  return sqsAuthorization(operation, {
    ...SCOPE,
    ...(queueName ? { queueName } : {}),
    ...(destinationQueueName ? { destinationQueueName } : {}),
  });
}

/** A move task handle is base64 of JSON naming the source ARN (as on AWS); the queue of it. */
function taskHandleQueue(handle: unknown): string | undefined {
  if (typeof handle !== 'string') return undefined;
  try {
    const decoded = JSON.parse(Buffer.from(handle, 'base64').toString('utf8')) as { sourceArn?: unknown };
    return queueNameOf(decoded.sourceArn);
  } catch {
    return undefined;
  }
}

function eventsChecks(operation: string, body: Record<string, unknown>): AuthorizationCheck[] {
  if (operation !== 'PutEvents') {
    return eventsAuthorization(operation, {
      ...SCOPE,
      ...(typeof body.EventBusName === 'string' ? { eventBusName: body.EventBusName } : {}),
      ...(typeof body.Name === 'string' ? { ruleName: body.Name } : {}),
      ...(typeof body.Rule === 'string' ? { ruleName: body.Rule } : {}),
    });
  }
  // One check per bus the entries go to, with the sources and detail types sent to it.
  const entries = Array.isArray(body.Entries) ? (body.Entries as Record<string, unknown>[]) : [];
  const byBus = new Map<string, { sources: Set<string>; detailTypes: Set<string> }>();
  for (const entry of entries) {
    const bus = typeof entry.EventBusName === 'string' ? entry.EventBusName : 'default';
    const group = byBus.get(bus) ?? { sources: new Set<string>(), detailTypes: new Set<string>() };
    if (typeof entry.Source === 'string') group.sources.add(entry.Source);
    if (typeof entry.DetailType === 'string') group.detailTypes.add(entry.DetailType);
    byBus.set(bus, group);
  }
  return [...byBus].flatMap(([bus, group]) =>
    eventsAuthorization('PutEvents', {
      ...SCOPE,
      eventBusName: bus,
      sources: [...group.sources],
      detailTypes: [...group.detailTypes],
    }),
  );
}

/**
 * A Secrets Manager call is authorized on the secret's full ARN whichever way the request names it
 * (ARN, name, partial ARN), with GetSecretValue's `VersionStage` and `VersionId` as the condition
 * keys `secretsmanager:VersionStage` / `secretsmanager:VersionId`; a secret that does not exist is
 * named by the ARN format without a suffix, so a caller not allowed it gets AccessDeniedException and
 * learns nothing of which secrets exist, as on AWS (API_GetSecretValue: "you receive either a
 * ResourceNotFoundException or an AccessDeniedException error, depending on your permissions").
 */
function secretsManagerChecks(
  operation: string,
  body: Record<string, unknown>,
  lookups: Pick<EndpointLookups, 'secretArn'>,
): AuthorizationCheck[] {
  const named = operation === 'CreateSecret' ? body.Name : body.SecretId;
  const secretId = typeof named === 'string' && named !== '' ? named : undefined;
  return secretsManagerAuthorization(operation, {
    ...SCOPE,
    ...(secretId === undefined ? {} : { secretId: lookups.secretArn(secretId) ?? secretId }),
    ...(typeof body.VersionStage === 'string' ? { versionStage: body.VersionStage } : {}),
    ...(typeof body.VersionId === 'string' ? { versionId: body.VersionId } : {}),
  });
}

/**
 * A CloudWatch Logs call is authorized on the log group it names (`logGroupName`, or the name in its
 * `logGroupIdentifier`); a request naming both or neither maps to no check, and the API then answers
 * it with InvalidParameterException.
 */
function logsChecks(operation: string, body: Record<string, unknown>): AuthorizationCheck[] {
  let logGroupName: string;
  try {
    logGroupName = logGroupOf(body);
  } catch {
    return [];
  }
  return logsAuthorization(operation, { ...SCOPE, logGroupName });
}

/** The S3 REST operation of a path-style request: method, path and query. */
function s3RequestAuthorization(
  request: EndpointRequest,
  path: string,
  query: URLSearchParams,
): RequestAuthorization {
  const [bucketPart = '', ...keyParts] = path.slice(1).split('/');
  const bucket = decodeURIComponent(bucketPart);
  const key = keyParts.length > 0 ? decodeURIComponent(keyParts.join('/')) : '';
  const has = (name: string) => query.has(name);
  const method = request.method;
  const header = (name: string) => firstHeaderValue(request.headers[name]);
  // The region and account are the local cloud's: only CreateSession's resource (a directory bucket's
  // ARN) names them.
  const target: { -readonly [K in keyof S3RequestTarget]: S3RequestTarget[K] } = { bucket, ...SCOPE };
  let operation: string | undefined;
  if (bucket === '') {
    operation = method === 'GET' ? 'ListBuckets' : undefined;
  } else if (key === '') {
    operation = s3BucketOperation(method, has);
    if (method === 'POST' && has('delete')) {
      // DeleteObjects is authorized per object as DeleteObject: s3:DeleteObjectVersion for one that
      // names its version (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html).
      const { objects } = deleteObjectsRequest(request.body);
      const perObject = objects.map((entry) => ({
        entry,
        checks: s3Authorization('DeleteObject', { bucket, ...entry }),
      }));
      return {
        api: 's3',
        operation: 'DeleteObjects',
        checks: perObject.flatMap(({ checks }) => checks),
        objects: perObject,
      };
    }
    const prefix = query.get('prefix');
    const delimiter = query.get('delimiter');
    const maxKeys = query.get('max-keys');
    if (prefix !== null) target.prefix = prefix;
    if (delimiter !== null) target.delimiter = delimiter;
    if (maxKeys !== null) target.maxKeys = Number(maxKeys);
  } else {
    target.key = key;
    const versionId = query.get('versionId');
    if (versionId !== null) target.versionId = versionId;
    const copySource = header('x-amz-copy-source');
    if (copySource) {
      const [source = '', sourceVersion] = decodeURIComponent(copySource)
        .replace(/^\//, '')
        .split('?versionId=');
      const slash = source.indexOf('/');
      target.copySource = {
        bucket: source.slice(0, slash),
        key: source.slice(slash + 1),
        ...(sourceVersion ? { versionId: sourceVersion } : {}),
      };
    }
    if (header('x-amz-tagging')) target.tagging = true;
    const uploadId = has('uploadId');
    if (method === 'GET') {
      operation = has('tagging')
        ? 'GetObjectTagging'
        : has('attributes')
          ? 'GetObjectAttributes'
          : uploadId
            ? 'ListParts'
            : 'GetObject';
    } else if (method === 'HEAD') {
      operation = 'HeadObject';
    } else if (method === 'PUT') {
      if (has('tagging')) operation = 'PutObjectTagging';
      else if (uploadId) operation = copySource ? 'UploadPartCopy' : 'UploadPart';
      else operation = copySource ? 'CopyObject' : 'PutObject';
    } else if (method === 'POST') {
      operation = has('uploads') ? 'CreateMultipartUpload' : uploadId ? 'CompleteMultipartUpload' : undefined;
    } else if (method === 'DELETE') {
      operation = has('tagging') ? 'DeleteObjectTagging' : uploadId ? 'AbortMultipartUpload' : 'DeleteObject';
    }
  }
  if (!operation) throw new UnmappedRequestError(`no S3 operation for ${method} ${path}`);
  return {
    api: 's3',
    operation,
    checks: s3Authorization(operation, target),
    ...(s3ReadsObject(operation)
      ? {
          object: { bucket, key, ...(target.versionId === undefined ? {} : { versionId: target.versionId }) },
        }
      : {}),
  };
}

/**
 * AWS's AccessDenied in each protocol, as the SDK v3 parses it:
 * - S3 (REST-XML): 403 `<Error><Code>AccessDenied</Code>...`; a HEAD has no body (the SDK names
 *   the error after the status, `Forbidden`, as against S3);
 * - SQS query (XML): 403 `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>...`;
 * - SQS JSON: 400 with `x-amzn-query-error: AccessDenied;Sender`, the header AWS sends so SDKs keep
 *   the query protocol's error code (`AccessDenied`); CloudWatch's JSON protocol is query-compatible
 *   too and answered the same way (its status code for AccessDenied is not documented; the query
 *   protocol's was 403);
 * - the other JSON APIs (Step Functions, EventBridge, Secrets Manager): 400
 *   `{"__type":"AccessDeniedException"}`;
 * - a function URL: 403 `{"Message":"Forbidden. For troubleshooting ..."}`.
 */
export function refusal(
  api: RequestAuthorization['api'],
  message: string,
  sqsProtocol: RequestAuthorization['sqsProtocol'],
  head = false,
): EndpointRefusal {
  const requestId = crypto.randomUUID();
  if (api === 's3') {
    return {
      statusCode: 403,
      headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId },
      body: head
        ? ''
        : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>${escapeXml(message)}</Message><RequestId>${requestId}</RequestId></Error>`,
    };
  }
  if (api === 'sqs' && sqsProtocol === 'query') {
    return {
      statusCode: 403,
      headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
      body: `<?xml version="1.0"?><ErrorResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>${escapeXml(message)}</Message><Detail/></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
    };
  }
  // SQS's and CloudWatch's JSON protocols are query-compatible: the query error code rides in a header.
  if (api === 'sqs' || api === 'cloudwatch') {
    return {
      statusCode: 400,
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amzn-query-error': 'AccessDenied;Sender',
        'x-amzn-requestid': requestId,
      },
      body: JSON.stringify({ __type: 'com.amazon.coral.service#AccessDeniedException', message }),
    };
  }
  if (api === 'lambda') {
    // Lambda answers AccessDeniedException with 403 (REST-JSON: the code in x-amzn-ErrorType).
    return lambdaErrorResponse('AccessDeniedException', message, 403);
  }
  if (api === 'lambda-url') {
    return {
      statusCode: 403,
      headers: { 'content-type': 'application/json', 'x-amzn-requestid': requestId },
      body: JSON.stringify({ Message: `Forbidden. ${message}` }),
    };
  }
  return {
    statusCode: 400,
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-errortype': 'AccessDeniedException',
      'x-amzn-requestid': requestId,
    },
    body: JSON.stringify({ __type: 'AccessDeniedException', message }),
  };
}
