import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createOpsContext, LedgerInvokeError, type OpsContext } from '@sidestep/ops';
import { mockClient } from 'aws-sdk-client-mock';
import { type RunningConsole, startConsole } from '../src/index.ts';
import { type ConsoleFetch, formFields, signIn } from '../src/testing.ts';
import { stubQueues } from './stub-queues.ts';

// The console's view of failed asynchronous invocations, on a local context whose SQS is stubbed with
// one invocation record as Lambda sends it
// (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
const RECORD = JSON.stringify({
  version: '1.0',
  timestamp: '2026-12-05T01:00:00.000Z',
  requestContext: {
    requestId: 'req-1',
    functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:sidestep-local-job-sweeper:$LATEST',
    condition: 'RetriesExhausted',
    approximateInvokeCount: 3,
  },
  requestPayload: { source: 'aws.states', 'detail-type': 'Step Functions Execution Status Change' },
  responsePayload: { errorType: 'JobLedgerUnavailableError', errorMessage: 'the jobs ledger did not answer' },
});
let context: OpsContext;
let running: RunningConsole;
/** The operator, signed in as by opening the console's URL. */
let get: ConsoleFetch;
/** The receipt handles the console deleted, and the Lambda Invoke inputs it sent. */
let deleted: readonly string[];
const invoked: Record<string, unknown>[] = [];

beforeAll(async () => {
  // The audit trail is unreadable (none re-invoked before) and unwritable (a warning).
  context = {
    ...createOpsContext({ environment: 'local', env: { USER: 'tester' }, warn: () => {} }),
    ledger: () => Promise.reject(new LedgerInvokeError('ops-ledger: no answer')),
  };
  ({ deleted } = stubQueues(context, { body: RECORD }));
  mockClient(context.clients.lambda)
    .onAnyCommand()
    .callsFake((input: Record<string, unknown>) => {
      invoked.push(input);
      return { StatusCode: 202, $metadata: { requestId: 'invocation-1' } };
    });
  running = await startConsole({ context, port: 0, refreshMs: 50 });
  get = await signIn(running.url);
});

/**
 * `path` of the console as the browser asks for it from a link on the console's own page: a page that
 * receives a queue's messages answers nothing else (see cross-site.test.ts).
 */
function open(path: string): Promise<Response> {
  return get(path, { headers: { 'sec-fetch-site': 'same-origin' } });
}

afterAll(async () => {
  await running.close();
  await context.close();
});

describe('the async failures page', () => {
  it("lists a service's failed invocations with why, attempts and trigger, the record folded away, and offers re-invoking", async () => {
    const page = await (await open('/async-failures/job-sweeper')).text();
    const row = /<table id="async-failure-records">[\s\S]*?<\/table>/.exec(page)?.[0] ?? '';
    expect(row).toContain('<time datetime="2026-12-05T01:00:00.000Z">');
    expect(row).toMatch(/<details><summary>req-1<\/summary><pre class="json">\{&quot;version&quot;/);
    for (const cell of [
      'RetriesExhausted',
      '3',
      'aws.states: Step Functions Execution Status Change',
      'JobLedgerUnavailableError',
      'the jobs ledger did not answer',
    ])
      expect(row).toContain(`<td>${cell}</td>`);
    expect(page).toMatch(/<form method="post" action="\/async-failures\/job-sweeper\/reinvoke"/);
  });

  it('says the button re-invokes every event in the queue (as it does, up to 1,000), not just the ones listed', async () => {
    const page = await (await open('/async-failures/job-sweeper?limit=1')).text();
    expect(page).toContain(
      'id="reinvoke">Invoke job-sweeper again with every event in its queue (up to 1000)</button>',
    );
  });

  it('invokes the service again with each record’s event when its form is posted, and deletes the record', async () => {
    const page = await (await open('/async-failures/job-sweeper')).text();
    const answer = await get('/async-failures/job-sweeper/reinvoke', {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' },
      body: String(formFields(page, '/async-failures/job-sweeper/reinvoke')),
    });
    expect(answer.status).toBe(303);
    // As Lambda invoked it: asynchronously, with the record's requestPayload.
    expect(
      invoked.map(({ Payload, ...rest }) => ({
        ...rest,
        Payload: JSON.parse(new TextDecoder().decode(Payload as Uint8Array)),
      })),
    ).toEqual([
      {
        FunctionName: 'sidestep-local-job-sweeper',
        InvocationType: 'Event',
        Payload: JSON.parse(RECORD).requestPayload,
      },
    ]);
    expect(deleted).toEqual(['r-1']);
    const shown = await (await open(answer.headers.get('location') ?? '')).text();
    expect(shown).toContain(
      '<p class="flash flash-ok" role="status" tabindex="-1" autofocus>Re-invoked 1; their records are deleted</p>',
    );
  });

  it('names the field of a service that is not invoked asynchronously', async () => {
    const answer = await open('/async-failures/mail-dispatcher');
    expect(answer.status).toBe(404);
    expect(await answer.text()).toContain('service: no service named &quot;mail-dispatcher&quot;');
  });
});
