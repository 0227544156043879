import { CloudwatchLogGroup } from '@cdktn/provider-aws/lib/cloudwatch-log-group/index.js';
import type { EcrRepository } from '@cdktn/provider-aws/lib/ecr-repository/index.js';
import { EcrRepositoryPolicy } from '@cdktn/provider-aws/lib/ecr-repository-policy/index.js';
import { LambdaAlias } from '@cdktn/provider-aws/lib/lambda-alias/index.js';
import { LambdaFunction } from '@cdktn/provider-aws/lib/lambda-function/index.js';
import {
  functionLogGroupName,
  METRICS_NAMESPACE,
  RUNTIME_ENVIRONMENT,
  resourceName,
  type ServiceManifest,
} from '@sidestep/manifest';
import { Lazy, type TerraformVariable } from 'cdktn';
import { Construct } from 'constructs';
import { InfraConfigError } from '../errors.ts';
import { AsyncInvocation } from './async-invocation.ts';
import { FunctionAlarms, INVOKED_FUNCTION_FAILURE, QUEUE_CONSUMER_FAILURE } from './function-alarms.ts';
import {
  type GrantableRole,
  type PolicyGrantee,
  type PolicyStatement,
  statementId,
} from './grantable-role.ts';
import { ImageRepository, type ImageRepositoryProps } from './image-repository.ts';
import { createLambdaExecutionRole } from './lambda-execution-role.ts';
import type { LogGroupSettings } from './log-group-settings.ts';
import { grantManifestPermissions, type PermissionTargets } from './manifest-permissions.ts';

/** Network placement for functions that must reach private resources (e.g. PostgreSQL in a VPC). */
export interface FunctionVpcConfig {
  /** Private subnets the function's ENIs are placed in. */
  readonly subnetIds: readonly string[];
  /** Security groups attached to the function's ENIs. */
  readonly securityGroupIds: readonly string[];
}

/** Props of {@link ServiceFunction}. */
export interface ServiceFunctionProps {
  /** Environment name (`staging`); resources are named `sidestep-<env>-<service>`. */
  readonly environment: string;
  /** The service's manifest (`services/<name>/service.ts`). */
  readonly manifest: ServiceManifest;
  /** Account the function lives in; scopes the ECR pull policy to this exact function. */
  readonly accountId: string;
  /** Region the function lives in; scopes the ECR pull policy to this exact function. */
  readonly region: string;
  /**
   * What each permission resource resolves to. Every resource the manifest names must be present.
   * @default {} (a manifest with permissions then fails to synthesize)
   */
  readonly permissionTargets?: PermissionTargets;
  /** Log group settings. @default 30 days retention, CloudWatch-managed encryption */
  readonly logs?: LogGroupSettings;
  /** ECR repository settings. @default keep the last 30 images, AWS-managed KMS key */
  readonly repository?: Pick<ImageRepositoryProps, 'keepImages' | 'kmsKeyArn'>;
  /** VPC placement. @default none: the function runs in Lambda's network with internet access */
  readonly vpc?: FunctionVpcConfig;
  /** Alarm settings. @default Errors and Throttles alarms without actions (they only show in the console) */
  readonly alarms?: {
    /** SNS topic ARN notified on alarm and on recovery. @default none */
    readonly topicArn?: string;
  };
  /**
   * Reserved concurrency: an environment's setting (`EnvironmentConfig.reservedConcurrency`), not the
   * manifest's, because whether any can be reserved depends on the account's quota (a new account's
   * 10 leaves none: Lambda keeps 100 unreserved).
   * @default none (unreserved)
   */
  readonly reservedConcurrency?: number;
}

/** Variables infra sets for every service; a manifest must not set them itself. */
const MANAGED_ENVIRONMENT = new Set<string>([
  RUNTIME_ENVIRONMENT.environment,
  RUNTIME_ENVIRONMENT.serviceName,
  RUNTIME_ENVIRONMENT.metricsNamespace,
  RUNTIME_ENVIRONMENT.deadLetterQueueUrl,
]);

/**
 * One sidestep service on Lambda: its ECR repository, the container-image function (arm64, X-Ray,
 * JSON logs into its own log group with retention), and an execution role holding only an inline
 * policy derived from what the service calls.
 *
 * The image tag is the Terraform variable `image_tag_<service_snake>`: the deploy pipeline pushes an
 * image and passes its (immutable) tag; nothing else changes the code a function runs.
 */
export class ServiceFunction extends Construct implements PolicyGrantee {
  /** `sidestep-<env>-<service>`. */
  readonly functionName: string;
  /** Function ARN. */
  readonly functionArn: string;
  /** The execution role (one inline policy, nothing attached). */
  readonly role: GrantableRole;
  /** The service's image repository. */
  readonly repository: EcrRepository;
  /** The function resource. */
  readonly function: LambdaFunction;
  /** `/aws/lambda/sidestep-<env>-<service>`. */
  readonly logGroup: CloudwatchLogGroup;
  /** The Terraform variable the deploy pipeline sets to the pushed image tag. */
  readonly imageTag: TerraformVariable;
  /** The manifest this function was built from. */
  readonly manifest: ServiceManifest;
  /** Its Errors and Throttles alarms. */
  readonly alarms: FunctionAlarms;
  /** `<repository url>:<image tag>`: the image this function runs. */
  readonly imageUri: string;
  /**
   * The repository policy letting Lambda pull the image for this function and those of
   * {@link allowImagePull}: a function of the image must depend on it (Lambda checks the pull at create).
   */
  readonly pullPolicy: EcrRepositoryPolicy;
  readonly #environment: Record<string, string>;
  /** Names of the functions the repository's pull policy lets Lambda pull the image for. */
  readonly #pullers: string[] = [];
  readonly #accountId: string;
  readonly #region: string;
  readonly #environmentName: string;
  #asyncInvocation: AsyncInvocation | undefined;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);
    const { manifest, environment } = props;
    const name = resourceName(environment, manifest.name);
    this.manifest = manifest;
    this.functionName = name;

    const images = new ImageRepository(this, 'repository', {
      repositoryName: name,
      imageName: manifest.name,
      keepImages: props.repository?.keepImages,
      kmsKeyArn: props.repository?.kmsKeyArn,
    });
    this.repository = images.repository;
    this.imageTag = images.imageTag;
    // Lambda pulls the image with its service principal. Declaring the pull policy here (instead of
    // letting CreateFunction add one) keeps it in Terraform and scopes it to this one function.
    // https://docs.aws.amazon.com/lambda/latest/dg/images-create.html#configuration-images-permissions
    this.#accountId = props.accountId;
    this.#environmentName = environment;
    this.#region = props.region;
    this.#pullers.push(name);
    // Lazy: another function of the same image (allowImagePull) joins the condition after construction.
    this.pullPolicy = new EcrRepositoryPolicy(this, 'pull-policy', {
      repository: this.repository.name,
      policy: Lazy.stringValue({
        produce: () => {
          const arns = this.#pullers.map(
            (fn) => `arn:aws:lambda:${this.#region}:${this.#accountId}:function:${fn}`,
          );
          return JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'LambdaImageRetrieval',
                Effect: 'Allow',
                Principal: { Service: 'lambda.amazonaws.com' },
                Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
                Condition: { StringLike: { 'aws:sourceArn': arns.length === 1 ? arns[0] : arns } },
              },
            ],
          });
        },
      }),
    });
    this.imageUri = images.imageUri;

    const retentionDays = props.logs?.retentionDays ?? 30;
    this.logGroup = new CloudwatchLogGroup(this, 'log-group', {
      name: functionLogGroupName(environment, manifest.name),
      retentionInDays: retentionDays,
      kmsKeyId: props.logs?.kmsKeyArn,
    });

    if (props.vpc && (props.vpc.subnetIds.length === 0 || props.vpc.securityGroupIds.length === 0)) {
      throw new InfraConfigError(`${manifest.name}.vpc`, 'needs at least one subnet and one security group');
    }
    this.role = createLambdaExecutionRole(this, {
      roleName: name,
      description: `Execution role of ${name}: ${manifest.description}`,
      logGroupArn: this.logGroup.arn,
      inVpc: props.vpc !== undefined,
    });

    this.#environment = {
      [RUNTIME_ENVIRONMENT.environment]: environment,
      [RUNTIME_ENVIRONMENT.serviceName]: manifest.name,
      [RUNTIME_ENVIRONMENT.metricsNamespace]: METRICS_NAMESPACE,
    };
    for (const [key, value] of Object.entries(manifest.environment ?? {})) {
      if (MANAGED_ENVIRONMENT.has(key)) {
        throw new InfraConfigError(
          `${manifest.name}.environment.${key}`,
          `${key} is set by infra, not by the manifest`,
        );
      }
      this.addEnvironment(key, value, `${manifest.name}.environment.${key}`);
    }
    grantManifestPermissions(manifest, props.permissionTargets, this.role, (key, value, from) =>
      this.addEnvironment(key, value, from),
    );

    this.function = new LambdaFunction(this, 'function', {
      functionName: name,
      description: manifest.description,
      role: this.role.roleArn,
      packageType: 'Image',
      imageUri: images.imageUri,
      // The manifest's handler is the image CMD; stating it keeps image and manifest from drifting.
      imageConfig: { command: [manifest.handler] },
      architectures: ['arm64'],
      memorySize: manifest.memoryMb,
      timeout: manifest.timeoutSeconds,
      reservedConcurrentExecutions: props.reservedConcurrency,
      tracingConfig: { mode: 'Active' },
      loggingConfig: { logFormat: 'JSON', logGroup: this.logGroup.name },
      // Lazy: a queue adds DEAD_LETTER_QUEUE_URL after the function exists.
      environment: {
        variables: Lazy.anyValue({ produce: () => ({ ...this.#environment }) }) as unknown as Record<
          string,
          string
        >,
      },
      vpcConfig: props.vpc
        ? { subnetIds: [...props.vpc.subnetIds], securityGroupIds: [...props.vpc.securityGroupIds] }
        : undefined,
      // The log group must exist first (or Lambda creates an unmanaged one without retention), and the
      // role's policy too (the function's first invocation may come before a separate policy lands).
      dependsOn: [this.logGroup, this.role.policy, this.pullPolicy],
    });
    this.functionArn = this.function.arn;
    this.alarms = new FunctionAlarms(this, 'alarms', {
      function: this.function,
      functionName: name,
      topicArn: props.alarms?.topicArn,
      onFailure: manifest.queue ? QUEUE_CONSUMER_FAILURE : INVOKED_FUNCTION_FAILURE,
    });
  }

  /**
   * Sets an environment variable of the function.
   * @param field where the value comes from, named in the error when the key is already taken
   */
  addEnvironment(key: string, value: string, field = `${this.manifest.name}.environment.${key}`): void {
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(key) || key.startsWith('AWS_')) {
      throw new InfraConfigError(field, `"${key}" is not a settable Lambda environment variable name`);
    }
    const existing = this.#environment[key];
    if (existing !== undefined && existing !== value) {
      throw new InfraConfigError(field, `${key} is already set to a different value`);
    }
    this.#environment[key] = value;
  }

  /**
   * Lets Lambda pull this service's image for another function (`sidestep-<env>-<name>` in the same
   * account and region) that runs another handler of the same image.
   */
  allowImagePull(functionName: string): void {
    if (!this.#pullers.includes(functionName)) this.#pullers.push(functionName);
  }

  /**
   * An alias of the function on `$LATEST` (the deploy updates the code in place and publishes no
   * versions): a second IAM resource for the same code, `<function ARN>:<name>`, which a grant on the
   * function's own ARN does not cover. The function sees which one was invoked in its context's
   * `invokedFunctionArn`.
   */
  addAlias(name: string, description: string): LambdaAlias {
    return new LambdaAlias(this, `alias-${name}`, {
      name,
      description,
      functionName: this.function.functionName,
      functionVersion: '$LATEST',
    });
  }

  /**
   * This function is invoked asynchronously (an EventBridge rule's or a schedule's target): its
   * {@link AsyncInvocation}, created on the first call, retries a function error as much as Lambda allows
   * and keeps every event that failed each attempt, with its error, in an alarmed queue.
   */
  invokedAsynchronously(alarmTopicArn: string | undefined): AsyncInvocation {
    this.#asyncInvocation ??= new AsyncInvocation(this, 'async-invocation', {
      environment: this.#environmentName,
      function: this,
      alarmTopicArn,
    });
    return this.#asyncInvocation;
  }

  /** Its {@link AsyncInvocation}, when it is invoked asynchronously. */
  get asyncInvocation(): AsyncInvocation | undefined {
    return this.#asyncInvocation;
  }

  /** Adds an exact statement to the function's execution role. */
  addToPolicy(statement: PolicyStatement): void {
    this.role.addToPolicy(statement);
  }

  /** Lets a grantee (a workflow's role, another service) call `lambda:InvokeFunction` on this function. */
  grantInvoke(grantee: PolicyGrantee): void {
    grantee.addToPolicy({
      sid: statementId('invoke', this.manifest.name),
      actions: ['lambda:InvokeFunction'],
      resources: [this.functionArn],
    });
  }
}
