import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { type FunctionHost, type InvokeResult, startFunction } from '@sidestep/lambda-runtime';
import { resourceName, type ServiceManifest } from '@sidestep/manifest';
import { type AwsEndpoint, LOCAL_ACCOUNT_ID, LOCAL_REGION, startAwsEndpoint } from './aws-endpoint.ts';
import { createConsoleReporter } from './console-reporter.ts';
import { watchDeadLetterQueue } from './dead-letter-watch.ts';
import { type EventSourceMapping, startEventSourceMapping } from './event-source-mapping.ts';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import { type LocalDatabase, startLocalDatabase } from './local-database.ts';
import { createJobQueue, type JobQueue } from './queues.ts';
import { needsDatabase, serviceEnvironment } from './service-environment.ts';
import { type SmtpSink, startSmtpSink } from './smtp-sink.ts';

/** The environment name of the laptop cloud: resources are `sidestep-local-<name>`. */
export const LOCAL_ENVIRONMENT = 'local';

/** A service to run: its manifest and the directory holding its built bundle (the image's /var/task). */
export interface LocalService {
  readonly manifest: ServiceManifest;
  readonly bundleDir: string;
}

/** Options of {@link startLocalCloud}. */
export interface LocalCloudOptions {
  /** The repository root; state goes to `<rootDir>/.sidestep`. */
  readonly rootDir: string;
  readonly services: readonly LocalService[];
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
  /** Stops pollers, lets invocations in flight finish briefly, kills sandboxes, closes servers. */
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

    const queues: { service: string; queue: JobQueue }[] = [];
    for (const { manifest } of options.services) {
      if (!manifest.queue) continue;
      const queue = await createJobQueue(sqs, manifest, scope);
      queues.push({ service: manifest.name, queue });
      reporter({ type: 'queue-created', queue: queue.deadLetter.name, url: queue.deadLetter.url });
      reporter({
        type: 'queue-created',
        queue: queue.name,
        url: queue.url,
        deadLetterQueue: queue.deadLetter.name,
      });
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
    if (needsDatabase(options.services.map((s) => s.manifest))) {
      database = await startLocalDatabase({
        ...(options.databaseUrl !== undefined ? { url: options.databaseUrl } : {}),
        dataDir: join(stateDir, 'postgres'),
        host,
        port: options.databasePort ?? 0,
      });
      stoppers.push(() => database?.close() ?? Promise.resolve());
    }

    const hosts = await Promise.all(
      options.services.map(async ({ manifest, bundleDir }) => {
        const queue = queues.find((entry) => entry.service === manifest.name)?.queue;
        const started = performance.now();
        const functionHost = await startFunction({
          name: resourceName(LOCAL_ENVIRONMENT, manifest.name),
          bundleDir: resolve(options.rootDir, bundleDir),
          handler: manifest.handler,
          environment: serviceEnvironment(manifest, {
            environment: LOCAL_ENVIRONMENT,
            region: LOCAL_REGION,
            awsEndpoint: endpoint.url,
            smtpUrl: smtp.url,
            ...(queue ? { deadLetterQueueUrl: queue.deadLetter.url } : {}),
            ...(database ? { databaseUrl: database.url } : {}),
          }),
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

    for (const { manifest, functionHost } of hosts) {
      const queue = queues.find((entry) => entry.service === manifest.name)?.queue;
      if (!manifest.queue || !queue) continue;
      const mapping = mapQueue(sqs, manifest, queue, functionHost, reporter);
      stoppers.push(() => mapping.stop({ graceMs: options.stopGraceMs ?? 5_000 }));
      const watch = watchDeadLetterQueue({ queueName: queue.deadLetter.name, peek: endpoint.peek, reporter });
      stoppers.push(() => watch.stop());
    }

    const knownQueues = new Map<string, string>();
    for (const { service, queue } of queues) {
      const manifestQueue = options.services.find((s) => s.manifest.name === service)?.manifest.queue?.name;
      if (manifestQueue) knownQueues.set(manifestQueue, queue.url);
      knownQueues.set(queue.name, queue.url);
      knownQueues.set(queue.deadLetter.name, queue.deadLetter.url);
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
      queueUrl(name) {
        const url = knownQueues.get(name);
        if (!url) throw new UnknownQueueError(name, [...knownQueues.keys()]);
        return url;
      },
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

/**
 * Sandboxes a function may run at once: the mapping's maximum concurrency, capped by reserved
 * concurrency as on Lambda; one for a function nothing invokes concurrently.
 */
function functionConcurrency(manifest: ServiceManifest): number {
  const wanted = manifest.queue?.maximumConcurrency ?? 1;
  return Math.max(1, Math.min(wanted, manifest.reservedConcurrency ?? wanted));
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
