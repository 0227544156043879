import type { SynthesizedTerraformJson } from '@sidestep/iam';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import {
  type AccessDenial,
  callerName,
  createLocalIam,
  LOCAL_ROLES,
  type LocalIam,
  UNENFORCED_IAM,
} from './local-iam.ts';
import { localName } from './local-names.ts';

/** Reports a refusal to the console: who, which action, on what, and AWS's message. */
export function reportDenial(reporter: LocalCloudReporter): (denial: AccessDenial) => void {
  return (denial) =>
    reporter({
      type: 'access-denied',
      caller: callerName(denial.caller),
      action: denial.action,
      resource: denial.resource,
      message: denial.message,
    });
}

/** What {@link loadLocalIam} reads of the local cloud's options: the stack, and every caller. */
export interface LocalIamSetup {
  readonly stack?: SynthesizedTerraformJson;
  readonly iam?: boolean;
  readonly services: readonly { readonly manifest: { readonly name: string } }[];
  readonly functionUrls?: readonly { readonly name: string }[];
  readonly tasks?: readonly { readonly manifest: { readonly name: string } }[];
  readonly workflows?: readonly {
    readonly name: string;
    readonly triggers?: readonly { readonly ruleName?: string }[];
  }[];
  readonly pipes?: readonly { readonly source: { readonly name: string } }[];
  readonly schedules?: { readonly definitions: readonly { readonly name: string }[] };
}

/**
 * The IAM the cloud enforces: the stack's policies when one is given (and `iam` is not false),
 * else none. Every role the cloud runs a caller as must be one of the stack's: a caller whose role
 * the stack lacks fails the start with UnknownLocalRoleError instead of running unchecked. What the
 * loader could not read is reported (those statements fail closed).
 */
export function loadLocalIam(options: LocalIamSetup, reporter: LocalCloudReporter): LocalIam {
  if (!options.stack || options.iam === false) return UNENFORCED_IAM;
  const iam = createLocalIam({ stack: options.stack, onDenied: reportDenial(reporter) });
  const roles = [
    ...options.services.map((service) => LOCAL_ROLES.service(service.manifest.name)),
    ...(options.functionUrls ?? []).map((url) => LOCAL_ROLES.service(url.name)),
    ...(options.tasks ?? []).flatMap((task) => [
      LOCAL_ROLES.task(task.manifest.name),
      LOCAL_ROLES.taskExecution(task.manifest.name),
    ]),
    ...(options.workflows ?? []).flatMap((workflow) => [
      LOCAL_ROLES.workflow(workflow.name),
      ...(workflow.triggers ?? []).map((trigger) =>
        LOCAL_ROLES.rule(trigger.ruleName ?? `${localName(workflow.name)}-trigger`),
      ),
    ]),
    ...(options.pipes ?? []).map((pipe) => LOCAL_ROLES.pipe(pipe.source.name)),
    ...(options.schedules?.definitions ?? []).map((schedule) => LOCAL_ROLES.schedule(schedule.name)),
  ];
  for (const role of roles) iam.role(role);
  for (const warning of iam.warnings) reporter({ type: 'error', source: 'iam', message: warning });
  return iam;
}
