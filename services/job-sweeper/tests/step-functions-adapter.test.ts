import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { StepFunctionsWorkflowExecutions, stepFunctionsClient } from '../src/adapters/step-functions.ts';

// A Step Functions that takes the connection and never answers, as a network without a route to it
// can look: the sweep's calls must fail within their bounds, not hang until the function's timeout.
let silent: Server;
let endpoint: string;
beforeAll(async () => {
  silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
});
afterAll(async () => {
  silent.closeAllConnections();
  await new Promise((resolve) => silent.close(resolve));
});

describe('StepFunctionsWorkflowExecutions', () => {
  it('fails a listing Step Functions does not answer within the request timeout, naming the call', async () => {
    const sfn = stepFunctionsClient(
      { connectMs: 200, requestMs: 300 },
      {
        endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 't', secretAccessKey: 't' },
        maxAttempts: 1,
      },
    );
    const executions = new StepFunctionsWorkflowExecutions(sfn);
    const started = performance.now();
    const listing = (async () => {
      for await (const _ of executions.ended(
        'arn:aws:states:us-east-1:000000000000:stateMachine:m',
        'FAILED',
        new Date(0),
      )) {
        // nothing is listed
      }
    })();
    await expect(listing).rejects.toMatchObject({
      name: 'WorkflowExecutionsUnavailableError',
      message: expect.stringMatching(
        /^Step Functions ListExecutions of arn:aws:states:.*:stateMachine:m failed: /,
      ),
    });
    expect(performance.now() - started).toBeLessThan(5_000);
    sfn.destroy();
  });
});
