import { join, resolve } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { type SynthesizedTerraformJson, statesAuthorization } from '@sidestep/iam';
import type { InvokeResult } from '@sidestep/lambda-runtime';
import { checkSendRate, functionLogGroupName, pacedForSendRate, taskLogGroupName } from '@sidestep/manifest';
import { startAsyncInvocations } from './async-invocation.ts';
import { type AwsEndpoint, startAwsEndpoint } from './aws-endpoint.ts';
import { createConsoleReporter } from './console-reporter.ts';
import { endpointAuthorizer } from './endpoint-authorization.ts';
import { executionMetricSamples, requestReads } from './execution-metrics.ts';
import { checkServiceBundles, startFunctionHosts } from './function-hosts.ts';
import { accountConcurrency } from './lambda-concurrency.ts';
import { lambdaInvokeApi } from './lambda-invoke.ts';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import { CLOUDWATCH_TARGET_PREFIX, createLocalCloudWatch } from './local-cloudwatch.ts';
import { DEFAULT_DATABASE_PORT, type LocalDatabase, startLocalDatabase } from './local-database.ts';
import { databaseSecretArn, localDatabaseSecret } from './local-database-secret.ts';
import {
  assertAuthorizedForRule,
  LOCAL_OPERATOR_ACCESS_KEY_ID,
  LOCAL_ROLES,
  type LocalIam,
} from './local-iam.ts';
import { loadLocalIam, reportDenial } from './local-iam-setup.ts';
import { createLocalLogs, LOGS_TARGET_PREFIX } from './local-logs.ts';
import {
  LOCAL_ENVIRONMENT,
  LOCAL_EVENT_BUS_NAME,
  LOCAL_REGION,
  localName,
  localScheduleArn,
  localStateMachineArn,
} from './local-names.ts';
import { createLocalQueues, type LocalQueues } from './local-queues.ts';
import { randomSecretValue } from './local-secrets.ts';
import {
  LOCAL_STATE,
  lastFiredFile,
  lockStateDir,
  pendingFiringsFile,
  pendingInvocationsFile,
  type StateDirLock,
} from './local-state.ts';
import { type LocalTriggersOptions, startLocalTriggers } from './local-triggers.ts';
import { checkTaskBundles, startLocalWorkflows } from './local-workflows.ts';
import { startPipe } from './pipe.ts';
import { startQueueConsumers } from './queue-consumers.ts';
import { queueAgeSamples } from './queue-metrics.ts';
import type { JobQueue } from './queues.ts';
import { createSchedulesDeadLetterQueue, deadLetterFiring, deliverFiring } from './schedule-delivery.ts';
import { type ScheduleDeadLetter, type ScheduleFiring, type Scheduler, startScheduler } from './scheduler.ts';
import {
  claimCheckBucketName,
  exportsBucketName,
  importsBucketName,
  LOCAL_MAIL_FROM,
  type LocalResources,
  needsDatabase,
} from './service-environment.ts';
import { type SmtpSink, startSmtpSink } from './smtp-sink.ts';
import { stackLifecycleRules } from './stack-lifecycle-rules.ts';
import { AbortableStartStack, type Started, startPhase } from './start-phase.ts';
import { prepareStateDir } from './state-dir.ts';
import type { LocalStepFunctions } from './step-functions.ts';

export { MissingServiceBundleError, UnknownServiceError } from './function-hosts.ts';
export type {
  LocalExecutionStatusRule,
  LocalFunctionUrl,
  LocalPipe,
  LocalSchedules,
  LocalService,
  LocalServiceUrls,
  LocalTask,
  LocalWorkflow,
  LocalWorkflowResources,
  LocalWorkflowTrigger,
} from './local-definitions.ts';
export { RoleNotAssumableError } from './local-iam.ts';
export { UnknownQueueError } from './local-queues.ts';
export { MissingTaskBundleError } from './local-workflows.ts';

import type {
  LocalExecutionStatusRule,
  LocalFunctionUrl,
  LocalPipe,
  LocalSchedules,
  LocalService,
  LocalTask,
  LocalWorkflow,
} from './local-definitions.ts';

/**
 * The maximum sending rate of an account in the SES sandbox: "You can send a maximum of 1 message per
 * second" (https://docs.aws.amazon.com/ses/latest/dg/request-production-access.html).
 */
const SES_SANDBOX_MAX_SEND_RATE = 1;

/** Options of {@link startLocalCloud}. */
export interface LocalCloudOptions {
  /** The repository root; state goes to `<rootDir>/.sidestep`. */
  readonly rootDir: string;
  readonly services: readonly LocalService[];
  /** Fargate tasks, run as child processes by `ecs:runTask.sync`. @default none */
  readonly tasks?: readonly LocalTask[];
  /** Step Functions workflows, with their EventBridge triggers. @default none */
  readonly workflows?: readonly LocalWorkflow[];
  /**
   * The rule for the workflows' ended executions, built from their state machine ARNs
   * (`executionStatusRule` of @sidestep/workflows). @default none
   */
  readonly executionStatusRule?: (stateMachineArns: readonly string[]) => LocalExecutionStatusRule;
  /** Which Step Functions status change events are lost on their way to the bus, as AWS allows (see `startLocalTriggers`). */
  readonly lostStatusChange?: LocalTriggersOptions['lostStatusChange'];
  /** EventBridge Pipes from queues to workflows (the export requests). @default none */
  readonly pipes?: readonly LocalPipe[];
  /** EventBridge Scheduler schedules and their operator rules. @default none */
  readonly schedules?: LocalSchedules;
  /** More buckets to create (the exports bucket). @default none */
  readonly buckets?: readonly string[];
  /** Functions answering HTTP through function URLs on the endpoint (the export download). @default none */
  readonly functionUrls?: readonly LocalFunctionUrl[];
  /**
   * Pause before every workflow retry in ms instead of the definition's intervals (tests).
   * @default the definition's
   */
  readonly retryIntervalMs?: number;
  /**
   * The account's Fargate vCPU quota ("Fargate On-Demand vCPU resource count", Service Quotas
   * `L-3032A538`): how many vCPUs the cloud's Fargate tasks may hold at once. A RunTask past it starts
   * nothing and fails as ECS fails it (`withVcpuQuota`), so a workflow's wait for room can be tried
   * here. A new account's quota may fit only a task or two
   * (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html). @default no limit
   */
  readonly fargateVcpuQuota?: number;
  /**
   * The account's Lambda concurrency quota ("Concurrent executions", Service Quotas `L-B99A9384`):
   * how many invocations of all the cloud's functions may run at once. Past it an invocation runs
   * nothing and is throttled as Lambda throttles it (`accountConcurrency`): Invoke answers 429
   * `TooManyRequestsException`, a workflow step fails `Lambda.TooManyRequestsException` (which the
   * workflows retry), an asynchronous invocation and a queue's batch are tried again later. A new
   * account's quota may be 10 (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html).
   * @default no limit
   */
  readonly lambdaConcurrency?: number;
  /**
   * Waits before the retries of a function a rule or schedule invoked asynchronously and that failed,
   * instead of Lambda's one and two minutes (tests). @default [60000, 120000]
   */
  readonly asyncRetryDelaysMs?: readonly number[];
  /** SQS + S3 port. @default 4566 (0 picks a free port) */
  readonly port?: number;
  /** SMTP sink port. @default 1025 (0 picks a free port) */
  readonly smtpPort?: number;
  /**
   * Mail as SES sends it. `maxSendRate`: the SES maximum sending rate (mails per second, above 0 and
   * at most 100000; else `InvalidSendRateError` naming `mail.maxSendRate`, before anything starts)
   * the SMTP sink enforces, answering a mail over it with 454 as SES does, and which services granted
   * `mail-identity` get as `MAIL_MAX_SEND_RATE`, as infra gives the mail-dispatcher on AWS.
   * `sandboxRecipients`: the SES sandbox, as a new account's SES is in it: the verified identities
   * (addresses, or domains) mail may go to, as infra's `MAIL_SANDBOX_RECIPIENTS` lists them; the sink
   * refuses a mail to any other recipient with 554 "Email address is not verified", and one past 200
   * recipients in 24 hours with 454 "Daily message quota exceeded", as SES does, and its rate is 1 a
   * second unless `maxSendRate` says otherwise
   * (https://docs.aws.amazon.com/ses/latest/dg/request-production-access.html).
   * @default no rate: the sink takes every mail, and no `MAIL_MAX_SEND_RATE`; no sandbox
   */
  readonly mail?: { readonly maxSendRate?: number; readonly sandboxRecipients?: readonly string[] };
  /** Interface every server binds. @default '127.0.0.1' */
  readonly host?: string;
  /**
   * A real PostgreSQL server to use (it is migrated at start). Without it, services that need a
   * database get an embedded PGlite served over the wire protocol, its data under the state dir.
   * @default embedded
   */
  readonly databaseUrl?: string;
  /**
   * Port of the embedded PostgreSQL; a taken port fails the start with `DatabasePortInUseError`.
   * @default 5433 (0 picks a free port)
   */
  readonly databasePort?: number;
  /** @default `<rootDir>/.sidestep` */
  readonly stateDir?: string;
  /**
   * The caller's hold on `stateDir` (`lockStateDir`), taken before it cleared the directory
   * (`npm start -- --fresh`); the caller releases it. @default one taken here, released at stop
   */
  readonly stateDirLock?: StateDirLock;
  /** @default a console reporter printing to stdout */
  readonly reporter?: LocalCloudReporter;
  /**
   * Start each function's first sandbox, and run its init, as the cloud starts, so `npm start`
   * reports every cold start (and a bundle that cannot start) at once and the first job finds a warm
   * sandbox. With false a function's sandboxes start on its invocations, as Lambda starts an
   * on-demand function's (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html):
   * what a test that drives a few of the functions wants. @default true
   */
  readonly prewarm?: boolean;
  /** How long stop() lets invocations in flight finish before killing sandboxes. @default 5000 */
  readonly stopGraceMs?: number;
  /**
   * The synthesized Terraform JSON of the `sidestep-local` stack (what `pnpm --filter
   * @sidestep/infra run synth` writes to `cdktf.out/stacks/sidestep-local/cdk.tf.json`): every call
   * to the endpoint and every in-process call (a workflow's tasks, the pipes, schedules and rules)
   * is checked against its IAM policies, as on AWS. @default none: nothing is checked
   */
  readonly stack?: SynthesizedTerraformJson;
  /** `false` turns the IAM checks off even with a {@link stack} (debugging). @default true */
  readonly iam?: boolean;
  /**
   * Aborts the start (`npm start` aborts it on Ctrl-C): checked after each phase, which then stops
   * what the phases before it started, in reverse order, and rejects with the signal's reason, so
   * an interrupted start leaves no sandbox, task or temporary directory behind. @default none
   */
  readonly signal?: AbortSignal;
}

/** A running local cloud. */
export interface LocalCloud {
  /** The SQS + S3 endpoint, e.g. `http://127.0.0.1:4566`. */
  readonly endpoint: string;
  readonly region: string;
  readonly smtpPort: number;
  /** `smtp://127.0.0.1:<port>` */
  readonly smtpUrl: string;
  /**
   * The SMTP sink's maximum send rate (mails per second), if any, and how many mails it throttled so
   * far for being over it (not those over a sandbox's daily quota, which are `mail-quota-exceeded`
   * events); the verified recipients of its SES sandbox, if it has one.
   */
  readonly mail: {
    readonly maxSendRate: number | undefined;
    readonly throttled: number;
    readonly sandboxRecipients: readonly string[] | undefined;
  };
  /** The database services use, when one of them needs it (the operator's URL: `psql`, the banner). */
  readonly databaseUrl: string | undefined;
  /**
   * The ARN of the secret the services and tasks granted `database-secret` get as `DATABASE_SECRET_ARN`
   * (the RDS JSON of {@link databaseUrl}'s user), when there is a database.
   */
  readonly databaseSecretArn: string | undefined;
  /** `embedded` PGlite, the `external` server given as `databaseUrl`, or none. */
  readonly databaseKind: 'embedded' | 'external' | undefined;
  /** The vCPUs the cloud's Fargate tasks may hold at once ({@link LocalCloudOptions.fargateVcpuQuota}), or no limit. */
  readonly fargateVcpuQuota: number | undefined;
  /** The invocations the cloud's functions may run at once ({@link LocalCloudOptions.lambdaConcurrency}), or no limit. */
  readonly lambdaConcurrency: number | undefined;
  readonly stateDir: string;
  /** Where the SMTP sink writes `.eml` files: `<stateDir>/outbox`. */
  readonly outboxDir: string;
  /** Each service's job queue and DLQ. */
  readonly queues: readonly { readonly service: string; readonly queue: JobQueue }[];
  /**
   * The URL of a queue, by manifest queue name (`mail`), full name (`sidestep-local-mail`) or DLQ
   * name (`sidestep-local-mail-dlq`). Throws `UnknownQueueError` for any other name.
   */
  queueUrl(name: string): string;
  /**
   * Invokes a service directly (RequestResponse), as a workflow task or `aws lambda invoke` would.
   * Throws `UnknownServiceError` for a service the cloud does not run; rejects with
   * `TooManyRequestsError` past the account's concurrency (`lambdaConcurrency`).
   */
  invoke(service: string, event: unknown): Promise<InvokeResult>;
  /** What a producer process needs to reach this cloud: endpoint, region, dummy credentials. */
  readonly producerEnvironment: Readonly<Record<string, string>>;
  /** Step Functions: the workflows' state machines and their executions. */
  readonly stepFunctions: LocalStepFunctions;
  /**
   * Interrupts a running Fargate task as a Fargate Spot reclaim does: SIGTERM, SIGKILL two minutes
   * later, stopped with stop code `SpotInterruption` (which the workflows run again). `false` when no
   * such task is running. A local means to rehearse what AWS does to Spot tasks at any time.
   */
  interruptTask(taskArn: string): Promise<boolean>;
  /** Buckets created at start (`sidestep-local-imports`, ...). */
  readonly buckets: readonly string[];
  /** Each pipe's source queue (with its DLQ) and the workflow it starts. */
  readonly pipes: readonly { readonly workflow: string; readonly queue: JobQueue }[];
  /** The bus operator events go to (`sidestep-local`), answered by PutEvents on {@link endpoint}. */
  readonly eventBusName: string;
  /** The scheduler firing {@link LocalCloudOptions.schedules}, when given. */
  readonly scheduler: Scheduler | undefined;
  /** The URL of a function URL by name: `<endpoint>/lambda-url/<name>/`. */
  functionUrl(name: string): string;
  /** Whether calls are checked against the stack's IAM policies, and the roles callers act as. */
  readonly iam: { readonly enforced: boolean; readonly roles: readonly string[] };
  /**
   * Stops executions (and their tasks, SIGTERM then SIGKILL), pollers, lets invocations in flight
   * finish briefly, kills sandboxes, closes servers.
   */
  stop(): Promise<void>;
}

/**
 * Starts the embedded local cloud: SQS and S3 on one endpoint, each service's job queue and DLQ
 * (created from its manifest with the attributes infra sets), each service as warm sandboxes
 * behind the Lambda Runtime API, an event source mapping per consumed queue, an SMTP sink and,
 * when a service needs one, PostgreSQL; then the workflows, the EventBridge rules that start them,
 * the pipes and the schedules.
 *
 * Each step owns what it starts and how to stop it; stop() (or a step failing half way) stops
 * everything started in reverse order: consumers before what they consume from.
 *
 * @example
 * ```ts
 * const cloud = await startLocalCloud({
 *   rootDir: repoRoot,
 *   services: [{ manifest: service, bundleDir: 'services/mail-dispatcher/dist' }],
 * });
 * await sqs.send(new SendMessageCommand({ QueueUrl: cloud.queueUrl('mail'), MessageBody }));
 * await cloud.stop();
 * ```
 */
export async function startLocalCloud(options: LocalCloudOptions): Promise<LocalCloud> {
  const host = options.host ?? '127.0.0.1';
  const stateDir = resolve(options.stateDir ?? join(options.rootDir, '.sidestep'));
  const report = options.reporter ?? createConsoleReporter({ baseDir: options.rootDir });
  // CloudWatch Logs: every line a function or a task writes, kept in the log group AWS gives it
  // (infra's `/aws/lambda/<function>`, the batch task's awslogs `/ecs/<family>`, stream
  // `<prefix>/<container>/<task id>`), read with FilterLogEvents on the endpoint (`sidestep job logs`).
  const logs = createLocalLogs({
    dir: join(stateDir, LOCAL_STATE.logs),
    onError: (error) =>
      report({
        type: 'error',
        source: 'cloudwatch logs',
        message: `a log line was not kept: ${error.message}`,
      }),
  });
  /** Each task's container, by the task's name: its awslogs stream is `<task name>/<container>/<task id>`. */
  const taskContainers = new Map(
    (options.tasks ?? []).map(({ manifest }) => [manifest.name, manifest.containerName]),
  );
  const logGroupOf = (service: string) =>
    taskContainers.has(service)
      ? taskLogGroupName(LOCAL_ENVIRONMENT, service)
      : functionLogGroupName(LOCAL_ENVIRONMENT, service);
  for (const { manifest } of [...options.services, ...(options.tasks ?? [])])
    logs.createGroup(logGroupOf(manifest.name));
  const reporter: LocalCloudReporter = (event) => {
    if (event.type === 'log') {
      logs.append(
        logGroupOf(event.service),
        event.taskArn === undefined
          ? `${new Date().toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]local`
          : `${event.service}/${taskContainers.get(event.service)}/${event.taskArn.split('/').pop()}`,
        event.line,
      );
    }
    report(event);
  };
  const stopGraceMs = options.stopGraceMs ?? 5_000;
  const tasks = options.tasks ?? [];
  const workflows = options.workflows ?? [];
  // A sandboxed account's SES sends "a maximum of 1 message per second" unless a rate is given.
  const maxSendRate =
    options.mail?.maxSendRate === undefined
      ? options.mail?.sandboxRecipients === undefined
        ? undefined
        : SES_SANDBOX_MAX_SEND_RATE
      : checkSendRate(options.mail.maxSendRate, 'mail.maxSendRate');
  // A mail sender's queue mapping sized for the rate, as infra sizes it and its function divides it.
  const services = options.services.map((service) => ({
    ...service,
    manifest: pacedForSendRate(service.manifest, maxSendRate),
  }));

  const stack = new AbortableStartStack(options.signal);
  try {
    options.signal?.throwIfAborted();
    // One local cloud a state directory: a second would rewrite the first's files under it. Taking
    // the lock proves the directory writable first (prepareStateDir), as a caller's lock did.
    if (options.stateDirLock === undefined) {
      const lock = await lockStateDir(stateDir);
      stack.defer(() => lock.release());
    } else {
      // A lock of another directory would let two clouds share this one.
      if (resolve(options.stateDirLock.stateDir) !== stateDir) {
        throw new Error(`stateDirLock holds ${options.stateDirLock.stateDir}, not the state dir ${stateDir}`);
      }
      await prepareStateDir(stateDir);
    }
    // Before anything starts: a service or a task without its bundle would come up failing every
    // invocation, or every job.
    checkServiceBundles(services, options.functionUrls ?? [], options.rootDir);
    await checkTaskBundles(tasks, options.rootDir);
    const iam = loadLocalIam(options, reporter);
    const { endpoint, sqs } = stack.use(
      await startAws(host, options.port ?? 4566, join(stateDir, LOCAL_STATE.aws), iam, reporter),
    );
    createStackSecrets(endpoint, options.stack);
    endpoint.serveJsonApi(LOGS_TARGET_PREFIX, logs.api);
    // The last lines of the processes stopped after this reach the disk before the cloud reports stopped.
    stack.defer(() => logs.flushed());
    const queues = await createLocalQueues(sqs, services, options.pipes ?? [], reporter);
    const { smtp } = stack.use(
      await startMailSink(join(stateDir, LOCAL_STATE.outbox), host, options.smtpPort, reporter, {
        maxSendRate,
        sandboxRecipients: options.mail?.sandboxRecipients,
      }),
    );
    const { database } = stack.use(await startDatabase(options, stateDir, host, reporter));
    const resources: LocalResources = {
      environment: LOCAL_ENVIRONMENT,
      region: LOCAL_REGION,
      awsEndpoint: endpoint.url,
      smtpUrl: smtp.url,
      ...(maxSendRate !== undefined ? { mailMaxSendRate: maxSendRate } : {}),
      ...(database ? createDatabaseSecret(endpoint, options.stack, database) : {}),
      ...(queues.mailQueueUrl ? { mailQueueUrl: queues.mailQueueUrl } : {}),
      workflowStateMachineArns: (options.workflows ?? []).map((workflow) =>
        localStateMachineArn(workflow.name),
      ),
    };
    const concurrency = accountConcurrency(
      options.lambdaConcurrency,
      (functionName, limit) => reporter({ type: 'lambda-throttled', functionName, limit }),
      // CloudWatch keeps the metric: a restart keeps the throttles.
      { throttlesFile: join(stateDir, LOCAL_STATE.lambdaThrottles) },
    );
    stack.defer(() => concurrency.flush());
    const functions = stack.use(
      await startFunctionHosts({
        services,
        functionUrls: options.functionUrls ?? [],
        rootDir: options.rootDir,
        endpoint,
        queues: queues.byService,
        resources,
        reporter,
        prewarm: options.prewarm ?? true,
        concurrency,
      }),
    );
    const invoke = (service: string, payload: unknown) => functions.byService.get(service)?.invoke(payload);
    // Rules and schedules invoke functions asynchronously: Lambda's retries and on-failure destination.
    const asyncInvocations = startAsyncInvocations({
      invoke,
      sqs,
      iam,
      reporter,
      ...(options.asyncRetryDelaysMs ? { retryDelaysMs: options.asyncRetryDelaysMs } : {}),
      // Lambda keeps accepted events apart from the caller: a restart (or a crash) loses none.
      pendingInvocations: pendingInvocationsFile(join(stateDir, LOCAL_STATE.pendingInvocations)),
    });
    stack.defer(() => asyncInvocations.stop());
    const { invokeAsync } = asyncInvocations;
    // Lambda's Invoke API on the endpoint (IAM checked by its authorizer): the same two paths.
    endpoint.serveLambdaInvoke(
      lambdaInvokeApi({ invoke, invokeAsync, runs: (service) => functions.byService.has(service) }),
    );
    stack.use(
      await startQueueConsumers({
        sqs,
        endpoint,
        services,
        queues: queues.byService,
        functions: functions.byService,
        stopGraceMs,
        deadLetterQueues: queues.pipes.map(({ queue }) => queue.deadLetter.name),
        iam,
        reporter,
      }),
    );
    const buckets = await createBuckets(endpoint, options, reporter);
    const { stepFunctions, interruptTask } = stack.use(
      await startLocalWorkflows({
        workflows,
        tasks,
        rootDir: options.rootDir,
        endpoint,
        sqs,
        queueUrl: queues.queueUrl,
        invoke,
        resources,
        ...(options.retryIntervalMs !== undefined ? { retryIntervalMs: options.retryIntervalMs } : {}),
        stopGraceMs,
        iam,
        reporter,
        executionsFile: join(stateDir, LOCAL_STATE.executions),
        // The embedded database serves one session at a time: one batch task at a time keeps the
        // status-updater's short transactions moving between imports. PostgreSQL serves them all.
        ...(database?.kind === 'embedded' ? { taskCapacity: 1 } : {}),
        ...(options.fargateVcpuQuota !== undefined ? { fargateVcpuQuota: options.fargateVcpuQuota } : {}),
      }),
    );
    // CloudWatch's GetMetricData for what operator tools read of it on AWS: the executions' counts
    // per state machine, each queue's oldest message age and each function's throttles, computed from
    // the executions, the queues and the account's concurrency when asked.
    endpoint.serveJsonApi(
      CLOUDWATCH_TARGET_PREFIX,
      createLocalCloudWatch(() => {
        const reads = requestReads(stepFunctions);
        return async (metric, from, to) => {
          if (metric.namespace === 'AWS/States') {
            return executionMetricSamples(stepFunctions, metric, { ...reads, from, to });
          }
          if (metric.namespace === 'AWS/Lambda') return concurrency.throttleSamples(metric, from, to);
          return queueAgeSamples((queueName) => endpoint.peek(queueName), metric, Date.now(), to);
        };
      }).api,
    );
    // A schedule delivers as its role; an operator rule as EventBridge, on the target's resource policy.
    const deliver = (firing: ScheduleFiring, ruleArn?: string) =>
      deliverFiring(firing, {
        sqs,
        queueUrl: queues.queueUrl,
        invokeAsync,
        reporter,
        authorize: (checks) =>
          ruleArn === undefined
            ? iam.assertAuthorized(iam.role(LOCAL_ROLES.schedule(firing.schedule.name)), checks)
            : assertAuthorizedForRule(iam, ruleArn, checks),
      });
    const triggers = await startLocalTriggers({
      endpoint,
      sqs,
      workflows,
      stepFunctions,
      ...(options.executionStatusRule ? { executionStatusRule: options.executionStatusRule } : {}),
      ...(options.lostStatusChange ? { lostStatusChange: options.lostStatusChange } : {}),
      invokeAsync,
      ...(options.schedules ? { schedules: options.schedules } : {}),
      deliver,
      iam,
      reporter,
    });
    // A delivery waiting for its retry ends with the cloud (EventBridge would go on retrying).
    stack.defer(() => triggers.stop());
    // The executions the last run left running, failed when the store opened, reach the bus now
    // that its rules listen: the status-updater marks their jobs failed, as on AWS.
    stepFunctions.reportLostExecutions();
    // Pipes and the scheduler start last: what they start (executions, functions) is all up.
    stack.use(await startPipes(queues, stepFunctions, sqs, iam, reporter));
    const { scheduler } = stack.use(
      await startSchedules(options.schedules, {
        deliver,
        // Scheduler dead-letters with the schedule's role, as it delivers.
        deadLetter: (firing, failure, queueUrl) =>
          deadLetterFiring(firing, failure, {
            sqs,
            queueUrl,
            authorize: (checks) =>
              iam.assertAuthorized(iam.role(LOCAL_ROLES.schedule(firing.schedule.name)), checks),
          }),
        sqs,
        lastFiredPath: join(stateDir, LOCAL_STATE.schedules),
        pendingFiringsPath: join(stateDir, LOCAL_STATE.pendingFirings),
        reporter,
      }),
    );

    options.signal?.throwIfAborted();
    const running = stack.move();
    let stopped: Promise<void> | undefined;
    return {
      endpoint: endpoint.url,
      region: LOCAL_REGION,
      smtpPort: smtp.port,
      smtpUrl: smtp.url,
      mail: {
        maxSendRate: smtp.maxSendRate,
        get throttled() {
          return smtp.throttled;
        },
        sandboxRecipients: options.mail?.sandboxRecipients,
      },
      databaseUrl: database?.url,
      databaseSecretArn: resources.databaseSecretArn,
      databaseKind: database?.kind,
      fargateVcpuQuota: options.fargateVcpuQuota,
      lambdaConcurrency: options.lambdaConcurrency,
      stateDir,
      outboxDir: smtp.outboxDir,
      queues: [...queues.byService].map(([service, queue]) => ({ service, queue })),
      queueUrl: queues.queueUrl,
      invoke: functions.invoke,
      producerEnvironment: {
        AWS_ENDPOINT_URL: endpoint.url,
        AWS_REGION: LOCAL_REGION,
        AWS_ACCESS_KEY_ID: LOCAL_OPERATOR_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: 'local',
      },
      stepFunctions,
      interruptTask,
      buckets,
      pipes: queues.pipes.map(({ pipe, queue }) => ({ workflow: pipe.workflow, queue })),
      eventBusName: LOCAL_EVENT_BUS_NAME,
      scheduler,
      functionUrl: functions.functionUrl,
      iam: { enforced: iam.enforced, roles: iam.roleNames },
      stop() {
        stopped ??= running.disposeAsync();
        return stopped;
      },
    };
  } catch (error) {
    await stack.disposeAsync();
    throw error;
  }
}

/** SQS and S3 on one endpoint, and the SQS client the cloud itself uses on it. */
function startAws(
  host: string,
  port: number,
  dataDir: string,
  iam: LocalIam,
  reporter: LocalCloudReporter,
): Promise<Started<{ endpoint: AwsEndpoint; sqs: SQSClient }>> {
  return startPhase(reporter, async (defer) => {
    const endpoint = await startAwsEndpoint({
      host,
      port,
      dataDir,
      ...(iam.enforced ? { authorize: endpointAuthorizer(iam, reportDenial(reporter)) } : {}),
      bucketPolicy: (bucket) => iam.bucketPolicy(bucket),
      lifecycle: {
        onError: (error) =>
          reporter({
            type: 'error',
            source: 's3 lifecycle',
            message: error instanceof Error ? error.message : String(error),
          }),
      },
    });
    defer(() => endpoint.stop());
    const sqs = new SQSClient({
      endpoint: endpoint.url,
      region: LOCAL_REGION,
      credentials: { accessKeyId: LOCAL_OPERATOR_ACCESS_KEY_ID, secretAccessKey: 'local' },
    });
    defer(() => sqs.destroy());
    return { endpoint, sqs };
  });
}

/**
 * The stack's Secrets Manager secrets (`aws_secretsmanager_secret`), each created on the endpoint with
 * a random value ({@link randomSecretValue}) unless kept from an earlier start: on AWS the stack
 * creates them and an operator puts their value (infra's ExportDownload). Their ARNs are the ones the
 * stack's policies resolve to (`localSecretArn`). Nothing to stop: the secrets live in the endpoint.
 */
function createStackSecrets(endpoint: AwsEndpoint, stack: SynthesizedTerraformJson | undefined): void {
  for (const secret of Object.values(stack?.resource?.aws_secretsmanager_secret ?? {})) {
    if (typeof secret?.name === 'string') endpoint.createSecret(secret.name, randomSecretValue);
  }
}

/**
 * The database secret the stack names by its ARN (infra's `databaseSecretArn`: on AWS an operator
 * creates it outside the stack), made current with the RDS JSON of `database`'s user at every start:
 * what the services and tasks granted `database-secret` get, as their `DATABASE_SECRET_ARN`, with
 * their database client variables. A PutSecretValue made on it (a rotation) lasts until the next
 * start, which puts the database's URL's credentials back.
 */
function createDatabaseSecret(
  endpoint: AwsEndpoint,
  stack: SynthesizedTerraformJson | undefined,
  database: LocalDatabase,
): Pick<LocalResources, 'databaseSecretArn' | 'databaseEnvironment'> {
  const secret = localDatabaseSecret(database.url);
  const arn = databaseSecretArn(stack);
  endpoint.putSecretValue(arn, secret.value);
  return {
    databaseSecretArn: arn,
    databaseEnvironment: { ...database.clientEnvironment, ...secret.clientEnvironment },
  };
}

/**
 * The SMTP sink services send mail to, reporting each mail with the links in it, each mail it
 * throttled when it has a maximum send rate, and each mail its SES sandbox refused.
 */
function startMailSink(
  outboxDir: string,
  host: string,
  port: number | undefined,
  reporter: LocalCloudReporter,
  {
    maxSendRate,
    sandboxRecipients,
  }: { maxSendRate?: number; sandboxRecipients?: readonly string[] | undefined },
): Promise<Started<{ smtp: SmtpSink }>> {
  return startPhase(reporter, async (defer) => {
    const smtp = await startSmtpSink({
      outboxDir,
      host,
      port: port ?? 1025,
      onMail: (mail) =>
        reporter({
          type: 'mail-delivered',
          to: mail.to,
          subject: mail.subject,
          file: mail.file,
          links: mail.links,
        }),
      onError: (error) => reporter({ type: 'error', source: 'smtp sink', message: error.message }),
      // The stack's SES identity: the domain of the MAIL_FROM the services are given.
      verifiedSenders: {
        identities: [LOCAL_MAIL_FROM.slice(LOCAL_MAIL_FROM.indexOf('@') + 1)],
        region: LOCAL_REGION,
      },
      onRejected: (mail) => reporter({ type: 'mail-rejected', ...mail }),
      ...(maxSendRate !== undefined
        ? { maxSendRate, onThrottle: (mail) => reporter({ type: 'mail-throttled', ...mail }) }
        : {}),
      ...(sandboxRecipients !== undefined
        ? {
            sandbox: { verifiedRecipients: sandboxRecipients, region: LOCAL_REGION },
            onQuotaExceeded: (mail) => reporter({ type: 'mail-quota-exceeded', ...mail }),
          }
        : {}),
    });
    defer(() => smtp.stop());
    return { smtp };
  });
}

/** PostgreSQL, when a service or task needs one: the given server, or embedded PGlite. */
function startDatabase(
  options: LocalCloudOptions,
  stateDir: string,
  host: string,
  reporter: LocalCloudReporter,
): Promise<Started<{ database: LocalDatabase | undefined }>> {
  return startPhase(reporter, async (defer) => {
    const manifests = [...options.services, ...(options.tasks ?? [])].map((entry) => entry.manifest);
    if (!needsDatabase(manifests)) return { database: undefined };
    const database = await startLocalDatabase({
      ...(options.databaseUrl !== undefined ? { url: options.databaseUrl } : {}),
      dataDir: join(stateDir, LOCAL_STATE.database),
      host,
      port: options.databasePort ?? DEFAULT_DATABASE_PORT,
    });
    defer(() => database.close());
    return { database };
  });
}

/**
 * Every trigger's bucket (EventBridge notifications on), the imports and exports buckets when a
 * service or task holds `imports-bucket` / `exports-bucket`, the claim-check bucket when a service
 * consumes a queue, and the buckets asked for; all versioned, each with the lifecycle rules the
 * stack gives it (when a stack is given), which the endpoint applies as S3 does. Nothing to stop:
 * the buckets live in the endpoint.
 */
async function createBuckets(
  endpoint: AwsEndpoint,
  options: LocalCloudOptions,
  reporter: LocalCloudReporter,
): Promise<string[]> {
  const workflows = options.workflows ?? [];
  const notifying = new Set(workflows.flatMap((w) => (w.triggers ?? []).map((t) => t.bucketName)));
  const buckets = new Set(notifying);
  const holders = [...options.services, ...(options.tasks ?? [])].map((entry) => entry.manifest);
  const holds = (resource: string) => holders.some((m) => m.permissions.some((p) => p.resource === resource));
  if (holds('imports-bucket')) buckets.add(importsBucketName(LOCAL_ENVIRONMENT));
  if (holds('exports-bucket')) buckets.add(exportsBucketName(LOCAL_ENVIRONMENT));
  if (options.services.some((service) => service.manifest.queue)) {
    buckets.add(claimCheckBucketName(LOCAL_ENVIRONMENT));
  }
  for (const bucket of options.buckets ?? []) buckets.add(bucket);
  const lifecycles = options.stack ? stackLifecycleRules(options.stack) : undefined;
  for (const bucket of buckets) {
    // Versioned, with its lifecycle, as infra's createPrivateBucket makes every sidestep bucket.
    const lifecycleRules = lifecycles?.get(bucket);
    await endpoint.createBucket(bucket, {
      eventBridge: notifying.has(bucket),
      versioned: true,
      ...(lifecycleRules ? { lifecycleRules } : {}),
    });
    reporter({ type: 'bucket-created', bucket, eventBridge: notifying.has(bucket) });
  }
  return [...buckets];
}

/** Each pipe, polling its source queue and starting its workflow's state machine per message. */
function startPipes(
  queues: LocalQueues,
  stepFunctions: LocalStepFunctions,
  sqs: SQSClient,
  iam: LocalIam,
  reporter: LocalCloudReporter,
): Promise<Started<object>> {
  return startPhase(reporter, (defer) => {
    for (const { pipe, queue } of queues.pipes) {
      const stateMachineArn = stepFunctions.stateMachineArn(localName(pipe.workflow));
      const role = iam.role(LOCAL_ROLES.pipe(pipe.source.name));
      const running = startPipe({
        name: `${queue.name}-pipe`,
        sqs,
        queue: { url: queue.url, arn: queue.arn, region: LOCAL_REGION },
        start: async (input) => {
          iam.assertAuthorized(role, statesAuthorization('StartExecution', { stateMachineArn }));
          return stepFunctions.startExecution({ stateMachineArn, input }).executionArn;
        },
        authorize: (checks) => iam.assertAuthorized(role, checks),
        reporter,
      });
      defer(() => running.stop());
    }
    return {};
  });
}

/** What {@link startSchedules} delivers with and where it keeps its state. */
interface ScheduleWiring {
  readonly deliver: (firing: ScheduleFiring, ruleArn?: string) => Promise<void>;
  /** Sends a firing Scheduler gave up on to the schedule group's DLQ at `queueUrl`. */
  readonly deadLetter: (
    firing: ScheduleFiring,
    failure: ScheduleDeadLetter,
    queueUrl: string,
  ) => Promise<void>;
  readonly sqs: SQSClient;
  readonly lastFiredPath: string;
  /** Where the firings waiting for a retry are kept across restarts. */
  readonly pendingFiringsPath: string;
  readonly reporter: LocalCloudReporter;
}

/**
 * EventBridge Scheduler, firing the schedules at their times, when there are any, and the schedule
 * group's dead-letter queue (`sidestep-local-schedules-dlq`) the firings it gives up on go to.
 */
function startSchedules(
  schedules: LocalSchedules | undefined,
  wiring: ScheduleWiring,
): Promise<Started<{ scheduler: Scheduler | undefined }>> {
  const { reporter } = wiring;
  return startPhase(reporter, async (defer) => {
    if (!schedules) return { scheduler: undefined };
    const deadLetterUrl = await createSchedulesDeadLetterQueue(wiring.sqs);
    const scheduler = startScheduler({
      schedules: schedules.definitions,
      nextFireTimes: schedules.nextFireTimes,
      ...(schedules.clock ? { clock: schedules.clock } : {}),
      scheduleArn: localScheduleArn,
      fire: wiring.deliver,
      deadLetter: (firing, failure) => wiring.deadLetter(firing, failure, deadLetterUrl),
      lastFired: lastFiredFile(wiring.lastFiredPath),
      pendingFirings: pendingFiringsFile(wiring.pendingFiringsPath),
      reporter,
    });
    defer(() => scheduler.stop());
    return { scheduler };
  });
}
