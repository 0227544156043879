import { CloudwatchLogGroup } from '@cdktn/provider-aws/lib/cloudwatch-log-group/index.js';
import { EcsCluster } from '@cdktn/provider-aws/lib/ecs-cluster/index.js';
import { EcsClusterCapacityProviders } from '@cdktn/provider-aws/lib/ecs-cluster-capacity-providers/index.js';
import { EcsTaskDefinition } from '@cdktn/provider-aws/lib/ecs-task-definition/index.js';
import {
  METRICS_NAMESPACE,
  RUNTIME_ENVIRONMENT,
  resourceName,
  type TaskManifest,
  taskLogGroupName,
} from '@sidestep/manifest';
import { Construct } from 'constructs';
import { type BatchCapacity, batchTaskArchitecture, type TaskArchitecture } from '../batch-capacity.ts';
import { InfraConfigError } from '../errors.ts';
import { GrantableRole, type PolicyGrantee, type PolicyStatement, statementId } from './grantable-role.ts';
import { ImageRepository, type ImageRepositoryProps } from './image-repository.ts';
import type { LogGroupSettings } from './log-group-settings.ts';
import type { PermissionTargets } from './manifest-permissions.ts';
import { grantManifestPermissions } from './manifest-permissions.ts';

/** Where a task's ENI is placed (Fargate's `awsvpc` network mode; passed to RunTask by the workflow). */
export interface TaskNetworkConfig {
  /** Subnets the task may be placed in (private subnets with a route to S3 and the database). */
  readonly subnetIds: readonly string[];
  /** Security groups of the task's ENI. */
  readonly securityGroupIds: readonly string[];
  /**
   * Give the task a public IP (only for public subnets without a NAT gateway).
   * @default false
   */
  readonly assignPublicIp?: boolean;
}

/** Props of {@link BatchTask}. */
export interface BatchTaskProps {
  /** Environment name (`staging`); family, cluster and repository are `sidestep-<env>-<task>`. */
  readonly environment: string;
  /** The task's manifest (`services/<name>/task.ts`). */
  readonly manifest: TaskManifest;
  /** Account of the cluster; scopes the `.sync` grants to this cluster's tasks. */
  readonly accountId: string;
  /** Region of the cluster; scopes the `.sync` grants and names the awslogs region. */
  readonly region: string;
  /** Subnets and security groups the workflow runs the task in. */
  readonly network: TaskNetworkConfig;
  /**
   * What each permission resource resolves to. Every resource the manifest names must be present.
   * @default {} (a manifest with permissions then fails to synthesize)
   */
  readonly permissionTargets?: PermissionTargets;
  /** Log group settings. @default 30 days retention, CloudWatch-managed encryption */
  readonly logs?: LogGroupSettings;
  /** ECR repository settings. @default keep the last 30 images, AWS-managed KMS key */
  readonly repository?: Pick<ImageRepositoryProps, 'keepImages' | 'kmsKeyArn'>;
  /**
   * The capacity provider the workflows run the task on.
   * @default 'FARGATE'
   */
  readonly capacityProvider?: BatchCapacity;
  /**
   * CPU architecture of the image (`ARM64` is refused on `FARGATE_SPOT`, which runs no ARM64 Linux task).
   * @default {@link batchTaskArchitecture} of the capacity provider: 'ARM64' (as the Lambda functions),
   * 'X86_64' on FARGATE_SPOT
   */
  readonly architecture?: TaskArchitecture;
}

/** The names a task `sidestep-<env>-<task>` gets: its family and cluster, and its two roles. */
export interface BatchTaskNames {
  /** Task definition family and cluster name: `sidestep-<env>-<task>`. */
  readonly family: string;
  readonly cluster: string;
  /** `sidestep-<env>-<task>-execution`. */
  readonly executionRole: string;
  /** `sidestep-<env>-<task>-task`. */
  readonly taskRole: string;
}

/** What {@link BatchTask} names the task `task` of `environment`: the deploy role grants on these names. */
export function batchTaskNames(environment: string, task: string): BatchTaskNames {
  const name = resourceName(environment, task);
  return { family: name, cluster: name, executionRole: `${name}-execution`, taskRole: `${name}-task` };
}

/** The scratch volume mounted at /tmp: the root filesystem is read-only, /tmp is the only writable path. */
const TMP_VOLUME = 'tmp';

/**
 * One long-running program on ECS Fargate, run by workflows with `ecs:runTask.sync`: an ECS cluster
 * (Container Insights on), the Fargate task definition from the task manifest (read-only root
 * filesystem with a writable /tmp volume, awslogs into its own log group with retention), its image
 * repository, and two roles: the execution role ECS uses to pull the image and write logs, and the task
 * role the program runs with, holding only the manifest's permissions resolved to exact ARNs.
 *
 * The task's inputs (`manifest.inputs`) are not in the task definition: each run passes them as
 * container overrides.
 */
export class BatchTask extends Construct {
  /** The task's manifest. */
  readonly manifest: TaskManifest;
  /** The cluster the task runs in. */
  readonly cluster: EcsCluster;
  /** Cluster ARN (RunTask's `Cluster`). */
  readonly clusterArn: string;
  /** Cluster name, `sidestep-<env>-<task>`. */
  readonly clusterName: string;
  /** The task definition. */
  readonly taskDefinition: EcsTaskDefinition;
  /** Task definition ARN with its revision (RunTask's `TaskDefinition`). */
  readonly taskDefinitionArn: string;
  /** The container workflows override (`ContainerOverrides[].Name`). */
  readonly containerName: string;
  /** Role ECS uses to pull the image and write logs. */
  readonly executionRole: GrantableRole;
  /** Role the program runs with. */
  readonly taskRole: GrantableRole;
  /** The task's image repository and tag variable. */
  readonly repository: ImageRepository;
  /** `/ecs/sidestep-<env>-<task>`. */
  readonly logGroup: CloudwatchLogGroup;
  /** Subnets and security groups runs are placed in. */
  readonly network: TaskNetworkConfig;
  /** The task definition's CPU architecture: its image must be built for it. */
  readonly architecture: TaskArchitecture;
  readonly #region: string;
  readonly #accountId: string;
  /** Read once: every read of a resource attribute is a new token, and grants compare statements. */
  readonly #familyArn: string;

  constructor(scope: Construct, id: string, props: BatchTaskProps) {
    super(scope, id);
    const { manifest, environment } = props;
    const names = batchTaskNames(environment, manifest.name);
    const name = names.family;
    const field = (path: string) => `${manifest.name}.${path}`;
    if (props.network.subnetIds.length === 0) {
      throw new InfraConfigError(field('network.subnetIds'), 'a Fargate task needs at least one subnet');
    }
    if (props.network.securityGroupIds.length === 0) {
      throw new InfraConfigError(field('network.securityGroupIds'), 'needs at least one security group');
    }
    const architecture = props.architecture ?? batchTaskArchitecture(props.capacityProvider);
    if (props.capacityProvider === 'FARGATE_SPOT' && architecture === 'ARM64') {
      // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html
      throw new InfraConfigError(
        field('architecture'),
        'FARGATE_SPOT runs no ARM64 Linux task (every RunTask would fail): use X86_64, or the FARGATE capacity',
      );
    }
    this.architecture = architecture;
    this.manifest = manifest;
    this.network = props.network;
    this.containerName = manifest.containerName;
    this.#region = props.region;
    this.#accountId = props.accountId;

    this.repository = new ImageRepository(this, 'repository', {
      repositoryName: name,
      imageName: manifest.name,
      keepImages: props.repository?.keepImages,
      kmsKeyArn: props.repository?.kmsKeyArn,
    });
    this.logGroup = new CloudwatchLogGroup(this, 'log-group', {
      name: taskLogGroupName(props.environment, props.manifest.name),
      retentionInDays: props.logs?.retentionDays ?? 30,
      kmsKeyId: props.logs?.kmsKeyArn,
    });
    this.clusterName = names.cluster;
    this.cluster = new EcsCluster(this, 'cluster', {
      name,
      setting: [{ name: 'containerInsights', value: 'enabled' }],
    });
    this.clusterArn = this.cluster.arn;
    // Both Fargate capacity providers, so a workflow may run the task on FARGATE_SPOT with a capacity
    // provider strategy; RunTask with `LaunchType: FARGATE` ignores them.
    // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html
    new EcsClusterCapacityProviders(this, 'capacity-providers', {
      clusterName: this.cluster.name,
      capacityProviders: ['FARGATE', 'FARGATE_SPOT'],
    });

    // ECS assumes both roles on behalf of tasks in this account only (confused deputy prevention). The
    // task role also names the source ARN as ECS documents it; the execution role keeps to the account,
    // the condition AWS's own examples give it (an unmet condition would stop every image pull).
    // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html
    const sourceAccount = { StringEquals: { 'aws:SourceAccount': props.accountId } };
    this.executionRole = new GrantableRole(this, 'execution-role', {
      roleName: names.executionRole,
      assumedBy: 'ecs-tasks.amazonaws.com',
      description: `ECS pulls the image of ${name} and writes its logs with this role`,
      assumeRoleConditions: sourceAccount,
    });
    // The actions of AmazonECSTaskExecutionRolePolicy, inline and scoped to this task's repository and log group.
    this.executionRole.addToPolicy({
      sid: 'PullImage',
      actions: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
      resources: [this.repository.repositoryArn],
    });
    this.executionRole.addToPolicy({
      sid: 'GetRegistryToken',
      actions: ['ecr:GetAuthorizationToken'],
      resources: ['*'],
      unscopableReason: 'ecr:GetAuthorizationToken is account-wide (the registry token has no resource type)',
    });
    this.executionRole.addToPolicy({
      sid: 'WriteOwnLogs',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [`${this.logGroup.arn}:log-stream:*`],
    });
    this.taskRole = new GrantableRole(this, 'task-role', {
      roleName: names.taskRole,
      assumedBy: 'ecs-tasks.amazonaws.com',
      description: `${name} runs with this role: ${manifest.description}`,
      assumeRoleConditions: {
        ...sourceAccount,
        ArnLike: { 'aws:SourceArn': `arn:aws:ecs:${props.region}:${props.accountId}:*` },
      },
    });

    const environmentVariables: Record<string, string> = {
      [RUNTIME_ENVIRONMENT.environment]: environment,
      [RUNTIME_ENVIRONMENT.serviceName]: manifest.name,
      [RUNTIME_ENVIRONMENT.metricsNamespace]: METRICS_NAMESPACE,
    };
    const setVariable = (key: string, value: string, from: string): void => {
      if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(key) || key.startsWith('AWS_') || key.startsWith('ECS_')) {
        throw new InfraConfigError(from, `"${key}" is not a settable container environment variable name`);
      }
      if (key in manifest.inputs) {
        throw new InfraConfigError(from, `${key} is an input: each run passes it as a container override`);
      }
      const existing = environmentVariables[key];
      if (existing !== undefined && existing !== value) {
        throw new InfraConfigError(from, `${key} is already set to a different value`);
      }
      environmentVariables[key] = value;
    };
    for (const [key, value] of Object.entries(manifest.environment ?? {})) {
      if (key in environmentVariables) {
        throw new InfraConfigError(
          field(`environment.${key}`),
          `${key} is set by infra, not by the manifest`,
        );
      }
      setVariable(key, value, field(`environment.${key}`));
    }
    grantManifestPermissions(manifest, props.permissionTargets, this.taskRole, (key, value, from) => {
      // A workflow that passes the resource per run (the export workflow's EXPORTS_BUCKET) declares it
      // as an input; the run's override then names it, and a static copy would only shadow a mistake.
      if (!(key in manifest.inputs)) setVariable(key, value, from);
    });

    this.taskDefinition = new EcsTaskDefinition(this, 'task-definition', {
      family: name,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: String(manifest.cpu),
      memory: String(manifest.memoryMb),
      runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: architecture },
      ephemeralStorage:
        manifest.ephemeralStorageGiB === undefined ? undefined : { sizeInGib: manifest.ephemeralStorageGiB },
      executionRoleArn: this.executionRole.roleArn,
      taskRoleArn: this.taskRole.roleArn,
      volume: [{ name: TMP_VOLUME }],
      containerDefinitions: JSON.stringify([
        {
          name: manifest.containerName,
          image: this.repository.imageUri,
          essential: true,
          command: [...manifest.command],
          // The seeds' lesson: only /tmp is writable, so nothing can write config or caches at start-up.
          readonlyRootFilesystem: true,
          mountPoints: [{ sourceVolume: TMP_VOLUME, containerPath: '/tmp', readOnly: false }],
          // An init process forwards SIGTERM (ECS's stop signal) to the program and reaps children.
          linuxParameters: { initProcessEnabled: true },
          // How long the program has after that SIGTERM before ECS kills it (Fargate: 30 s unset,
          // 120 s at most). A Spot interruption warns two minutes ahead, but kills at this timeout.
          ...(manifest.stopTimeoutSeconds === undefined ? {} : { stopTimeout: manifest.stopTimeoutSeconds }),
          // Sorted: ECS returns variables sorted, and any other order is a perpetual Terraform diff.
          environment: Object.keys(environmentVariables)
            .sort()
            .map((key) => ({ name: key, value: environmentVariables[key] })),
          logConfiguration: {
            logDriver: 'awslogs',
            options: {
              'awslogs-group': this.logGroup.name,
              'awslogs-region': props.region,
              'awslogs-stream-prefix': manifest.name,
            },
          },
        },
      ]),
      // A new revision does not deregister the one before it: the deploy registers the new revision
      // (and migrates with it) before the apply that moves the workflows to it, and an execution started
      // before a deploy runs the revision it started with; ECS runs no new task of an INACTIVE revision.
      // Old revisions stay ACTIVE (they cost nothing); deregister them by hand if wanted.
      skipDestroy: true,
      // A task started before its roles' policies exist fails to pull or to read its input.
      dependsOn: [this.executionRole.policy, this.taskRole.policy],
    });
    this.taskDefinitionArn = this.taskDefinition.arn;
    this.#familyArn = this.taskDefinition.arnWithoutRevision;
  }

  /** Adds an exact statement to the task role (what the program may call). */
  addToPolicy(statement: PolicyStatement): void {
    this.taskRole.addToPolicy(statement);
  }

  /**
   * Lets a grantee (a workflow's role) run this task: `ecs:RunTask` on the task definition family,
   * `iam:PassRole` on exactly its two roles, and with `sync` (`ecs:runTask.sync`) what Step Functions
   * needs to wait for the task: stop and describe tasks of this cluster, and manage the managed rule
   * through which ECS reports task state changes.
   * https://docs.aws.amazon.com/step-functions/latest/dg/ecs-iam.html
   */
  grantRun(grantee: PolicyGrantee, options: { readonly sync: boolean }): void {
    const id = this.manifest.name;
    grantee.addToPolicy({
      sid: statementId('run', id),
      actions: ['ecs:RunTask'],
      // Every revision of the family (`<family>:*`), not only the current one: an execution started
      // before a deploy runs the definition it started with, which names the previous revision.
      resources: [`${this.#familyArn}:*`],
      // ...and only in this task's cluster.
      conditions: { ArnEquals: { 'ecs:cluster': this.clusterArn } },
    });
    grantee.addToPolicy({
      sid: statementId('pass', id, 'roles'),
      actions: ['iam:PassRole'],
      resources: [this.executionRole.roleArn, this.taskRole.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    });
    if (!options.sync) return;
    grantee.addToPolicy({
      sid: statementId('watch', id),
      actions: ['ecs:StopTask', 'ecs:DescribeTasks'],
      // AWS's generated policy says "*" because task ids are unknown in advance; the task ARN format
      // (`task/<cluster>/<id>`) lets the cluster scope it instead.
      resources: [`arn:aws:ecs:${this.#region}:${this.#accountId}:task/${this.clusterName}/*`],
    });
    grantee.addToPolicy({
      sid: 'EcsTaskStateEvents',
      actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
      resources: [
        `arn:aws:events:${this.#region}:${this.#accountId}:rule/StepFunctionsGetEventsForECSTaskRule`,
      ],
    });
  }
}
