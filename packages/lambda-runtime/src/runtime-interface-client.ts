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
import { readSync, statSync } from 'node:fs';
import { Agent, type IncomingHttpHeaders, request } from 'node:http';
import { createRequire } from 'node:module';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { format } from 'node:util';

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
 * @param options `freezeFd`: the descriptor the host wakes a frozen client on ({@link freezeUntilWoken}).
 */
export async function runInterfaceClient(
  env: NodeJS.ProcessEnv = process.env,
  options: { freezeFd?: number } = {},
): Promise<never> {
  const address = env.AWS_LAMBDA_RUNTIME_API;
  if (!address) throw new RuntimeConfigurationError('AWS_LAMBDA_RUNTIME_API', 'is not set');
  const client = new RuntimeApiClient(address, options.freezeFd);
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
    const invocation = await client.next();
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

/**
 * The freeze between invocations. Lambda freezes an execution environment once its runtime asks for
 * the next event, and thaws it when one comes: a timer, an unawaited call or a retry loop a handler
 * left running stops until the next invocation (and never runs if the environment is shut down); a
 * timer that came due meanwhile fires as soon as it thaws, and an error it throws then fails that
 * next invocation ("the execution environment is frozen ... background processes or callbacks ...
 * resume when the execution environment is thawed",
 * https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-invoke).
 *
 * Locally the host hands the client a socket pair (its descriptor 3) and writes one byte to it for
 * each event it delivers; once its request for the next event is on the wire, the client reads that
 * byte synchronously, which blocks the thread where the handler and everything it started run: no
 * JavaScript, timer or I/O
 * callback runs until the event has come. Only that thread: worker threads and processes the handler
 * started go on, where Lambda freezes the whole environment. When the host goes, the read ends (end of
 * file) and the sandbox ends at once, its process group with it, before anything left running gets
 * to run. Stopping the process instead (SIGSTOP) would leave a sandbox, which leads a process group of
 * its own, stopped for good when its host is SIGKILLed: nothing would run its watch.
 */
function freezeUntilWoken(fd: number): void {
  if (readSync(fd, WAKE_BYTE, 0, 1, null) > 0) return;
  // The end the sandbox's watch of its host gives it (sandbox.ts, exitWithParentFlags: its temp
  // directory removed, its process group SIGKILLed); without one, the process alone.
  const parentGone = (globalThis as Record<symbol, unknown>)[Symbol.for('sidestep.parentGone')];
  if (typeof parentGone === 'function') parentGone();
  process.kill(process.pid, 'SIGKILL');
}
const WAKE_BYTE = Buffer.alloc(1);

/** HTTP client of the Runtime API. node:http, not fetch: `next` is a long poll with no time limit. */
class RuntimeApiClient {
  readonly #hostname: string;
  readonly #port: number;
  readonly #agent = new Agent({ keepAlive: true });
  readonly #freezeFd: number | undefined;

  constructor(address: string, freezeFd?: number) {
    const url = new URL(`http://${address}`);
    this.#hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.#port = Number(url.port || 80);
    this.#freezeFd = freezeFd;
  }

  next(): Promise<{ headers: IncomingHttpHeaders; body: string }> {
    const fd = this.#freezeFd;
    // A request that failed before it was sent is not waited on: no event will come for it.
    const sent = fd === undefined ? undefined : (error?: Error | null) => error || freezeUntilWoken(fd);
    return this.#send('GET', '/invocation/next', undefined, {}, sent).then(({ status, headers, body }) => {
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

  /** `sent`: called once the request is on the wire (handed to the socket), before its answer. */
  #send(
    method: string,
    path: string,
    body?: string,
    headers: Record<string, string> = {},
    sent?: (error?: Error | null) => void,
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
      req.end(body, sent);
    });
  }
}

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

/** The client's argument naming the descriptor the host wakes it on (`--freeze-fd=3`). */
export const FREEZE_FD_ARGUMENT = '--freeze-fd=';

if (import.meta.main) {
  const freezeFd = process.argv.find((argument) => argument.startsWith(FREEZE_FD_ARGUMENT));
  await runInterfaceClient(process.env, {
    ...(freezeFd ? { freezeFd: Number(freezeFd.slice(FREEZE_FD_ARGUMENT.length)) } : {}),
  });
}
