import { describe, expect, it } from '@jest/globals';
import { LambdaLedger } from '../src/index.ts';
import { loopbackLambda } from './loopback-lambda.ts';

// A file of its own: aws-sdk-client-mock's mockClient(LambdaClient), which the other ledger tests
// use, stubs every LambdaClient's send, and this test needs the SDK's own.
const FUNCTION_NAME = 'sidestep-staging-ops-ledger';
const OPERATOR = 'arn:aws:sts::123456789012:assumed-role/operator/alice';

// The SDK sends a request again when its answer is lost (a socket-level failure: "connect timeouts,
// read timeouts, or server-closed connections", standard retry mode, three attempts:
// https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html), so the function
// may run one call twice. A real LambdaClient on a loopback endpoint that resets the connection of
// every call's first attempt, after reading it.
describe('LambdaLedger, an answer lost and the Invoke sent again by the SDK', () => {
  it("carries one request id per call, the same in the SDK's retry, in a release and an audit append", async () => {
    const bodies: Record<string, unknown>[] = [];
    const { lambda, close } = await loopbackLambda((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        bodies.push(JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>);
        if (bodies.length % 2 === 1) return request.socket.destroy(); // the answer lost
        const result =
          bodies.at(-1)?.op === 'mail.release'
            ? { idempotencyKey: 'k', recordId: 'p#h', released: 'deleted INPROGRESS record' }
            : null;
        response
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ ok: true, result }));
      });
    });
    try {
      const ledger = new LambdaLedger(lambda, FUNCTION_NAME);
      await ledger.releaseMail('k');
      await ledger.releaseMail('k');
      await ledger.appendAudit({
        operator: OPERATOR,
        environment: 'staging',
        action: 'mail-release',
        target: 'k',
        details: {},
        result: 'ok',
        error: null,
      });
    } finally {
      close();
    }
    const ids = bodies.map(
      (body) =>
        body.requestId ??
        (body.entry as { details: { auditRequestId?: unknown } } | undefined)?.details.auditRequestId,
    );
    expect(bodies.map((body) => body.op)).toEqual([
      'mail.release',
      'mail.release',
      'mail.release',
      'mail.release',
      'audit.append',
      'audit.append',
    ]);
    expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids).toEqual([ids[0], ids[0], ids[2], ids[2], ids[4], ids[4]]);
    expect(new Set(ids).size).toBe(3);
  });
});
