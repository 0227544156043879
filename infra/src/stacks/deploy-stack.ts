import { IamServiceLinkedRole } from '@cdktn/provider-aws/lib/iam-service-linked-role/index.js';
import { AwsProvider } from '@cdktn/provider-aws/lib/provider/index.js';
import { BUCKET_PURPOSES, resourceName, type ServiceManifest, type TaskManifest } from '@sidestep/manifest';
import { S3Backend, TerraformOutput } from 'cdktn';
import type { Construct } from 'constructs';
import {
  type EnvironmentConfig,
  environmentBucketName,
  placeholderSettings,
  refusePlaceholderSettings,
} from '../config.ts';
import { DeployRole } from '../constructs/deploy-role.ts';
import { ForgottenResource } from '../constructs/forgotten-resource.ts';
import { PermissionsBoundaryPolicy } from '../constructs/permissions-boundary.ts';
import { InfraConfigError } from '../errors.ts';
import { SERVICES, TASKS } from '../services.ts';
import { EnvironmentStack } from './environment-stack.ts';

/** Props of {@link DeployStack}. */
export interface DeployStackProps {
  /** The environment the role deploys (`staging` or `production`). */
  readonly config: EnvironmentConfig;
  /** Services whose repositories and functions the role rolls out. @default {@link SERVICES} */
  readonly services?: readonly ServiceManifest[];
  /** Fargate tasks whose repositories the role pushes to. @default {@link TASKS} */
  readonly tasks?: readonly TaskManifest[];
}

/**
 * Functions that run a service's image under another name (same repository, another CMD); the deploy
 * rolls them out with their service. Mirrors `SidestepStack`'s `ExportDownload`.
 */
const EXTRA_FUNCTIONS = ['export-download'];

/**
 * The service the deploy invokes after the apply (.github/workflows/deploy-environment.yml, "Smoke
 * check"): the job-sweeper takes `{}`, reads the database and changes nothing when no job is stale.
 */
export const SMOKE_CHECK_SERVICE = 'job-sweeper';

/**
 * The task the deploy runs once with `MODE=migrate` before the functions move
 * (.github/workflows/deploy-environment.yml, "Migrate the database").
 */
export const MIGRATION_TASK = 'batch-worker';

/**
 * `sidestep-<env>-deploy`: the GitHub OIDC provider, the deploy role of one environment, the permissions
 * boundary every role of the environment carries (`sidestep-<env>-boundary`) and the ECS service-linked
 * role (a new account has none, and ECS creates it only for a caller allowed iam:CreateServiceLinkedRole,
 * which the deploy role is not). A role cannot create itself, so an administrator applies this stack once
 * from a laptop (infra/README.md, "Bootstrap"); every later deploy assumes the role and applies
 * `sidestep-<env>`. Its state sits next to the environment's (`sidestep/<env>/deploy.tfstate`), a key the
 * role is not granted. The provider and the service-linked role are account-wide (another environment in
 * the account uses them), so they are never destroyed with the stack (`prevent_destroy`), and told the
 * account has them, the stack forgets them (a `removed` block) instead of deleting them.
 */
export class DeployStack extends EnvironmentStack {
  /** The provider and the role. */
  readonly deployRole: DeployRole;
  /** The boundary of every role of the environment stack. */
  readonly permissionsBoundary: PermissionsBoundaryPolicy;

  constructor(scope: Construct, id: string, props: DeployStackProps) {
    super(scope, id, props.config);
    const { config } = props;
    if (config.name === 'local') {
      throw new InfraConfigError('local.name', 'the local cloud is not deployed from GitHub');
    }
    if (!config.github) throw new InfraConfigError(`${config.name}.github`, 'who may deploy is required');
    if (!config.backend)
      throw new InfraConfigError(`${config.name}.backend`, 'the deploy role is granted the state object');
    // The role's grants come from the whole config (the SES identity of the mail domain, the secret and
    // its key, the buckets' suffix, the hosted zone, the database's group), and the pipeline, whose synth
    // refuses placeholders, may do only what they grant: a stack applied with one left (an export
    // forgotten at bootstrap) would fail the first deploy at its apply (AccessDenied on the real mail
    // domain). Given its account, the stack is meant for that account: it is refused, naming the
    // variable, as the pipeline's synth refuses it. Without one it is the sample CI synthesizes and
    // validates, which no account accepts (the provider's allowed_account_ids is the placeholder).
    const placeholders = placeholderSettings(config);
    if (!placeholders.some((setting) => setting.field === 'accountId')) {
      refusePlaceholderSettings(config, placeholders);
    }
    const environment = config.name;
    new AwsProvider(this, 'aws', {
      region: config.region,
      allowedAccountIds: [config.accountId],
      defaultTags: [{ tags: { project: 'sidestep', environment, stack: 'deploy' } }],
    });
    new S3Backend(this, {
      bucket: config.backend.bucket,
      key: `sidestep/${environment}/deploy.tfstate`,
      region: config.backend.region,
      encrypt: true,
      useLockfile: true,
    });
    this.permissionsBoundary = new PermissionsBoundaryPolicy(this, 'permissions-boundary', {
      prefix: `sidestep-${environment}`,
      accountId: config.accountId,
      ...(config.databaseSecretKmsKeyArn
        ? { databaseSecretKey: { keyArn: config.databaseSecretKmsKeyArn, region: config.region } }
        : {}),
    });
    // Account-wide, like the OIDC provider: when staging and production share an account, the second
    // deploy stack is told the role exists. Never destroyed with the stack, in teardown mode neither:
    // another environment's tasks may use it, and IAM refuses to delete it while ECS resources exist
    // (https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteServiceLinkedRole.html). Told the
    // role exists, the stack that created it forgets it rather than destroy it (prevent_destroy leaves
    // with the resource block); that is also how it is let go before a destroy (README, "Tearing an
    // environment down").
    if (config.ecsServiceLinkedRoleExists) {
      new ForgottenResource(this, 'ecs-service-linked-role', {
        resourceType: IamServiceLinkedRole.tfResourceType,
      });
    } else {
      new IamServiceLinkedRole(this, 'ecs-service-linked-role', {
        awsServiceName: 'ecs.amazonaws.com',
        lifecycle: { preventDestroy: true },
      });
    }
    const services = props.services ?? SERVICES;
    const tasks = props.tasks ?? TASKS;
    const hasExportDownload = services.some((service) => service.name === 'export-finalizer');
    this.deployRole = new DeployRole(this, 'deploy-role', {
      environment,
      accountId: config.accountId,
      region: config.region,
      github: config.github,
      // Staging may also be assumed by main-branch jobs without an environment (e.g. a build job);
      // production only by its environment, whose required reviewers a bare branch job would skip.
      trustDeployBranch: environment === 'staging',
      state: config.backend,
      repositoryNames: [...services, ...tasks].map((manifest) => resourceName(environment, manifest.name)),
      functionNames: [
        ...services.map((service) => service.name),
        ...(hasExportDownload ? EXTRA_FUNCTIONS : []),
      ].map((name) => resourceName(environment, name)),
      smokeCheckFunctionNames: services.some((service) => service.name === SMOKE_CHECK_SERVICE)
        ? [resourceName(environment, SMOKE_CHECK_SERVICE)]
        : [],
      bucketNames: BUCKET_PURPOSES.map((purpose) => environmentBucketName(config, purpose)),
      mailIdentity: config.mail.domain ?? config.mail.fromAddress,
      ...(tasks.some((task) => task.name === MIGRATION_TASK) ? { migrationTask: MIGRATION_TASK } : {}),
      databaseSecretArn: config.databaseSecretArn,
      ...(config.databaseSecretKmsKeyArn ? { databaseSecretKmsKeyArn: config.databaseSecretKmsKeyArn } : {}),
      ...(config.mail.hostedZoneId ? { hostedZoneId: config.mail.hostedZoneId } : {}),
      ...(config.network?.database?.securityGroupId
        ? { databaseSecurityGroupId: config.network.database.securityGroupId }
        : {}),
      ...(config.alarmTopicArn ? { alarmTopicArn: config.alarmTopicArn } : {}),
    });
    new TerraformOutput(this, 'deploy_role_arn', { value: this.deployRole.roleArn });
    new TerraformOutput(this, 'github_oidc_provider_arn', { value: this.deployRole.oidcProviderArn });
    new TerraformOutput(this, 'permissions_boundary_arn', { value: this.permissionsBoundary.policyArn });
  }
}
