import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createOpsContext, LedgerInvokeError, type OpsContext } from '@sidestep/ops';
import { mockClient } from 'aws-sdk-client-mock';
import { type RunningConsole, startConsole } from '../src/index.ts';
import { type ConsoleFetch, formFields, signIn } from '../src/testing.ts';

// A queue's dead letters and its redrive, on a local context whose SQS is stubbed: a DLQ that always
// has more messages than are asked for, and a message move task that ends as `taskStatus` says
// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ListMessageMoveTasksResultEntry.html:
// its Status, COMPLETED or FAILED with a FailureReason among others).
let context: OpsContext;
let running: RunningConsole;
/** The operator, signed in as by opening the console's URL. */
let get: ConsoleFetch;
/** How many messages the console has received, and the StartMessageMoveTask inputs it sent. */
let received = 0;
let started: Record<string, unknown>[] = [];
let taskStatus = 'COMPLETED';
/** Characters of padding in each dead letter's payload (SQS takes bodies of up to 1 MiB). */
let bodyPadding = 0;

beforeAll(async () => {
  context = {
    ...createOpsContext({ environment: 'local', env: { USER: 'tester' }, warn: () => undefined }),
    ledger: () => Promise.reject(new LedgerInvokeError('ops-ledger: no answer')),
  };
  const arnOf = (url: string) => `arn:aws:sqs:us-east-1:000000000000:${url.split('/').at(-1)}`;
  // The console has no SQS client of its own: each call is told by its input.
  mockClient(context.clients.sqs)
    .onAnyCommand()
    .callsFake((input: Record<string, unknown>) => {
      if (typeof input.QueueName === 'string')
        return { QueueUrl: `http://127.0.0.1:4566/000000000000/${input.QueueName}` };
      if (input.AttributeNames) {
        return {
          Attributes: { QueueArn: arnOf(String(input.QueueUrl)), ApproximateNumberOfMessages: '2500' },
        };
      }
      if (typeof input.MaxNumberOfMessages === 'number') {
        const messages = Array.from({ length: input.MaxNumberOfMessages }, (_, index) => ({
          MessageId: `m-${received + index}`,
          ReceiptHandle: `r-${received + index}`,
          Body: JSON.stringify({
            type: 'mail.send',
            version: 1,
            id: `dead-${received + index}`,
            payload: bodyPadding > 0 ? { padding: 'x'.repeat(bodyPadding) } : {},
          }),
        }));
        received += messages.length;
        return { Messages: messages };
      }
      if (input.DestinationArn) {
        started.push(input);
        return { TaskHandle: 'task-1' };
      }
      if (input.SourceArn) {
        return {
          Results: [
            {
              Status: taskStatus,
              ApproximateNumberOfMessagesMoved: taskStatus === 'COMPLETED' ? 3 : 0,
              ...(taskStatus === 'FAILED'
                ? { FailureReason: 'AWS.SimpleQueueService.NonExistentQueue' }
                : {}),
            },
          ],
        };
      }
      return { Successful: [], Failed: [] };
    });
  running = await startConsole({ context, port: 0 });
  get = await signIn(running.url);
});

afterAll(async () => {
  await running.close();
  await context.close();
});

beforeEach(() => {
  received = 0;
  started = [];
  bodyPadding = 0;
});

/** `path` as a link of the console's own page asks for it (a page that receives answers nothing else). */
async function open(path: string): Promise<string> {
  const answer = await get(path, { headers: { 'sec-fetch-site': 'same-origin' } });
  expect(answer.status).toBe(200);
  return answer.text();
}

describe('the dead letters page', () => {
  it('reads 50, 200 or 1000 messages, and 50 for any other ?limit=', async () => {
    const rows = (page: string) => page.match(/<summary>dead-\d+<\/summary>/g)?.length;
    const other = await open('/queues/mail?limit=5000');
    expect([received, rows(other)]).toEqual([50, 50]);
    expect(other).toContain('the first 50 messages are read');
    expect(other).toContain('<a href="/queues/mail?limit=200">Read 200</a>');
    expect(other).toContain('<a href="/queues/mail?limit=1000">Read 1000</a>');
    received = 0;
    const more = await open('/queues/mail?limit=200');
    expect([received, rows(more)]).toEqual([200, 200]);
  });

  // 1,000 bodies of up to 1 MiB each, escaped for HTML, would be a page of gigabytes built in one turn
  // of the event loop (the local cloud's, under `npm start`): each body shows its start only.
  it('shows the first 16 KiB of each body and says how much more there is', async () => {
    bodyPadding = 200_000;
    const page = await open('/queues/mail?limit=50');
    expect(page.match(/<summary>dead-\d+<\/summary>/g)).toHaveLength(50);
    expect(page.length).toBeLessThan(2_000_000);
    expect(page).toMatch(/… \d+ more characters not shown \(the CLI prints every body whole with --json\)/);
  });
});

describe('the redrive preview', () => {
  // A redrive (StartMessageMoveTask) moves the whole DLQ; the preview checks the first 1,000.
  it('says how many dead letters it left unchecked, and offers to redrive them all', async () => {
    const page = await open('/queues/mail/preview');
    expect(received).toBe(1001);
    expect(page).toContain(
      '(the first 1000 of about 2500 dead letters were checked; the 1500 others were not, and a redrive moves them too)',
    );
    expect(page).toContain('Redrive ~2500 messages to mail');
  });
});

describe('Redrive', () => {
  /** POSTs the redrive form of `queue` and opens the page it is sent to (`back`), flash included. */
  async function redrive(queue: string, back = `/queues/${queue}`): Promise<string> {
    const form = formFields(await open(`/queues/${queue}/preview`), `/queues/${queue}/redrive`);
    const answer = await get(`/queues/${queue}/redrive`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' },
      body: String(form),
    });
    expect(answer.status).toBe(303);
    const location = answer.headers.get('location') ?? '';
    expect(location).toMatch(new RegExp(`^${back}\\?flash=[0-9a-f]+$`));
    return open(location);
  }

  it("moves the DLQ's messages back to its queue with a message move task, and says how many moved", async () => {
    taskStatus = 'COMPLETED';
    const page = await redrive('mail');
    expect(started).toEqual([
      {
        SourceArn: 'arn:aws:sqs:us-east-1:000000000000:sidestep-local-mail-dlq',
        DestinationArn: 'arn:aws:sqs:us-east-1:000000000000:sidestep-local-mail',
      },
    ]);
    expect(page).toContain(
      '<p class="flash flash-ok" role="status" tabindex="-1" autofocus>Redrive COMPLETED: moved 3</p>',
    );
  });

  // A refused action is shown on the page its form is on: the preview's Redrive button.
  it('says a move task that failed as an error, on the preview it was started from', async () => {
    taskStatus = 'FAILED';
    const page = await redrive('mail', '/queues/mail/preview');
    expect(started).toHaveLength(1);
    expect(page).toMatch(
      /<p class="flash flash-error" role="alert" tabindex="-1" autofocus>MessageMoveTaskError: queue: the redrive of mail ended FAILED[^<]* after moving 0 message\(s\)/,
    );
  });
});
