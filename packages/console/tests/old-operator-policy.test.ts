import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createOpsContext, type OpsContext } from '@sidestep/ops';
import { mockClient } from 'aws-sdk-client-mock';
import { type RunningConsole, startConsole } from '../src/index.ts';
import { type ConsoleFetch, signIn } from '../src/testing.ts';

// The console against a staging environment whose operator policy is the previous release's: no
// grant yet on the on-failure queues (sidestep-<env>-<service>-async-failures), which arrives with the
// environment's apply. SQS answers GetQueueUrl on one with AccessDenied
// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html); every
// other call answers, empty.
const warnings: string[] = [];
let context: OpsContext;
let running: RunningConsole;
/** The operator, signed in as by opening the console's URL. */
let get: ConsoleFetch;

beforeAll(async () => {
  context = createOpsContext({
    environment: 'staging',
    env: { AWS_REGION: 'ap-northeast-1', USER: 'tester' },
    warn: (message) => warnings.push(message),
  });
  const { sqs, sfn, cloudWatch, scheduler, lambda, eventBridge, sts } = context.clients;
  mockClient(sfn).onAnyCommand().resolves({});
  mockClient(cloudWatch).onAnyCommand().resolves({});
  mockClient(scheduler).onAnyCommand().resolves({});
  mockClient(lambda).onAnyCommand().resolves({});
  mockClient(eventBridge).onAnyCommand().resolves({});
  mockClient(sts).onAnyCommand().resolves({});
  mockClient(sqs)
    .onAnyCommand()
    .callsFake((input: Record<string, unknown>) => {
      const name = input.QueueName;
      if (typeof name === 'string' && name.endsWith('-async-failures'))
        throw Object.assign(new Error(`not authorized to perform: sqs:getqueueurl on resource: ${name}`), {
          name: 'AccessDenied',
        });
      if (typeof name === 'string')
        return { QueueUrl: `https://sqs.ap-northeast-1.amazonaws.com/123456789012/${name}` };
      return { Attributes: { ApproximateNumberOfMessages: '0' } };
    });
  running = await startConsole({ context, port: 0, refreshMs: 60_000 });
  get = await signIn(running.url);
});

afterAll(async () => {
  await running.close();
  await context.close();
});

describe('the console on an environment not yet applied', () => {
  it.each(['/', '/queues'])(
    'shows %s without the on-failure queue it may not read, and warns naming it',
    async (path) => {
      warnings.length = 0;
      const answer = await get(path, {
        headers: { 'sec-fetch-site': 'same-origin' },
      });
      const page = await answer.text();
      expect(answer.status).toBe(200);
      // The job queues' depths still show.
      expect(page).toContain('<a href="/queues/mail">mail</a>');
      expect(warnings).toContainEqual(
        expect.stringContaining('queue sidestep-staging-job-sweeper-async-failures'),
      );
      // The operator reading the page is told, not only the console's log: what it shows is partial.
      const shown = /<div class="flash flash-warning" role="status" id="warnings">([\s\S]*?)<\/div>/.exec(
        page,
      );
      expect(shown?.[1]).toContain(
        'queue sidestep-staging-job-sweeper-async-failures left out: AccessDenied',
      );
      expect(shown?.[1]).toContain('apply the environment');
    },
  );
});
