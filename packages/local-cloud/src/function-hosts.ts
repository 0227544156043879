import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { type FunctionHost, type InvokeResult, startFunction } from '@sidestep/lambda-runtime';
import type { ServiceManifest } from '@sidestep/manifest';
import type { AwsEndpoint } from './aws-endpoint.ts';
import { FUNCTION_URL_PATH_PREFIX, functionUrlEvent, functionUrlResponse } from './function-url.ts';
import type { AccountConcurrency } from './lambda-concurrency.ts';
import { tooManyRequestsResponse } from './lambda-invoke.ts';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import { LocalCloudStartError } from './local-cloud-start-error.ts';
import type { LocalFunctionUrl, LocalService } from './local-definitions.ts';
import { LOCAL_ROLES } from './local-iam.ts';
import { localName, UnknownLocalNameError } from './local-names.ts';
import { randomSecretValue } from './local-secrets.ts';
import type { JobQueue } from './queues.ts';
import { type LocalResources, serviceEnvironment } from './service-environment.ts';
import { type Defer, type Started, startPhase } from './start-phase.ts';
import { TooManyRequestsError } from './too-many-requests-error.ts';

/** `invoke` was asked for a service the cloud does not run. */
export class UnknownServiceError extends UnknownLocalNameError {
  override readonly name = 'UnknownServiceError';
  constructor(service: string, known: readonly string[]) {
    super('service', service, known);
  }
}

/**
 * A service's bundle has no module for its handler: never built, or a build cut off (its output
 * directory is emptied first). Without this check the cloud would start and every invocation of the
 * service fail with `Cannot find module`.
 */
export class MissingServiceBundleError extends LocalCloudStartError {
  override readonly name = 'MissingServiceBundleError';
  readonly service: string;
  /** The module the handler names, without the extension Lambda adds (`.js`, `.mjs`, `.cjs`). */
  readonly path: string;
  constructor(service: string, path: string) {
    super(
      `service ${service}: ${path} (.js, .mjs or .cjs) does not exist (never built, or a build was interrupted); rebuild it with \`npm start\` (without --no-build)`,
    );
    this.service = service;
    this.path = path;
  }
}

/**
 * Fails with {@link MissingServiceBundleError} for the first function (a service, or a function URL's
 * handler) whose handler module is not in its bundle, looked up as Lambda's Node.js runtime looks it
 * up: the handler's module as written, or with `.js`, `.mjs` or `.cjs`.
 */
export function checkServiceBundles(
  services: readonly LocalService[],
  functionUrls: readonly LocalFunctionUrl[],
  rootDir: string,
): void {
  const functions = [
    ...services.map((service) => ({
      name: service.manifest.name,
      service,
      handler: service.manifest.handler,
    })),
    ...functionUrls.map((url) => ({ name: url.name, service: url.service, handler: url.handler })),
  ];
  for (const { name, service, handler } of functions) {
    const module = resolve(rootDir, service.bundleDir, handler.slice(0, handler.lastIndexOf('.')));
    const found = ['', '.js', '.mjs', '.cjs'].some(
      (extension) => statSync(`${module}${extension}`, { throwIfNoEntry: false })?.isFile() ?? false,
    );
    if (!found) throw new MissingServiceBundleError(name, module);
  }
}

/** Options of {@link startFunctionHosts}. */
export interface FunctionHostsOptions {
  readonly services: readonly LocalService[];
  readonly functionUrls: readonly LocalFunctionUrl[];
  readonly rootDir: string;
  /** The endpoint that answers the function URLs and keeps the secrets ({@link LocalServiceUrls.secretArn}). */
  readonly endpoint: AwsEndpoint;
  /** Each service's job queue by service name (its DLQ goes into the service's environment). */
  readonly queues: ReadonlyMap<string, JobQueue>;
  /** What every function's environment points at. */
  readonly resources: LocalResources;
  readonly reporter: LocalCloudReporter;
  /** Start each function's first sandbox now (see {@link LocalCloudOptions.prewarm}). */
  readonly prewarm: boolean;
  /** The account's concurrent executions, which every function's invocations count against. */
  readonly concurrency: AccountConcurrency;
}

/** The running functions: each service's, and those behind function URLs. */
export interface FunctionHosts {
  /**
   * Each service's function, by service name, its invocations counted against the account's
   * concurrency (`invoke` rejects with `TooManyRequestsError` past it).
   */
  readonly byService: ReadonlyMap<string, FunctionHost>;
  /** `<endpoint>/lambda-url/<name>/` */
  functionUrl(name: string): string;
  /**
   * Invokes a service (RequestResponse); throws {@link UnknownServiceError} for one the cloud does not
   * run, and rejects with `TooManyRequestsError` past the account's concurrency (`lambdaConcurrency`).
   */
  invoke(service: string, event: unknown): Promise<InvokeResult>;
}

/**
 * Sandboxes a function may run at once: the mapping's maximum concurrency. A function without a queue
 * (a workflow step) gets a few, so concurrent executions (a file uploaded twice) do not queue behind
 * each other. Reserved concurrency is an AWS environment's setting, not the manifest's: none locally.
 */
export function functionConcurrency(manifest: ServiceManifest): number {
  return Math.max(1, manifest.queue?.maximumConcurrency ?? WORKFLOW_FUNCTION_CONCURRENCY);
}

const WORKFLOW_FUNCTION_CONCURRENCY = 4;

/**
 * Starts each service behind the Lambda Runtime API (all at once; with `prewarm`, each with a warm
 * sandbox), then each function URL's function, and serves the function URLs on the endpoint.
 */
export function startFunctionHosts(options: FunctionHostsOptions): Promise<Started<FunctionHosts>> {
  const { reporter } = options;
  return startPhase(reporter, async (defer) => {
    const functionUrl = (name: string) => `${options.endpoint.url}${FUNCTION_URL_PATH_PREFIX}${name}/`;
    const secretArn = (name: string) => options.endpoint.createSecret(localName(name), randomSecretValue);
    const environmentOf = (service: LocalService, queue: JobQueue | undefined) => ({
      ...serviceEnvironment(service.manifest, {
        ...options.resources,
        ...(queue ? { deadLetterQueueUrl: queue.deadLetter.url, queueUrl: queue.url } : {}),
      }),
      ...service.environment?.({ functionUrl, secretArn }),
    });
    const start = (
      name: string,
      service: LocalService,
      handler: string,
      concurrency: number,
      queue?: JobQueue,
    ) =>
      startHost(defer, reporter, options.concurrency, name, {
        name: localName(name),
        prewarm: options.prewarm,
        bundleDir: resolve(options.rootDir, service.bundleDir),
        handler,
        // A function URL's function runs another handler of the image under its own role.
        environment: { ...environmentOf(service, queue), AWS_ACCESS_KEY_ID: LOCAL_ROLES.service(name) },
        memoryMb: service.manifest.memoryMb,
        timeoutSeconds: service.manifest.timeoutSeconds,
        concurrency,
        onLog: (line) => reporter({ type: 'log', service: name, line }),
      });

    // allSettled, not all: when one service fails to start, the others finish starting (and are
    // deferred) before the phase stops them, instead of coming up after it stopped.
    const settled = await Promise.allSettled(
      options.services.map(async (service) => {
        const { manifest } = service;
        const queue = options.queues.get(manifest.name);
        const host = await start(
          manifest.name,
          service,
          manifest.handler,
          functionConcurrency(manifest),
          queue,
        );
        return [manifest.name, host] as const;
      }),
    );
    const failed = settled.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    const byService = new Map(
      settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : [])),
    );
    const byUrl = new Map<string, FunctionHost>();
    for (const url of options.functionUrls) {
      byUrl.set(url.name, await start(url.name, url.service, url.handler, WORKFLOW_FUNCTION_CONCURRENCY));
    }
    options.endpoint.serveFunctionUrls(async (name, request) => {
      const host = byUrl.get(name);
      // What AWS answers for a function URL that does not exist.
      if (!host) {
        return {
          statusCode: 404,
          headers: { 'content-type': 'application/json' },
          body: Buffer.from(JSON.stringify({ Message: null })),
        };
      }
      try {
        return functionUrlResponse(await host.invoke(functionUrlEvent(request)));
      } catch (error) {
        if (!(error instanceof TooManyRequestsError)) throw error;
        // A function URL's throttled request: 429, the body Invoke's error's
        // (https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html, "429 Too Many Requests").
        const { statusCode, headers, body } = tooManyRequestsResponse(error);
        return { statusCode, headers, body: Buffer.from(body) };
      }
    });

    return {
      byService,
      functionUrl,
      async invoke(service: string, event: unknown) {
        const host = byService.get(service);
        if (!host) throw new UnknownServiceError(service, [...byService.keys()]);
        return host.invoke(event);
      },
    };
  });
}

/** Starts one function, defers closing it and reports it started (with its cold start, when prewarmed). */
async function startHost(
  defer: Defer,
  reporter: LocalCloudReporter,
  concurrency: AccountConcurrency,
  name: string,
  options: Parameters<typeof startFunction>[0],
): Promise<FunctionHost> {
  const started = performance.now();
  const host = concurrency.gate(await startFunction(options));
  defer(() => host.close());
  reporter({
    type: 'service-started',
    service: name,
    ...(options.prewarm === false ? {} : { coldStartMs: performance.now() - started }),
  });
  return host;
}
