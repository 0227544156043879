import { type AuthorizationCheck, required, ServiceOperations } from './authorization-check.ts';

// Actions and resource types for AWS Step Functions:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html
const OPERATIONS = new ServiceOperations<'stateMachine' | 'execution' | 'none'>('states', {
  StartExecution: 'stateMachine',
  StartSyncExecution: 'stateMachine',
  DescribeStateMachine: 'stateMachine',
  ListExecutions: 'stateMachine',
  DescribeExecution: 'execution',
  DescribeStateMachineForExecution: 'execution',
  GetExecutionHistory: 'execution',
  StopExecution: 'execution',
  RedriveExecution: 'execution',
  ListStateMachines: 'none',
});

export interface StatesRequestTarget {
  /** `arn:aws:states:<region>:<account>:stateMachine:<name>`. */
  readonly stateMachineArn?: string;
  /** `arn:aws:states:<region>:<account>:execution:<stateMachine>:<name>`. */
  readonly executionArn?: string;
}

/** What a Step Functions API call needs authorized. */
export function statesAuthorization(operation: string, target: StatesRequestTarget): AuthorizationCheck[] {
  const on = OPERATIONS.lookup(operation);
  const action = `states:${operation}`;
  if (on === 'none') return [{ action, resource: '*' }];
  if (on === 'stateMachine') {
    return [{ action, resource: required(target.stateMachineArn, 'stateMachineArn', operation) }];
  }
  return [{ action, resource: required(target.executionArn, 'executionArn', operation) }];
}
