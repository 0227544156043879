import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  EnvironmentVariablesTooLargeError,
  type FunctionHost,
  type FunctionOptions,
  runtimeInterfaceClientPath,
  startFunction,
  startRuntimeApi,
} from '../src/index.ts';
import { goneWithin, isAlive, lambdaSandboxUser, startInProcessGroup } from '../src/testing.ts';

// Small handlers, one module each, in one bundle directory (the handler string picks the module).
const FIXTURES: Record<string, string> = {
  'echo.mjs': `
    import { writeFileSync } from 'node:fs';
    import { tmpdir } from 'node:os';
    import { join } from 'node:path';
    let count = 0;
    export const handler = async (event, context) => {
      count += 1;
      if (event.log) console.log('handling', event.log);
      const writes = {};
      if (event.tryWrites) {
        for (const [label, file] of [
          ['bundle', join(process.cwd(), 'probe.txt')],
          ['tmp', join(tmpdir(), 'probe.txt')],
          ['devNull', '/dev/null'],
        ]) {
          try { writeFileSync(file, 'x'); writes[label] = 'ok'; }
          catch (error) { writes[label] = error.code; }
        }
      }
      const { getRemainingTimeInMillis, ...fields } = context;
      return {
        count, pid: process.pid, uid: process.getuid?.(), event, writes, cwd: process.cwd(),
        context: { ...fields, remaining: getRemainingTimeInMillis() },
        traceEnv: process.env._X_AMZN_TRACE_ID,
        env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !['PATH', 'LANG'].includes(k))),
      };
    };`,
  'fail.mjs': `
    class ValidationError extends Error {
      constructor(message) { super(message); this.name = 'ValidationError'; }
    }
    export const handler = async (event) => { throw new ValidationError('jobId is required'); };`,
  'broken-init.mjs': `
    class ConfigError extends Error {
      constructor(message) { super(message); this.name = 'ConfigError'; }
    }
    throw new ConfigError('DATABASE_URL is not set');`,
  'missing-dependency.mjs': `import 'not-installed-anywhere'; export const handler = async () => 1;`,
  'syntax.mjs': `export const handler = async () => {;`,
  'slow-init.mjs': `await new Promise((resolve) => setTimeout(resolve, 30_000)); export const handler = async () => 1;`,
  'init-600ms.mjs': `
    await new Promise((resolve) => setTimeout(resolve, 600));
    export const handler = async (event) => {
      await new Promise((resolve) => setTimeout(resolve, event.ms ?? 0));
      return { pid: process.pid };
    };`,
  'no-handler.mjs': `export const other = async () => 1;`,
  'callback.mjs': `export const handler = (event, context, callback) => callback(null, 1);`,
  'slow.mjs': `
    let count = 0;
    export const handler = async (event) => {
      count += 1;
      if (event.hang) {
        console.log('hanging in', process.pid);
        await new Promise(() => setTimeout(() => {}, 60_000));
      }
      return { count, pid: process.pid };
    };`,
  'crash.mjs': `
    let count = 0;
    export const handler = async (event) => {
      count += 1;
      if (event.crash) {
        console.log('crashing on', event.crash);
        process.exit(3);
      }
      if (event.signal) process.kill(process.pid, event.signal);
      return { count, pid: process.pid };
    };`,
  'spawner.mjs': `
    import { spawn } from 'node:child_process';
    export const handler = async (event) => {
      if (event.crash) process.exit(4);
      const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
      return { sleeper: sleeper.pid };
    };`,
  'hog.mjs': `
    const held = [];
    export const handler = async (event) => {
      // Buffers live outside V8's heap: only the process's memory shows them, as Lambda's limit counts.
      for (let i = 0; i < event.mib; i++) held.push(Buffer.alloc(1024 * 1024, 1));
      await new Promise((resolve) => setTimeout(resolve, event.holdMs));
      return { mib: held.length, pid: process.pid };
    };`,
  'reject.mjs': `
    let count = 0;
    export const handler = async (event) => {
      count += 1;
      if (event.reject) {
        Promise.reject(new TypeError('nobody awaits me'));
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      return { count, pid: process.pid };
    };`,
  // Work left running after the response, a timer that polls for the file `go` names (which the test
  // makes once the sandbox is frozen, so the work is due then and not before): it logs (`leave`),
  // throws (`throwLater`) or writes the file `mark` names.
  'leftover.mjs': `
    import { existsSync, writeFileSync } from 'node:fs';
    import { tmpdir } from 'node:os';
    const ran = [];
    const onceGo = (go, work) => {
      const timer = setInterval(() => { if (existsSync(go)) { clearInterval(timer); work(); } }, 10);
    };
    export const handler = async (event) => {
      const before = [...ran];
      if (event.leave) onceGo(event.go, () => { ran.push(event.leave); console.log('leftover ran', event.leave); });
      if (event.throwLater) onceGo(event.go, () => { throw new RangeError('thrown after the response'); });
      if (event.mark) onceGo(event.go, () => writeFileSync(event.mark, ''));
      return { ran: before, pid: process.pid, tmp: tmpdir() };
    };`,
  'barrier.mjs': `
    export const handler = async (event) => {
      const res = await fetch(event.barrierUrl);
      return { together: (await res.json()).together, pid: process.pid };
    };`,
  'cjs-style.cjs': `exports.handler = async () => ({ format: 'cjs' });`,
  'twin.js': `exports.handler = async () => ({ format: 'js' });`,
  'twin.mjs': `export const handler = async () => ({ format: 'mjs' });`,
  'twin.cjs': `exports.handler = async () => ({ format: 'cjs' });`,
  'sleepy.mjs': `
    import { tmpdir } from 'node:os';
    export const handler = async (event) => {
      console.log('sandbox', process.pid, tmpdir());
      await new Promise((resolve) => setTimeout(resolve, event.ms));
      return { slept: event.ms };
    };`,
  // A host the way the local cloud is one: it stops on its own terms (here: never) at SIGINT.
  'host.mjs': `
    import { startFunction } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)};
    process.on('SIGINT', () => console.log('host got SIGINT'));
    // argv: the invocation's ms, 'idle' to stay after it, the handler, a file its leftover work may
    // write and the file whose presence lets that work go (leftover.mjs).
    const [ms, stay, handler = 'sleepy.handler', mark, go] = process.argv.slice(2);
    const fn = await startFunction({
      name: 'fixture', bundleDir: process.cwd(), handler, environment: {},
      onLog: (line) => console.log(line), readOnly: mark === undefined,
    });
    console.log('result', JSON.stringify(await fn.invoke({ ms: Number(ms), mark, go })));
    // 'idle': the host stays, its sandbox waiting (frozen) for the next invocation.
    if (stay === 'idle') setInterval(() => {}, 1000);
    else await fn.close();`,
};

let bundleDir: string;
const logs: { line: string; stream: string }[] = [];
let host: FunctionHost | undefined;

function start(options: Partial<FunctionOptions> & { handler: string }): Promise<FunctionHost> {
  return startFunction({
    name: 'fixture',
    bundleDir,
    environment: {},
    onLog: (line, stream) => logs.push({ line, stream }),
    ...options,
  }).then((started) => {
    host = started;
    return started;
  });
}

/**
 * The first log entry matching `match`, waited for: a sandbox's stdout and stderr reach the host
 * through pipes of their own, apart from its Runtime API calls, so a line logged before the response
 * may arrive after it (as CloudWatch Logs receives a function's lines apart from its result).
 */
async function logged(
  match: (line: string) => boolean,
  timeoutMs = 5_000,
): Promise<{ line: string; stream: string } | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = logs.find((entry) => match(entry.line));
    if (found || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Whether the sandbox `pid` is frozen (runtime-interface-client.ts, freezeUntilWoken), waited for: its
 * main thread blocked reading its wake descriptor, 3, once its request for the next event is on the
 * wire. Linux's /proc/<pid>/syscall names the system call a blocked thread is in, then its arguments.
 */
async function frozen(pid: number, timeoutMs = 5_000): Promise<boolean> {
  const read = { x64: '0', arm64: '63' }[process.arch as string];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [call, fd] = (await readFile(`/proc/${pid}/syscall`, 'utf8').catch(() => '')).split(' ');
    if ((call === read && fd === '0x3') || Date.now() > deadline) return call === read && fd === '0x3';
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A file of the bundle directory no test has used: leftover.mjs's `go` or `mark`. */
let files = 0;
const freshFile = (label: string) => join(bundleDir, `${label}-${++files}`);

/** `promise`, or a rejection naming `what` once `ms` pass: a queued invocation never served fails here. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

beforeAll(async () => {
  bundleDir = await mkdtemp(join(tmpdir(), 'lambda-runtime-fixtures-'));
  await Promise.all(
    Object.entries(FIXTURES).map(([file, source]) => writeFile(join(bundleDir, file), source)),
  );
});

afterEach(async () => {
  await host?.close();
  host = undefined;
  logs.length = 0;
});

afterAll(async () => {
  await rm(bundleDir, { recursive: true, force: true });
});

describe('startFunction', () => {
  it('runs the handler with a Lambda context and the reserved environment variables', async () => {
    const fn = await start({
      handler: 'echo.handler',
      memoryMb: 256,
      timeoutSeconds: 30,
      environment: { MAIL_QUEUE_URL: 'http://127.0.0.1/q', AWS_REGION: 'eu-west-1' },
    });
    const result = await fn.invoke({ jobId: 'j-1' });
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    const payload = result.payload as Record<string, Record<string, unknown>>;
    expect(payload.event).toEqual({ jobId: 'j-1' });
    expect(payload.cwd).toBe(bundleDir);
    expect(payload.context).toMatchObject({
      awsRequestId: result.requestId,
      functionName: 'fixture',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:000000000000:function:fixture',
      memoryLimitInMB: '256',
      logGroupName: '/aws/lambda/fixture',
      logStreamName: expect.stringMatching(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/),
      callbackWaitsForEmptyEventLoop: true,
    });
    // The 30 s less the invocation's way to the handler: 5 s of room for a slow machine.
    expect(payload.context?.remaining).toBeGreaterThan(25_000);
    expect(payload.context?.remaining).toBeLessThanOrEqual(30_000);
    expect(payload.traceEnv).toMatch(/^Root=1-/);
    expect(payload.env).toMatchObject({
      MAIL_QUEUE_URL: 'http://127.0.0.1/q',
      AWS_LAMBDA_FUNCTION_NAME: 'fixture',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_REGION: 'eu-west-1',
      AWS_DEFAULT_REGION: 'eu-west-1',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
      LAMBDA_TASK_ROOT: bundleDir,
      _HANDLER: 'echo.handler',
      TZ: ':UTC',
      AWS_LAMBDA_LOG_FORMAT: 'JSON',
      AWS_LAMBDA_RUNTIME_API: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      TMPDIR: expect.stringContaining('sidestep-lambda-fixture-'),
    });
    // Nothing leaks in from the host process (jest's own variables, for one).
    expect(payload.env?.NODE_OPTIONS).toBeUndefined();
    expect(payload.env?.JEST_WORKER_ID).toBeUndefined();
  });

  it('reuses a warm sandbox: module state survives across invocations', async () => {
    const fn = await start({ handler: 'echo.handler' });
    const results = [await fn.invoke({}), await fn.invoke({}), await fn.invoke({})];
    const payloads = results.map((result) =>
      result.ok ? (result.payload as { count: number; pid: number }) : null,
    );
    expect(payloads.map((payload) => payload?.count)).toEqual([1, 2, 3]);
    expect(new Set(payloads.map((payload) => payload?.pid)).size).toBe(1);
    expect(new Set(results.map((result) => result.requestId)).size).toBe(3);
  });

  // "Even for functions that are invoked continuously, Lambda terminates execution environments every
  // few hours" (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html).
  it('retires a sandbox past its age: the next invocation starts a new one, its module state fresh', async () => {
    const fn = await start({ handler: 'echo.handler', maxSandboxAgeMs: 300 });
    const first = await fn.invoke({});
    await new Promise((resolve) => setTimeout(resolve, 350));
    const second = await fn.invoke({});
    const payloads = [first, second].map((result) =>
      result.ok ? (result.payload as { count: number; pid: number }) : null,
    );
    expect(payloads.map((payload) => payload?.count)).toEqual([1, 1]);
    expect(payloads[0]?.pid).not.toBe(payloads[1]?.pid);
  });

  it('reports a thrown error with errorType = error.name', async () => {
    const fn = await start({ handler: 'fail.handler' });
    const result = await fn.invoke({});
    expect(result).toMatchObject({
      ok: false,
      error: { errorType: 'ValidationError', errorMessage: 'jobId is required' },
    });
    if (result.ok) return;
    expect(result.error.stackTrace?.[0]).toBe('ValidationError: jobId is required');
    // The runtime logs the failure as a structured line, like Lambda's "Invoke Error".
    const failure = await logged((line) => line.includes('Invoke Error'));
    expect(JSON.parse(failure?.line ?? '{}')).toMatchObject({
      level: 'ERROR',
      requestId: result.requestId,
      errorType: 'ValidationError',
    });
  });

  it('reports an init error on invoke, and keeps doing so with a fresh init each time', async () => {
    const fn = await start({ handler: 'broken-init.handler' });
    for (let attempt = 0; attempt < 2; attempt++) {
      await expect(fn.invoke({})).resolves.toMatchObject({
        ok: false,
        durationMs: 0,
        error: { errorType: 'ConfigError', errorMessage: 'DATABASE_URL is not set' },
      });
    }
  });

  it.each([
    ['missing-dependency.handler', 'Runtime.ImportModuleError', /not-installed-anywhere/],
    ['absent-module.handler', 'Runtime.ImportModuleError', /absent-module/],
    ['syntax.handler', 'Runtime.UserCodeSyntaxError', /SyntaxError/],
    ['no-handler.handler', 'Runtime.HandlerNotFound', /no-handler.handler is undefined or not exported/],
    ['nodot', 'Runtime.MalformedHandlerName', /Bad handler/],
    ['callback.handler', 'Runtime.CallbackHandlerDeprecated', /callback-based function handlers/],
  ])('fails init of %s with %s', async (handler, errorType, message) => {
    const fn = await start({ handler, prewarm: false });
    const result = await fn.invoke({});
    expect(result).toMatchObject({ ok: false, error: { errorType } });
    if (!result.ok) expect(result.error.errorMessage).toMatch(message);
  });

  /** A function whose init (`handler`'s module) passes its 0.3 s limit, with `options` of its own. */
  const slowInit = (handler: string, options: Partial<FunctionOptions>) =>
    start({ handler, initTimeoutSeconds: 0.3, prewarm: false, ...options });

  // "The Init phase is limited to 10 seconds. If all three tasks do not complete within 10 seconds,
  // Lambda retries the Init phase at the time of the first function invocation with the configured
  // function timeout" (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html).
  it('runs an init past its limit again at the invocation, bounded by the function timeout, and serves it', async () => {
    const fn = await slowInit('init-600ms.handler', { timeoutSeconds: 3 });
    const first = await fn.invoke({});
    expect(first).toMatchObject({ ok: true });
    // The same warm sandbox serves the next one, with no init.
    const second = await fn.invoke({});
    const pid = (result: typeof first) => (result.ok ? (result.payload as { pid: number }).pid : undefined);
    expect(pid(second)).toBe(pid(first));
  });

  // Lambda retries the init for each invocation that meets it; a retry queued behind a busy sandbox
  // was served by an ordinary one, whose init timed out again.
  it.each([
    [1, 2],
    [2, 3],
  ])(
    'runs the init again for every invocation queued behind it too (concurrency %i, %i at once)',
    async (concurrency, calls) => {
      const fn = await slowInit('init-600ms.handler', { timeoutSeconds: 3, concurrency });
      const results = await Promise.all(Array.from({ length: calls }, () => fn.invoke({})));
      expect(results.map((result) => result.ok)).toEqual(Array.from({ length: calls }, () => true));
    },
  );

  it('bounds the init run again at the invocation by the function timeout', async () => {
    const fn = await slowInit('slow-init.handler', { timeoutSeconds: 1 });
    await expect(fn.invoke({})).resolves.toMatchObject({
      ok: false,
      error: { errorType: 'Sandbox.Timedout', errorMessage: 'Init timed out after 1.00 seconds' },
    });
  });

  it('counts the init run again at the invocation in that invocation’s timeout, not in the next one’s', async () => {
    const fn = await slowInit('init-600ms.handler', { timeoutSeconds: 4 });
    // 0.6 s of init and 3.6 s of handler: past the function's 4 s, though the handler alone is not.
    const first = await fn.invoke({ ms: 3_600 });
    expect(first).toMatchObject({ ok: false, error: { errorType: 'Sandbox.Timedout' } });
    if (!first.ok) expect(first.error.errorMessage).toMatch(/Task timed out after 4\.00 seconds/);
    // A fresh sandbox (the timed-out one is discarded), whose init passes its limit again and runs
    // again within the invocation's 4 s, with room for the handler (and a slow start of its process).
    await expect(fn.invoke({ ms: 0 })).resolves.toMatchObject({ ok: true });
  });

  it('loads a .cjs module when no .js or .mjs exists, as Lambda does', async () => {
    const fn = await start({ handler: 'cjs-style.handler', prewarm: false });
    await expect(fn.invoke({})).resolves.toMatchObject({ ok: true, payload: { format: 'cjs' } });
  });

  // The official client's lookup order (as written, .js, .mjs, .cjs): _tryRequire in
  // https://github.com/aws/aws-lambda-nodejs-runtime-interface-client/blob/main/src/UserFunction.js
  it('loads the .js module of a bundle that also has .mjs and .cjs ones, as Lambda does', async () => {
    const fn = await start({ handler: 'twin.handler', prewarm: false });
    await expect(fn.invoke({})).resolves.toMatchObject({ ok: true, payload: { format: 'js' } });
  });

  it('times out as Sandbox.Timedout, then serves the next invocation from a fresh sandbox', async () => {
    const fn = await start({ handler: 'slow.handler', timeoutSeconds: 0.5 });
    const first = await fn.invoke({});
    const timedOut = await fn.invoke({ hang: true });
    const after = await fn.invoke({});
    expect(timedOut).toMatchObject({
      ok: false,
      error: {
        errorType: 'Sandbox.Timedout',
        errorMessage: expect.stringContaining('Task timed out after 0.50 seconds'),
      },
    });
    const firstPayload = first.ok ? (first.payload as { pid: number }) : undefined;
    expect(after).toMatchObject({ ok: true, payload: { count: 1 } });
    expect(after.ok && (after.payload as { pid: number }).pid).not.toBe(firstPayload?.pid);
    expect(isAlive(firstPayload!.pid)).toBe(false);
  });

  // Lambda words a runtime's exit as Go's os/exec does, under the invocation's request id:
  // "RequestId: <id> Error: Runtime exited with error: exit status 137", "... signal: killed"
  // (https://repost.aws/knowledge-center/lambda-runtime-error: "RequestId: 1234aa1b-... Error: Runtime
  // exited with error: exit status 129").
  it('reports a crash mid-invocation as Runtime.ExitError with its request id, then recovers', async () => {
    const fn = await start({ handler: 'crash.handler' });
    const crashed = await fn.invoke({ crash: true });
    expect(crashed).toMatchObject({
      ok: false,
      error: {
        errorType: 'Runtime.ExitError',
        errorMessage: `RequestId: ${crashed.requestId} Error: Runtime exited with error: exit status 3`,
      },
    });
    await expect(fn.invoke({})).resolves.toMatchObject({ ok: true, payload: { count: 1 } });
  });

  it.each([
    ['SIGSEGV', 'segmentation fault'],
    ['SIGABRT', 'aborted'],
    ['SIGTERM', 'terminated'],
  ])('names a runtime a %s ended as Lambda does, "signal: %s"', async (signal, words) => {
    const fn = await start({ handler: 'crash.handler' });
    const ended = await fn.invoke({ signal });
    expect(ended).toMatchObject({
      ok: false,
      error: {
        errorType: 'Runtime.ExitError',
        errorMessage: `RequestId: ${ended.requestId} Error: Runtime exited with error: signal: ${words}`,
      },
    });
  });

  it('does not run again an invocation its handler received and crashed on', async () => {
    const fn = await start({ handler: 'crash.handler' });
    await expect(fn.invoke({ crash: 'event-1' })).resolves.toMatchObject({
      ok: false,
      error: { errorType: 'Runtime.ExitError' },
    });
    expect(await logged((line) => line.includes('crashing on event-1'))).toBeDefined();
    // A second run would have logged before the result came back; its line may trail a little.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(logs.filter((entry) => entry.line.includes('crashing on event-1'))).toHaveLength(1);
  });

  // https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html: memory is the function's
  // limit; Lambda ends an environment that runs out of it ("Runtime exited with error: signal: killed").
  it("kills a sandbox whose memory passes the function's memory size, as Runtime.ExitError, then recovers", async () => {
    const fn = await start({ handler: 'hog.handler', memoryMb: 128, timeoutSeconds: 10 });
    await expect(fn.invoke({ mib: 16, holdMs: 400 })).resolves.toMatchObject({
      ok: true,
      payload: { mib: 16 },
    });
    // Held for many of the host's samples of its memory (every 100 ms): the kill ends the wait.
    const killed = await fn.invoke({ mib: 300, holdMs: 5_000 });
    expect(killed).toMatchObject({
      ok: false,
      error: {
        errorType: 'Runtime.ExitError',
        errorMessage: `RequestId: ${killed.requestId} Error: Runtime exited with error: signal: killed`,
      },
    });
    await expect(fn.invoke({ mib: 1, holdMs: 0 })).resolves.toMatchObject({ ok: true, payload: { mib: 1 } });
  });

  // An execution environment ends whole: what the function spawned does not outlive its runtime.
  it('ends what a function spawned when its runtime exits, and when the sandbox is stopped', async () => {
    const fn = await start({ handler: 'spawner.handler' });
    const first = await fn.invoke({});
    const crashed = await fn.invoke({ crash: true });
    expect(crashed).toMatchObject({ ok: false, error: { errorType: 'Runtime.ExitError' } });
    const second = await fn.invoke({});
    await fn.close();
    for (const result of [first, second]) {
      const { sleeper } = (result as { ok: true; payload: { sleeper: number } }).payload;
      expect(await goneWithin(sleeper, 2_000)).toBe(true);
    }
  });

  it('reports an unhandled rejection, then runs the next invocation on a fresh sandbox', async () => {
    const fn = await start({ handler: 'reject.handler' });
    const warm = await fn.invoke({});
    await expect(fn.invoke({ reject: true })).resolves.toMatchObject({
      ok: false,
      error: { errorType: 'Runtime.UnhandledPromiseRejection', errorMessage: 'TypeError: nobody awaits me' },
    });
    // The runtime exits right after reporting; the next event must not be lost to the dying sandbox.
    const next = await fn.invoke({});
    expect(next).toMatchObject({ ok: true, payload: { count: 1 } });
    expect(next.ok && (next.payload as { pid: number }).pid).not.toBe(
      warm.ok && (warm.payload as { pid: number }).pid,
    );
  });

  // https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-invoke:
  // the environment is frozen once the runtime asks for the next event; background work resumes when
  // it is thawed by the next invocation.
  describe('the freeze between invocations', () => {
    it('holds work a handler left running until the next invocation thaws the sandbox', async () => {
      const fn = await start({ handler: 'leftover.handler' });
      const go = freshFile('go');
      const left = await fn.invoke({ leave: 'first', go });
      expect(left).toMatchObject({ ok: true, payload: { ran: [] } });
      // Due once the sandbox is frozen, and given time to run.
      expect(await frozen((left as { payload: { pid: number } }).payload.pid)).toBe(true);
      await writeFile(go, '');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(logs.some(({ line }) => line.includes('leftover ran'))).toBe(false);
      // Thawed by the next invocation: the timer, long due, runs as the sandbox wakes, in the same one.
      const first = (await fn.invoke({})) as { ok: boolean; payload: { ran: string[]; pid: number } };
      expect(first).toMatchObject({ ok: true, payload: { ran: ['first'] } });
      expect(logs.filter(({ line }) => line.includes('leftover ran'))).toHaveLength(1);
    });

    it('fails the next invocation with an error that work left running throws, as Lambda does', async () => {
      const fn = await start({ handler: 'leftover.handler' });
      const go = freshFile('go');
      const left = await fn.invoke({ throwLater: true, go });
      expect(left).toMatchObject({ ok: true });
      expect(await frozen((left as { payload: { pid: number } }).payload.pid)).toBe(true);
      await writeFile(go, '');
      await new Promise((resolve) => setTimeout(resolve, 300));
      // The thawed timer throws as the sandbox wakes for it: the runtime exits under that invocation.
      const thrown = await fn.invoke({});
      expect(thrown).toMatchObject({
        ok: false,
        error: {
          errorType: 'Runtime.ExitError',
          errorMessage: `RequestId: ${thrown.requestId} Error: Runtime exited with error: exit status 129`,
        },
      });
      expect(logs.some(({ line }) => line.includes('thrown after the response'))).toBe(true);
      // That sandbox is gone; the next invocation gets a fresh one.
      await expect(fn.invoke({})).resolves.toMatchObject({ ok: true, payload: { ran: [] } });
    });

    it('lets that work go on while the sandbox is idle when asked not to freeze (a debugger)', async () => {
      const fn = await start({ handler: 'leftover.handler', freeze: false });
      const go = freshFile('go');
      await expect(fn.invoke({ leave: 'first', go })).resolves.toMatchObject({
        ok: true,
        payload: { ran: [] },
      });
      await writeFile(go, '');
      expect(await logged((line) => line.includes('leftover ran'))).toBeDefined();
      await expect(fn.invoke({})).resolves.toMatchObject({ ok: true, payload: { ran: ['first'] } });
    });
  });

  describe('concurrency', () => {
    // A barrier on loopback: each invocation's request is held until two have arrived (or 3 s pass).
    let barrier: Server;
    let barrierUrl: string;
    const held: ServerResponse[] = [];
    const timers: NodeJS.Timeout[] = [];
    beforeAll(async () => {
      barrier = createServer((_req, res) => {
        held.push(res);
        if (held.length === 2) for (const r of held.splice(0)) r.end(JSON.stringify({ together: true }));
        else
          timers.push(
            setTimeout(() => held.includes(res) && res.end(JSON.stringify({ together: false })), 3000),
          );
      });
      await new Promise<void>((resolve) => barrier.listen(0, '127.0.0.1', resolve));
      barrierUrl = `http://127.0.0.1:${(barrier.address() as AddressInfo).port}/`;
    });
    afterEach(() => {
      held.length = 0;
      for (const timer of timers.splice(0)) clearTimeout(timer);
    });
    afterAll(async () => {
      barrier.closeAllConnections();
      await new Promise((resolve) => barrier.close(resolve));
    });

    it('runs two invocations in parallel on two sandboxes with concurrency 2', async () => {
      const fn = await start({ handler: 'barrier.handler', concurrency: 2, timeoutSeconds: 10 });
      const results = await Promise.all([fn.invoke({ barrierUrl }), fn.invoke({ barrierUrl })]);
      const payloads = results.map((result) =>
        result.ok ? (result.payload as { together: boolean; pid: number }) : null,
      );
      expect(payloads.map((payload) => payload?.together)).toEqual([true, true]);
      expect(payloads[0]?.pid).not.toBe(payloads[1]?.pid);
    });

    it('never runs more sandboxes than the concurrency, counting those still starting', async () => {
      const fn = await start({ handler: 'echo.handler', concurrency: 2 });
      const results = await Promise.all(Array.from({ length: 5 }, () => fn.invoke({})));
      const pids = results.map((result) => (result.ok ? (result.payload as { pid: number }).pid : 0));
      expect(pids).not.toContain(0);
      expect(new Set(pids).size).toBeLessThanOrEqual(2);
    });

    it('serves an invocation queued behind one that timed out on a fresh sandbox, the timed-out one killed', async () => {
      const fn = await start({ handler: 'slow.handler', concurrency: 1, timeoutSeconds: 0.5 });
      const [timedOut, queued] = await within(
        Promise.all([fn.invoke({ hang: true }), fn.invoke({})]),
        5_000,
        'the queued invocation',
      );
      expect(timedOut).toMatchObject({ ok: false, error: { errorType: 'Sandbox.Timedout' } });
      const hung = Number(
        (await logged((line) => line.includes('hanging in')))?.line.match(/hanging in (\d+)/)?.[1],
      );
      expect(hung).toBeGreaterThan(0);
      expect(queued).toMatchObject({ ok: true, payload: { count: 1 } });
      expect(queued.ok && (queued.payload as { pid: number }).pid).not.toBe(hung);
      expect(isAlive(hung)).toBe(false);
    });

    it('queues invocations beyond the concurrency and runs them one after another, warm', async () => {
      const fn = await start({ handler: 'echo.handler', concurrency: 1 });
      const results = await Promise.all([fn.invoke({}), fn.invoke({}), fn.invoke({})]);
      const payloads = results.map((result) =>
        result.ok ? (result.payload as { count: number; pid: number }) : null,
      );
      expect(payloads.map((payload) => payload?.count).sort()).toEqual([1, 2, 3]);
      expect(new Set(payloads.map((payload) => payload?.pid)).size).toBe(1);
    });
  });

  // Lambda's file system is read-only but /tmp; its devices (/dev/null, /dev/stdout, ...) are not
  // files of it (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html).
  it('makes only the temp directory writable, like Lambda, and its devices', async () => {
    const fn = await start({ handler: 'echo.handler' });
    const result = await fn.invoke({ tryWrites: true });
    expect(result).toMatchObject({
      ok: true,
      payload: { writes: { bundle: 'ERR_ACCESS_DENIED', tmp: 'ok', devNull: 'ok' } },
    });
  });

  it('runs a sandbox as another user, as Lambda runs a function as its sandbox user, the task root held read-only by its permissions', async () => {
    if (process.getuid?.() !== 0) {
      // Only root can start a process as another user.
      await expect(
        start({ handler: 'echo.handler', user: { uid: 65534, gid: 65534 } }),
      ).rejects.toMatchObject({
        name: 'InvalidFunctionOptionError',
        field: 'user',
      });
      return;
    }
    // Root, unless nobody cannot start this Node from where the checkout lies (under /root, say).
    const nobody = lambdaSandboxUser();
    if (nobody === undefined) return;
    await chmod(bundleDir, 0o755);
    // In place, and from a private copy (made its owner's only by mkdtemp, opened to the user).
    for (const isolate of [false, true]) {
      const fn = await start({ handler: 'echo.handler', user: nobody, isolate });
      const result = await fn.invoke({ tryWrites: true });
      // EACCES where Lambda says EROFS: the task root is not the sandbox user's to write.
      expect(result).toMatchObject({
        ok: true,
        payload: { uid: 65534, writes: { bundle: 'EACCES', tmp: 'ok', devNull: 'ok' } },
      });
      await fn.close();
    }
  });

  it('writes console output as Lambda JSON log lines carrying the request id', async () => {
    const fn = await start({ handler: 'echo.handler' });
    const result = await fn.invoke({ log: 'job j-9' });
    const line = await logged((text) => text.includes('handling'));
    expect(line?.stream).toBe('stdout');
    expect(JSON.parse(line?.line ?? '{}')).toEqual({
      timestamp: expect.any(String),
      level: 'INFO',
      requestId: result.requestId,
      message: 'handling job j-9',
    });
  });

  describe('in a host started from a terminal', () => {
    /** host.mjs in a process group of its own, and its sandbox's pid. */
    async function startHost(handlerMs: number, ...rest: string[]) {
      const host = startInProcessGroup(['host.mjs', String(handlerMs), ...rest], bundleDir);
      const [, pid, sandboxTmp] = await host.lineOf(/sandbox (\d+) ([^\s"]+)/);
      return { ...host, sandboxPid: Number(pid), sandboxTmp: sandboxTmp as string };
    }

    /** SIGKILLs the host's process group; whether its sandbox and the sandbox's temp directory went. */
    async function killHost(host: Awaited<ReturnType<typeof startHost>>) {
      process.kill(-host.group, 'SIGKILL');
      await host.exited;
      return { sandboxGone: await goneWithin(host.sandboxPid, 3_000), tmpLeft: existsSync(host.sandboxTmp) };
    }

    it("keeps the terminal's Ctrl-C (SIGINT to the host's process group) from the sandboxes: only the host stops them", async () => {
      const host = await startHost(800);
      process.kill(-host.group, 'SIGINT');
      await host.lineOf(/host got SIGINT/);
      const result = JSON.parse((await host.lineOf(/result (.*)/))[1] as string);
      expect(result).toMatchObject({ ok: true, payload: { slept: 800 } });
      await host.exited;
    });

    it('leaves no sandbox behind when the host is killed with SIGKILL mid-invocation, nor its temp directory', async () => {
      const host = await startHost(30_000);
      expect(isAlive(host.sandboxPid)).toBe(true);
      expect(existsSync(host.sandboxTmp)).toBe(true);
      const { sandboxGone, tmpLeft } = await killHost(host);
      expect(sandboxGone).toBe(true);
      expect(tmpLeft).toBe(false);
    });

    it('leaves no sandbox behind when the host is killed with SIGKILL while the sandbox is frozen, nor its temp directory', async () => {
      const host = await startHost(0, 'idle');
      await host.lineOf(/result /);
      expect(isAlive(host.sandboxPid)).toBe(true);
      const { sandboxGone, tmpLeft } = await killHost(host);
      expect(sandboxGone).toBe(true);
      expect(tmpLeft).toBe(false);
    });

    it('runs nothing a frozen sandbox left running when its host is killed with SIGKILL', async () => {
      const [mark, go] = [freshFile('leftover-ran'), freshFile('go')];
      const host = startInProcessGroup(['host.mjs', '0', 'idle', 'leftover.handler', mark, go], bundleDir);
      const { payload } = JSON.parse((await host.lineOf(/result (.*)/))[1] as string);
      // Due once the sandbox is frozen: it waits for a thaw that must not come.
      const wasFrozen = await frozen(payload.pid);
      await writeFile(go, '');
      await new Promise((resolve) => setTimeout(resolve, 200));
      process.kill(-host.group, 'SIGKILL');
      await host.exited;
      expect(wasFrozen).toBe(true);
      expect(await goneWithin(payload.pid, 3_000)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(existsSync(mark)).toBe(false);
      expect(existsSync(payload.tmp)).toBe(false);
    });
  });

  it('kills every sandbox on close', async () => {
    const fn = await start({ handler: 'echo.handler', concurrency: 2 });
    const results = await Promise.all([fn.invoke({}), fn.invoke({})]);
    const pids = results.map((result) => (result.ok ? (result.payload as { pid: number }).pid : 0));
    expect(pids.every(isAlive)).toBe(true);
    await fn.close();
    expect(pids.some(isAlive)).toBe(false);
    await expect(fn.invoke({})).rejects.toMatchObject({ name: 'RuntimeApiClosedError' });
  });

  it('isolates the bundle from the node_modules around it when asked, as in the image', async () => {
    // <root>/node_modules/outside-dep next to <root>/dist: resolvable in place, absent in the image.
    const root = join(bundleDir, 'isolation');
    await mkdir(join(root, 'node_modules/outside-dep'), { recursive: true });
    await mkdir(join(root, 'dist'), { recursive: true });
    await writeFile(
      join(root, 'node_modules/outside-dep/package.json'),
      '{"name":"outside-dep","main":"index.js"}',
    );
    await writeFile(join(root, 'node_modules/outside-dep/index.js'), 'exports.found = true;');
    await writeFile(
      join(root, 'dist/index.mjs'),
      `export const handler = async () => ({ found: (await import('outside-dep')).default.found, cwd: process.cwd() });`,
    );
    const inPlace = await start({ handler: 'index.handler', bundleDir: join(root, 'dist') });
    await expect(inPlace.invoke({})).resolves.toMatchObject({ ok: true, payload: { found: true } });
    await inPlace.close();

    const isolated = await start({ handler: 'index.handler', bundleDir: join(root, 'dist'), isolate: true });
    const result = await isolated.invoke({});
    expect(result).toMatchObject({
      ok: false,
      error: { errorMessage: expect.stringContaining("Cannot find package 'outside-dep'") },
    });
    await isolated.close();
  });

  it('rejects reserved environment variables and invalid options, naming the field', async () => {
    await expect(start({ handler: 'echo.handler', environment: { _HANDLER: 'x.y' } })).rejects.toMatchObject({
      name: 'ReservedEnvironmentVariableError',
      variable: '_HANDLER',
    });
    await expect(
      start({ handler: 'echo.handler', bundleDir: join(bundleDir, 'nope') }),
    ).rejects.toMatchObject({
      name: 'InvalidFunctionOptionError',
      field: 'bundleDir',
    });
    await expect(start({ handler: 'echo.handler', concurrency: 0 })).rejects.toMatchObject({
      field: 'concurrency',
    });
  });

  it('refuses environment variables over Lambda’s 4 KB as Lambda does, not counting the stand-ins for what Lambda sets', async () => {
    // The variables as Lambda measures them, `{"A":"<value>"}`, 4096 bytes with a value this long.
    const fits = 'x'.repeat(4096 - '{"A":""}'.length);
    // Region and credentials are set by Lambda itself on AWS: locally the host's stand-ins, not counted.
    const standIns = { AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'role', AWS_SECRET_ACCESS_KEY: 'local' };
    const fn = await start({ handler: 'echo.handler', environment: { A: fits, ...standIns } });
    expect((await fn.invoke({})).ok).toBe(true);
    await fn.close();

    const refused = start({ handler: 'echo.handler', environment: { A: `${fits}x` }, prewarm: false });
    await expect(refused).rejects.toMatchObject({
      name: 'InvalidParameterValueException',
      field: 'environment',
      functionName: 'fixture',
      bytes: 4097,
      message: `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {"A":"${fits}x"}`,
    });
    await expect(refused).rejects.toBeInstanceOf(EnvironmentVariablesTooLargeError);
  });
});

describe('runtime-interface-client', () => {
  it('speaks to the Runtime API named by AWS_LAMBDA_RUNTIME_API', async () => {
    const api = await startRuntimeApi({ functionName: 'direct' });
    const child = spawn(process.execPath, [runtimeInterfaceClientPath], {
      cwd: bundleDir,
      env: {
        AWS_LAMBDA_RUNTIME_API: api.address,
        _HANDLER: 'echo.handler',
        LAMBDA_TASK_ROOT: bundleDir,
        AWS_LAMBDA_FUNCTION_NAME: 'direct',
      },
      stdio: 'ignore',
    });
    try {
      const result = await api.invoke({ via: 'env' }, { timeoutMs: 10_000 });
      expect(result).toMatchObject({
        ok: true,
        payload: { event: { via: 'env' }, context: { functionName: 'direct' } },
      });
    } finally {
      child.kill('SIGKILL');
      await api.close();
    }
  });

  it('exits naming AWS_LAMBDA_RUNTIME_API when it is missing', async () => {
    const child = spawn(process.execPath, [runtimeInterfaceClientPath], {
      env: {},
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).not.toBe(0);
    expect(stderr).toContain('AWS_LAMBDA_RUNTIME_API');
  });
});
