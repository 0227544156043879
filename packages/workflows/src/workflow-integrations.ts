import type { Branch, PayloadTemplate, State, StateMachineDefinition, TaskState } from './asl.ts';

/** One thing a workflow calls: which state, which integration, on what. */
export interface WorkflowIntegration {
  /** The Task state's name. */
  readonly state: string;
  /** The state's `Resource`: `arn:aws:states:::lambda:invoke`, `arn:aws:states:::ecs:runTask.sync`, ... */
  readonly resource: string;
  /** What it is called on: the `FunctionName`, `TaskDefinition` or `QueueUrl` (a Terraform token in infra). */
  readonly target: string;
}

/** A Task whose target cannot be known from the definition alone; `state` names it. */
export class WorkflowIntegrationError extends Error {
  override readonly name = 'WorkflowIntegrationError';
  readonly state: string;

  constructor(state: string, message: string) {
    super(`state ${state}: ${message}`);
    this.state = state;
  }
}

/**
 * The Parameters field naming the target, per optimized integration. Keyed by service: the API and
 * the `.sync` / `.waitForTaskToken` suffix do not change which resource is called.
 * https://docs.aws.amazon.com/step-functions/latest/dg/integrate-optimized.html
 */
const TARGET_PARAMETER: Readonly<Record<string, string>> = {
  lambda: 'FunctionName',
  ecs: 'TaskDefinition',
  sqs: 'QueueUrl',
  sns: 'TopicArn',
  states: 'StateMachineArn',
};

function targetOf(name: string, state: TaskState): string {
  // A Lambda function ARN as the Resource is the legacy direct invocation.
  if (state.Resource.startsWith('arn:aws:lambda:')) return state.Resource;
  const service = /^arn:aws:states:::([a-z0-9-]+):/.exec(state.Resource)?.[1];
  const field = service === undefined ? undefined : TARGET_PARAMETER[service];
  if (field === undefined) {
    throw new WorkflowIntegrationError(name, `unsupported resource "${state.Resource}"`);
  }
  const parameters: PayloadTemplate = state.Parameters ?? {};
  const target = parameters[field];
  if (typeof target !== 'string') {
    // `FunctionName.$` (a target chosen at run time) would need IAM on every possible target.
    const reason = `${field}.$` in parameters ? 'is a path, so IAM cannot be scoped to it' : 'is missing';
    throw new WorkflowIntegrationError(name, `Parameters.${field} ${reason}`);
  }
  return target;
}

function* walk(branch: Branch): Generator<WorkflowIntegration> {
  for (const [name, state] of Object.entries(branch.States) as [string, State][]) {
    if (state.Type === 'Task') yield { state: name, resource: state.Resource, target: targetOf(name, state) };
    else if (state.Type === 'Parallel') for (const nested of state.Branches) yield* walk(nested);
    else if (state.Type === 'Map') {
      const processor = state.ItemProcessor ?? state.Iterator;
      if (processor) yield* walk(processor);
    }
  }
}

/**
 * Everything a definition calls, including Tasks inside Parallel branches and Map item processors, in
 * definition order. Infra derives the state machine role's policy from it, so IAM grants exactly what
 * the definition really calls; the local cloud maps each Task state to its local handler from it.
 *
 * @throws {WorkflowIntegrationError} when a Task's target is a path or its integration is unknown.
 */
export function workflowIntegrations(definition: StateMachineDefinition): WorkflowIntegration[] {
  return [...walk(definition)];
}
