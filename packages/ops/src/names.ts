import { EXPORT_DOWNLOAD_FUNCTION, resourceName } from '@sidestep/manifest';
import { SERVICES } from '@sidestep/registry';
import {
  EXPORT_REQUESTS_QUEUE,
  type ExecutionStatusRule,
  SCHEDULES,
  type ScheduleDefinition,
} from '@sidestep/workflows';
import { InvalidOptionError, UnknownNameError } from './errors.ts';
import type { OpsContext } from './ops-context.ts';

/** sidestep's job queues, without prefix (each has a `-dlq`): the services' and the export requests'. */
export const QUEUES: readonly string[] = [
  ...SERVICES.flatMap((service) => (service.manifest.queue ? [service.manifest.queue.name] : [])),
  EXPORT_REQUESTS_QUEUE.name,
];

/**
 * The rule (`sidestep-<env>-mail-events`) that writes SES's event records of the mails to a log group,
 * and the name of its dead-letter queue without prefix and `-dlq`.
 */
export const MAIL_EVENTS = 'mail-events';

/**
 * The dead-letter queues without a source queue, `sidestep-<env>-<name>-dlq`, each alarmed: the
 * schedule group's (`schedules`: firings EventBridge Scheduler, or a schedule's operator rule, gave
 * up on; https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html), the
 * import trigger rule's (`import-trigger`: S3 events EventBridge could not hand the import workflow)
 * the workflow-ended rule's (`workflow-ended`: executions' status changes it could not hand the
 * job-sweeper; https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html) and the
 * mail-events rule's (`mail-events`: SES's event records of the mails it could not write to their log
 * group, which `mail find` reads too). `dlq show` reads them, `dlq redrive` has nowhere to move them to.
 */
export const RULE_DEAD_LETTERS: readonly string[] = [
  'schedules',
  'import-trigger',
  // The rule's own name (its type names it, so tsc fails here when it changes).
  'workflow-ended' satisfies ExecutionStatusRule['name'],
  MAIL_EVENTS,
];

/** Every dead-letter queue `dlq show` reads, without prefix and `-dlq`: the job queues' and the rules'. */
export const DEAD_LETTER_QUEUES: readonly string[] = [...QUEUES, ...RULE_DEAD_LETTERS];

/** The workflow-ended rule's target (its type names it, so tsc fails here when the rule's changes). */
const WORKFLOW_ENDED_TARGET: ExecutionStatusRule['service'] = 'job-sweeper';

/**
 * The services invoked asynchronously, each with an on-failure queue
 * (`sidestep-<env>-<service>-async-failures`): the schedules' function targets and the
 * workflow-ended rule's, as infra gives them their asynchronous invocation config.
 */
export const ASYNC_SERVICES: readonly string[] = [
  ...new Set([
    ...SCHEDULES.flatMap((schedule) =>
      schedule.target.kind === 'function' ? [schedule.target.service] : [],
    ),
    WORKFLOW_ENDED_TARGET,
  ]),
];

/** @throws {UnknownNameError} (`field: 'service'`) for a service sidestep does not invoke asynchronously. */
export function knownAsyncService(service: string): string {
  if (!ASYNC_SERVICES.includes(service)) throw new UnknownNameError('service', service, ASYNC_SERVICES);
  return service;
}

/**
 * sidestep's Lambda functions, without prefix (`sidestep-<env>-<name>`): each service's and the
 * export download links' function URL.
 */
export const FUNCTIONS: readonly string[] = [
  ...SERVICES.map((service) => service.manifest.name),
  EXPORT_DOWNLOAD_FUNCTION,
];

/** sidestep's workflows, without prefix: `sidestep-<env>-<name>` state machines. */
export const WORKFLOWS: readonly string[] = ['import', 'export'];

/** @throws {UnknownNameError} (`field: 'queue'`) for a queue sidestep does not declare. */
export function knownQueue(queue: string): string {
  const name = queue.replace(/-dlq$/, '');
  if (!QUEUES.includes(name)) throw new UnknownNameError('queue', queue, QUEUES);
  return name;
}

/** Whether `dlq redrive` can move `queue`'s dead letters back: false for a DLQ without a source queue. */
export function hasRedriveSource(queue: string): boolean {
  return !RULE_DEAD_LETTERS.includes(queue.replace(/-dlq$/, ''));
}

/**
 * The name of a dead-letter queue `dlq show` reads (`mail`, `mail-dlq`, `schedules`), without `-dlq`.
 * @throws {UnknownNameError} (`field: 'queue'`) for one sidestep does not declare.
 */
export function knownDeadLetterQueue(queue: string): string {
  const name = queue.replace(/-dlq$/, '');
  if (!DEAD_LETTER_QUEUES.includes(name)) throw new UnknownNameError('queue', queue, DEAD_LETTER_QUEUES);
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
  return `arn:aws:states:${await context.region()}:${await context.accountId()}:stateMachine:${name}`;
}

/**
 * The ARN of execution `nameOrArn`: an ARN as given, else the name looked up in each workflow
 * (`<workflow>:<name>` picks one). An ARN must be an execution of one of this environment's
 * workflows in its account and region: an operator's stop or redrive acts on what it is given, and
 * an ARN pasted from another environment's console would otherwise act there.
 * @throws {InvalidOptionError} (`field: 'execution'`) for any other ARN.
 */
export async function executionArn(context: OpsContext, nameOrArn: string): Promise<string[]> {
  const executionsOf = (machine: string) => `${machine.replace(':stateMachine:', ':execution:')}:`;
  const machines = await Promise.all(WORKFLOWS.map((workflow) => stateMachineArn(context, workflow)));
  if (nameOrArn.startsWith('arn:')) {
    const ours = machines.some((machine) => {
      const prefix = executionsOf(machine);
      return nameOrArn.startsWith(prefix) && /^[^:]+$/.test(nameOrArn.slice(prefix.length));
    });
    if (!ours) {
      const expected = machines.map((machine) => `${executionsOf(machine)}<name>`).join(' or ');
      throw new InvalidOptionError(`execution: "${nameOrArn}" is not an execution of ${expected}`, {
        field: 'execution',
      });
    }
    return [nameOrArn];
  }
  const [maybeWorkflow, maybeName] = nameOrArn.split(':', 2);
  const picked = maybeName && WORKFLOWS.includes(maybeWorkflow ?? '') ? maybeWorkflow : undefined;
  const name = picked ? maybeName : nameOrArn;
  return machines
    .filter((_, index) => !picked || WORKFLOWS[index] === picked)
    .map((machine) => `${executionsOf(machine)}${name}`);
}
