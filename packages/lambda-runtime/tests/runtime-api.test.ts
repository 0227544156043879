import { afterEach, describe, expect, it } from '@jest/globals';
import { type RuntimeApi, startRuntimeApi } from '../src/index.ts';

// A fake runtime: the test plays the runtime side of the contract with plain HTTP requests.
let api: RuntimeApi;
const url = (path: string) => `http://${api.address}/2018-06-01/runtime${path}`;
const next = () => fetch(url('/invocation/next'));
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url(path), { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers });

afterEach(async () => {
  await api.close();
});

describe('startRuntimeApi', () => {
  it('holds next open until an invocation is queued, then delivers it with the Lambda headers', async () => {
    api = await startRuntimeApi({ functionName: 'fn' });
    let answered = false;
    const pending = next().then((res) => {
      answered = true;
      return res;
    });
    await api.ready;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(answered).toBe(false);

    const before = Date.now();
    const result = api.invoke(
      { jobId: 'j-1' },
      { timeoutMs: 5000, requestId: 'req-1', traceId: 'Root=1-a-b' },
    );
    const res = await pending;
    expect(await res.json()).toEqual({ jobId: 'j-1' });
    expect(res.headers.get('lambda-runtime-aws-request-id')).toBe('req-1');
    expect(res.headers.get('lambda-runtime-trace-id')).toBe('Root=1-a-b');
    expect(res.headers.get('lambda-runtime-invoked-function-arn')).toBe(
      'arn:aws:lambda:us-east-1:000000000000:function:fn',
    );
    const deadline = Number(res.headers.get('lambda-runtime-deadline-ms'));
    expect(deadline).toBeGreaterThanOrEqual(before + 5000);
    expect(deadline).toBeLessThan(before + 6000);

    expect((await post('/invocation/req-1/response', { done: true })).status).toBe(202);
    await expect(result).resolves.toMatchObject({ requestId: 'req-1', ok: true, payload: { done: true } });
  });

  it('generates a request id and an X-Ray trace header when none is given', async () => {
    api = await startRuntimeApi();
    const result = api.invoke({});
    const res = await next();
    const requestId = res.headers.get('lambda-runtime-aws-request-id')!;
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('lambda-runtime-trace-id')).toMatch(
      /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/,
    );
    await post(`/invocation/${requestId}/response`, 'null');
    await expect(result).resolves.toMatchObject({ requestId, ok: true, payload: null });
  });

  it('maps a posted error, accepting the trace field of the Node.js client', async () => {
    api = await startRuntimeApi();
    const result = api.invoke({}, { requestId: 'r' });
    await next();
    const status = (
      await post(
        '/invocation/r/error',
        {
          errorType: 'ValidationError',
          errorMessage: 'jobId is required',
          trace: ['ValidationError: x', '  at y'],
        },
        { 'Lambda-Runtime-Function-Error-Type': 'ValidationError' },
      )
    ).status;
    expect(status).toBe(202);
    await expect(result).resolves.toEqual({
      requestId: 'r',
      durationMs: expect.any(Number),
      ok: false,
      error: {
        errorType: 'ValidationError',
        errorMessage: 'jobId is required',
        stackTrace: ['ValidationError: x', '  at y'],
      },
    });
  });

  it('delivers one invocation at a time', async () => {
    api = await startRuntimeApi();
    const first = api.invoke(1, { requestId: 'one' });
    const second = api.invoke(2, { requestId: 'two' });
    expect(await (await next()).json()).toBe(1);
    let secondDelivered = false;
    const secondNext = next().then(async (res) => {
      secondDelivered = true;
      return res.json();
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(secondDelivered).toBe(false);
    await post('/invocation/one/response', '"a"');
    expect(await secondNext).toBe(2);
    await post('/invocation/two/response', '"b"');
    expect(await first).toMatchObject({ ok: true, payload: 'a' });
    expect(await second).toMatchObject({ ok: true, payload: 'b' });
  });

  it('times an invocation out as Sandbox.Timedout and refuses its late response', async () => {
    api = await startRuntimeApi();
    const result = api.invoke({}, { timeoutMs: 100, requestId: 'slow' });
    await next();
    await expect(result).resolves.toMatchObject({
      ok: false,
      error: {
        errorType: 'Sandbox.Timedout',
        errorMessage: 'RequestId: slow Error: Task timed out after 0.10 seconds',
      },
    });
    expect((await post('/invocation/slow/response', {})).status).toBe(400);
  });

  it('reports an init error to initError and to every invocation', async () => {
    api = await startRuntimeApi();
    const queued = api.invoke({});
    const body = { errorType: 'Runtime.ImportModuleError', errorMessage: 'Cannot find module', trace: [] };
    expect((await post('/init/error', body)).status).toBe(202);
    const expected = {
      errorType: 'Runtime.ImportModuleError',
      errorMessage: 'Cannot find module',
      stackTrace: [],
    };
    await expect(api.initError).resolves.toEqual(expected);
    await expect(queued).resolves.toMatchObject({ ok: false, durationMs: 0, error: expected });
    await expect(api.invoke({})).resolves.toMatchObject({ ok: false, error: expected });
  });

  it('rejects init/error once init is over', async () => {
    api = await startRuntimeApi();
    const pending = next();
    await api.ready;
    expect((await post('/init/error', { errorType: 'X', errorMessage: 'late' })).status).toBe(403);
    void api.invoke({});
    await pending;
  });

  it('refuses a response over 6 MB with 413 and Function.ResponseSizeTooLarge', async () => {
    api = await startRuntimeApi();
    const result = api.invoke({}, { requestId: 'big' });
    await next();
    expect((await post('/invocation/big/response', JSON.stringify('x'.repeat(6 * 1024 * 1024)))).status).toBe(
      413,
    );
    await expect(result).resolves.toMatchObject({
      ok: false,
      error: { errorType: 'Function.ResponseSizeTooLarge' },
    });
  });

  it('settles the invocation in flight and queued ones on abort', async () => {
    api = await startRuntimeApi();
    const first = api.invoke({});
    const second = api.invoke({});
    await next();
    api.abort({ errorType: 'Runtime.ExitError', errorMessage: 'Runtime exited with error: exit status 1' });
    for (const result of [first, second, api.invoke({})]) {
      await expect(result).resolves.toMatchObject({ ok: false, error: { errorType: 'Runtime.ExitError' } });
    }
  });

  it('rejects an event that is not JSON-serialisable', async () => {
    api = await startRuntimeApi();
    await expect(api.invoke({ id: 1n })).rejects.toThrow(TypeError);
  });

  it('answers 404 for a route outside the contract and rejects invokes after close', async () => {
    api = await startRuntimeApi();
    expect((await fetch(url('/nope'))).status).toBe(404);
    const pending = api.invoke({});
    await api.close();
    await expect(pending).resolves.toMatchObject({ ok: false, error: { errorType: 'Sandbox.Closed' } });
    await expect(api.invoke({})).rejects.toMatchObject({ name: 'RuntimeApiClosedError' });
  });
});
