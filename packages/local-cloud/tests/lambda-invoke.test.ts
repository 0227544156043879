// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform references are literal text in the stack.
import {
  type InvocationType,
  InvokeCommand,
  type InvokeCommandOutput,
  LambdaClient,
} from '@aws-sdk/client-lambda';
import { GetQueueUrlCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rejectionOf } from '@sidestep/contracts/testing';
import type { SynthesizedTerraformJson } from '@sidestep/iam';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import { type FixtureCloud, startFixtureCloud } from './fixtures/fixture-cloud.ts';
import { allow, role } from './fixtures/iam-stack.ts';
import { fixtureDir, queuelessService } from './fixtures/manifests.ts';
import { localClientConfig } from './fixtures/sqs-endpoint.ts';

// Lambda's Invoke on the local endpoint, called with the unchanged @aws-sdk/client-lambda:
// https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html (RequestResponse 200, Event 202,
// DryRun 204; a function error is a 200 with X-Amz-Function-Error; the API's own errors with their
// codes and statuses), authorized as IAM authorizes lambda:InvokeFunction on the function's ARN.

const FUNCTION = 'sidestep-local-invoke-service';
const ARN = `arn:aws:lambda:us-east-1:000000000000:function:${FUNCTION}`;
const FAILURES = `${FUNCTION}-async-failures`;

// The function's own role may send its invocation records; the invoker may invoke it; the bystander
// may do something else only.
const stack: SynthesizedTerraformJson = {
  provider: { aws: [{ region: 'us-east-1' }] },
  resource: {
    aws_iam_role: {
      fn: role(FUNCTION),
      invoker: role('sidestep-local-invoker'),
      bystander: role('sidestep-local-bystander'),
    },
    aws_iam_role_policy: {
      fn: allow('fn', [
        {
          Effect: 'Allow',
          Action: 'sqs:SendMessage',
          Resource: `arn:aws:sqs:us-east-1:000000000000:${FAILURES}`,
        },
      ]),
      invoker: allow('invoker', [{ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: ARN }]),
      bystander: allow('bystander', [
        { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: `${ARN}-other` },
      ]),
    },
  },
};

const report = createCollectingReporter();
let fixture: FixtureCloud;
const clients: { destroy(): void }[] = [];

/** A Lambda client of the local endpoint signing as `accessKeyId` (the operator: `local`). */
function lambdaAs(accessKeyId = 'local'): LambdaClient {
  const client = new LambdaClient(localClientConfig(fixture.cloud.endpoint, accessKeyId));
  clients.push(client);
  return client;
}

beforeAll(async () => {
  fixture = await startFixtureCloud('local-cloud-invoke-', {
    reporter: report.reporter,
    services: [
      {
        manifest: queuelessService('invoke-service', 'Logs and returns its event'),
        bundleDir: fixtureDir('invoke-service'),
      },
    ],
    stack,
    // Lambda waits one and two minutes between attempts; here a moment.
    asyncRetryDelaysMs: [20, 20],
  });
}, 30_000);

afterAll(async () => {
  for (const client of clients) client.destroy();
  await fixture?.stop();
});

const text = (payload: Uint8Array | undefined) => new TextDecoder().decode(payload ?? new Uint8Array());
const invoke = (input: {
  FunctionName: string;
  Payload?: string | Uint8Array;
  InvocationType?: string;
  Qualifier?: string;
}): Promise<InvokeCommandOutput> =>
  lambdaAs().send(
    new InvokeCommand({
      ...input,
      InvocationType: input.InvocationType as InvocationType | undefined,
      Payload: typeof input.Payload === 'string' ? new TextEncoder().encode(input.Payload) : input.Payload,
    }),
  );
/** The function's log lines that name `mark`. */
const ranWith = (mark: string) =>
  report
    .ofType('log')
    .filter(
      (event) => event.service === 'invoke-service' && event.line.includes(`"message":"invoked: ${mark}"`),
    );
/** The error an SDK call rejects with, with the HTTP status it came with. */
const failure = (call: Promise<unknown>) =>
  rejectionOf(call, Error) as Promise<Error & { $metadata: { httpStatusCode?: number } }>;

describe('Lambda Invoke on the local endpoint (API_Invoke)', () => {
  it("answers RequestResponse with 200 and the handler's result, by name, ARN, partial ARN and $LATEST", async () => {
    for (const [FunctionName, Qualifier] of [
      [FUNCTION, undefined],
      [ARN, undefined],
      [`000000000000:function:${FUNCTION}`, undefined],
      [`${FUNCTION}:$LATEST`, undefined],
      [FUNCTION, '$LATEST'],
    ] as const) {
      const answer = await invoke({
        FunctionName,
        ...(Qualifier ? { Qualifier } : {}),
        Payload: JSON.stringify({ mark: 'sync' }),
      });
      expect(answer).toMatchObject({ StatusCode: 200, ExecutedVersion: '$LATEST' });
      expect(answer.FunctionError).toBeUndefined();
      expect(answer.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(JSON.parse(text(answer.Payload))).toEqual({ echo: { mark: 'sync' }, functionName: FUNCTION });
    }
  });

  it('passes an empty payload as {}', async () => {
    const answer = await invoke({ FunctionName: FUNCTION });
    expect(answer.StatusCode).toBe(200);
    expect(JSON.parse(text(answer.Payload))).toEqual({ echo: {}, functionName: FUNCTION });
  });

  it('answers a function error with 200, X-Amz-Function-Error Unhandled and {errorType, errorMessage, trace}', async () => {
    const answer = await invoke({
      FunctionName: FUNCTION,
      Payload: JSON.stringify({ mark: 'err', fail: true }),
    });
    expect(answer.StatusCode).toBe(200);
    expect(answer.FunctionError).toBe('Unhandled');
    const payload = JSON.parse(text(answer.Payload));
    expect(payload).toEqual({
      errorType: 'RefusedEventError',
      errorMessage: 'refused err',
      trace: expect.arrayContaining([expect.stringContaining('refused err')]),
    });
  });

  it('queues Event with 202, retries a function error and keeps its record under the request id it answered', async () => {
    const answer = await invoke({
      FunctionName: FUNCTION,
      InvocationType: 'Event',
      Payload: JSON.stringify({ mark: 'async', fail: true }),
    });
    expect(answer.StatusCode).toBe(202);
    expect(answer.FunctionError).toBeUndefined();
    expect(text(answer.Payload)).toBe('');
    const requestId = answer.$metadata.requestId;
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);

    // Lambda's three attempts, then the invocation record in the function's on-failure queue
    // (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
    await report.waitFor('error', (event) => event.message.includes('failed on all 3 attempts'), 10_000);
    expect(ranWith('async')).toHaveLength(3);
    const sqs = new SQSClient(localClientConfig(fixture.cloud.endpoint));
    clients.push(sqs);
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: FAILURES }));
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
    expect(Messages.map((message) => JSON.parse(message.Body ?? ''))).toEqual([
      expect.objectContaining({
        requestContext: expect.objectContaining({
          requestId,
          functionArn: `${ARN}:$LATEST`,
          condition: 'RetriesExhausted',
          approximateInvokeCount: 3,
        }),
        requestPayload: { mark: 'async', fail: true },
        responsePayload: { errorType: 'RefusedEventError', errorMessage: 'refused async' },
      }),
    ]);
  });

  it('answers DryRun with 204 without running the function', async () => {
    const answer = await invoke({
      FunctionName: FUNCTION,
      InvocationType: 'DryRun',
      Payload: JSON.stringify({ mark: 'dry' }),
    });
    expect(answer.StatusCode).toBe(204);
    // A later invocation's line is in, the dry run's is not.
    await invoke({ FunctionName: FUNCTION, Payload: JSON.stringify({ mark: 'after-dry' }) });
    await report.waitFor('log', () => ranWith('after-dry').length > 0);
    expect(ranWith('dry')).toEqual([]);
  });

  // A FunctionName ARN names its region and account: Lambda looks the function up there
  // (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html), and the local cloud runs its
  // functions in us-east-1 of 000000000000 only.
  it('answers a function the cloud does not run, another version, another account or another region with 404 ResourceNotFoundException', async () => {
    for (const [FunctionName, Qualifier, arn] of [
      [
        'sidestep-local-nothing',
        undefined,
        'arn:aws:lambda:us-east-1:000000000000:function:sidestep-local-nothing',
      ],
      [FUNCTION, '7', `${ARN}:7`],
      [`${FUNCTION}:live`, undefined, `${ARN}:live`],
      [
        `arn:aws:lambda:us-east-1:111122223333:function:${FUNCTION}`,
        undefined,
        `arn:aws:lambda:us-east-1:111122223333:function:${FUNCTION}`,
      ],
      [
        `arn:aws:lambda:eu-west-1:000000000000:function:${FUNCTION}`,
        undefined,
        `arn:aws:lambda:eu-west-1:000000000000:function:${FUNCTION}`,
      ],
    ] as const) {
      for (const InvocationType of ['RequestResponse', 'Event', 'DryRun']) {
        const error = await failure(
          invoke({ FunctionName, InvocationType, ...(Qualifier ? { Qualifier } : {}), Payload: '{}' }),
        );
        expect(error.name).toBe('ResourceNotFoundException');
        expect(error.$metadata.httpStatusCode).toBe(404);
        expect(error.message).toBe(`Function not found: ${arn}`);
      }
    }
  });

  it('refuses a body that is not JSON (400 InvalidRequestContentException) and payloads over 1 MB (Event) or 6 MB (413 RequestTooLargeException)', async () => {
    const notJson = await failure(invoke({ FunctionName: FUNCTION, Payload: '{"mark": "bad"' }));
    expect(notJson.name).toBe('InvalidRequestContentException');
    expect(notJson.$metadata.httpStatusCode).toBe(400);
    expect(notJson.message).toMatch(/^Could not parse request body into json/);
    expect(ranWith('bad')).toEqual([]);

    // https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html: 1 MB asynchronous, 6 MB synchronous.
    const body = (bytes: number) => JSON.stringify({ mark: 'big', pad: 'x'.repeat(bytes - 23) });
    expect(Buffer.byteLength(body(1_048_577))).toBe(1_048_577);
    const asyncTooLarge = await failure(
      invoke({ FunctionName: FUNCTION, InvocationType: 'Event', Payload: body(1_048_577) }),
    );
    expect(asyncTooLarge.name).toBe('RequestTooLargeException');
    expect(asyncTooLarge.$metadata.httpStatusCode).toBe(413);
    expect(
      (await invoke({ FunctionName: FUNCTION, InvocationType: 'DryRun', Payload: body(1_048_577) }))
        .StatusCode,
    ).toBe(204);
    const syncTooLarge = await failure(invoke({ FunctionName: FUNCTION, Payload: body(6_291_457) }));
    expect(syncTooLarge.name).toBe('RequestTooLargeException');
    expect(syncTooLarge.$metadata.httpStatusCode).toBe(413);
    expect(syncTooLarge.message).toBe(
      'Request must be smaller than 6291456 bytes for the InvokeFunction operation',
    );
    // Over 6 MB the endpoint refuses the body unread, with the limit of the invocation type.
    const asyncFarTooLarge = await failure(
      invoke({ FunctionName: FUNCTION, InvocationType: 'Event', Payload: body(6_291_457) }),
    );
    expect(asyncFarTooLarge.name).toBe('RequestTooLargeException');
    expect(asyncFarTooLarge.message).toBe(
      'Request must be smaller than 1048576 bytes for the InvokeFunction operation',
    );
    expect(ranWith('big')).toEqual([]);
  });

  it('reads the payload as raw bytes whatever its Content-Type (API_Invoke: form-encoded as curl -d sends it, x-amz-json-1.0, application/json): JSON runs as sent, anything else is 400 InvalidRequestContentException', async () => {
    // https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html: the request body is the payload's bytes.
    const invokeWith = (contentType: string, payload: string) => {
      const client = lambdaAs();
      client.middlewareStack.add(
        (next) => async (args) => {
          (args.request as { headers: Record<string, string> }).headers['content-type'] = contentType;
          return next(args);
        },
        { step: 'build', name: 'contentType' },
      );
      return client.send(
        new InvokeCommand({ FunctionName: FUNCTION, Payload: new TextEncoder().encode(payload) }),
      );
    };
    for (const contentType of [
      'application/x-www-form-urlencoded',
      'application/x-amz-json-1.0',
      'application/json',
    ]) {
      const event = { mark: `typed ${contentType}`, text: 'a=1&b=x y' };
      const answer = await invokeWith(contentType, JSON.stringify(event));
      expect(answer.StatusCode).toBe(200);
      expect(answer.FunctionError).toBeUndefined();
      expect(JSON.parse(text(answer.Payload))).toEqual({ echo: event, functionName: FUNCTION });

      const notJson = await failure(invokeWith(contentType, `mark=untyped&type=${contentType}`));
      expect(notJson.name).toBe('InvalidRequestContentException');
      expect(notJson.$metadata.httpStatusCode).toBe(400);
      expect(notJson.message).toMatch(/^Could not parse request body into json/);
    }
    expect(ranWith('untyped')).toEqual([]);
  });

  it('refuses a malformed name or invocation type (ValidationException) and a qualifier the name contradicts (InvalidParameterValueException)', async () => {
    const badName = await failure(invoke({ FunctionName: 'no spaces here', Payload: '{}' }));
    expect(badName.name).toBe('ValidationException');
    expect(badName.$metadata.httpStatusCode).toBe(400);
    expect(badName.message).toContain("at 'functionName'");
    const badType = await failure(invoke({ FunctionName: FUNCTION, InvocationType: 'Later', Payload: '{}' }));
    expect(badType.name).toBe('ValidationException');
    expect(badType.message).toContain("at 'invocationType'");
    const contradicted = await failure(
      invoke({ FunctionName: `${FUNCTION}:$LATEST`, Qualifier: 'live', Payload: '{}' }),
    );
    expect(contradicted.name).toBe('InvalidParameterValueException');
    expect(contradicted.$metadata.httpStatusCode).toBe(400);
  });
});

// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html: Invoke needs
// lambda:InvokeFunction on the function's ARN (the qualified ARN for a qualified call).
describe('Lambda Invoke as a role of the stack', () => {
  it("refuses a role without lambda:InvokeFunction on the function's ARN with 403 AccessDeniedException, DryRun too", async () => {
    for (const InvocationType of ['RequestResponse', 'Event', 'DryRun'] as const) {
      const error = await failure(
        lambdaAs('sidestep-local-bystander').send(
          new InvokeCommand({
            FunctionName: FUNCTION,
            InvocationType,
            Payload: new TextEncoder().encode(JSON.stringify({ mark: 'denied' })),
          }),
        ),
      );
      expect(error.name).toBe('AccessDeniedException');
      expect(error.$metadata.httpStatusCode).toBe(403);
      expect(error.message).toContain(
        `sidestep-local-bystander is not authorized to perform: lambda:InvokeFunction on resource: ${ARN}`,
      );
    }
    expect(ranWith('denied')).toEqual([]);
    expect(report.ofType('access-denied')).toContainEqual(
      expect.objectContaining({ action: 'lambda:InvokeFunction', resource: ARN }),
    );
  });

  it('lets a role allowed lambda:InvokeFunction invoke by name or ARN, and not a qualified ARN its policy does not name', async () => {
    const invoker = lambdaAs('sidestep-local-invoker');
    for (const FunctionName of [FUNCTION, ARN]) {
      const answer = await invoker.send(
        new InvokeCommand({
          FunctionName,
          Payload: new TextEncoder().encode(JSON.stringify({ mark: 'allowed' })),
        }),
      );
      expect(answer.StatusCode).toBe(200);
    }
    const qualified = await failure(
      invoker.send(new InvokeCommand({ FunctionName: FUNCTION, Qualifier: '$LATEST' })),
    );
    expect(qualified.name).toBe('AccessDeniedException');
    expect(qualified.message).toContain(`on resource: ${ARN}:$LATEST`);
  });
});
