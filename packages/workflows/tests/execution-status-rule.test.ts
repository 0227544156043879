import { describe, expect, it } from '@jest/globals';
import { executionStatusRule, InvalidWorkflowPropsError } from '../src/index.ts';

const IMPORT = 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import';
const EXPORT = 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-export';

describe('executionStatusRule', () => {
  it("matches the job workflows' executions that ended ABORTED, TIMED_OUT or FAILED, for the job-sweeper", () => {
    expect(executionStatusRule([IMPORT, EXPORT])).toEqual({
      name: 'workflow-ended',
      service: 'job-sweeper',
      eventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { status: ['ABORTED', 'TIMED_OUT', 'FAILED'], stateMachineArn: [IMPORT, EXPORT] },
      },
    });
  });

  it('refuses a rule without state machines, naming the field', () => {
    expect(() => executionStatusRule([])).toThrow(InvalidWorkflowPropsError);
    expect(() => executionStatusRule([IMPORT, ''])).toThrow(/stateMachineArns/);
  });
});
