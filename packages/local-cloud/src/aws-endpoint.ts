import { join } from 'node:path';
import { type LifecycleRule, PutBucketLifecycleConfigurationCommand, S3Client } from '@aws-sdk/client-s3';
import { buildApp } from 'fauxqs';
import { JsonBodyError } from './aws-api-errors.ts';
import { refuseBrowserRequestsOfOtherSites } from './browser-requests.ts';
import type { EndpointAuthorizer } from './endpoint-authorizer.ts';
import { memoryFauxqsStores, persistentFauxqsStores } from './fauxqs-stores.ts';
import {
  FUNCTION_URL_PATH_PREFIX,
  type FunctionUrlRequest,
  type FunctionUrlResponse,
} from './function-url.ts';
import type { JsonApiHandler } from './json-api-handler.ts';
import {
  LAMBDA_INVOKE_BODY_LIMIT,
  LAMBDA_INVOKE_ROUTE,
  type LambdaInvokeRequest,
  type LambdaInvokeResponse,
  lambdaErrorResponse,
  payloadTooLarge,
} from './lambda-invoke.ts';
import { IN_PROCESS_CALL_HEADERS, LOCAL_OPERATOR_ACCESS_KEY_ID } from './local-iam.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './local-names.ts';
import { createLocalSecrets, SECRETS_MANAGER_TARGET_PREFIX } from './local-secrets.ts';
import { createMessageMoveTasks } from './message-move-tasks.ts';
import {
  type ObjectCreatedEvent,
  type ObjectCreatedReason,
  objectCreatedEvent,
} from './object-created-event.ts';
import { splitRequestUrl } from './request-parts.ts';
import { refuseUnservedObjectSubresources, serveBucketApis } from './s3-bucket-apis.ts';
import { keepCrc64NvmeChecksums } from './s3-checksums.ts';
import { denyDeletes } from './s3-delete-objects.ts';
import { sendS3Error } from './s3-error-response.ts';
import { overlongKeyError } from './s3-key-length.ts';
import {
  bucketLifecycleRules,
  expirationHeader,
  type LifecyclePass,
  startLifecycle,
} from './s3-lifecycle.ts';
import { serveListParts } from './s3-list-parts.ts';
import { checkMultipartRequests } from './s3-multipart-requests.ts';
import { presignedUrlError } from './s3-presigned-url.ts';
import { serveVersioningApis } from './s3-versioning-apis.ts';
import { keepObjectVersions } from './s3-versions.ts';
import type { SchedulerClock } from './scheduler.ts';
import { answerSqsOperation, awsQueryErrorHeader, injectSqs } from './sqs-operations.ts';

/** The file in `dataDir` that keeps DLQ redrives (message move tasks). */
const MESSAGE_MOVE_TASKS_FILE = 'message-move-tasks.json';

/** The file in `dataDir` that keeps Secrets Manager's secrets and their versions (owner-only, 0600). */
const SECRETS_FILE = 'secrets-manager.json';

/** The largest object one S3 PutObject may upload (5 GiB). */
const S3_MAX_PUT_OBJECT_BYTES = 5 * 1024 ** 3;

/** Options of {@link startAwsEndpoint}. */
export interface AwsEndpointOptions {
  /** @default 4566 (0 picks a free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /**
   * Decides every request before any API sees it (IAM: who calls, what the request needs, what
   * the policies allow); a refusal is sent as is. @default every request is let through
   */
  readonly authorize?: EndpointAuthorizer;
  /**
   * Where queues, messages (with their receive state), buckets and objects are kept (fauxqs's
   * SQLite persistence, `<dataDir>/fauxqs.db`), DLQ redrives (`message-move-tasks.json`) and
   * secrets with every version (`secrets-manager.json`), so a restart on the same directory resumes
   * them: a move task that was RUNNING runs on, a secret keeps the value PutSecretValue put.
   * @default in memory: everything is gone when the process ends
   */
  readonly dataDir?: string;
  /**
   * The policy document (JSON) of a bucket, which GetBucketPolicy answers; `undefined` for a bucket
   * without one. @default no bucket has a policy
   */
  readonly bucketPolicy?: (bucket: string) => string | undefined;
  /**
   * How the buckets' lifecycle configurations are applied (s3-lifecycle.ts): a pass at start, then
   * one every `intervalMs` (@default an hour) on `clock` (@default the real one); `onError` hears of
   * a pass that failed. @default all defaults, errors ignored
   */
  readonly lifecycle?: {
    readonly clock?: SchedulerClock;
    readonly intervalMs?: number;
    readonly onError?: (error: unknown) => void;
  };
}

/** fauxqs's own non-destructive inspection routes (`GET /_fauxqs/queues/<name>`), no AWS API. */
export const FAUXQS_INSPECTION_PATH_PREFIX = '/_fauxqs/';

/** A message as it sits in a queue, seen without receiving it. */
export interface QueuedMessage {
  readonly messageId: string;
  readonly body: string;
  readonly messageAttributes: Readonly<
    Record<string, { readonly DataType?: string; readonly StringValue?: string }>
  >;
  readonly approximateReceiveCount: number;
  /** When SQS accepted it (ms since the epoch): its `SentTimestamp`. */
  readonly sentTimestamp: number;
}

/** A running SQS + S3 endpoint. */
export interface AwsEndpoint {
  /** `http://<host>:<port>`: what `AWS_ENDPOINT_URL` must be. */
  readonly url: string;
  readonly port: number;
  /** The URL of a queue on this endpoint, in AWS's `<endpoint>/<account>/<name>` form. */
  queueUrl(name: string): string;
  /** Every message in a queue (ready, delayed, in flight) without changing it; `undefined` if no such queue. */
  peek(queueName: string): Promise<QueuedMessage[] | undefined>;
  /**
   * Creates a bucket (no-op if it exists). With `eventBridge: true` the bucket sends "Object Created"
   * events for every PutObject, CopyObject and CompleteMultipartUpload, as a bucket whose
   * notification configuration has EventBridge enabled does. With `versioned: true` it keeps every
   * version of its objects, as a bucket with versioning enabled does (see s3-versions.ts), unless
   * its versioning was set before: a bucket once versioned stays versioned, and one suspended by
   * PutBucketVersioning stays suspended, across restarts on the same `dataDir` too. With
   * `lifecycleRules` its lifecycle configuration is set to them (PutBucketLifecycleConfiguration).
   */
  createBucket(
    name: string,
    options?: {
      readonly eventBridge?: boolean;
      readonly versioned?: boolean;
      readonly lifecycleRules?: readonly LifecycleRule[];
    },
  ): Promise<void>;
  /**
   * Applies the buckets' lifecycle configurations now, at the lifecycle clock's time, as the pass
   * the endpoint runs at start and every hour does (s3-lifecycle.ts), and says what it did.
   */
  applyLifecycle(): Promise<LifecyclePass>;
  /** Calls `listener` with each "Object Created" event, after the write's response was sent. */
  onObjectCreated(listener: (event: ObjectCreatedEvent) => void): void;
  /**
   * Creates the Secrets Manager secret `name` with `value()` as its AWSCURRENT version, unless a secret
   * of that name is kept already (then its versions stay as they are); returns the secret's ARN. The
   * endpoint serves CreateSecret, GetSecretValue, PutSecretValue and DescribeSecret (local-secrets.ts).
   */
  createSecret(name: string, value: () => string): string;
  /**
   * Makes `value` the current version of the secret whose full ARN is `arn`, creating the secret when
   * there is none (`LocalSecrets.putCurrent`): a secret the stack names by its ARN without creating it.
   */
  putSecretValue(arn: string, value: string): void;
  /** Answers requests whose `X-Amz-Target` starts with `<targetPrefix>.` (before SQS sees them). */
  serveJsonApi(targetPrefix: string, handler: JsonApiHandler): void;
  /**
   * Answers `<url>/lambda-url/<name>/...` (before S3 sees them) with `handler(name, request)`: the
   * local stand-in for `https://<id>.lambda-url.<region>.on.aws/...`.
   */
  serveFunctionUrls(
    handler: (name: string, request: FunctionUrlRequest) => Promise<FunctionUrlResponse>,
  ): void;
  /**
   * Answers Lambda's Invoke, `POST /2015-03-31/functions/{FunctionName}/invocations` (before S3
   * sees it), with `handler` (lambda-invoke.ts). Until then every function is unknown (404).
   */
  serveLambdaInvoke(handler: (request: LambdaInvokeRequest) => Promise<LambdaInvokeResponse>): void;
  stop(): Promise<void>;
}

/**
 * Starts fauxqs serving SQS and S3 on one port.
 *
 * Built from fauxqs's `buildApp` rather than `startFauxqs` for two reasons: `startFauxqs` always
 * listens on 0.0.0.0, which would expose an unauthenticated SQS/S3 to the network, and its queue
 * URLs use the host `sqs.<region>.localhost`, which does not resolve on Linux (and the AWS SDK sends
 * requests to a queue URL's host when it differs from the endpoint). So this listens on loopback
 * and rewrites queue URLs in SQS/SNS responses to `http://127.0.0.1:<port>/000000000000/<name>`;
 * fauxqs finds a queue by its name whatever the URL's host.
 * State is in memory unless `dataDir` is given; queues and buckets are (re)created from the manifests
 * at every start, which CreateQueue and CreateBucket accept for ones that already exist.
 */
export async function startAwsEndpoint(options: AwsEndpointOptions = {}): Promise<AwsEndpoint> {
  const host = options.host ?? '127.0.0.1';
  const persisted = options.dataDir === undefined ? undefined : await persistentFauxqsStores(options.dataDir);
  // `host` makes fauxqs name queues `http://sqs.<region>.localhost:<port>/...`, which the onSend
  // hook below rewrites to this endpoint's URL: a queue kept from a run on another port answers
  // with this run's URL.
  const stores = persisted?.stores ?? (await memoryFauxqsStores());
  const app = buildApp({ logger: false, defaultRegion: LOCAL_REGION, host: 'localhost', stores });
  if (persisted) app.addHook('onClose', async () => persisted.close());
  // fauxqs caps every request body at 11 MiB (enough for SQS and multipart parts), so a plain
  // PutObject of a 12 MB CSV would be cut off with EPIPE. S3 takes up to 5 GiB in one PutObject:
  // the catch-all (S3) parser gets that limit; fauxqs keeps objects in memory either way.
  app.removeContentTypeParser('*');
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: S3_MAX_PUT_OBJECT_BYTES },
    (_request, body, done) => done(null, body),
  );
  // Before anything reads the request: a page of another site in the developer's browser, or one on
  // a DNS-rebound name, is refused whatever it asks (browser-requests.ts).
  refuseBrowserRequestsOfOtherSites(app, { listensOn: host });
  let url = '';
  const notifyingBuckets = new Set<string>();
  const objectListeners = new Set<(event: ObjectCreatedEvent) => void>();
  const jsonApis = new Map<string, JsonApiHandler>();
  let functionUrls: ((name: string, request: FunctionUrlRequest) => Promise<FunctionUrlResponse>) | undefined;
  let lambdaInvoke: ((request: LambdaInvokeRequest) => Promise<LambdaInvokeResponse>) | undefined;
  let sequence = 0;
  // DLQ redrive (StartMessageMoveTask, ...), which fauxqs lacks, moving messages through its own API.
  // Kept with the queues, so a redrive cut off by a stop or a crash finishes after the restart, as
  // on AWS, where the task runs inside SQS whatever its caller does.
  const moveTasks = createMessageMoveTasks(injectSqs(app), {
    ...(options.dataDir !== undefined ? { file: join(options.dataDir, MESSAGE_MOVE_TASKS_FILE) } : {}),
  });
  // Secrets Manager (awsJson1_1, `X-Amz-Target: secretsmanager.<Operation>`), kept with the rest.
  const secrets = createLocalSecrets(
    options.dataDir === undefined ? undefined : join(options.dataDir, SECRETS_FILE),
  );
  jsonApis.set(SECRETS_MANAGER_TARGET_PREFIX, secrets.api);

  // A presigned S3 URL's lifetime first: S3 authenticates a request before it authorizes it, and a
  // URL past its X-Amz-Expires (or presigned for longer than S3 allows) is refused whoever signed it,
  // with IAM enforced or not. Function URLs (S3's path shape) and SQS's query protocol are not S3's.
  app.addHook('preHandler', async (request, reply) => {
    const { path, query: search } = splitRequestUrl(request.url);
    if (!search.includes('X-Amz-') || path.startsWith(FUNCTION_URL_PATH_PREFIX)) return;
    if (
      request.headers['x-amz-target'] ||
      String(request.headers['content-type']).includes('x-www-form-urlencoded')
    )
      return;
    const error = presignedUrlError(new URLSearchParams(search), Date.now());
    if (error) return sendS3Error(reply, error);
  });

  // IAM next: fastify runs preHandler hooks in the order they are added, so this one decides before
  // the function URL and JSON API hooks below, and before fauxqs's SQS and S3 handlers.
  const { authorize } = options;
  if (authorize) {
    app.addHook('preHandler', async (request, reply) => {
      const refused = await authorize(
        { method: request.method, url: request.url, headers: request.headers, body: request.body },
        {
          objectExists: async (bucket, key, versionId) =>
            (
              await app.inject({
                method: 'HEAD',
                url: `/${bucket}/${encodeKey(key)}${
                  versionId === undefined ? '' : `?versionId=${encodeURIComponent(versionId)}`
                }`,
                headers: IN_PROCESS_CALL_HEADERS,
              })
            ).statusCode !== 404,
          secretArn: (secretId) => secrets.arnOf(secretId),
        },
      );
      if (refused && 'deniedObjects' in refused) denyDeletes(request, refused.deniedObjects);
      else if (refused) return reply.code(refused.statusCode).headers(refused.headers).send(refused.body);
    });
  }

  // Lambda's Invoke has a route of its own, in a context whose one parser keeps the body's bytes:
  // Lambda reads the payload as raw bytes whatever the Content-Type (API_Invoke), while fauxqs's
  // parsers turn a form-encoded body (curl -d's) into a form and fail an x-amz-json-1.0 body that is
  // not JSON with a 500 before any hook runs. A body over the largest payload is refused unread.
  const answerInvoke = async (request: InvokeRequest, reply: InvokeReply) =>
    sendInvokeResponse(
      reply,
      lambdaInvoke
        ? await lambdaInvoke({
            url: request.url,
            headers: request.headers,
            body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
          })
        : lambdaErrorResponse('ResourceNotFoundException', 'Function not found', 404),
    );
  app.register(async (invokeContext) => {
    invokeContext.removeAllContentTypeParsers();
    invokeContext.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: LAMBDA_INVOKE_BODY_LIMIT },
      (_request, body, done) => done(null, body),
    );
    invokeContext.post(LAMBDA_INVOKE_ROUTE, {
      errorHandler: (error, request, reply) => {
        if ((error as { code?: string }).code !== 'FST_ERR_CTP_BODY_TOO_LARGE') throw error;
        return sendInvokeResponse(reply, payloadTooLarge(request.headers));
      },
      handler: answerInvoke,
    });
  });
  // The route's handler would run after every API's preHandler hooks: Invoke is answered right after
  // IAM instead, which authorized it as Invoke whatever else it carries (an X-Amz-Target of another
  // API), so no other API's hook sees it.
  app.addHook('preHandler', async (request, reply) => {
    if (request.method === 'POST' && request.routeOptions.url === LAMBDA_INVOKE_ROUTE) {
      return answerInvoke(request, reply);
    }
  });

  // Function URLs share S3's `/:bucket/*` paths: the S3 hooks below leave them to their own hook.
  const isFunctionUrl = (request: { readonly url: string }) =>
    functionUrls !== undefined && request.url.startsWith(FUNCTION_URL_PATH_PREFIX);
  // Object tags, ACLs, ... are not kept: refused rather than taken for the object (writes raising
  // "Object Created", a delete of the object).
  refuseUnservedObjectSubresources(app, isFunctionUrl);
  // Keys over 1,024 UTF-8 bytes, which S3 refuses and fauxqs took (PutObject, CopyObject,
  // CreateMultipartUpload).
  app.addHook('preHandler', async (request, reply) => {
    const error = isFunctionUrl(request) ? undefined : overlongKeyError(request);
    if (error) return sendS3Error(reply, error);
  });
  // What S3 refuses of a multipart upload's parts, completion and abort, that fauxqs lets through
  // (after IAM, before the checksums: an upload of another key is NoSuchUpload, not checked).
  checkMultipartRequests(app, stores.s3Store, isFunctionUrl);
  // CRC-64/NVME checksums as S3 keeps them (after IAM: a refused request is not checked).
  keepCrc64NvmeChecksums(app, stores.s3Store);
  // ListParts, which fauxqs serves as GetObject (after IAM: s3:ListMultipartUploadParts; before the
  // versions hook, which would serve a versioned bucket's key). Function URLs are left to their hook.
  serveListParts(app, stores.s3Store, isFunctionUrl);
  // Object versions (after the checksum check: a refused write makes no version), and the bucket
  // APIs over them: ListObjectVersions, Get/PutBucketVersioning.
  const versions = await keepObjectVersions(app, stores.s3Store);
  serveVersioningApis(app, stores.s3Store, versions);
  // Every other bucket operation fauxqs does not serve as itself (it would list the bucket, or
  // create or delete it): GetBucketLocation, GetBucketPolicy, GetBucketNotificationConfiguration,
  // and 501 NotImplemented for the rest (after IAM, which authorized that operation).
  const { bucketPolicy } = options;
  serveBucketApis(app, stores.s3Store, {
    region: LOCAL_REGION,
    policy: (bucket) => bucketPolicy?.(bucket),
    sendsToEventBridge: (bucket) => notifyingBuckets.has(bucket),
  });

  // GetObject and HeadObject of an object a lifecycle rule will expire say when and by which rule
  // (x-amz-expiration, s3-lifecycle.ts expirationHeader); the export-finalizer caps its download
  // link there. Each bucket's enabled rules are kept here, read again after every change of its
  // configuration (S3 too takes a while to apply a new one: "there might be a delay before a new or
  // updated Lifecycle configuration is fully propagated", lifecycle-configuration-examples.html).
  // The hook answers synchronously: fauxqs's handlers send without returning the reply, and an
  // onSend hook still pending when the handler's promise settles makes fastify send a second time.
  const bucketRules = new Map<string, readonly LifecycleRule[]>();
  /** The endpoint's own S3 client (below), once it listens. */
  let operatorS3: S3Client | undefined;
  /** Reads a bucket's rules into {@link bucketRules}; one that cannot be read is read again when next asked for. */
  const readRules = async (bucket: string): Promise<readonly LifecycleRule[]> => {
    if (!operatorS3) return [];
    try {
      const rules = await bucketLifecycleRules(operatorS3, bucket);
      bucketRules.set(bucket, rules);
      return rules;
    } catch (error) {
      bucketRules.delete(bucket);
      throw error;
    }
  };
  /** A bucket's rules as of its last change (the lifecycle passes read them here too). */
  const rulesOf = async (bucket: string) => bucketRules.get(bucket) ?? readRules(bucket);
  /** {@link readRules} where a failure only leaves the objects without the header until the next read. */
  const refreshRules = (bucket: string) => readRules(bucket).catch(() => []);
  app.addHook('onSend', (request, reply, payload, done) => {
    const read = objectRead(request);
    const rules = read && bucketRules.get(read.bucket);
    if (!read || !rules?.length || (reply.statusCode !== 200 && reply.statusCode !== 206)) {
      done(null, payload);
      return;
    }
    const versionId = (request.query as Record<string, unknown>).versionId;
    // Expiration acts on the current version only.
    const current =
      typeof versionId !== 'string' ||
      versions.versionsOf(read.bucket, read.key).find((entry) => entry.versionId === versionId)?.isLatest ===
        true;
    const range = /\/(\d+)$/.exec(String(reply.getHeader('content-range') ?? ''));
    const size = Number(range?.[1] ?? reply.getHeader('content-length') ?? 0);
    const created = new Date(String(reply.getHeader('last-modified') ?? ''));
    const header =
      current && !Number.isNaN(created.getTime())
        ? expirationHeader(rules, read.key, size, created)
        : undefined;
    if (header) reply.header('x-amz-expiration', header);
    done(null, payload);
  });
  app.addHook('onResponse', async (request) => {
    const query = (request.query ?? {}) as Record<string, unknown>;
    const { bucket } = (request.params ?? {}) as { bucket?: string };
    if ((request.method === 'PUT' || request.method === 'DELETE') && 'lifecycle' in query && bucket) {
      await refreshRules(bucket);
    }
  });

  // S3 raises "Object Created" after the write succeeded; the writer does not wait for it, so
  // neither does this hook (onResponse runs once the response is on the wire).
  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode !== 200 || objectListeners.size === 0) return;
    const write = objectWrite(request);
    if (!write || !notifyingBuckets.has(write.bucket)) return;
    // The response of CompleteMultipartUpload carries no size: read the object's metadata in-process,
    // of the version written when the bucket is versioned (the key may have been written again since).
    const versionId = reply.getHeader('x-amz-version-id');
    const version = typeof versionId === 'string' ? `?versionId=${encodeURIComponent(versionId)}` : '';
    const head = await app.inject({
      method: 'HEAD',
      headers: IN_PROCESS_CALL_HEADERS,
      url: `/${write.bucket}/${encodeKey(write.key)}${version}`,
    });
    if (head.statusCode !== 200) return;
    sequence += 1;
    const event = objectCreatedEvent({
      ...write,
      size: Number(head.headers['content-length'] ?? 0),
      etag: String(head.headers.etag ?? ''),
      ...(typeof versionId === 'string' ? { versionId } : {}),
      requestId: String(reply.getHeader('x-amz-request-id') ?? ''),
      sourceIp: request.ip,
      // Hex, growing with every write, like S3's sequencer for one key.
      sequencer:
        `${Date.now().toString(16).padStart(12, '0')}${sequence.toString(16).padStart(6, '0')}`.toUpperCase(),
      region: LOCAL_REGION,
      account: LOCAL_ACCOUNT_ID,
    });
    for (const listener of objectListeners) listener(event);
  });

  // Other JSON-protocol APIs (Step Functions, EventBridge, Secrets Manager) share the endpoint, as on LocalStack: answer them
  // before fauxqs's SQS handler, which would reject an unknown X-Amz-Target.
  // Function URLs: S3's `/:bucket/*` route matches these paths, so they are answered before it runs.
  app.addHook('preHandler', async (request, reply) => {
    if (!functionUrls || !request.url.startsWith(FUNCTION_URL_PATH_PREFIX)) return;
    const { path: pathname, query } = splitRequestUrl(request.url.slice(FUNCTION_URL_PATH_PREFIX.length));
    const slash = pathname.indexOf('/');
    const name = decodeURIComponent(slash < 0 ? pathname : pathname.slice(0, slash));
    const response = await functionUrls(name, {
      method: request.method,
      path: slash < 0 ? '/' : pathname.slice(slash),
      rawQueryString: query,
      headers: request.headers,
      body: Buffer.isBuffer(request.body) ? request.body : undefined,
      sourceIp: request.ip,
      domainName: String(request.headers.host ?? ''),
    });
    return reply.code(response.statusCode).headers(response.headers).send(response.body);
  });

  app.addHook('preHandler', async (request, reply) =>
    answerSqsOperation(request, reply, moveTasks.operations),
  );
  app.addHook('preHandler', async (request, reply) => {
    const target = request.headers['x-amz-target'];
    if (typeof target !== 'string') return;
    const dot = target.indexOf('.');
    const handler = dot > 0 ? jsonApis.get(target.slice(0, dot)) : undefined;
    if (!handler) return;
    // awsJson1_0 (Step Functions) or awsJson1_1 (EventBridge): answer in the protocol asked.
    const contentType = String(request.headers['content-type'] ?? '');
    reply.header(
      'content-type',
      contentType.includes('x-amz-json-1.1') ? 'application/x-amz-json-1.1' : 'application/x-amz-json-1.0',
    );
    try {
      const output = await handler(target.slice(dot + 1), jsonBody(request.body));
      return reply.code(200).send(JSON.stringify(output ?? {}));
    } catch (error) {
      const { name, message, statusCode } = error as Error & { statusCode?: number };
      return reply
        .code(typeof statusCode === 'number' ? statusCode : 400)
        .header('x-amzn-errortype', name)
        .send(JSON.stringify({ __type: name, message }));
    }
  });

  app.addHook('onSend', (_request, reply, payload, done) => {
    const queryError = reply.getHeader('x-amzn-query-error');
    if (typeof queryError === 'string') reply.header('x-amzn-query-error', awsQueryErrorHeader(queryError));
    done(null, payload);
  });

  app.addHook('onSend', async (request, _reply, payload) => {
    const contentType = request.headers['content-type'] ?? '';
    const isSqsOrSns = contentType.includes('x-amz-json') || contentType.includes('x-www-form-urlencoded');
    if (!isSqsOrSns || typeof payload !== 'string') return payload;
    return payload.replace(/http:\/\/sqs\.[a-z0-9-]+\.localhost(?::\d+)?/g, url);
  });
  try {
    await app.listen({ port: options.port ?? 4566, host });
  } catch (error) {
    await app.close();
    throw error;
  }
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('fauxqs is not listening on a TCP port');
  const port = address.port;
  url = `http://${host}:${port}`;
  await moveTasks.resume();
  // The endpoint's own client, as the operator: lifecycle configurations go through S3's API.
  const operator = new S3Client({
    endpoint: url,
    region: LOCAL_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: LOCAL_OPERATOR_ACCESS_KEY_ID, secretAccessKey: 'local' },
  });
  operatorS3 = operator;
  // The rules of the buckets kept in the state directory, for their objects' expiration header.
  for (const { name } of stores.s3Store.listBuckets()) await refreshRules(name);
  // Its first pass runs now: a restart applies what came due while the cloud was stopped.
  const lifecycle = await startLifecycle({
    store: stores.s3Store,
    versions,
    rulesOf,
    ...options.lifecycle,
  });

  return {
    url,
    port,
    queueUrl: (name) => `${url}/${LOCAL_ACCOUNT_ID}/${name}`,
    async peek(queueName) {
      // fauxqs's own non-destructive inspection route, called in-process (no socket).
      const response = await app.inject({
        method: 'GET',
        url: `${FAUXQS_INSPECTION_PATH_PREFIX}queues/${encodeURIComponent(queueName)}`,
      });
      if (response.statusCode === 404) return undefined;
      const inspection = response.json() as {
        messages: {
          ready: QueuedMessage[];
          delayed: QueuedMessage[];
          inflight: { message: QueuedMessage }[];
        };
      };
      const { ready, delayed, inflight } = inspection.messages;
      return [...ready, ...delayed, ...inflight.map((entry) => entry.message)];
    },
    async createBucket(name, options = {}) {
      const response = await app.inject({ method: 'PUT', url: `/${name}`, headers: IN_PROCESS_CALL_HEADERS });
      if (response.statusCode !== 200 && !response.body.includes('BucketAlreadyOwnedByYou')) {
        throw new Error(`creating bucket ${name} failed: ${response.statusCode} ${response.body}`);
      }
      if (options.eventBridge) notifyingBuckets.add(name);
      if (options.versioned) versions.enable(name);
      if (options.lifecycleRules) {
        await operator.send(
          new PutBucketLifecycleConfigurationCommand({
            Bucket: name,
            LifecycleConfiguration: { Rules: [...options.lifecycleRules] },
          }),
        );
        // Read now, not only after the response: a caller's next request sees the rules.
        await refreshRules(name);
      }
    },
    applyLifecycle: () => lifecycle.apply(),
    createSecret: (name, value) => secrets.ensure(name, value),
    putSecretValue: (arn, value) => secrets.putCurrent(arn, value),
    onObjectCreated(listener) {
      objectListeners.add(listener);
    },
    serveJsonApi(targetPrefix, handler) {
      jsonApis.set(targetPrefix, handler);
    },
    serveFunctionUrls(handler) {
      functionUrls = handler;
    },
    serveLambdaInvoke(handler) {
      lambdaInvoke = handler;
    },
    async stop() {
      await lifecycle.stop();
      operator.destroy();
      await moveTasks.stop();
      await app.close();
    },
  };
}

/** The bucket and key of a GetObject or HeadObject (no subresource but a version), else `undefined`. */
function objectRead(request: {
  readonly routeOptions: { readonly url?: string | undefined };
  readonly params: unknown;
  readonly query: unknown;
  readonly method: string;
}): { bucket: string; key: string } | undefined {
  if (request.routeOptions.url !== '/:bucket/*' || (request.method !== 'GET' && request.method !== 'HEAD')) {
    return undefined;
  }
  const params = request.params as { bucket?: string; '*'?: string };
  // The SDK names the operation (`x-id=GetObject`); a presigned URL carries its X-Amz-* parameters.
  const subresources = Object.keys((request.query ?? {}) as Record<string, unknown>).filter(
    (name) =>
      !['versionId', 'partNumber', 'x-id'].includes(name) &&
      !name.startsWith('response-') &&
      !name.startsWith('X-Amz-'),
  );
  const { bucket, '*': key } = params;
  return bucket && key && subresources.length === 0 ? { bucket, key } : undefined;
}

/** The object a successful S3 request created, if it was one of the calls that raise "Object Created". */
function objectWrite(request: {
  readonly routeOptions: { readonly url?: string | undefined };
  readonly params: unknown;
  readonly query: unknown;
  readonly method: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}): { bucket: string; key: string; reason: ObjectCreatedReason } | undefined {
  if (request.routeOptions.url !== '/:bucket/*') return undefined;
  const params = request.params as { bucket?: string; '*'?: string };
  const query = (request.query ?? {}) as Record<string, unknown>;
  const bucket = params.bucket;
  const key = params['*'];
  if (!bucket || !key) return undefined;
  let reason: ObjectCreatedReason | undefined;
  if (request.method === 'PUT' && !('uploadId' in query) && !('renameObject' in query)) {
    reason = request.headers['x-amz-copy-source'] ? 'CopyObject' : 'PutObject';
  } else if (request.method === 'POST' && typeof query.uploadId === 'string') {
    reason = 'CompleteMultipartUpload';
  }
  // Browser form uploads (POST Object) carry the key in the form body; nothing here uses them.
  return reason ? { bucket, key, reason } : undefined;
}

/**
 * The JSON object a JSON-protocol request carries. fauxqs parses only `x-amz-json-1.0`; an
 * `x-amz-json-1.1` body (EventBridge) reaches the hook as the catch-all parser's Buffer.
 */
export function jsonBody(body: unknown): Record<string, unknown> {
  if (Buffer.isBuffer(body)) {
    if (body.length === 0) return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new JsonBodyError();
    }
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  }
  return body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
}

/** What the endpoint reads of an Invoke request, whose route's parser leaves its body a Buffer. */
interface InvokeRequest {
  readonly url: string;
  readonly headers: LambdaInvokeRequest['headers'];
  readonly body: unknown;
}

/** What the endpoint writes an Invoke answer with. */
interface InvokeReply {
  code(statusCode: number): {
    headers(headers: LambdaInvokeResponse['headers']): { send(body: string): unknown };
  };
}

function sendInvokeResponse(reply: InvokeReply, response: LambdaInvokeResponse): unknown {
  return reply.code(response.statusCode).headers(response.headers).send(response.body);
}

function encodeKey(key: string): string {
  // The whole key, slashes included: a URL resolves dot segments away (`imports/../x.csv`, even
  // spelled `imports/%2E%2E/x.csv`, would be asked for as `x.csv`), while S3 keeps a key literally;
  // the S3 route's wildcard parameter decodes `%2F` back to `/`.
  return encodeURIComponent(key);
}
