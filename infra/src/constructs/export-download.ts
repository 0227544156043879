import { CloudwatchLogGroup } from '@cdktn/provider-aws/lib/cloudwatch-log-group/index.js';
import { LambdaFunction } from '@cdktn/provider-aws/lib/lambda-function/index.js';
import { LambdaFunctionUrl } from '@cdktn/provider-aws/lib/lambda-function-url/index.js';
import { LambdaPermission } from '@cdktn/provider-aws/lib/lambda-permission/index.js';
import { SecretsmanagerSecret } from '@cdktn/provider-aws/lib/secretsmanager-secret/index.js';
import {
  EXPORT_DOWNLOAD_FUNCTION,
  METRICS_NAMESPACE,
  RUNTIME_ENVIRONMENT,
  resourceName,
} from '@sidestep/manifest';
import { Construct } from 'constructs';
import type { ExportsBucket } from './exports-bucket.ts';
import { EXPORTS_PREFIX } from './exports-bucket.ts';
import { type GrantableRole, type PolicyGrantee, statementId } from './grantable-role.ts';
import { createLambdaExecutionRole } from './lambda-execution-role.ts';
import type { ServiceFunction } from './service-function.ts';

/** Props of {@link ExportDownload}. */
export interface ExportDownloadProps {
  /** Environment name (`staging`); the function is `sidestep-<env>-export-download`. */
  readonly environment: string;
  /** The export-finalizer: its image serves downloads too, and it signs the links. */
  readonly finalizer: ServiceFunction;
  /** The bucket the downloads are served from. */
  readonly exportsBucket: ExportsBucket;
  /** The image's CMD for the download endpoint. @default 'index.downloadHandler' */
  readonly handler?: string;
  /**
   * Reserved concurrency of the endpoint: caps how many requests it serves at once (a function URL has
   * no throttling setting of its own; its only cap is the function's concurrency) and keeps that much
   * of the account's concurrency for it. A new account (quota 10) cannot reserve any; on an account
   * with the default quota of 1,000, 10 serves hundreds of downloads a second (each request is an HMAC
   * check, a HeadObject and a presign: tens of milliseconds).
   * @default none: unreserved, capped only by the account's unreserved concurrency
   */
  readonly reservedConcurrency?: number;
  /** Log group settings. @default 30 days retention */
  readonly logs?: {
    /** @default 30 */
    readonly retentionDays?: number;
  };
}

/**
 * The download endpoint of exports (see the root README, "Export downloads"): the export-finalizer's
 * image run with CMD `index.downloadHandler` as its own function `sidestep-<env>-export-download` behind
 * a Lambda function URL, and the Secrets Manager secret holding the HMAC key links are signed with.
 *
 * - The URL is public (`authorization_type = NONE`): the link's token is the authorization, checked by
 *   the handler, which redirects to a GetObject URL it presigns for 5 minutes. Its role may only read
 *   `exports/*` of the bucket and the signing secret (and write its logs and traces).
 * - The finalizer gets `DOWNLOAD_BASE_URL` (the function URL) and `DOWNLOAD_SIGNING_KEY_SECRET_ARN`,
 *   and may read the secret; nothing else may.
 * - The secret's value (at least 32 characters) is not in Terraform: an operator sets it once with
 *   `aws secretsmanager put-secret-value` (state files are not where keys live). Putting a new value
 *   rotates the key: links are signed with AWSCURRENT and checked against AWSCURRENT and AWSPREVIOUS,
 *   so a second new value revokes every outstanding link.
 */
export class ExportDownload extends Construct {
  /** The download function. */
  readonly function: LambdaFunction;
  /** `sidestep-<env>-export-download`. */
  readonly functionName: string;
  /** Its role. */
  readonly role: GrantableRole;
  /** `/aws/lambda/sidestep-<env>-export-download`. */
  readonly logGroup: CloudwatchLogGroup;
  /** The function URL resource. */
  readonly functionUrl: LambdaFunctionUrl;
  /** `https://<id>.lambda-url.<region>.on.aws/`: where links point. */
  readonly url: string;
  /** The HMAC key secret. */
  readonly signingKey: SecretsmanagerSecret;
  /** The secret's ARN. */
  readonly signingKeyArn: string;

  constructor(scope: Construct, id: string, props: ExportDownloadProps) {
    super(scope, id);
    const { environment, finalizer, exportsBucket } = props;
    const name = resourceName(environment, EXPORT_DOWNLOAD_FUNCTION);
    this.functionName = name;

    // No kms_key_id: the AWS-managed aws/secretsmanager key, which every role allowed GetSecretValue
    // may use. A customer-managed key would need kms:Decrypt for both readers (as the database secret's
    // key gets, `secretKeyStatement`). https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
    this.signingKey = new SecretsmanagerSecret(this, 'signing-key', {
      name: resourceName(environment, 'export-download-key'),
      // Deleted at once, not after the default 30-day recovery window, during which CreateSecret of the
      // same name fails and an environment of that name could not be created again
      // (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html). Always,
      // not only in teardown mode: an apply that replaces the secret (a destroy, then a create of the same
      // name) would fail the same way. A recovery would save little: the key is random (a new one is one
      // put-secret-value away) and only the links it signed stop working, as they do with the environment.
      recoveryWindowInDays: 0,
      description:
        'HMAC-SHA256 key (at least 32 characters) signing export download links; the previous value still verifies them, so two new values revoke every link',
    });
    this.signingKeyArn = this.signingKey.arn;

    this.logGroup = new CloudwatchLogGroup(this, 'log-group', {
      name: `/aws/lambda/${name}`,
      retentionInDays: props.logs?.retentionDays ?? 30,
    });
    this.role = createLambdaExecutionRole(this, {
      roleName: name,
      description: `Execution role of ${name}: checks export download tokens and redirects to the object`,
      logGroupArn: this.logGroup.arn,
    });
    // GetObject covers the HeadObject that checks the export still exists, and is what the presigned
    // URL is signed for: the URL carries this role's permission, for 5 minutes.
    this.role.addToPolicy({
      sid: 'ReadExports',
      actions: ['s3:GetObject'],
      resources: [`${exportsBucket.bucketArn}/${EXPORTS_PREFIX}*`],
    });
    // HeadObject tells an expired export (a 410) from a live one only with s3:ListBucket: without it S3
    // answers a missing key with 403, which the endpoint must not take for "gone".
    exportsBucket.grantListExports(this.role);
    this.grantReadSigningKey(this.role);

    finalizer.allowImagePull(name);
    this.function = new LambdaFunction(this, 'function', {
      functionName: name,
      description: 'Checks an export download token and redirects to a short-lived presigned GetObject URL',
      role: this.role.roleArn,
      packageType: 'Image',
      imageUri: finalizer.imageUri,
      imageConfig: { command: [props.handler ?? 'index.downloadHandler'] },
      architectures: ['arm64'],
      memorySize: 256,
      timeout: 10,
      reservedConcurrentExecutions: props.reservedConcurrency,
      tracingConfig: { mode: 'Active' },
      loggingConfig: { logFormat: 'JSON', logGroup: this.logGroup.name },
      environment: {
        variables: {
          [RUNTIME_ENVIRONMENT.environment]: environment,
          [RUNTIME_ENVIRONMENT.serviceName]: EXPORT_DOWNLOAD_FUNCTION,
          [RUNTIME_ENVIRONMENT.metricsNamespace]: METRICS_NAMESPACE,
          ...exportsBucket.permissionTarget.environment,
          DOWNLOAD_SIGNING_KEY_SECRET_ARN: this.signingKeyArn,
          // No DOWNLOAD_BASE_URL: only the finalizer's links use it, and this function's own URL would be
          // a Terraform cycle (the URL needs the function).
        },
      },
      // The pull policy that names this function too (allowImagePull above): Lambda checks at create that
      // it may pull the image, as for the finalizer itself (ServiceFunction).
      dependsOn: [this.logGroup, this.role.policy, finalizer.pullPolicy],
    });

    this.functionUrl = new LambdaFunctionUrl(this, 'url', {
      functionName: this.function.functionName,
      // The token in the link is the authorization (HMAC, expiry); a browser cannot sign SigV4 requests.
      authorizationType: 'NONE',
    });
    this.url = this.functionUrl.functionUrl;
    // A public function URL needs both permissions since October 2025: InvokeFunctionUrl, and
    // InvokeFunction limited to calls through the URL.
    // https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html
    new LambdaPermission(this, 'public-url', {
      statementId: 'PublicDownloadUrl',
      action: 'lambda:InvokeFunctionUrl',
      functionName: this.function.functionName,
      principal: '*',
      functionUrlAuthType: 'NONE',
    });
    new LambdaPermission(this, 'public-url-invoke', {
      statementId: 'PublicDownloadUrlInvoke',
      action: 'lambda:InvokeFunction',
      functionName: this.function.functionName,
      principal: '*',
      invokedViaFunctionUrl: true,
    });

    finalizer.addEnvironment('DOWNLOAD_BASE_URL', this.url, 'export-download.url');
    finalizer.addEnvironment(
      'DOWNLOAD_SIGNING_KEY_SECRET_ARN',
      this.signingKeyArn,
      'export-download.signingKey',
    );
    this.grantReadSigningKey(finalizer);
  }

  /**
   * Lets a grantee read the signing key (the finalizer signs links, the endpoint checks them): every
   * version, with no `secretsmanager:VersionStage` condition, since the endpoint reads AWSPREVIOUS too
   * (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html).
   */
  grantReadSigningKey(grantee: PolicyGrantee): void {
    grantee.addToPolicy({
      sid: statementId('read', 'export', 'download', 'key'),
      actions: ['secretsmanager:GetSecretValue'],
      resources: [this.signingKeyArn],
    });
  }
}
