import { isAbsolute, relative } from 'node:path';
import type { LocalCloud } from '@sidestep/local-cloud';
import { sendRateText } from '@sidestep/manifest';
import { fireScheduleCommand } from './fire-schedule.ts';

/** What the banner needs besides the running cloud. */
export interface BannerContext {
  readonly rootDir: string;
  /** Manifest queue names (`mail`), to print `MAIL_QUEUE_URL`-style variables. */
  readonly queueNames: readonly string[];
  /** Commands that start a workflow by an upload, e.g. `aws s3 cp users.csv s3://<bucket>/imports/`. */
  readonly uploadExamples?: readonly string[];
  /** Commands that start a workflow or fire a schedule otherwise (a message, an operator event). */
  readonly commandExamples?: readonly string[];
  /** The schedules, each printed as the command that fires it by hand at this cloud's endpoint. */
  readonly schedules?: readonly { readonly name: string; readonly description: string }[];
  /**
   * What the state dir held before the start: `resumed` (state of an earlier run, picked up),
   * `new` (missing, empty or none of the cloud's: nothing to resume) or `cleared` (by `--fresh`).
   */
  readonly state: StateAtStart;
  /** The operator web console's URL with its secret (opening it signs a browser in), when it runs. */
  readonly consoleUrl?: string;
}

/** What a start found in the state dir; see {@link BannerContext.state}. */
export type StateAtStart = 'resumed' | 'new' | 'cleared';

const STATE_AT_START: Readonly<Record<StateAtStart, string>> = {
  resumed: 'resumed: messages, objects, executions, schedules',
  new: 'new: nothing to resume, started empty',
  cleared: 'cleared (--fresh): started empty',
};

/** `mail` -> `MAIL_QUEUE_URL`, the variable name producers read a queue URL from. */
export function queueUrlVariable(queueName: string): string {
  return `${queueName.replace(/-/g, '_').toUpperCase()}_QUEUE_URL`;
}

/**
 * Who may do what: the deployed IAM policies enforced (an access key id naming a role acts as that
 * role, any other credentials as the operator), or, with `--no-iam`, a warning nobody can miss.
 */
function iamLines(cloud: LocalCloud): string[] {
  if (cloud.iam.enforced) {
    return [
      `  iam        enforced: the sidestep-local stack's policies (${cloud.iam.roles.length} roles); access key id = role name acts as that role, any other credentials = operator (full access)`,
    ];
  }
  return [
    '',
    '  !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    '  !!  IAM IS OFF (--no-iam): every call is allowed. A call that works now may be      !!',
    '  !!  AccessDenied on AWS. Start without --no-iam before trusting a local result.     !!',
    '  !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    '',
  ];
}

/**
 * The text `pnpm start` prints once the cloud is up: where everything is, and the exact
 * environment a producer in another terminal needs.
 */
export function formatBanner(cloud: LocalCloud, context: BannerContext): string {
  // Relative to the repository when inside it (`.sidestep/outbox/`), absolute otherwise.
  const path = (absolute: string) => {
    const inside = relative(context.rootDir, absolute);
    return `${inside.startsWith('..') || isAbsolute(inside) ? absolute : inside || '.'}/`;
  };
  const lines = [
    '',
    'sidestep local cloud is up (environment "local")',
    '',
    `  endpoint   ${cloud.endpoint}  SQS + S3 + Step Functions, region ${cloud.region}, account 000000000000`,
    ...(context.consoleUrl
      ? [`  console    ${context.consoleUrl}  operator web console (status, workflows, queues, jobs, mail)`]
      : []),
    ...iamLines(cloud),
  ];
  for (const { queue } of cloud.queues) {
    lines.push(`  queue      ${queue.url}`);
    lines.push(`  dlq        ${queue.deadLetter.url}`);
  }
  for (const { workflow, queue } of cloud.pipes) {
    lines.push(`  queue      ${queue.url}  (pipe -> workflow ${workflow})`);
    lines.push(`  dlq        ${queue.deadLetter.url}`);
  }
  for (const bucket of cloud.buckets) lines.push(`  bucket     ${bucket}  (s3://${bucket}, path-style)`);
  for (const machine of cloud.stepFunctions.stateMachines) {
    lines.push(`  workflow   ${machine.stateMachineArn}  (Step Functions API on the endpoint)`);
  }
  // The account's Fargate vCPU quota (--fargate-vcpus): what a RunTask past it meets.
  if (cloud.fargateVcpuQuota !== undefined) {
    lines.push(
      `  fargate    at most ${cloud.fargateVcpuQuota} vCPU${cloud.fargateVcpuQuota === 1 ? '' : 's'} of tasks at once (the account's vCPU quota); a RunTask past them starts nothing, as ECS refuses it, and the workflow waits for room`,
    );
  }
  // The account's Lambda concurrency quota (--lambda-concurrency): what an invocation past it meets.
  if (cloud.lambdaConcurrency !== undefined) {
    lines.push(
      `  lambda     at most ${cloud.lambdaConcurrency} invocation${cloud.lambdaConcurrency === 1 ? '' : 's'} of all functions at once (the account's concurrency quota); past them Lambda throttles (TooManyRequestsException) and the callers retry`,
    );
  }
  lines.push(
    `  state      ${path(cloud.stateDir)}  ${STATE_AT_START[context.state]}; kept across restarts (--fresh starts empty)`,
  );
  // A rate (--mail-max-send-rate): what the sink answers above it, and what the mail-dispatcher is told.
  const rate = cloud.mail.maxSendRate === undefined ? undefined : sendRateText(cloud.mail.maxSendRate);
  lines.push(
    `  smtp sink  ${cloud.smtpUrl}  mail lands in ${path(cloud.outboxDir)}${
      rate === undefined
        ? ''
        : `; at most ${rate} mails/s, above it 454 Throttling failure as SES (MAIL_MAX_SEND_RATE=${rate})`
    }`,
  );
  // The SES sandbox (--mail-sandbox-recipients): who mail may go to.
  const verified = cloud.mail.sandboxRecipients;
  if (verified !== undefined) {
    lines.push(
      `             the SES sandbox: mail only to ${verified.length > 0 ? verified.join(', ') : 'no one'}, to others 554 Email address is not verified`,
    );
  }
  if (cloud.databaseUrl) {
    const kind =
      cloud.databaseKind === 'embedded' ? `embedded PGlite, data in ${path(cloud.stateDir)}` : 'external';
    lines.push(`  database   ${cloud.databaseUrl}  (${kind})`);
    // PGlite serves one session at a time: a psql transaction left open holds up the services.
    lines.push(`             psql ${cloud.databaseUrl}`);
  }
  lines.push('', '  A producer in another terminal needs:');
  const variables: Record<string, string> = { ...cloud.producerEnvironment };
  for (const name of context.queueNames) variables[queueUrlVariable(name)] = cloud.queueUrl(name);
  lines.push(
    `    export ${Object.entries(variables)
      .map(([key, value]) => `${key}=${value}`)
      .join(' \\\n           ')}`,
  );
  lines.push('  (S3 clients also need forcePathStyle: true.)');
  if (context.uploadExamples?.length) {
    lines.push('', '  Start a workflow by uploading a file:');
    for (const example of context.uploadExamples) lines.push(`    ${example}`);
  }
  const fireCommands = (context.schedules ?? []).map(
    (schedule) => `${fireScheduleCommand(schedule.name, cloud.endpoint)}   # ${schedule.description}`,
  );
  const commands = [...(context.commandExamples ?? []), ...fireCommands];
  if (commands.length) {
    lines.push('', '  Request an export, fire a schedule by hand:');
    for (const example of commands) lines.push(`    ${example}`);
  }
  lines.push('', 'Ctrl-C stops everything.', '');
  return lines.join('\n');
}
