import { randomUUID } from 'node:crypto';
import { secretArn } from '@sidestep/iam';
import { resourceName } from '@sidestep/manifest';

/** The region every local resource lives in. */
export const LOCAL_REGION = 'us-east-1';
/** The account id fauxqs puts in every ARN and queue URL. */
export const LOCAL_ACCOUNT_ID = '000000000000';

/** The environment name of the laptop cloud: resources are `sidestep-local-<name>`. */
export const LOCAL_ENVIRONMENT = 'local';

/** `name` -> `sidestep-local-<name>`, the name infra gives the resource in the local environment. */
export function localName(name: string): string {
  return resourceName(LOCAL_ENVIRONMENT, name);
}

/** The ECS cluster a task runs in: `sidestep-local-<task>`, one per task as infra creates them. */
export function localClusterArn(task: string): string {
  return `arn:aws:ecs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:cluster/${localName(task)}`;
}

/**
 * A task of that cluster: `arn:aws:ecs:<region>:<account>:task/<cluster name>/<task id>`, with a new
 * id as ECS gives one (32 hex digits) unless `taskId` is given.
 */
export function localTaskArn(clusterArn: string, taskId = randomUUID().replaceAll('-', '')): string {
  return `arn:aws:ecs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:task/${clusterArn.split('/').pop()}/${taskId}`;
}

/** A workflow's state machine: `arn:aws:states:<region>:<account>:stateMachine:sidestep-local-<workflow>`. */
export function localStateMachineArn(workflow: string): string {
  return `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:stateMachine:${localName(workflow)}`;
}

/** The pipe from a source queue, named like the queue: `arn:aws:pipes:<region>:<account>:pipe/sidestep-local-<queue>`. */
export function localPipeArn(queue: string): string {
  return `arn:aws:pipes:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:pipe/${localName(queue)}`;
}

/**
 * A secret's ARN without the suffix Secrets Manager adds: `arn:aws:secretsmanager:<region>:<account>:secret:<name>`,
 * the partial ARN a request may name it by.
 */
export function partialSecretArn(name: string): string {
  return secretArn({ region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID }, name);
}

/**
 * The local secret `name`'s ARN: its partial ARN and `-local` where Secrets Manager adds a hyphen and
 * six random characters (so the stack's policies, which name the secret's ARN, resolve to it).
 */
export function localSecretArn(name: string): string {
  return `${partialSecretArn(name)}-local`;
}

/** The sidestep bus infra creates, `sidestep-<env>`: operator events go there. */
export const LOCAL_EVENT_BUS_NAME = `sidestep-${LOCAL_ENVIRONMENT}`;

/** The schedule group infra puts every schedule in, named like the bus: `sidestep-<env>`. */
export const LOCAL_SCHEDULE_GROUP = LOCAL_EVENT_BUS_NAME;

/** `arn:aws:scheduler:<region>:<account>:schedule-group/sidestep-local` */
export const LOCAL_SCHEDULE_GROUP_ARN = `arn:aws:scheduler:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:schedule-group/${LOCAL_SCHEDULE_GROUP}`;

/** `arn:aws:scheduler:<region>:<account>:schedule/sidestep-local/sidestep-local-<name>` */
export function localScheduleArn(name: string): string {
  return `arn:aws:scheduler:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:schedule/${LOCAL_SCHEDULE_GROUP}/${localName(name)}`;
}

/**
 * A lookup by name found nothing; the message lists the names there are. A subclass per kind of
 * thing looked up (service, queue) sets `name` and passes its kind.
 */
export abstract class UnknownLocalNameError extends Error {
  /** The name asked for. */
  readonly requested: string;
  /** The names there are. */
  readonly known: readonly string[];
  constructor(kind: string, requested: string, known: readonly string[]) {
    super(`no local ${kind} named "${requested}" (known: ${known.join(', ') || 'none'})`);
    this.requested = requested;
    this.known = known;
  }
}
