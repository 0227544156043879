import { InvalidWorkflowPropsError } from './invalid-workflow-props-error.ts';

/** The event pattern of {@link executionStatusRule}, typed as the JSON EventBridge takes. */
export interface ExecutionStatusEventPattern {
  readonly source: readonly ['aws.states'];
  readonly 'detail-type': readonly ['Step Functions Execution Status Change'];
  readonly detail: {
    readonly status: readonly ['ABORTED', 'TIMED_OUT', 'FAILED'];
    readonly stateMachineArn: readonly string[];
  };
}

/** The rule that fails the job an execution left behind, and the service it invokes. */
export interface ExecutionStatusRule {
  /** The rule's name without the environment prefix: `sidestep-<env>-workflow-ended`. */
  readonly name: 'workflow-ended';
  /** The service the rule invokes with each matching event (its whole event as the payload). */
  readonly service: 'job-sweeper';
  readonly eventPattern: ExecutionStatusEventPattern;
}

/**
 * The EventBridge rule for the job workflows' executions that end ABORTED (an operator's or a deploy's
 * StopExecution), TIMED_OUT or FAILED. Step Functions sends every Standard execution's status change
 * to the default bus (https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html);
 * an aborted execution runs no Catch, so without this rule its job would stay `running` until the
 * job-sweeper's deadline (hours) and nobody would be mailed. The job-sweeper fails the job with the
 * execution's reason and mails once; a job the workflow failed or finished itself is left alone.
 * Infra deploys it; the local cloud routes its own executions' events with the same pattern.
 *
 * @param stateMachineArns the import and export state machines (Terraform tokens are fine).
 * @throws {InvalidWorkflowPropsError} without a state machine, or with an empty ARN.
 */
export function executionStatusRule(stateMachineArns: readonly string[]): ExecutionStatusRule {
  if (
    stateMachineArns.length === 0 ||
    stateMachineArns.some((arn) => typeof arn !== 'string' || arn === '')
  ) {
    throw new InvalidWorkflowPropsError('stateMachineArns', 'must be a non-empty list of state machine ARNs');
  }
  return {
    name: 'workflow-ended',
    service: 'job-sweeper',
    eventPattern: {
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { status: ['ABORTED', 'TIMED_OUT', 'FAILED'], stateMachineArn: [...stateMachineArns] },
    },
  };
}
