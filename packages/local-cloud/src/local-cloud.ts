import { randomUUID } from 'node:crypto';
import { access, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { type FunctionHost, type InvokeResult, startFunction } from '@sidestep/lambda-runtime';
import { resourceName, type ServiceManifest, type TaskManifest } from '@sidestep/manifest';
import { type AwsEndpoint, LOCAL_ACCOUNT_ID, LOCAL_REGION, startAwsEndpoint } from './aws-endpoint.ts';
import { createConsoleReporter } from './console-reporter.ts';
import { watchDeadLetterQueue } from './dead-letter-watch.ts';
import { EVENT_BRIDGE_TARGET_PREFIX, eventBridgeApi } from './event-bridge-api.ts';
import { createEventRouter, type EventBridgeEvent, type EventRule } from './event-router.ts';
import { type EventSourceMapping, startEventSourceMapping } from './event-source-mapping.ts';
import { type FargateTask, startFargateTask, UnknownContainerError } from './fargate-task.ts';
import { FUNCTION_URL_PATH_PREFIX, functionUrlEvent, functionUrlResponse } from './function-url.ts';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import { type LocalDatabase, startLocalDatabase } from './local-database.ts';
import { createPipeSourceQueue, type PipeSourceQueue, startPipe } from './pipe.ts';
import { createJobQueue, type JobQueue } from './queues.ts';
import { deliverFiring, operatorRules } from './schedule-delivery.ts';
import {
  type NextFireTimes,
  type ScheduleDefinition,
  type Scheduler,
  type SchedulerClock,
  startScheduler,
} from './scheduler.ts';
import {
  exportsBucketName,
  importsBucketName,
  needsDatabase,
  serviceEnvironment,
  taskEnvironment,
} from './service-environment.ts';
import { type SmtpSink, startSmtpSink } from './smtp-sink.ts';
import { createLocalStepFunctions, type LocalStepFunctions } from './step-functions.ts';
import { STEP_FUNCTIONS_TARGET_PREFIX, stepFunctionsApi } from './step-functions-api.ts';
import {
  ECS_RUN_TASK_SYNC,
  EcsInvalidParameterError,
  ecsRunTaskSync,
  LAMBDA_INVOKE,
  lambdaInvoke,
  type RunTaskOutcome,
  type RunTaskRequest,
  SQS_SEND_MESSAGE,
  sqsSendMessage,
} from './task-integrations.ts';

/** The environment name of the laptop cloud: resources are `sidestep-local-<name>`. */
export const LOCAL_ENVIRONMENT = 'local';

/** A service to run: its manifest and the directory holding its built bundle (the image's /var/task). */
export interface LocalService {
  readonly manifest: ServiceManifest;
  readonly bundleDir: string;
  /**
   * Variables infra gives the function beyond what its manifest's permissions imply (the
   * export-finalizer's DOWNLOAD_BASE_URL, its signing key), from the running cloud's URLs.
   * @default none
   */
  readonly environment?: (cloud: LocalServiceUrls) => Readonly<Record<string, string>>;
}

/** URLs of the running cloud a service's extra environment may point at. */
export interface LocalServiceUrls {
  /** `<endpoint>/lambda-url/<name>/`: see {@link LocalCloud.functionUrl}. */
  functionUrl(name: string): string;
}

/**
 * A Lambda function URL: a function running another handler of a service's image (same bundle, same
 * environment), answering HTTP at `<endpoint>/lambda-url/<name>/` as AWS answers at
 * `https://<id>.lambda-url.<region>.on.aws/`.
 */
export interface LocalFunctionUrl {
  /** The function name without prefix: `export-download` runs as `sidestep-local-export-download`. */
  readonly name: string;
  readonly service: LocalService;
  /** The image CMD, e.g. `index.downloadHandler`. */
  readonly handler: string;
}

/** A Fargate task workflows run: its manifest and the directory holding its bundle (the image's WORKDIR). */
export interface LocalTask {
  readonly manifest: TaskManifest;
  readonly bundleDir: string;
}

/** The local names and ARNs a workflow definition is built with (what infra passes as tokens on AWS). */
export interface LocalWorkflowResources {
  readonly environment: string;
  readonly region: string;
  readonly accountId: string;
  /** `arn:aws:lambda:us-east-1:000000000000:function:sidestep-local-<service>` */
  functionArn(service: string): string;
  /** `arn:aws:ecs:us-east-1:000000000000:task-definition/sidestep-local-<task>:1` */
  taskDefinitionArn(task: string): string;
  /** `arn:aws:ecs:us-east-1:000000000000:cluster/sidestep-local` */
  readonly clusterArn: string;
  /** Stand-ins: the local network has no subnets or security groups, the values are only passed along. */
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
  /** A job queue's URL, as {@link LocalCloud.queueUrl}. */
  queueUrl(name: string): string;
}

/** An EventBridge rule that starts a workflow: the bucket whose uploads it watches and its pattern. */
export interface LocalWorkflowTrigger {
  /** The bucket to create with EventBridge notifications on, e.g. `sidestep-local-imports`. */
  readonly bucketName: string;
  readonly eventPattern: object;
  /** @default `<state machine name>-trigger` */
  readonly ruleName?: string;
}

/** A workflow: a state machine `sidestep-local-<name>` built from the deployed definition. */
export interface LocalWorkflow {
  /** Without prefix: `import` becomes the state machine `sidestep-local-import`. */
  readonly name: string;
  /** Builds the ASL from the local resources, as infra builds it from Terraform tokens. */
  readonly definition: (resources: LocalWorkflowResources) => object;
  readonly triggers?: readonly LocalWorkflowTrigger[];
}

/** An EventBridge Pipe from a queue (created with its DLQ) to a workflow, batch size 1. */
export interface LocalPipe {
  readonly source: PipeSourceQueue;
  /** The workflow name (`export`), whose state machine the pipe starts. */
  readonly workflow: string;
}

/** The schedules the local cloud fires, and how their times and operator rules are computed. */
export interface LocalSchedules {
  readonly definitions: readonly ScheduleDefinition[];
  /** The workflows package's `nextFireTimes`, so local and deployed schedules fire alike. */
  readonly nextFireTimes: NextFireTimes;
  /** The workflows package's `operatorEventPattern`: one rule per schedule on `sidestep-<env>`. */
  readonly operatorEventPattern: (schedule: string) => object;
  /** @default the real clock (tests pass a virtual one) */
  readonly clock?: SchedulerClock;
}

/** Options of {@link startLocalCloud}. */
export interface LocalCloudOptions {
  /** The repository root; state goes to `<rootDir>/.sidestep`. */
  readonly rootDir: string;
  readonly services: readonly LocalService[];
  /** Fargate tasks, run as child processes by `ecs:runTask.sync`. @default none */
  readonly tasks?: readonly LocalTask[];
  /** Step Functions workflows, with their EventBridge triggers. @default none */
  readonly workflows?: readonly LocalWorkflow[];
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
  /** SQS + S3 port. @default 4566 (0 picks a free port) */
  readonly port?: number;
  /** SMTP sink port. @default 1025 (0 picks a free port) */
  readonly smtpPort?: number;
  /** Interface every server binds. @default '127.0.0.1' */
  readonly host?: string;
  /**
   * A real PostgreSQL server to use (it is migrated at start). Without it, services that need a
   * database get an embedded PGlite served over the wire protocol, its data under the state dir.
   * @default embedded
   */
  readonly databaseUrl?: string;
  /** Port of the embedded PostgreSQL. @default 0 (a free port) */
  readonly databasePort?: number;
  /** @default `<rootDir>/.sidestep` */
  readonly stateDir?: string;
  /** @default a console reporter printing to stdout */
  readonly reporter?: LocalCloudReporter;
  /** How long stop() lets invocations in flight finish before killing sandboxes. @default 5000 */
  readonly stopGraceMs?: number;
}

/** A running local cloud. */
export interface LocalCloud {
  /** The SQS + S3 endpoint, e.g. `http://127.0.0.1:4566`. */
  readonly endpoint: string;
  readonly region: string;
  readonly smtpPort: number;
  /** `smtp://127.0.0.1:<port>` */
  readonly smtpUrl: string;
  /** The database services use, when one of them needs it. */
  readonly databaseUrl: string | undefined;
  /** `embedded` PGlite, the `external` server given as `databaseUrl`, or none. */
  readonly databaseKind: 'embedded' | 'external' | undefined;
  readonly stateDir: string;
  /** Where the SMTP sink writes `.eml` files: `<stateDir>/outbox`. */
  readonly outboxDir: string;
  /** Each service's job queue and DLQ. */
  readonly queues: readonly { readonly service: string; readonly queue: JobQueue }[];
  /**
   * The URL of a queue, by manifest queue name (`mail`), full name (`sidestep-local-mail`) or DLQ
   * name (`sidestep-local-mail-dlq`). Throws {@link UnknownQueueError} for any other name.
   */
  queueUrl(name: string): string;
  /**
   * Invokes a service directly (RequestResponse), as a workflow task or `aws lambda invoke` would.
   * Throws {@link UnknownServiceError} for a service the cloud does not run.
   */
  invoke(service: string, event: unknown): Promise<InvokeResult>;
  /** What a producer process needs to reach this cloud: endpoint, region, dummy credentials. */
  readonly producerEnvironment: Readonly<Record<string, string>>;
  /** Step Functions: the workflows' state machines and their executions. */
  readonly stepFunctions: LocalStepFunctions;
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
  /**
   * Stops executions (and their tasks, SIGTERM then SIGKILL), pollers, lets invocations in flight
   * finish briefly, kills sandboxes, closes servers.
   */
  stop(): Promise<void>;
}

/** {@link LocalCloud.queueUrl} was asked for a queue no service declares. */
export class UnknownQueueError extends Error {
  override readonly name = 'UnknownQueueError';
  readonly queue: string;
  constructor(queue: string, known: readonly string[]) {
    super(`no local queue named "${queue}" (known: ${known.join(', ') || 'none'})`);
    this.queue = queue;
  }
}

/** A task's bundle directory (or the script its command runs) does not exist: it was not built. */
export class MissingTaskBundleError extends Error {
  override readonly name = 'MissingTaskBundleError';
  readonly task: string;
  readonly path: string;
  constructor(task: string, path: string) {
    super(`task ${task}: ${path} does not exist; build the task's bundle first (its package's build script)`);
    this.task = task;
    this.path = path;
  }
}

/** {@link LocalCloud.invoke} was asked for a service the cloud does not run. */
export class UnknownServiceError extends Error {
  override readonly name = 'UnknownServiceError';
  readonly service: string;
  constructor(service: string, known: readonly string[]) {
    super(`no local service named "${service}" (known: ${known.join(', ') || 'none'})`);
    this.service = service;
  }
}

/**
 * Starts the embedded local cloud: SQS and S3 on one endpoint, each service's job queue and DLQ
 * (created from its manifest with the attributes infra sets), each service as warm sandboxes
 * behind the Lambda Runtime API, an event source mapping per consumed queue, an SMTP sink and,
 * when a service needs one, PostgreSQL.
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
  const outboxDir = join(stateDir, 'outbox');
  const reporter = options.reporter ?? createConsoleReporter({ baseDir: options.rootDir });
  const scope = { environment: LOCAL_ENVIRONMENT, region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID };

  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    // Reverse start order: consumers before what they consume from.
    for (const stop of stoppers.splice(0).reverse()) {
      await stop().catch((error: unknown) =>
        reporter({
          type: 'error',
          source: 'stop',
          message: error instanceof Error ? error.message : String(error),
        }),
      );
    }
  };

  try {
    await mkdir(stateDir, { recursive: true });
    const endpoint: AwsEndpoint = await startAwsEndpoint({ host, port: options.port ?? 4566 });
    stoppers.push(() => endpoint.stop());
    const sqs = new SQSClient({
      endpoint: endpoint.url,
      region: LOCAL_REGION,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    stoppers.push(async () => sqs.destroy());

    // The DLQ is created first, so it is reported first.
    const reportQueueCreated = (queue: JobQueue) => {
      reporter({ type: 'queue-created', queue: queue.deadLetter.name, url: queue.deadLetter.url });
      reporter({
        type: 'queue-created',
        queue: queue.name,
        url: queue.url,
        deadLetterQueue: queue.deadLetter.name,
      });
    };
    const queues: { service: string; queue: JobQueue }[] = [];
    for (const { manifest } of options.services) {
      if (!manifest.queue) continue;
      const queue = await createJobQueue(sqs, manifest, scope);
      queues.push({ service: manifest.name, queue });
      reportQueueCreated(queue);
    }

    const pipeQueues: { pipe: LocalPipe; queue: JobQueue }[] = [];
    for (const pipe of options.pipes ?? []) {
      const queue = await createPipeSourceQueue(sqs, pipe.source, scope);
      pipeQueues.push({ pipe, queue });
      reportQueueCreated(queue);
    }

    const smtp: SmtpSink = await startSmtpSink({
      outboxDir,
      host,
      port: options.smtpPort ?? 1025,
      onMail: (mail) =>
        reporter({ type: 'mail-delivered', to: mail.to, subject: mail.subject, file: mail.file }),
      onError: (error) => reporter({ type: 'error', source: 'smtp sink', message: error.message }),
    });
    stoppers.push(() => smtp.stop());

    let database: LocalDatabase | undefined;
    const tasks = options.tasks ?? [];
    // A task runs only when a workflow reaches it: check its bundle now, not minutes into an import.
    for (const task of tasks) await checkTaskBundle(task, options.rootDir);
    if (needsDatabase([...options.services.map((s) => s.manifest), ...tasks.map((t) => t.manifest)])) {
      database = await startLocalDatabase({
        ...(options.databaseUrl !== undefined ? { url: options.databaseUrl } : {}),
        dataDir: join(stateDir, 'postgres'),
        host,
        port: options.databasePort ?? 0,
      });
      stoppers.push(() => database?.close() ?? Promise.resolve());
    }

    // `mail-queue` is the queue of the service consuming mail jobs, as infra resolves it.
    const mailConsumer = options.services.find((s) => s.manifest.queue?.jobTypes.includes(MAIL_JOB_TYPE));
    const mailQueueUrl = queues.find((entry) => entry.service === mailConsumer?.manifest.name)?.queue.url;
    const functionUrl = (name: string) => `${endpoint.url}${FUNCTION_URL_PATH_PREFIX}${name}/`;
    const environmentOf = (service: LocalService, queue: JobQueue | undefined) => ({
      ...serviceEnvironment(service.manifest, {
        environment: LOCAL_ENVIRONMENT,
        region: LOCAL_REGION,
        awsEndpoint: endpoint.url,
        smtpUrl: smtp.url,
        ...(queue ? { deadLetterQueueUrl: queue.deadLetter.url } : {}),
        ...(database ? { databaseUrl: database.url } : {}),
        ...(mailQueueUrl ? { mailQueueUrl } : {}),
      }),
      ...service.environment?.({ functionUrl }),
    });
    const hosts = await Promise.all(
      options.services.map(async (service) => {
        const { manifest, bundleDir } = service;
        const queue = queues.find((entry) => entry.service === manifest.name)?.queue;
        const started = performance.now();
        const functionHost = await startFunction({
          name: resourceName(LOCAL_ENVIRONMENT, manifest.name),
          bundleDir: resolve(options.rootDir, bundleDir),
          handler: manifest.handler,
          environment: environmentOf(service, queue),
          memoryMb: manifest.memoryMb,
          timeoutSeconds: manifest.timeoutSeconds,
          concurrency: functionConcurrency(manifest),
          onLog: (line) => reporter({ type: 'log', service: manifest.name, line }),
        });
        stoppers.push(() => functionHost.close());
        reporter({
          type: 'service-started',
          service: manifest.name,
          coldStartMs: performance.now() - started,
        });
        return { manifest, functionHost };
      }),
    );

    const urlHosts = new Map<string, FunctionHost>();
    for (const url of options.functionUrls ?? []) {
      const { manifest } = url.service;
      const started = performance.now();
      const functionHost = await startFunction({
        name: resourceName(LOCAL_ENVIRONMENT, url.name),
        bundleDir: resolve(options.rootDir, url.service.bundleDir),
        handler: url.handler,
        environment: environmentOf(url.service, undefined),
        memoryMb: manifest.memoryMb,
        timeoutSeconds: manifest.timeoutSeconds,
        concurrency: WORKFLOW_FUNCTION_CONCURRENCY,
        onLog: (line) => reporter({ type: 'log', service: url.name, line }),
      });
      stoppers.push(() => functionHost.close());
      urlHosts.set(url.name, functionHost);
      reporter({ type: 'service-started', service: url.name, coldStartMs: performance.now() - started });
    }
    endpoint.serveFunctionUrls(async (name, request) => {
      const host = urlHosts.get(name);
      // What AWS answers for a function URL that does not exist.
      if (!host) {
        return {
          statusCode: 404,
          headers: { 'content-type': 'application/json' },
          body: Buffer.from(JSON.stringify({ Message: null })),
        };
      }
      return functionUrlResponse(await host.invoke(functionUrlEvent(request)));
    });

    for (const { manifest, functionHost } of hosts) {
      const queue = queues.find((entry) => entry.service === manifest.name)?.queue;
      if (!manifest.queue || !queue) continue;
      const mapping = mapQueue(sqs, manifest, queue, functionHost, reporter);
      stoppers.push(() => mapping.stop({ graceMs: options.stopGraceMs ?? 5_000 }));
      const watch = watchDeadLetterQueue({ queueName: queue.deadLetter.name, peek: endpoint.peek, reporter });
      stoppers.push(() => watch.stop());
    }

    // Each queue by its name without prefix (`mail`), its full name and its DLQ's name.
    const knownQueues = new Map<string, string>();
    const addKnownQueue = (shortName: string | undefined, queue: JobQueue) => {
      if (shortName) knownQueues.set(shortName, queue.url);
      knownQueues.set(queue.name, queue.url);
      knownQueues.set(queue.deadLetter.name, queue.deadLetter.url);
    };
    for (const { service, queue } of queues) {
      addKnownQueue(options.services.find((s) => s.manifest.name === service)?.manifest.queue?.name, queue);
    }
    for (const { pipe, queue } of pipeQueues) addKnownQueue(pipe.source.name, queue);

    const queueUrl = (name: string): string => {
      const url = knownQueues.get(name);
      if (!url) throw new UnknownQueueError(name, [...knownQueues.keys()]);
      return url;
    };
    const localResources = {
      environment: LOCAL_ENVIRONMENT,
      region: LOCAL_REGION,
      awsEndpoint: endpoint.url,
      smtpUrl: smtp.url,
      ...(database ? { databaseUrl: database.url } : {}),
      ...(mailQueueUrl ? { mailQueueUrl } : {}),
    };

    // Buckets: every trigger's (EventBridge notifications on) and the imports bucket when something
    // holds `imports-bucket`.
    const workflows = options.workflows ?? [];
    const notifying = new Set(workflows.flatMap((w) => (w.triggers ?? []).map((t) => t.bucketName)));
    const buckets = new Set(notifying);
    const holders = [...options.services.map((s) => s.manifest), ...tasks.map((t) => t.manifest)];
    if (holders.some((m) => m.permissions.some((p) => p.resource === 'imports-bucket'))) {
      buckets.add(importsBucketName(LOCAL_ENVIRONMENT));
    }
    if (holders.some((m) => m.permissions.some((p) => p.resource === 'exports-bucket'))) {
      buckets.add(exportsBucketName(LOCAL_ENVIRONMENT));
    }
    for (const bucket of options.buckets ?? []) buckets.add(bucket);
    for (const bucket of buckets) {
      await endpoint.createBucket(bucket, { eventBridge: notifying.has(bucket) });
      reporter({ type: 'bucket-created', bucket, eventBridge: notifying.has(bucket) });
    }

    const runningTasks = new Set<FargateTask>();
    stoppers.push(async () => {
      await Promise.all([...runningTasks].map((task) => task.stop(options.stopGraceMs ?? 5_000)));
    });
    const runTask = (request: RunTaskRequest) =>
      runLocalTask(request, {
        tasks,
        rootDir: options.rootDir,
        environment: localResources,
        reporter,
        runningTasks,
      });

    const invokeFunction = (functionName: string, payload: unknown) => {
      const service = functionService(functionName);
      const host = hosts.find((entry) => entry.manifest.name === service)?.functionHost;
      return host?.invoke(payload);
    };
    const resources: LocalWorkflowResources = {
      environment: LOCAL_ENVIRONMENT,
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT_ID,
      functionArn: (service) =>
        `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${resourceName(LOCAL_ENVIRONMENT, service)}`,
      taskDefinitionArn: (task) =>
        `arn:aws:ecs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:task-definition/${resourceName(LOCAL_ENVIRONMENT, task)}:1`,
      clusterArn: LOCAL_CLUSTER_ARN,
      subnetIds: ['subnet-local'],
      securityGroupIds: ['sg-local'],
      queueUrl,
    };
    const stepFunctions = createLocalStepFunctions({
      stateMachines: workflows.map((workflow) => ({
        name: resourceName(LOCAL_ENVIRONMENT, workflow.name),
        definition: workflow.definition(resources),
      })),
      integrations: {
        [LAMBDA_INVOKE]: lambdaInvoke(invokeFunction),
        [ECS_RUN_TASK_SYNC]: ecsRunTaskSync(runTask),
        [SQS_SEND_MESSAGE]: sqsSendMessage(sqs),
      },
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT_ID,
      reporter,
      ...(options.retryIntervalMs !== undefined ? { retryIntervalMs: options.retryIntervalMs } : {}),
    });
    // Runs before the task stopper above (stoppers run in reverse): aborting an execution sends
    // SIGTERM to its task, which the task stopper then waits for.
    stoppers.push(() => stepFunctions.stop());
    endpoint.serveJsonApi(STEP_FUNCTIONS_TARGET_PREFIX, stepFunctionsApi(stepFunctions));

    const rules: EventRule[] = workflows.flatMap((workflow) => {
      const stateMachineArn = stepFunctions.stateMachineArn(resourceName(LOCAL_ENVIRONMENT, workflow.name));
      return (workflow.triggers ?? []).map((trigger) => ({
        name: trigger.ruleName ?? `${resourceName(LOCAL_ENVIRONMENT, workflow.name)}-trigger`,
        eventPattern: trigger.eventPattern,
        // A rule target cannot name the execution: Step Functions generates the name.
        target: (event: EventBridgeEvent) => {
          stepFunctions.startExecution({ stateMachineArn, input: JSON.stringify(event) });
        },
      }));
    });
    // The sidestep bus infra creates: `sidestep-<env>`.
    const eventBusName = `sidestep-${LOCAL_ENVIRONMENT}`;
    const scheduleArn = (name: string) =>
      `arn:aws:scheduler:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:schedule/${eventBusName}/${resourceName(LOCAL_ENVIRONMENT, name)}`;
    const deliver = (firing: Parameters<typeof deliverFiring>[0]) =>
      deliverFiring(firing, {
        sqs,
        queueUrl,
        invoke: (service, payload) =>
          hosts.find((entry) => entry.manifest.name === service)?.functionHost.invoke(payload),
        reporter,
      });
    if (options.schedules) {
      rules.push(
        ...operatorRules({
          schedules: options.schedules.definitions,
          operatorEventPattern: options.schedules.operatorEventPattern,
          eventBusName,
          ruleName: (name) => `${resourceName(LOCAL_ENVIRONMENT, name)}-operator`,
          scheduleArn,
          deliver,
          reporter,
        }),
      );
    }
    const router = createEventRouter({
      rules,
      reporter,
      describe: (event) => {
        const detail = event.detail as {
          bucket?: { name?: string };
          object?: { key?: string };
          schedule?: unknown;
        };
        if (detail.bucket?.name && detail.object?.key) return `${detail.bucket.name}/${detail.object.key}`;
        // An operator event names the schedule it fires.
        if (typeof detail.schedule === 'string') return `schedule ${detail.schedule}`;
        return event.resources[0] ?? event.source;
      },
    });
    endpoint.onObjectCreated((event) => void router.put(event));
    endpoint.serveJsonApi(
      EVENT_BRIDGE_TARGET_PREFIX,
      eventBridgeApi({ router, region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID }),
    );

    // Pipes and the scheduler start last: what they start (executions, functions) is all up.
    for (const { pipe, queue } of pipeQueues) {
      const stateMachineArn = stepFunctions.stateMachineArn(resourceName(LOCAL_ENVIRONMENT, pipe.workflow));
      const running = startPipe({
        name: `${queue.name}-pipe`,
        sqs,
        queue: { url: queue.url, arn: queue.arn, region: LOCAL_REGION },
        start: async (input) => stepFunctions.startExecution({ stateMachineArn, input }).executionArn,
        reporter,
      });
      stoppers.push(() => running.stop());
    }
    let scheduler: Scheduler | undefined;
    if (options.schedules) {
      const started = startScheduler({
        schedules: options.schedules.definitions,
        nextFireTimes: options.schedules.nextFireTimes,
        ...(options.schedules.clock ? { clock: options.schedules.clock } : {}),
        scheduleArn,
        fire: deliver,
        reporter,
      });
      scheduler = started;
      stoppers.push(async () => started.stop());
    }

    let stopped: Promise<void> | undefined;
    return {
      endpoint: endpoint.url,
      region: LOCAL_REGION,
      smtpPort: smtp.port,
      smtpUrl: smtp.url,
      databaseUrl: database?.url,
      databaseKind: database?.kind,
      stateDir,
      outboxDir,
      queues,
      queueUrl,
      async invoke(service, event) {
        const host = hosts.find((entry) => entry.manifest.name === service)?.functionHost;
        if (!host)
          throw new UnknownServiceError(
            service,
            hosts.map((entry) => entry.manifest.name),
          );
        return host.invoke(event);
      },
      producerEnvironment: {
        AWS_ENDPOINT_URL: endpoint.url,
        AWS_REGION: LOCAL_REGION,
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
      },
      stepFunctions,
      buckets: [...buckets],
      pipes: pipeQueues.map(({ pipe, queue }) => ({ workflow: pipe.workflow, queue })),
      eventBusName,
      scheduler,
      functionUrl,
      stop() {
        stopped ??= stopAll();
        return stopped;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function checkTaskBundle(task: LocalTask, rootDir: string): Promise<void> {
  const bundleDir = resolve(rootDir, task.bundleDir);
  const [command, script] = task.manifest.command;
  const required =
    command === 'node' && script && !script.startsWith('-') ? join(bundleDir, script) : bundleDir;
  try {
    await access(required);
  } catch {
    throw new MissingTaskBundleError(task.manifest.name, required);
  }
}

/** The job type whose consumer's queue is the `mail-queue` permission's. */
const MAIL_JOB_TYPE = 'mail.send';

/** The ECS cluster tasks run in locally. */
const LOCAL_CLUSTER_NAME = `sidestep-${LOCAL_ENVIRONMENT}`;
const LOCAL_CLUSTER_ARN = `arn:aws:ecs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:cluster/${LOCAL_CLUSTER_NAME}`;

/**
 * Sandboxes a function may run at once: the mapping's maximum concurrency. A function without a queue
 * (a workflow step) gets a few, so concurrent executions (a file uploaded twice) do not queue behind
 * each other. Reserved concurrency is an AWS environment's setting, not the manifest's: none locally.
 */
function functionConcurrency(manifest: ServiceManifest): number {
  return Math.max(1, manifest.queue?.maximumConcurrency ?? WORKFLOW_FUNCTION_CONCURRENCY);
}

const WORKFLOW_FUNCTION_CONCURRENCY = 4;

/**
 * The service a Lambda `FunctionName` names: a name, a partial ARN (`<account>:function:<name>`) or
 * an ARN, each optionally with a `:<qualifier>`; `sidestep-local-<service>` -> `<service>`.
 */
function functionService(functionName: string): string {
  const afterFunction = functionName.includes(':function:')
    ? functionName.slice(functionName.indexOf(':function:') + ':function:'.length)
    : functionName;
  const name = afterFunction.split(':')[0] ?? '';
  const prefix = resourceName(LOCAL_ENVIRONMENT, '');
  return name.startsWith(prefix) ? name.slice(prefix.length) : name;
}

/** What {@link runLocalTask} needs from the running cloud. */
interface TaskRunContext {
  readonly tasks: readonly LocalTask[];
  readonly rootDir: string;
  readonly environment: Parameters<typeof taskEnvironment>[1];
  readonly reporter: LocalCloudReporter;
  readonly runningTasks: Set<FargateTask>;
}

/**
 * `ecs:runTask.sync` locally: resolves the task definition (ARN or `family[:revision]`) to a task
 * manifest, runs its container as a child process and waits for it; stops it (SIGTERM) when the
 * execution is stopped, as Step Functions calls StopTask.
 */
async function runLocalTask(request: RunTaskRequest, context: TaskRunContext): Promise<RunTaskOutcome> {
  const family = (request.taskDefinition.split('task-definition/').pop() ?? '').split(':')[0] ?? '';
  const entry = context.tasks.find((task) => resourceName(LOCAL_ENVIRONMENT, task.manifest.name) === family);
  if (!entry) {
    throw new EcsInvalidParameterError(
      `TaskDefinition not found: ${request.taskDefinition} (local task definitions: ${
        context.tasks.map((task) => resourceName(LOCAL_ENVIRONMENT, task.manifest.name)).join(', ') || 'none'
      })`,
    );
  }
  const { manifest } = entry;
  let task: FargateTask;
  try {
    task = await startFargateTask({
      task: manifest,
      bundleDir: resolve(context.rootDir, entry.bundleDir),
      environment: taskEnvironment(manifest, context.environment),
      overrides: request.overrides,
      region: LOCAL_REGION,
      taskArn: `arn:aws:ecs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:task/${LOCAL_CLUSTER_NAME}/${randomUUID().replaceAll('-', '')}`,
      onLog: (line) => context.reporter({ type: 'log', service: manifest.name, line }),
    });
  } catch (error) {
    if (error instanceof UnknownContainerError) throw new EcsInvalidParameterError(error.message);
    throw error;
  }
  context.runningTasks.add(task);
  const started = performance.now();
  const executionName = request.call.executionArn.split(':').pop();
  context.reporter({
    type: 'task-started',
    task: manifest.name,
    taskArn: task.taskArn,
    ...(executionName ? { execution: executionName } : {}),
  });
  // Step Functions stops the task when its execution is stopped; ECS gives it its stop timeout.
  const onAbort = () => void task.stop();
  request.call.signal.addEventListener('abort', onAbort, { once: true });
  const result = await task.result;
  request.call.signal.removeEventListener('abort', onAbort);
  context.runningTasks.delete(task);
  context.reporter({
    type: 'task-stopped',
    task: manifest.name,
    taskArn: task.taskArn,
    exitCode: result.exitCode,
    signal: result.signal,
    durationMs: performance.now() - started,
    stoppedReason: result.stoppedReason,
  });
  return {
    ...result,
    clusterArn: LOCAL_CLUSTER_ARN,
    taskDefinitionArn: `arn:aws:ecs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:task-definition/${family}:1`,
    family,
    containerName: manifest.containerName,
    cpu: manifest.cpu,
    memoryMb: manifest.memoryMb,
  };
}

function mapQueue(
  sqs: SQSClient,
  manifest: ServiceManifest,
  queue: JobQueue,
  functionHost: FunctionHost,
  reporter: LocalCloudReporter,
): EventSourceMapping {
  const trigger = manifest.queue;
  if (!trigger) throw new Error(`service ${manifest.name} has no queue to map`);
  return startEventSourceMapping({
    sqs,
    queue: { name: queue.name, url: queue.url, arn: queue.arn, region: LOCAL_REGION },
    service: manifest.name,
    invoke: (event) => functionHost.invoke(event),
    batchSize: trigger.batchSize,
    maximumBatchingWindowSeconds: trigger.maximumBatchingWindowSeconds,
    maximumConcurrency: functionConcurrency(manifest),
    maxReceiveCount: trigger.maxReceiveCount,
    reporter,
  });
}
