/**
 * What the local cloud runs, as its callers describe it (services, function URLs, Fargate tasks,
 * workflows, pipes, schedules). Types only, in their own module so the start-up steps import them
 * without importing `local-cloud.ts`, which imports the steps.
 */

import type { ServiceManifest, TaskManifest } from '@sidestep/manifest';
import type { EventRetryPolicy } from '@sidestep/workflows';
import type { PipeSourceQueue } from './pipe.ts';
import type { NextFireTimes, ScheduleDefinition, SchedulerClock } from './scheduler.ts';

/** A service to run: its manifest and the directory holding its built bundle (the image's /var/task). */
export interface LocalService {
  readonly manifest: ServiceManifest;
  readonly bundleDir: string;
  /**
   * Variables infra gives the function beyond what its manifest's permissions imply (the
   * export-finalizer's DOWNLOAD_BASE_URL, its signing key's secret), from the running cloud's URLs
   * and secrets.
   * @default none
   */
  readonly environment?: (cloud: LocalServiceUrls) => Readonly<Record<string, string>>;
}

/** What of the running cloud a service's extra environment may point at or hold. */
export interface LocalServiceUrls {
  /** `<endpoint>/lambda-url/<name>/`: see {@link LocalCloud.functionUrl}. */
  functionUrl(name: string): string;
  /**
   * The ARN of the Secrets Manager secret `sidestep-local-<name>` on the local endpoint, as infra
   * passes a secret's ARN: the stack's secret, created at start with a random value (32 bytes as
   * hex), or made here with one when the stack has none of that name; the same at every later start
   * (PutSecretValue rotates it), cleared by `--fresh`.
   */
  secretArn(name: string): string;
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
  /** `arn:aws:ecs:us-east-1:000000000000:cluster/sidestep-local-<task>`: one cluster per task, as infra. */
  clusterArn(task: string): string;
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
  /** The target's retry policy, as infra's S3Trigger `retry`. @default 20 retries within an hour */
  readonly retryPolicy?: EventRetryPolicy;
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

/**
 * The EventBridge rule that sends the workflows' executions that ended (Step Functions' "Execution
 * Status Change" events) to a service: `executionStatusRule` of @sidestep/workflows, as infra
 * deploys it.
 */
export interface LocalExecutionStatusRule {
  /** The rule name without prefix: `workflow-ended` runs as `sidestep-local-workflow-ended`. */
  readonly name: string;
  /** The service invoked with each matching event, e.g. `job-sweeper`. */
  readonly service: string;
  readonly eventPattern: object;
}
