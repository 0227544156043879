import { describe, expect, it } from '@jest/globals';
import type { StatusUpdateInput } from '@sidestep/contracts';
import { statusUpdateTask } from '../src/status-update-task.ts';

const task = statusUpdateTask({
  database: async () => {
    throw new Error('not used: correlation reads the input only');
  },
});
const executionId = 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-export:e1';

// Every log line of the invocation carries these: an operator searching by an export request's id
// (the envelope id its requester sent) finds the register line, which names the job it became.
describe("the status-updater's correlation ids", () => {
  it("names an export's request at its register, the job at every later event, the execution always", () => {
    const register = {
      event: 'register',
      kind: 'export',
      expectedState: 'registered',
      executionId,
      request: { id: 'req-7', requestedBy: 'ops@example.com', fileName: 'users', filter: null },
    } as unknown as StatusUpdateInput;
    expect(task.correlation?.(register)).toEqual({
      event: 'register',
      executionId,
      jobId: undefined,
      requestId: 'req-7',
    });
    const start = {
      event: 'start',
      jobId: 'exp_1',
      expectedState: 'running',
      executionId,
    } as StatusUpdateInput;
    expect(task.correlation?.(start)).toEqual({
      event: 'start',
      executionId,
      jobId: 'exp_1',
      requestId: undefined,
    });
  });
});
