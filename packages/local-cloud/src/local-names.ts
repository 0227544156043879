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

/** The sidestep bus infra creates, `sidestep-<env>`: operator events go there. */
export const LOCAL_EVENT_BUS_NAME = `sidestep-${LOCAL_ENVIRONMENT}`;

/** `arn:aws:scheduler:<region>:<account>:schedule/sidestep-local/sidestep-local-<name>` */
export function localScheduleArn(name: string): string {
  return `arn:aws:scheduler:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:schedule/${LOCAL_EVENT_BUS_NAME}/${localName(name)}`;
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
