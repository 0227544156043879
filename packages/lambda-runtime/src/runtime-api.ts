import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RuntimeApiClosedError } from './errors.ts';

/**
 * The error document a runtime posts to `/invocation/{id}/error` or `/init/error`, and what an
 * invoke returns for a function error.
 *
 * @example `{ errorType: 'ValidationError', errorMessage: 'jobId is required', stackTrace: ['ValidationError: ...'] }`
 */
export interface LambdaErrorBody {
  errorType: string;
  errorMessage: string;
  stackTrace?: string[];
}

/**
 * The outcome of one invocation. `durationMs` is the handler's run time (from the moment the runtime
 * received the event to its response), like the `Duration` of Lambda's REPORT line; it is 0 when
 * the event was never delivered (an init error).
 */
export type InvokeResult = { requestId: string; durationMs: number } & (
  | { ok: true; payload: unknown }
  | { ok: false; error: LambdaErrorBody }
);

/** Per-invocation options of {@link RuntimeApi.invoke}. */
export interface InvokeOptions {
  /** Time the handler may run once it has the event. @default 3000 (Lambda's default timeout) */
  timeoutMs?: number;
  /**
   * When the invocation times out (epoch ms), if earlier than `timeoutMs` after the event reaches the
   * handler: an init run again at the invocation shares the function's timeout with it.
   */
  deadline?: number;
  /** @default a random UUID */
  requestId?: string;
  /** X-Ray trace header value. @default a fresh `Root=1-...;Parent=...;Sampled=0` */
  traceId?: string;
  /** Called when the runtime receives the event (its `next` request is answered). */
  onDelivered?: () => void;
}

/** Options of {@link startRuntimeApi}. */
export interface RuntimeApiOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 0 (a free port) */
  port?: number;
  /** Used to build the default ARN. @default 'function' */
  functionName?: string;
  /** Sent as `Lambda-Runtime-Invoked-Function-Arn`. @default `arn:aws:lambda:us-east-1:000000000000:function:<functionName>` */
  functionArn?: string;
}

/** A running emulator of the Lambda Runtime API for one sandbox (one runtime process). */
export interface RuntimeApi {
  /** `host:port`, the value of `AWS_LAMBDA_RUNTIME_API` for the runtime. */
  readonly address: string;
  /**
   * Queues an invocation; the runtime receives it on its next `GET /invocation/next`, one at a time.
   * Resolves (never rejects, except after {@link RuntimeApi.close}) with the response, the error the
   * runtime posted, `Sandbox.Timedout`, or the init error if the runtime failed to start.
   */
  invoke(event: unknown, options?: InvokeOptions): Promise<InvokeResult>;
  /** Resolves when the runtime posts `/init/error`; stays pending otherwise. */
  readonly initError: Promise<LambdaErrorBody>;
  /** Resolves when the runtime first asks for an invocation, i.e. its init phase is over. */
  readonly ready: Promise<void>;
  /**
   * Settles the invocation in flight and every queued or later one with `error`: the sandbox's
   * runtime is gone (it exited, or the host killed it), so nothing will answer them.
   */
  abort(error: AbortError): void;
  /** Stops the server; pending invocations resolve with a `Sandbox.Closed` error. */
  close(): Promise<void>;
}

/**
 * What settles the invocations of a sandbox whose runtime is gone: one error for all, or one worded
 * for each invocation's request id (Lambda's `RequestId: <id> Error: ...`).
 */
export type AbortError = LambdaErrorBody | ((requestId: string) => LambdaErrorBody);

function abortErrorFor(error: AbortError, requestId: string): LambdaErrorBody {
  return typeof error === 'function' ? error(requestId) : error;
}

/** Lambda's synchronous response payload limit (6 MB), enforced on `/response` like Lambda. */
export const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;

const PREFIX = '/2018-06-01/runtime';
const INVOCATION_PATH = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/;

interface Invocation {
  readonly requestId: string;
  readonly traceId: string;
  readonly body: string;
  readonly timeoutMs: number;
  readonly deadline?: number | undefined;
  deliveredAt?: number;
  timer?: NodeJS.Timeout;
  readonly onDelivered?: (() => void) | undefined;
  readonly settle: (result: InvokeResult) => void;
}

/**
 * Starts an emulator of the Lambda Runtime API (the server side RAPID plays in a Lambda sandbox),
 * following https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html: `GET invocation/next` is
 * held open until an invocation is queued, then answered with the event and the
 * `Lambda-Runtime-*` headers; `POST invocation/{id}/response|error` and `POST init/error` complete it.
 *
 * @example
 * ```ts
 * const api = await startRuntimeApi({ functionName: 'status-updater' });
 * // spawn a runtime with AWS_LAMBDA_RUNTIME_API=api.address, then:
 * const result = await api.invoke({ jobId: 'j-1' }, { timeoutMs: 30_000 });
 * ```
 */
export async function startRuntimeApi(options: RuntimeApiOptions = {}): Promise<RuntimeApi> {
  const functionName = options.functionName ?? 'function';
  const functionArn = options.functionArn ?? `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`;

  const queue: Invocation[] = [];
  const waiters: ServerResponse[] = [];
  let inFlight: Invocation | undefined;
  let initFailure: LambdaErrorBody | undefined;
  let terminal: AbortError | undefined;
  let closed = false;
  let isReady = false;

  const initError = Promise.withResolvers<LambdaErrorBody>();
  const ready = Promise.withResolvers<void>();

  function finish(
    invocation: Invocation,
    outcome: { ok: true; payload: unknown } | { ok: false; error: LambdaErrorBody },
  ) {
    clearTimeout(invocation.timer);
    const durationMs = invocation.deliveredAt === undefined ? 0 : performance.now() - invocation.deliveredAt;
    if (inFlight === invocation) inFlight = undefined;
    invocation.settle({ requestId: invocation.requestId, durationMs, ...outcome });
    pump();
  }

  // Delivers the next queued invocation to a waiting runtime, one at a time: a sandbox handles a
  // single invocation until it posts its response or error (or the invocation times out).
  function pump() {
    while (inFlight === undefined && queue.length > 0 && waiters.length > 0) {
      const res = waiters.shift()!;
      if (res.destroyed || res.writableEnded) continue;
      const invocation = queue.shift()!;
      inFlight = invocation;
      invocation.deliveredAt = performance.now();
      const deadline = Math.min(
        Date.now() + invocation.timeoutMs,
        invocation.deadline ?? Number.POSITIVE_INFINITY,
      );
      invocation.timer = setTimeout(() => {
        finish(invocation, {
          ok: false,
          error: {
            errorType: 'Sandbox.Timedout',
            errorMessage: `RequestId: ${invocation.requestId} Error: Task timed out after ${(invocation.timeoutMs / 1000).toFixed(2)} seconds`,
          },
        });
      }, deadline - Date.now());
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Lambda-Runtime-Aws-Request-Id': invocation.requestId,
        'Lambda-Runtime-Deadline-Ms': String(deadline),
        'Lambda-Runtime-Invoked-Function-Arn': functionArn,
        'Lambda-Runtime-Trace-Id': invocation.traceId,
      });
      res.end(invocation.body);
      invocation.onDelivered?.();
    }
  }

  function failAll(error: AbortError) {
    // Empty the queue first: finishing the invocation in flight would otherwise deliver the next one.
    const queued = queue.splice(0);
    if (inFlight !== undefined)
      finish(inFlight, { ok: false, error: abortErrorFor(error, inFlight.requestId) });
    for (const invocation of queued) {
      finish(invocation, { ok: false, error: abortErrorFor(error, invocation.requestId) });
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      reply(res, 500, { errorType: 'ServiceException', errorMessage: String(error) });
    });
  });
  // One client, the sandbox's, on loopback: its idle keep-alive connection is never closed under
  // it. A frozen client sends its next request on that connection and then blocks until the event
  // comes; a request the server had closed the connection for would never be answered.
  server.keepAliveTimeout = 0;

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = req.url ?? '';
    if (req.method === 'GET' && url === `${PREFIX}/invocation/next`) {
      if (!isReady) {
        isReady = true;
        ready.resolve();
      }
      waiters.push(res);
      res.on('close', () => {
        const index = waiters.indexOf(res);
        if (index >= 0) waiters.splice(index, 1);
      });
      pump();
      return;
    }
    if (req.method === 'POST' && url === `${PREFIX}/init/error`) {
      const body = await readBody(req);
      if (isReady) {
        reply(res, 403, {
          errorType: 'InvalidStateTransition',
          errorMessage: 'init/error after init finished',
        });
        return;
      }
      initFailure = parseErrorBody(body, req.headers['lambda-runtime-function-error-type']);
      reply(res, 202, { status: 'OK' });
      initError.resolve(initFailure);
      failAll(initFailure);
      return;
    }
    const match = req.method === 'POST' ? INVOCATION_PATH.exec(url) : null;
    if (match) {
      const requestId = decodeURIComponent(match[1]!);
      const body = await readBody(req);
      const invocation = inFlight;
      if (invocation === undefined || invocation.requestId !== requestId) {
        // The invocation already ended (timed out) or never existed.
        reply(res, 400, {
          errorType: 'InvalidRequestID',
          errorMessage: `Unknown or finished request id ${requestId}`,
        });
        return;
      }
      if (match[2] === 'error') {
        reply(res, 202, { status: 'OK' });
        finish(invocation, {
          ok: false,
          error: parseErrorBody(body, req.headers['lambda-runtime-function-error-type']),
        });
        return;
      }
      if (body.byteLength > MAX_RESPONSE_BYTES) {
        reply(res, 413, { errorType: 'RequestEntityTooLarge', errorMessage: 'Response payload too large' });
        finish(invocation, {
          ok: false,
          error: {
            errorType: 'Function.ResponseSizeTooLarge',
            errorMessage: `Response payload size (${body.byteLength} bytes) exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`,
          },
        });
        return;
      }
      reply(res, 202, { status: 'OK' });
      finish(invocation, { ok: true, payload: parsePayload(body) });
      return;
    }
    reply(res, 404, {
      errorType: 'NotFound',
      errorMessage: `${req.method} ${url} is not a Runtime API route`,
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;

  return {
    address: `${address.includes(':') ? `[${address}]` : address}:${port}`,
    initError: initError.promise,
    ready: ready.promise,
    invoke(event, invokeOptions = {}) {
      if (closed) return Promise.reject(new RuntimeApiClosedError(functionName));
      let body: string;
      try {
        body = JSON.stringify(event) ?? 'null';
      } catch (error) {
        // Lambda only accepts JSON payloads (InvalidRequestContentException).
        return Promise.reject(error);
      }
      const { promise, resolve } = Promise.withResolvers<InvokeResult>();
      const invocation: Invocation = {
        requestId: invokeOptions.requestId ?? randomUUID(),
        traceId: invokeOptions.traceId ?? newTraceId(),
        body,
        timeoutMs: invokeOptions.timeoutMs ?? 3000,
        deadline: invokeOptions.deadline,
        onDelivered: invokeOptions.onDelivered,
        settle: resolve,
      };
      const failure = initFailure ?? terminal;
      if (failure !== undefined) {
        const error = abortErrorFor(failure, invocation.requestId);
        invocation.settle({ requestId: invocation.requestId, durationMs: 0, ok: false, error });
      } else {
        queue.push(invocation);
        pump();
      }
      return promise;
    },
    abort(error) {
      terminal ??= error;
      failAll(error);
    },
    async close() {
      if (closed) return;
      closed = true;
      terminal ??= { errorType: 'Sandbox.Closed', errorMessage: 'The local Lambda sandbox was shut down' };
      failAll(terminal);
      for (const res of waiters.splice(0)) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function reply(res: ServerResponse, status: number, body: unknown) {
  if (res.headersSent) return;
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parsePayload(body: Buffer): unknown {
  const text = body.toString('utf8');
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    // Runtimes may post any bytes; Lambda hands them back verbatim.
    return text;
  }
}

/**
 * Accepts the documented `{errorMessage, errorType, stackTrace}` and the `trace` field the Node.js
 * runtime interface client actually sends.
 */
function parseErrorBody(body: Buffer, headerType: string | string[] | undefined): LambdaErrorBody {
  const fallbackType = (Array.isArray(headerType) ? headerType[0] : headerType) ?? 'Runtime.Unknown';
  const text = body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { errorType: fallbackType, errorMessage: text };
  }
  if (typeof parsed !== 'object' || parsed === null) return { errorType: fallbackType, errorMessage: text };
  const fields = parsed as Record<string, unknown>;
  const trace = fields.stackTrace ?? fields.trace;
  const error: LambdaErrorBody = {
    errorType: typeof fields.errorType === 'string' ? fields.errorType : fallbackType,
    errorMessage: typeof fields.errorMessage === 'string' ? fields.errorMessage : '',
  };
  if (Array.isArray(trace)) error.stackTrace = trace.map(String);
  return error;
}

/** An X-Ray trace header like the one Lambda passes: `Root=1-<epoch hex>-<96-bit id>;Parent=<64-bit>;Sampled=0`. */
function newTraceId(): string {
  const epoch = Math.floor(Date.now() / 1000).toString(16);
  return `Root=1-${epoch}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=0`;
}
