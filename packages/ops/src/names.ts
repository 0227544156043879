import { resourceName } from '@sidestep/manifest';
import { SERVICES } from '@sidestep/registry';
import { EXPORT_REQUESTS_QUEUE, SCHEDULES, type ScheduleDefinition } from '@sidestep/workflows';
import { UnknownNameError } from './errors.ts';
import type { OpsContext } from './ops-context.ts';

/** sidestep's job queues, without prefix (each has a `-dlq`): the services' and the export requests'. */
export const QUEUES: readonly string[] = [
  ...SERVICES.flatMap((service) => (service.manifest.queue ? [service.manifest.queue.name] : [])),
  EXPORT_REQUESTS_QUEUE.name,
];

/** sidestep's workflows, without prefix: `sidestep-<env>-<name>` state machines. */
export const WORKFLOWS: readonly string[] = ['import', 'export'];

/** @throws {UnknownNameError} (`field: 'queue'`) for a queue sidestep does not declare. */
export function knownQueue(queue: string): string {
  const name = queue.replace(/-dlq$/, '');
  if (!QUEUES.includes(name)) throw new UnknownNameError('queue', queue, QUEUES);
  return name;
}

/** @throws {UnknownNameError} (`field: 'workflow'`) for a workflow sidestep does not declare. */
export function knownWorkflow(workflow: string): string {
  if (!WORKFLOWS.includes(workflow)) throw new UnknownNameError('workflow', workflow, WORKFLOWS);
  return workflow;
}

/** @throws {UnknownNameError} (`field: 'schedule'`) for a schedule sidestep does not declare. */
export function knownSchedule(schedule: string): ScheduleDefinition {
  const found = SCHEDULES.find((candidate) => candidate.name === schedule);
  if (!found) {
    throw new UnknownNameError(
      'schedule',
      schedule,
      SCHEDULES.map((candidate) => candidate.name),
    );
  }
  return found;
}

/** The ARN of workflow `workflow`'s state machine in the context's environment. */
export async function stateMachineArn(context: OpsContext, workflow: string): Promise<string> {
  const name = resourceName(context.environment, knownWorkflow(workflow));
  return `arn:aws:states:${context.region}:${await context.accountId()}:stateMachine:${name}`;
}

/**
 * The ARN of execution `nameOrArn`: an ARN as given, else the name looked up in each workflow
 * (`<workflow>:<name>` picks one).
 */
export async function executionArn(context: OpsContext, nameOrArn: string): Promise<string[]> {
  if (nameOrArn.startsWith('arn:')) return [nameOrArn];
  const [maybeWorkflow, maybeName] = nameOrArn.split(':', 2);
  const candidates = maybeName && WORKFLOWS.includes(maybeWorkflow ?? '') ? [maybeWorkflow ?? ''] : WORKFLOWS;
  const name = maybeName && WORKFLOWS.includes(maybeWorkflow ?? '') ? maybeName : nameOrArn;
  return Promise.all(
    candidates.map(async (workflow) =>
      (await stateMachineArn(context, workflow)).replace(':stateMachine:', ':execution:').concat(`:${name}`),
    ),
  );
}
