import {
  DescribeExecutionCommand,
  ListExecutionsCommand,
  paginateListExecutions,
  SFNClient,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { SHARED_LISTING_MS, sharedListings } from '../src/shared-listings.ts';

const sfn = mockClient(SFNClient);
const IMPORT = 'arn:aws:states:eu-west-1:123456789012:stateMachine:sidestep-staging-import';
const running = { stateMachineArn: IMPORT, statusFilter: 'RUNNING' } as const;

let clock = 0;
let client: SFNClient;
/** How many ListExecutions reached the (stubbed) service. */
const listed = () => sfn.commandCalls(ListExecutionsCommand).length;

beforeEach(() => {
  sfn.reset();
  clock = 1_000_000;
  let answered = 0;
  sfn.on(ListExecutionsCommand).callsFake(async () => {
    answered += 1;
    return { executions: [], nextToken: undefined, answered };
  });
  sfn.on(StopExecutionCommand).resolves({ stopDate: new Date() });
  sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
  client = sharedListings(new SFNClient({ region: 'eu-west-1' }), { now: () => clock });
});

// Each open overview lists four times a render, every 3 s: 1.3 calls a second of a quota of 2 a
// second in most Regions (https://docs.aws.amazon.com/step-functions/latest/dg/limits-overview.html).
describe("sharedListings (the console's ListExecutions)", () => {
  it('answers the same listing asked again within the time it is shared from the first ask', async () => {
    const first = await client.send(new ListExecutionsCommand(running));
    clock += SHARED_LISTING_MS - 1;
    const again = await client.send(new ListExecutionsCommand(running));
    expect(again).toBe(first);
    expect(listed()).toBe(1);
    clock += 1;
    expect(await client.send(new ListExecutionsCommand(running))).toMatchObject({ answered: 2 });
    expect(listed()).toBe(2);
  });

  it('shares a listing under way with whoever asks for it meanwhile', async () => {
    const answers = await Promise.all([1, 2, 3].map(() => client.send(new ListExecutionsCommand(running))));
    expect(new Set(answers).size).toBe(1);
    expect(listed()).toBe(1);
  });

  it('lists again for another input: another state machine, status, page size or page', async () => {
    await client.send(new ListExecutionsCommand(running));
    await client.send(new ListExecutionsCommand({ ...running, statusFilter: 'FAILED' }));
    await client.send(new ListExecutionsCommand({ ...running, maxResults: 5 }));
    await client.send(new ListExecutionsCommand({ ...running, nextToken: 'page-2' }));
    await client.send(new ListExecutionsCommand({ ...running, stateMachineArn: `${IMPORT}-other` }));
    expect(listed()).toBe(5);
  });

  it('keeps no failed answer: the next ask lists again', async () => {
    sfn
      .on(ListExecutionsCommand)
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
      .resolves({ executions: [] });
    await expect(client.send(new ListExecutionsCommand(running))).rejects.toThrow('Rate exceeded');
    await client.send(new ListExecutionsCommand(running));
    expect(listed()).toBe(2);
  });

  it('lists again after an execution is stopped through it, also a listing asked for while the stop was under way', async () => {
    await client.send(new ListExecutionsCommand(running));
    const stop = client.send(new StopExecutionCommand({ executionArn: `${IMPORT}:exec-1` }));
    const during = client.send(new ListExecutionsCommand(running));
    await stop;
    await during;
    await client.send(new ListExecutionsCommand(running));
    expect(listed()).toBe(3);
    // Other calls are not shared.
    await client.send(new DescribeExecutionCommand({ executionArn: `${IMPORT}:exec-1` }));
    await client.send(new DescribeExecutionCommand({ executionArn: `${IMPORT}:exec-1` }));
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(2);
  });

  it("serves the SDK's paginators, which require an SFNClient", async () => {
    const pages = [];
    for await (const page of paginateListExecutions({ client }, { ...running })) pages.push(page);
    for await (const page of paginateListExecutions({ client }, { ...running })) pages.push(page);
    expect(pages).toHaveLength(2);
    expect(listed()).toBe(1);
  });
});
