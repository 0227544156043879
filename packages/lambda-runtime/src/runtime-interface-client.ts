/**
 * A small Runtime Interface Client (RIC) for Node.js Lambda functions, runnable as
 * `node runtime-interface-client.ts` with `AWS_LAMBDA_RUNTIME_API`, `_HANDLER` and `LAMBDA_TASK_ROOT`.
 *
 * Why it exists: the official `aws-lambda-ric` npm package builds a native addon (libcurl, node-gyp)
 * and is already inside the AWS Lambda Node.js base image, which is what runs the service images on
 * AWS. Locally we need a client that runs anywhere without a compiler and speaks the same documented
 * contract (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html). It hosts the unchanged
 * bundle: it loads the handler the way the official client does (handler string, extension lookup
 * order, error names), builds the same `context`, and posts the same response and error documents.
 * It does not change what the handler does.
 *
 * Only Node.js builtins are imported, so the file runs with nothing installed next to it.
 */
import { statSync } from 'node:fs';
import { Agent, type IncomingHttpHeaders, request } from 'node:http';
import { createRequire } from 'node:module';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { format } from 'node:util';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';

/** The `context` argument the handler receives, mirroring the Node.js runtime's. */
export interface LambdaContext {
  callbackWaitsForEmptyEventLoop: boolean;
  readonly functionName: string;
  readonly functionVersion: string;
  readonly invokedFunctionArn: string;
  /** A string, as in Lambda (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`). */
  readonly memoryLimitInMB: string;
  readonly awsRequestId: string;
  readonly logGroupName: string;
  readonly logStreamName: string;
  readonly identity?: unknown;
  readonly clientContext?: unknown;
  readonly xRayTraceId?: string;
  getRemainingTimeInMillis(): number;
}

type Handler = (event: unknown, context: LambdaContext) => unknown;

/** Errors named like the official client's, so `errorType` reads the same locally and on AWS. */
class RuntimeClientError extends Error {
  constructor(name: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = name;
    if (cause instanceof Error && name === 'Runtime.UserCodeSyntaxError') this.stack = cause.stack;
  }
}

/** A required environment variable is missing or malformed. */
export class RuntimeConfigurationError extends RuntimeClientError {
  readonly variable: string;

  constructor(variable: string, reason: string) {
    super('Runtime.PlatformError', `${variable} ${reason}`);
    this.variable = variable;
  }
}

const CALLBACK_HANDLER_REMOVED =
  'ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24. ' +
  'You need to modify this function to use a supported handler signature to use Node.js 24 or later. ' +
  'For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.';

/**
 * Runs the client: loads the handler (reporting a failure to `/init/error`), then forever takes the
 * next invocation, calls `handler(event, context)` and posts its result or error.
 *
 * @param env where `AWS_LAMBDA_RUNTIME_API`, `_HANDLER`, `LAMBDA_TASK_ROOT` and the function's
 *   reserved variables are read from. `_X_AMZN_TRACE_ID` is always set on `process.env`, where the
 *   AWS SDK and Powertools read it.
 * @param options `freeze: false` lets what a handler left running go on between invocations
 *   ({@link FrozenNext} is the default).
 */
export async function runInterfaceClient(
  env: NodeJS.ProcessEnv = process.env,
  options: { freeze?: boolean } = {},
): Promise<never> {
  const address = env.AWS_LAMBDA_RUNTIME_API;
  if (!address) throw new RuntimeConfigurationError('AWS_LAMBDA_RUNTIME_API', 'is not set');
  const client = new RuntimeApiClient(address);
  // Started now, so that its thread is up by the time the init asks for the first event.
  const frozen = options.freeze === false ? undefined : new FrozenNext(address);
  const state: { requestId?: string; initDone: boolean } = { initDone: false };
  patchConsole(env, () => state.requestId);

  // Like the official client: an exception nobody caught ends the sandbox, after reporting it to
  // the invocation it broke (or to init). Exit codes 129/128 are the official client's.
  const fatal = (error: Error, exitCode: number) => {
    const report =
      state.requestId !== undefined
        ? client.postError(`/invocation/${encodeURIComponent(state.requestId)}/error`, error)
        : state.initDone
          ? Promise.resolve()
          : client.postError('/init/error', error);
    report.finally(() => process.exit(exitCode));
  };
  process.on('uncaughtException', (error) => {
    console.error('Uncaught Exception', error);
    fatal(error, 129);
  });
  process.on('unhandledRejection', (reason) => {
    const error = new RuntimeClientError(
      'Runtime.UnhandledPromiseRejection',
      reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason),
      reason,
    );
    console.error('Unhandled Promise Rejection', error);
    fatal(error, 128);
  });

  let handler: Handler;
  try {
    handler = await loadHandler(env);
  } catch (error) {
    console.error('Init Error', error);
    await client.postError('/init/error', error);
    process.exit(129);
  }
  state.initDone = true;

  for (;;) {
    const invocation = frozen ? frozen.next() : await client.next();
    const requestId = header(invocation.headers, 'lambda-runtime-aws-request-id');
    const deadline = Number(header(invocation.headers, 'lambda-runtime-deadline-ms'));
    const traceId = invocation.headers['lambda-runtime-trace-id'];
    // Lambda exposes the invocation's trace header to the SDK through this variable.
    if (typeof traceId === 'string') process.env._X_AMZN_TRACE_ID = traceId;
    else delete process.env._X_AMZN_TRACE_ID;
    state.requestId = requestId;
    const context: LambdaContext = {
      callbackWaitsForEmptyEventLoop: true,
      functionName: env.AWS_LAMBDA_FUNCTION_NAME ?? '',
      functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION ?? '$LATEST',
      invokedFunctionArn: header(invocation.headers, 'lambda-runtime-invoked-function-arn'),
      memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? '',
      awsRequestId: requestId,
      logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME ?? '',
      logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME ?? '',
      identity: parseJsonHeader(invocation.headers['lambda-runtime-cognito-identity']),
      clientContext: parseJsonHeader(invocation.headers['lambda-runtime-client-context']),
      xRayTraceId: typeof traceId === 'string' ? traceId : undefined,
      getRemainingTimeInMillis: () => deadline - Date.now(),
    };
    const path = `/invocation/${encodeURIComponent(requestId)}`;
    try {
      const result = await handler(JSON.parse(invocation.body), context);
      await client.post(`${path}/response`, serialize(result));
    } catch (error) {
      console.error('Invoke Error', error);
      await client.postError(`${path}/error`, error);
    }
    state.requestId = undefined;
  }
}

/** Resolves `_HANDLER` (`[dir/]module.export[.nested]`) in `LAMBDA_TASK_ROOT` as the official client does. */
async function loadHandler(env: NodeJS.ProcessEnv): Promise<Handler> {
  const taskRoot = env.LAMBDA_TASK_ROOT;
  if (!taskRoot) throw new RuntimeConfigurationError('LAMBDA_TASK_ROOT', 'is not set');
  const fullHandler = env._HANDLER ?? '';
  const handlerString = basename(fullHandler);
  const moduleRoot = fullHandler.slice(0, fullHandler.length - handlerString.length).replace(/\/$/, '');
  const match = /^([^.]*)\.(.*)$/.exec(handlerString);
  if (!match || match[1] === '' || match[2] === '') {
    throw new RuntimeClientError('Runtime.MalformedHandlerName', 'Bad handler');
  }
  const [, moduleName = '', handlerName = ''] = match;

  const module = await importModule(taskRoot, moduleRoot, moduleName);
  const found =
    findIn(module, handlerName) ??
    (typeof module === 'object' && module !== null && 'default' in module
      ? findIn((module as { default: unknown }).default, handlerName)
      : undefined);
  if (found === undefined || found === null) {
    throw new RuntimeClientError('Runtime.HandlerNotFound', `${fullHandler} is undefined or not exported`);
  }
  if (typeof found !== 'function') {
    throw new RuntimeClientError('Runtime.HandlerNotFound', `${fullHandler} is not a function`);
  }
  // Node.js 24 Lambda runtimes reject `(event, context, callback)` handlers at init.
  if (found.length >= 3)
    throw new RuntimeClientError('Runtime.CallbackHandlerDeprecated', CALLBACK_HANDLER_REMOVED);
  return found as Handler;
}

async function importModule(taskRoot: string, moduleRoot: string, moduleName: string): Promise<unknown> {
  const base = resolve(taskRoot, moduleRoot, moduleName);
  try {
    // The official client's lookup order: as written, then .js, .mjs, .cjs; then Node resolution
    // (a package in the task root's node_modules).
    for (const extension of ['', '.js', '.mjs', '.cjs']) {
      const file = `${base}${extension}`;
      if (statSync(file, { throwIfNoEntry: false })?.isFile()) return await import(pathToFileURL(file).href);
    }
    const require = createRequire(resolve(taskRoot, 'noop.js'));
    return require(require.resolve(moduleName, { paths: [taskRoot, resolve(taskRoot, moduleRoot)] }));
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new RuntimeClientError('Runtime.UserCodeSyntaxError', String(error), error);
    }
    const code = (error as { code?: unknown }).code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
      throw new RuntimeClientError('Runtime.ImportModuleError', String(error), error);
    }
    throw error;
  }
}

function findIn(value: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>(
      (nested, key) =>
        nested !== null && (typeof nested === 'object' || typeof nested === 'function')
          ? (nested as Record<string, unknown>)[key]
          : undefined,
      value,
    );
}

/** `undefined` becomes `null`, as Lambda returns for a handler that returns nothing. */
function serialize(result: unknown): string {
  try {
    return JSON.stringify(result) ?? 'null';
  } catch (error) {
    throw new RuntimeClientError('Runtime.JSONStringifyError', 'Unable to stringify response body', error);
  }
}

/** The error document of the official client: `errorType` is the error's `name`. */
function toErrorBody(error: unknown): { errorType: string; errorMessage: string; trace: string[] } {
  if (error instanceof Error) {
    return {
      errorType: error.name,
      errorMessage: error.message,
      trace: error.stack?.split('\n') ?? [],
    };
  }
  return { errorType: typeof error, errorMessage: String(error), trace: [] };
}

function header(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  if (typeof value !== 'string')
    throw new RuntimeClientError('Runtime.PlatformError', `Missing header ${name}`);
  return value;
}

function parseJsonHeader(value: string | string[] | undefined): unknown {
  return typeof value === 'string' && value !== '' ? JSON.parse(value) : undefined;
}

/** HTTP client of the Runtime API. node:http, not fetch: `next` is a long poll with no time limit. */
class RuntimeApiClient {
  readonly #hostname: string;
  readonly #port: number;
  readonly #agent = new Agent({ keepAlive: true });

  constructor(address: string) {
    const url = new URL(`http://${address}`);
    this.#hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.#port = Number(url.port || 80);
  }

  next(): Promise<{ headers: IncomingHttpHeaders; body: string }> {
    return this.#send('GET', '/invocation/next').then(({ status, headers, body }) => {
      if (status !== 200)
        throw new RuntimeClientError('Runtime.PlatformError', `next returned ${status}: ${body}`);
      return { headers, body };
    });
  }

  async post(path: string, body: string, headers: Record<string, string> = {}): Promise<void> {
    await this.#send('POST', path, body, headers);
  }

  postError(path: string, error: unknown): Promise<void> {
    const body = toErrorBody(error);
    return this.post(path, JSON.stringify(body), { 'Lambda-Runtime-Function-Error-Type': body.errorType });
  }

  #send(
    method: string,
    path: string,
    body?: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
    return new Promise((resolvePromise, reject) => {
      const req = request(
        {
          hostname: this.#hostname,
          port: this.#port,
          path: `/2018-06-01/runtime${path}`,
          method,
          agent: this.#agent,
          headers:
            body === undefined
              ? headers
              : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () =>
            resolvePromise({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** The Runtime API's answer to `GET /invocation/next`, as the worker thread passes it on. */
type NextAnswer = { status: number; headers: IncomingHttpHeaders; body: string } | { error: string };

/**
 * The freeze between invocations. Lambda freezes an execution environment once its runtime asks for
 * the next event, and thaws it when one comes: a timer, an unawaited call or a retry loop a handler
 * left running stops until the next invocation (and never runs if the environment is shut down); a
 * timer that came due meanwhile fires as soon as it thaws, and an error it throws then fails that
 * next invocation ("Lambda freezes the execution environment ... background processes or callbacks
 * ... resume when the execution environment is thawed",
 * https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-invoke).
 *
 * This client does the same to its own process: a worker thread asks for the next event, and the
 * main thread, where the handler and everything it started run, waits for it in `Atomics.wait`, which
 * runs no JavaScript, no timer and no I/O callback until it returns. Stopping the process (SIGSTOP)
 * would freeze it too, but a sandbox leads a process group of its own, and one stopped when its
 * host is SIGKILLed would never run the watch that ends it; here the worker's request fails when
 * the host (the Runtime API) goes, and the thawed client exits.
 */
class FrozenNext {
  /** [0]: an answer is waiting; [1]: the worker is listening. */
  readonly #signals = new Int32Array(new SharedArrayBuffer(8));
  readonly #answers = new MessageChannel();
  readonly #worker: Worker;

  constructor(address: string) {
    this.#worker = new Worker(FROZEN_NEXT_WORKER, {
      eval: true,
      workerData: { address, signals: this.#signals, answers: this.#answers.port2 },
      transferList: [this.#answers.port2],
    });
    // The worker ends with the process; it must not keep it alive on its own.
    this.#worker.unref();
  }

  /** Blocks the thread until the Runtime API hands over the next event. */
  next(): { headers: IncomingHttpHeaders; body: string } {
    if (Atomics.wait(this.#signals, 1, 0, WORKER_START_TIMEOUT_MS) === 'timed-out') {
      throw new RuntimeClientError(
        'Runtime.PlatformError',
        'the thread that asks for the next event did not start',
      );
    }
    Atomics.store(this.#signals, 0, 0);
    this.#worker.postMessage('next');
    Atomics.wait(this.#signals, 0, 0);
    const answer = receiveMessageOnPort(this.#answers.port1)?.message as NextAnswer | undefined;
    if (answer === undefined || 'error' in answer) {
      throw new RuntimeClientError('Runtime.PlatformError', `next failed: ${answer?.error ?? 'no answer'}`);
    }
    if (answer.status !== 200) {
      throw new RuntimeClientError('Runtime.PlatformError', `next returned ${answer.status}: ${answer.body}`);
    }
    return { headers: answer.headers, body: answer.body };
  }
}

/** How long the first event waits for the worker thread to start (it starts alongside the init). */
const WORKER_START_TIMEOUT_MS = 10_000;

/**
 * The worker thread of {@link FrozenNext}: on each message, one long poll of `GET /invocation/next`,
 * its answer posted back, then the main thread woken. CommonJS text: an `eval` worker.
 */
const FROZEN_NEXT_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { Agent, request } = require('node:http');
const { address, signals, answers } = workerData;
const url = new URL('http://' + address);
const agent = new Agent({ keepAlive: true });
const answer = (message) => {
  answers.postMessage(message);
  Atomics.store(signals, 0, 1);
  Atomics.notify(signals, 0);
};
// Whatever goes wrong here wakes the main thread with it: nothing else would.
process.on('uncaughtException', (error) => answer({ error: String(error) }));
parentPort.on('message', () => {
  const req = request(
    {
      hostname: url.hostname.replace(/^\\[(.*)\\]$/, '$1'),
      port: Number(url.port || 80),
      path: '/2018-06-01/runtime/invocation/next',
      agent,
    },
    (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('error', (error) => answer({ error: String(error) }));
      res.on('end', () =>
        answer({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
    },
  );
  req.on('error', (error) => answer({ error: String(error) }));
  req.end();
});
Atomics.store(signals, 1, 1);
Atomics.notify(signals, 1);
`;

const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;
type Level = (typeof LEVELS)[number];

/**
 * Formats `console.*` like the Node.js runtime: with `AWS_LAMBDA_LOG_FORMAT=JSON` each call is one
 * JSON line `{timestamp, level, requestId, message}` (plus errorType/errorMessage/stackTrace for an
 * Error argument), filtered by `AWS_LAMBDA_LOG_LEVEL` (default INFO); otherwise the tab-separated
 * text format. Loggers with their own Console (Powertools) are untouched, as on Lambda.
 */
function patchConsole(env: NodeJS.ProcessEnv, requestId: () => string | undefined) {
  const json = env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';
  const minimum = LEVELS.indexOf((env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase() ?? 'INFO') as Level);
  const write = (level: Level, stream: NodeJS.WriteStream, message: unknown, params: unknown[]) => {
    const timestamp = new Date().toISOString();
    if (!json) {
      stream.write(`${timestamp}\t${requestId() ?? 'undefined'}\t${level}\t${format(message, ...params)}\n`);
      return;
    }
    if (LEVELS.indexOf(level) < Math.max(minimum, 0)) return;
    const line: Record<string, unknown> = { timestamp, level, requestId: requestId() };
    const error = [message, ...params].find((value): value is Error => value instanceof Error);
    line.message = params.length === 0 && !(message instanceof Error) ? message : format(message, ...params);
    if (error !== undefined) {
      line.errorType = error.name;
      line.errorMessage = error.message;
      line.stackTrace = error.stack?.split('\n') ?? [];
    }
    let text: string;
    try {
      text = JSON.stringify(line);
    } catch {
      text = JSON.stringify({ ...line, message: format(message, ...params) });
    }
    stream.write(`${text}\n`);
  };
  const method =
    (level: Level, stream: NodeJS.WriteStream) =>
    (message?: unknown, ...params: unknown[]) =>
      write(level, stream, message, params);
  console.trace = method('TRACE', process.stdout);
  console.debug = method('DEBUG', process.stdout);
  console.info = method('INFO', process.stdout);
  console.log = method('INFO', process.stdout);
  console.warn = method('WARN', process.stderr);
  console.error = method('ERROR', process.stderr);
}

/** The client's argument that turns the freeze between invocations off (`FunctionOptions.freeze`). */
export const NO_FREEZE_ARGUMENT = '--no-freeze';

if (import.meta.main) {
  await runInterfaceClient(process.env, { freeze: !process.argv.includes(NO_FREEZE_ARGUMENT) });
}
