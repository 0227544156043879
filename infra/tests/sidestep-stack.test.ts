import { AwsProvider } from '@cdktn/provider-aws/lib/provider/index.js';
import { describe, expect, it } from '@jest/globals';
import {
  bucketName,
  defineService,
  defineTask,
  pacedForSendRate,
  type ServiceManifest,
  visibilityTimeoutSeconds,
} from '@sidestep/manifest';
import { registeredService, registeredTask } from '@sidestep/registry';
import { importTrigger, importWorkflow } from '@sidestep/workflows';
import { TerraformStack, Testing } from 'cdktn';
import {
  type EnvironmentConfig,
  environmentConfigs,
  environmentMailMaxSendRate,
  GrantableRole,
  InfraConfigError,
  JobQueue,
  MailIdentity,
  S3Trigger,
  SERVICES,
  ServiceFunction,
  SidestepStack,
  validateEnvironmentConfig,
  Workflow,
} from '../src/index.ts';
import { STAGING } from './environment-fixture.ts';
import { all, batchWorkerTarget, type Json, one, ref, statementFor, statements } from './terraform-json.ts';

const batchWorker = registeredTask('batch-worker').manifest;
const mailDispatcher = registeredService('mail-dispatcher').manifest;
// The mail queue as the staging stack maps it: sized for staging's send rate (pacedForSendRate).
const mailQueueSettings = pacedForSendRate(mailDispatcher, environmentMailMaxSendRate(STAGING)).queue;
if (!mailQueueSettings) throw new Error('the mail-dispatcher consumes a queue');
const statusUpdater = registeredService('status-updater').manifest;

const staging: EnvironmentConfig = {
  ...STAGING,
  alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:sidestep-alarms',
};

/** A second service, as a developer would add it: a manifest and nothing else. */
const reportBuilder = defineService({
  name: 'report-builder',
  description: 'Builds reports from report jobs',
  handler: 'index.handler',
  memoryMb: 1024,
  timeoutSeconds: 120,
  queue: {
    name: 'reports',
    jobTypes: ['report.build'],
    batchSize: 1,
    maximumBatchingWindowSeconds: 0,
    maximumConcurrency: 2,
    maxReceiveCount: 3,
  },
  permissions: [{ resource: 'database-secret', actions: ['secretsmanager:GetSecretValue'] }],
  environment: { REPORT_FORMAT: 'csv' },
});

function synth(config: EnvironmentConfig, services?: Parameters<typeof makeStack>[1]): Json {
  return JSON.parse(Testing.synth(makeStack(config, services), true));
}

function makeStack(
  config: EnvironmentConfig,
  services?: ConstructorParameters<typeof SidestepStack>[2]['services'],
) {
  return new SidestepStack(Testing.app(), `sidestep-${config.name}`, { config, services });
}

/** A stack for one construct under test, with the provider cdktn's validations require. */
function bareStack(id: string): TerraformStack {
  const stack = new TerraformStack(Testing.app(), id);
  new AwsProvider(stack, 'aws', { region: 'eu-west-1' });
  return stack;
}

/** A staging function for a manifest whose only permission target is the database secret. */
function stagingFunction(stack: TerraformStack, manifest: ServiceManifest): ServiceFunction {
  return new ServiceFunction(stack, manifest.name, {
    environment: 'staging',
    manifest,
    accountId: '123456789012',
    region: 'eu-west-1',
    permissionTargets: {
      'database-secret': {
        resourceArns: [staging.databaseSecretArn],
        servicePrefixes: ['secretsmanager'],
        environment: {},
      },
    },
  });
}

const tf = synth(staging);
const name = 'sidestep-staging-mail-dispatcher';
const [queueAddress, queue] = one(tf, 'aws_sqs_queue', { name: 'sidestep-staging-mail' });
const [dlqAddress, dlq] = one(tf, 'aws_sqs_queue', { name: 'sidestep-staging-mail-dlq' });
const [functionAddress, fn] = one(tf, 'aws_lambda_function', { function_name: name });
const [logGroupAddress, logGroup] = one(tf, 'aws_cloudwatch_log_group', { name: `/aws/lambda/${name}` });
const [repositoryAddress, repository] = one(tf, 'aws_ecr_repository', { name });

describe('ServiceFunction (mail-dispatcher in staging)', () => {
  it('runs the service image on arm64 with the manifest memory and timeout', () => {
    expect(fn.package_type).toBe('Image');
    expect(fn.architectures).toEqual(['arm64']);
    expect(fn.memory_size).toBe(mailDispatcher.memoryMb);
    expect(fn.timeout).toBe(mailDispatcher.timeoutSeconds);
    expect(fn.image_config.command).toEqual([mailDispatcher.handler]);
    expect(fn.image_uri).toBe(`\${${repositoryAddress}.repository_url}:\${var.image_tag_mail_dispatcher}`);
    expect(fn.reserved_concurrent_executions).toBeUndefined();
  });

  it('takes the image tag from a validated variable the deploy pipeline sets', () => {
    const variable = tf.variable.image_tag_mail_dispatcher;
    expect(variable.type).toBe('string');
    expect(variable.default).toBeUndefined();
    expect(variable.validation[0].condition).toContain('var.image_tag_mail_dispatcher');
  });

  it('traces with X-Ray and logs JSON into its own log group with retention', () => {
    expect(fn.tracing_config).toEqual({ mode: 'Active' });
    expect(fn.logging_config).toEqual({ log_format: 'JSON', log_group: `\${${logGroupAddress}.name}` });
    expect(logGroup.retention_in_days).toBe(90);
    expect(fn.depends_on).toContain(logGroupAddress);
    const defaults = synth(environmentConfigs({}).staging);
    expect(
      one(defaults, 'aws_cloudwatch_log_group', { name: `/aws/lambda/${name}` })[1].retention_in_days,
    ).toBe(30);
  });

  it('sets the runtime environment and what each permission implies', () => {
    expect(fn.environment.variables).toEqual({
      SIDESTEP_ENV: 'staging',
      POWERTOOLS_SERVICE_NAME: 'mail-dispatcher',
      POWERTOOLS_METRICS_NAMESPACE: 'sidestep',
      MAIL_FROM: 'no-reply@mail.example.com',
      MAIL_TRANSPORT: 'ses',
      SES_CONFIGURATION_SET: `\${${one(tf, 'aws_sesv2_configuration_set')[0]}.configuration_set_name}`,
      // The SES sandbox's rate, the default (mail-send-rate.test.ts).
      MAIL_MAX_SEND_RATE: '1',
      DATABASE_SECRET_ARN: staging.databaseSecretArn,
      DEAD_LETTER_QUEUE_URL: `\${${dlqAddress}.url}`,
      // Its own queue: a mail the 24-hour quota refused is put off on it (ChangeMessageVisibility).
      QUEUE_URL: `\${${one(tf, 'aws_sqs_queue', { name: 'sidestep-staging-mail' })[0]}.url}`,
      // The queue's redrive maxReceiveCount: the last receive's failure is dead-lettered with its reason.
      MAX_RECEIVE_COUNT: '5',
      CLAIM_CHECK_BUCKET: 'sidestep-staging-claims-123456789012',
    });
  });

  it('places the function in the configured VPC', () => {
    expect(fn.vpc_config).toEqual({ subnet_ids: ['subnet-a', 'subnet-b'], security_group_ids: ['sg-1'] });
  });

  it('keeps images in an immutable, scanned, encrypted repository with a lifecycle policy', () => {
    expect(repository.image_tag_mutability).toBe('IMMUTABLE');
    expect(repository.image_scanning_configuration).toEqual({ scan_on_push: true });
    expect(repository.force_delete).toBe(false);
    expect(repository.encryption_configuration).toEqual([{ encryption_type: 'KMS' }]);
    const [, lifecycle] = one(tf, 'aws_ecr_lifecycle_policy', {
      repository: `\${${repositoryAddress}.name}`,
    });
    const rules = JSON.parse(lifecycle.policy).rules;
    expect(rules.map((rule: Json) => rule.selection)).toEqual([
      { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 },
      { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 30 },
    ]);
  });

  it('lets only this function pull its image', () => {
    const [, pull] = one(tf, 'aws_ecr_repository_policy', { repository: `\${${repositoryAddress}.name}` });
    const [statement] = JSON.parse(pull.policy).Statement;
    expect(statement.Principal).toEqual({ Service: 'lambda.amazonaws.com' });
    expect(statement.Action).toEqual(['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer']);
    expect(statement.Condition.StringLike['aws:sourceArn']).toBe(
      `arn:aws:lambda:eu-west-1:123456789012:function:${name}`,
    );
  });

  it('has a Lambda-assumed role with exactly the statements the service needs', () => {
    const [, role] = one(tf, 'aws_iam_role', { name });
    expect(JSON.parse(role.assume_role_policy).Statement).toEqual([
      { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
    ]);
    expect(role.managed_policy_arns).toBeUndefined();
    const [identityAddress] = one(tf, 'aws_sesv2_email_identity');
    const [configurationSetAddress] = one(tf, 'aws_sesv2_configuration_set');
    const byAction = (action: string) => statementFor(tf, name, action);
    expect(byAction('logs:PutLogEvents').Resource).toBe(`\${${logGroupAddress}.arn}:log-stream:*`);
    expect(byAction('xray:PutTraceSegments').Resource).toBe('*');
    expect(byAction('ec2:CreateNetworkInterface').Resource).toBe('*');
    // Raw content (a MIME message) is authorized as ses:SendRawEmail too.
    expect(byAction('ses:SendEmail')).toMatchObject({
      Action: ['ses:SendEmail', 'ses:SendRawEmail'],
      Resource: [`\${${identityAddress}.arn}`, `\${${configurationSetAddress}.arn}`],
    });
    expect(byAction('secretsmanager:GetSecretValue').Resource).toBe(staging.databaseSecretArn);
    expect(byAction('sqs:ReceiveMessage')).toMatchObject({
      Action: [
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:ChangeMessageVisibility',
      ],
      Resource: `\${${queueAddress}.arn}`,
    });
    expect(byAction('sqs:SendMessage')).toMatchObject({
      Action: ['sqs:SendMessage'],
      Resource: `\${${dlqAddress}.arn}`,
    });
    // The claim-check bucket's three (tests/claim-check.test.ts): read pointers, list, store dead letters.
    expect(byAction('s3:PutObject').Resource).toMatch(/\/dead-letters\/\*$/);
    expect(statements(tf, name)).toHaveLength(10);
  });

  it('grants VPC network interface actions only to functions in a VPC', () => {
    const local = synth(environmentConfigs({}).local);
    const actions = statements(local, 'sidestep-local-mail-dispatcher').flatMap((s) => s.Action);
    expect(actions).toContain('xray:PutTraceSegments');
    expect(actions.filter((action: string) => action.startsWith('ec2:'))).toEqual([]);
    expect(
      one(local, 'aws_lambda_function', { function_name: 'sidestep-local-mail-dispatcher' })[1].vpc_config,
    ).toBeUndefined();
  });
});

describe('JobQueue (mail)', () => {
  it('encrypts both queues and allows 1 MiB messages', () => {
    for (const q of [queue, dlq]) {
      expect(q.sqs_managed_sse_enabled).toBe(true);
      expect(q.max_message_size).toBe(1_048_576);
    }
  });

  it('sets the visibility timeout to at least 6x the consumer timeout', () => {
    expect(queue.visibility_timeout_seconds).toBe(visibilityTimeoutSeconds(mailDispatcher));
    expect(queue.visibility_timeout_seconds).toBeGreaterThanOrEqual(6 * mailDispatcher.timeoutSeconds);
  });

  it('dead-letters after the manifest maxReceiveCount, into a DLQ only this queue may use', () => {
    expect(JSON.parse(queue.redrive_policy)).toEqual({
      deadLetterTargetArn: `\${${dlqAddress}.arn}`,
      maxReceiveCount: mailQueueSettings.maxReceiveCount,
    });
    expect(dlq.message_retention_seconds).toBe(14 * 24 * 3600);
    const [, allow] = one(tf, 'aws_sqs_queue_redrive_allow_policy', { queue_url: `\${${dlqAddress}.url}` });
    expect(JSON.parse(allow.redrive_allow_policy)).toEqual({
      redrivePermission: 'byQueue',
      sourceQueueArns: [`\${${queueAddress}.arn}`],
    });
  });

  it('feeds the function in batches that report partial failures', () => {
    const [, mapping] = one(tf, 'aws_lambda_event_source_mapping', {
      event_source_arn: `\${${queueAddress}.arn}`,
    });
    expect(mapping.function_name).toBe(`\${${functionAddress}.arn}`);
    expect(mapping.function_response_types).toEqual(['ReportBatchItemFailures']);
    expect(mapping.batch_size).toBe(mailQueueSettings.batchSize);
    expect(mapping.maximum_batching_window_in_seconds).toBe(mailQueueSettings.maximumBatchingWindowSeconds);
    expect(mapping.scaling_config).toEqual({ maximum_concurrency: mailQueueSettings.maximumConcurrency });
    const [roleAddress] = one(tf, 'aws_iam_role', { name });
    const [policyAddress] = one(tf, 'aws_iam_role_policy', { role: `\${${roleAddress}.name}` });
    expect(mapping.depends_on).toEqual([policyAddress]);
  });

  it('alarms on any dead-lettered job and on a backlog, notifying the configured topic', () => {
    const [, dead] = one(tf, 'aws_cloudwatch_metric_alarm', {
      alarm_name: 'sidestep-staging-mail-dlq-not-empty',
    });
    expect(dead).toMatchObject({
      namespace: 'AWS/SQS',
      dimensions: { QueueName: `\${${dlqAddress}.name}` },
      threshold: 0,
      comparison_operator: 'GreaterThanThreshold',
      alarm_actions: [staging.alarmTopicArn],
    });
    const [, age] = one(tf, 'aws_cloudwatch_metric_alarm', {
      alarm_name: 'sidestep-staging-mail-oldest-message-age',
    });
    expect(age).toMatchObject({
      dimensions: { QueueName: `\${${queueAddress}.name}` },
      threshold: visibilityTimeoutSeconds(mailDispatcher) * mailQueueSettings.maxReceiveCount,
      alarm_actions: [staging.alarmTopicArn],
    });
  });

  it('rejects a visibility timeout under 6x the consumer timeout, naming the field', () => {
    // Built without defineService (which refuses it too): the construct checks again for manifests
    // assembled by hand.
    const tooShort = {
      ...reportBuilder,
      queue: { ...reportBuilder.queue, visibilityTimeoutSeconds: 5 * reportBuilder.timeoutSeconds },
    };
    expect(() => makeStack(staging, [tooShort])).toThrow(
      expect.objectContaining({
        name: 'InfraConfigError',
        field: 'report-builder.queue.visibilityTimeoutSeconds',
      }) as unknown as Error,
    );
  });

  it('grants senders SendMessage and, with a KMS key, the key actions SQS needs', () => {
    const stack = bareStack('kms');
    const consumer = stagingFunction(stack, reportBuilder);
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const jobs = new JobQueue(stack, 'reports', {
      environment: 'staging',
      consumer,
      encryption: { kmsKeyArn: key },
    });
    const producer = new GrantableRole(stack, 'producer', {
      roleName: 'producer',
      assumedBy: 'lambda.amazonaws.com',
    });
    jobs.grantSendMessages(producer);
    consumer.grantInvoke(producer);
    const out = JSON.parse(Testing.synth(stack, true));
    const [reportsAddress, reports] = one(out, 'aws_sqs_queue', { name: 'sidestep-staging-reports' });
    expect(reports.kms_master_key_id).toBe(key);
    expect(reports.sqs_managed_sse_enabled).toBeUndefined();
    expect(statementFor(out, 'producer', 'sqs:SendMessage').Resource).toBe(`\${${reportsAddress}.arn}`);
    expect(statementFor(out, 'producer', 'kms:GenerateDataKey').Resource).toBe(key);
    expect(statementFor(out, 'producer', 'lambda:InvokeFunction').Resource).toBe(
      `\${${one(out, 'aws_lambda_function')[0]}.arn}`,
    );
    const consumerKeyActions = statements(out, 'sidestep-staging-report-builder')
      .filter((s) => s.Resource === key)
      .flatMap((s) => s.Action);
    expect(consumerKeyActions).toEqual(['kms:Decrypt', 'kms:GenerateDataKey', 'kms:Decrypt']);
  });
});

describe('MailIdentity', () => {
  it('verifies the configured domain with a configuration set as its default', () => {
    const [setAddress, set] = one(tf, 'aws_sesv2_configuration_set', {
      configuration_set_name: 'sidestep-staging-mail',
    });
    expect(set.reputation_options).toEqual({ reputation_metrics_enabled: true });
    expect(set.sending_options).toEqual({ sending_enabled: true });
    expect(set.delivery_options).toEqual({ tls_policy: 'REQUIRE' });
    const [, identity] = one(tf, 'aws_sesv2_email_identity', { email_identity: 'mail.example.com' });
    expect(identity.configuration_set_name).toBe(`\${${setAddress}.configuration_set_name}`);
  });

  it('grants ses:SendEmail and ses:SendRawEmail (raw content) on the identity and its configuration set', () => {
    const stack = bareStack('mail');
    const mail = new MailIdentity(stack, 'mail', { environment: 'staging', fromAddress: 'a@b.example.com' });
    const sender = new GrantableRole(stack, 'sender', {
      roleName: 'sender',
      assumedBy: 'states.amazonaws.com',
    });
    mail.grantSend(sender);
    const out = JSON.parse(Testing.synth(stack, true));
    expect(one(out, 'aws_sesv2_email_identity')[1].email_identity).toBe('a@b.example.com');
    expect(statementFor(out, 'sender', 'ses:SendEmail')).toMatchObject({
      Action: ['ses:SendEmail', 'ses:SendRawEmail'],
      Resource: [
        `\${${one(out, 'aws_sesv2_email_identity')[0]}.arn}`,
        `\${${one(out, 'aws_sesv2_configuration_set')[0]}.arn}`,
      ],
    });
  });

  it('rejects a from-address outside the verified domain', () => {
    const stack = bareStack('bad-mail');
    expect(
      () =>
        new MailIdentity(stack, 'mail', {
          environment: 'staging',
          fromAddress: 'a@other.com',
          domain: 'b.com',
        }),
    ).toThrow(InfraConfigError);
  });
});

describe('SidestepStack', () => {
  it('keeps staging and production state in S3 with native locking and encryption', () => {
    const configs = environmentConfigs({ SIDESTEP_PRODUCTION_STATE_BUCKET: 'acme-prod-tfstate' });
    for (const config of [configs.staging, configs.production]) {
      const out = synth(config);
      expect(out.terraform.backend.s3).toEqual({
        bucket: config.backend?.bucket,
        key: `sidestep/${config.name}/terraform.tfstate`,
        region: config.backend?.region,
        encrypt: true,
        use_lockfile: true,
      });
      expect(out.terraform.required_version).toBe('>= 1.10.0');
    }
    expect(configs.production.backend?.bucket).toBe('acme-prod-tfstate');
  });

  it('keeps the local stack state in a local file and pins real stacks to their account', () => {
    const local = synth(environmentConfigs({}).local);
    expect(local.terraform.backend.local).toEqual({ path: 'terraform.sidestep-local.tfstate' });
    expect(local.terraform.backend.s3).toBeUndefined();
    expect(one(local, 'aws_sqs_queue', { name: 'sidestep-local-mail' })).toBeDefined();
    const [provider] = tf.provider.aws;
    expect(provider.allowed_account_ids).toEqual(['123456789012']);
    expect(provider.default_tags).toEqual([{ tags: { project: 'sidestep', environment: 'staging' } }]);
  });

  it('gives a second service its own function, repository, queue and variable without code changes', () => {
    const out = synth({ ...staging, reservedConcurrency: { 'report-builder': 3 } }, [
      ...SERVICES,
      reportBuilder,
    ]);
    const [, report] = one(out, 'aws_lambda_function', { function_name: 'sidestep-staging-report-builder' });
    expect(report).toMatchObject({ memory_size: 1024, timeout: 120, reserved_concurrent_executions: 3 });
    expect(report.environment.variables).toMatchObject({
      REPORT_FORMAT: 'csv',
      POWERTOOLS_SERVICE_NAME: 'report-builder',
    });
    expect(report.environment.variables.MAIL_FROM).toBeUndefined();
    expect(out.variable.image_tag_report_builder).toBeDefined();
    one(out, 'aws_ecr_repository', { name: 'sidestep-staging-report-builder' });
    const [reportsAddress, reports] = one(out, 'aws_sqs_queue', { name: 'sidestep-staging-reports' });
    expect(reports.visibility_timeout_seconds).toBe(720);
    one(out, 'aws_sqs_queue', { name: 'sidestep-staging-reports-dlq' });
    one(out, 'aws_lambda_event_source_mapping', {
      event_source_arn: `\${${reportsAddress}.arn}`,
      batch_size: 1,
    });
    // Every service, the new one, and the export download endpoint (the export-finalizer's second handler).
    expect(all(out, 'aws_lambda_function')).toHaveLength(SERVICES.length + 2);
    // The registered services' queues and the rest, and the new service's queue and its DLQ: nothing more.
    expect(all(out, 'aws_sqs_queue')).toHaveLength(all(tf, 'aws_sqs_queue').length + 2);
    expect(statements(out, 'sidestep-staging-report-builder').flatMap((s) => s.Action)).not.toContain(
      'ses:SendEmail',
    );
    expect(out.output.reports_queue_url.value).toBe(`\${${reportsAddress}.url}`);
  });

  it('reserves no concurrency by default: a new account’s quota of 10 has none to spare', () => {
    // Lambda keeps 100 of an account's concurrency unreserved, so any reservation fails on a quota of 10.
    // https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
    const functions = all(synth(staging), 'aws_lambda_function');
    expect(functions.length).toBeGreaterThan(0);
    for (const [, fn] of functions) expect(fn.reserved_concurrent_executions).toBeUndefined();
  });

  it('reserves what the environment configures, per function, the download endpoint included', () => {
    const out = synth({
      ...staging,
      reservedConcurrency: { 'mail-dispatcher': 5, 'job-sweeper': 1, 'export-download': 10 },
    });
    const reserved = Object.fromEntries(
      all(out, 'aws_lambda_function').map(([, fn]) => [fn.function_name, fn.reserved_concurrent_executions]),
    );
    expect(reserved).toMatchObject({
      'sidestep-staging-mail-dispatcher': 5,
      'sidestep-staging-job-sweeper': 1,
      'sidestep-staging-export-download': 10,
      'sidestep-staging-status-updater': undefined,
      'sidestep-staging-export-finalizer': undefined,
    });
  });

  it('refuses a reservation for a function the stack does not have, naming it', () => {
    expect(() => makeStack({ ...staging, reservedConcurrency: { 'mail-dispatch': 5 } })).toThrow(
      expect.objectContaining({ field: 'staging.reservedConcurrency.mail-dispatch' }) as unknown as Error,
    );
  });

  // https://repost.aws/knowledge-center/lambda-sqs-scaling: an event source mapping does not account
  // for reserved concurrency; batches beyond the reservation are throttled.
  it("refuses a queue-triggered service's reservation below its mapping's maximum concurrency, as sized for the send rate", () => {
    // The default rate (1 a second) sizes the mail queue's mapping to 2 sandboxes, 14 a second to 5.
    expect(() => makeStack({ ...staging, reservedConcurrency: { 'mail-dispatcher': 1 } })).toThrow(
      expect.objectContaining({
        field: 'staging.reservedConcurrency.mail-dispatcher',
        message: expect.stringContaining('reserve at least 2'),
      }) as unknown as Error,
    );
    const fast = { ...staging, mail: { ...staging.mail, maxSendRate: 14 } };
    expect(() => makeStack({ ...fast, reservedConcurrency: { 'mail-dispatcher': 4 } })).toThrow(
      expect.objectContaining({ message: expect.stringContaining('reserve at least 5') }) as unknown as Error,
    );
    expect(() => makeStack({ ...fast, reservedConcurrency: { 'mail-dispatcher': 5 } })).not.toThrow();
    expect(() => makeStack({ ...staging, reservedConcurrency: { 'mail-dispatcher': 2 } })).not.toThrow();
  });

  it('names its buckets with the account id, or the configured suffix: S3 names are global', () => {
    const names = (config: EnvironmentConfig) =>
      all(synth(config), 'aws_s3_bucket')
        .map(([, bucket]) => bucket.bucket)
        .sort();
    expect(names(staging)).toEqual([
      'sidestep-staging-claims-123456789012',
      'sidestep-staging-exports-123456789012',
      'sidestep-staging-imports-123456789012',
    ]);
    expect(names({ ...staging, bucketSuffix: 'acme' })).toEqual([
      'sidestep-staging-claims-acme',
      'sidestep-staging-exports-acme',
      'sidestep-staging-imports-acme',
    ]);
    const local = environmentConfigs({}).local;
    expect(names(local)).toEqual([
      bucketName('local', 'claims'),
      bucketName('local', 'exports'),
      bucketName('local', 'imports'),
    ]);
  });

  it('rejects a manifest action that does not apply to its resource, naming the permission', () => {
    const confused = defineService({
      ...reportBuilder,
      permissions: [{ resource: 'database-secret', actions: ['s3:GetObject'] }],
    });
    expect(() => makeStack(staging, [confused])).toThrow(
      expect.objectContaining({ field: 'report-builder.permissions[0].actions' }) as unknown as Error,
    );
  });

  it('rejects a manifest that sets a variable infra owns', () => {
    const sneaky = defineService({ ...reportBuilder, environment: { SIDESTEP_ENV: 'production' } });
    expect(() => makeStack(staging, [sneaky])).toThrow(
      expect.objectContaining({ field: 'report-builder.environment.SIDESTEP_ENV' }) as unknown as Error,
    );
  });
});

describe('environmentConfigs', () => {
  it('overrides placeholders from SIDESTEP_<ENV>_* variables', () => {
    const configs = environmentConfigs({
      SIDESTEP_STAGING_ACCOUNT_ID: '999999999999',
      SIDESTEP_STAGING_SUBNET_IDS: 'subnet-1, subnet-2',
      SIDESTEP_STAGING_SECURITY_GROUP_IDS: 'sg-1',
      SIDESTEP_STAGING_LOG_RETENTION_DAYS: '14',
    });
    expect(configs.staging).toMatchObject({
      accountId: '999999999999',
      vpc: { subnetIds: ['subnet-1', 'subnet-2'], securityGroupIds: ['sg-1'] },
      logRetentionDays: 14,
    });
    expect(configs.production.accountId).toBe('222222222222');
  });

  it('runs tasks in the functions’ network unless a task network is set, with placeholders otherwise', () => {
    const configs = environmentConfigs({
      SIDESTEP_STAGING_SUBNET_IDS: 'subnet-1',
      SIDESTEP_STAGING_SECURITY_GROUP_IDS: 'sg-1',
      SIDESTEP_PRODUCTION_SUBNET_IDS: 'subnet-1',
      SIDESTEP_PRODUCTION_SECURITY_GROUP_IDS: 'sg-1',
      SIDESTEP_PRODUCTION_TASK_SUBNET_IDS: 'subnet-9',
      SIDESTEP_PRODUCTION_NOTIFY_ADDRESS: 'imports@example.com',
    });
    expect(configs.staging.taskNetwork).toEqual({ subnetIds: ['subnet-1'], securityGroupIds: ['sg-1'] });
    expect(configs.production.taskNetwork).toEqual({ subnetIds: ['subnet-9'], securityGroupIds: ['sg-1'] });
    expect(configs.production.mail.notifyAddress).toBe('imports@example.com');
    expect(configs.local.taskNetwork).toEqual({
      subnetIds: ['subnet-placeholder'],
      securityGroupIds: ['sg-placeholder'],
    });
  });

  it('reads the notify locale per environment, English by default', () => {
    const configs = environmentConfigs({ SIDESTEP_PRODUCTION_NOTIFY_LOCALE: 'ja' });
    expect(configs.production.mail.notifyLocale).toBe('ja');
    expect(configs.staging.mail.notifyLocale).toBeUndefined();
    expect(configs.local.mail.notifyLocale).toBeUndefined();
  });

  it('rejects a notify locale no template is written in, naming the variable', () => {
    for (const locale of ['fr', 'JA', 'ja-JP', ' ja']) {
      expect(() => environmentConfigs({ SIDESTEP_STAGING_NOTIFY_LOCALE: locale })).toThrow(
        expect.objectContaining({
          name: 'InfraConfigError',
          field: 'staging.mail.notifyLocale',
          message: expect.stringContaining('SIDESTEP_STAGING_NOTIFY_LOCALE'),
        }) as unknown as Error,
      );
    }
  });

  it('reads reservations and a bucket suffix per environment, none and the account id by default', () => {
    const configs = environmentConfigs({
      SIDESTEP_STAGING_ACCOUNT_ID: '999999999999',
      SIDESTEP_PRODUCTION_RESERVED_CONCURRENCY: 'mail-dispatcher=5, job-sweeper=1,export-download=10',
      SIDESTEP_PRODUCTION_BUCKET_SUFFIX: 'acme-prod',
    });
    expect(configs.staging.reservedConcurrency).toBeUndefined();
    expect(configs.staging.bucketSuffix).toBe('999999999999');
    expect(configs.production.reservedConcurrency).toEqual({
      'mail-dispatcher': 5,
      'job-sweeper': 1,
      'export-download': 10,
    });
    expect(configs.production.bucketSuffix).toBe('acme-prod');
    expect(configs.local.bucketSuffix).toBeUndefined();
  });

  it('rejects a reservation that is not name=count, or a suffix S3 would refuse, naming the field', () => {
    for (const value of ['mail-dispatcher', 'mail-dispatcher=0', 'mail-dispatcher=2.5', '=3', 'Mail=1']) {
      expect(() => environmentConfigs({ SIDESTEP_STAGING_RESERVED_CONCURRENCY: value })).toThrow(
        expect.objectContaining({ field: 'staging.reservedConcurrency' }) as unknown as Error,
      );
    }
    for (const suffix of ['Acme', 'a'.repeat(40), 'acme.prod']) {
      expect(() => environmentConfigs({ SIDESTEP_PRODUCTION_BUCKET_SUFFIX: suffix })).toThrow(
        expect.objectContaining({ field: 'production.bucketSuffix' }) as unknown as Error,
      );
    }
  });

  it('rejects an invalid value, naming the environment and field', () => {
    expect(() => environmentConfigs({ SIDESTEP_PRODUCTION_ACCOUNT_ID: '12345' })).toThrow(
      expect.objectContaining({
        name: 'InfraConfigError',
        field: 'production.accountId',
      }) as unknown as Error,
    );
    expect(() => environmentConfigs({ SIDESTEP_STAGING_LOG_RETENTION_DAYS: '0' })).toThrow(
      expect.objectContaining({ field: 'staging.logRetentionDays' }) as unknown as Error,
    );
    expect(() => environmentConfigs({ SIDESTEP_STAGING_NOTIFY_ADDRESS: 'ops' })).toThrow(
      expect.objectContaining({ field: 'staging.mail.notifyAddress' }) as unknown as Error,
    );
    const { vpc: _vpc, taskNetwork: _taskNetwork, ...noNetwork } = staging;
    expect(() => validateEnvironmentConfig(noNetwork)).toThrow(
      expect.objectContaining({ field: 'staging.taskNetwork' }) as unknown as Error,
    );
  });

  // The stacks write ARNs as arn:aws:... (trust conditions, ECS task ARNs, the SES event bus, ...): in
  // China (arn:aws-cn), GovCloud (arn:aws-us-gov) or an isolated partition they would name nothing
  // (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html, "partition").
  it.each([
    ['cn-north-1', 'aws-cn'],
    ['us-gov-west-1', 'aws-us-gov'],
    ['us-iso-east-1', 'aws-iso'],
    ['us-isob-east-1', 'aws-iso-b'],
    ['eu-isoe-west-1', 'aws-iso-e'],
    ['us-isof-south-1', 'aws-iso-f'],
    ['eusc-de-east-1', 'aws-eusc'],
  ])('refuses the region %s, which is in the %s partition, naming the field', (region, partition) => {
    expect(() => environmentConfigs({ SIDESTEP_STAGING_REGION: region })).toThrow(
      expect.objectContaining({
        field: 'staging.region',
        message: expect.stringContaining(`${partition} partition`),
      }) as unknown as Error,
    );
  });

  it('takes the regions of the aws partition', () => {
    for (const region of ['us-east-1', 'eu-central-2', 'ap-northeast-1', 'il-central-1', 'mx-central-1']) {
      expect(environmentConfigs({ SIDESTEP_PRODUCTION_REGION: region }).production.region).toBe(region);
    }
  });
});

describe('GrantableRole', () => {
  const role = new GrantableRole(bareStack('role'), 'role', {
    roleName: 'r',
    assumedBy: 'lambda.amazonaws.com',
  });

  it('rejects wildcard actions', () => {
    expect(() =>
      role.addToPolicy({ sid: 'All', actions: ['s3:*'], resources: ['arn:aws:s3:::b/*'] }),
    ).toThrow(InfraConfigError);
  });

  it('rejects a * resource without a reason why the action cannot be scoped', () => {
    expect(() => role.addToPolicy({ sid: 'Any', actions: ['s3:GetObject'], resources: ['*'] })).toThrow(
      InfraConfigError,
    );
  });
});

describe('SidestepStack (import workflow)', () => {
  it('refuses a stack without the services the import workflow calls, naming what is missing', () => {
    expect(() => makeStack(staging, [mailDispatcher])).toThrow(
      expect.objectContaining({
        name: 'InfraConfigError',
        field: 'import-workflow.callees.status-updater',
      }) as unknown as Error,
    );
  });
});

const trigger = importTrigger('staging', { bucketSuffix: staging.accountId });
const [bucketAddress, bucket] = one(tf, 'aws_s3_bucket', { bucket: trigger.bucketName });
const byBucket = (type: string): Json => one(tf, type, { bucket: ref(bucketAddress, 'id') })[1];
const [machineAddress, machine] = one(tf, 'aws_sfn_state_machine', { name: 'sidestep-staging-import' });
const [ruleAddress, rule] = one(tf, 'aws_cloudwatch_event_rule', { name: 'sidestep-staging-import-trigger' });
const [taskDefinitionAddress, taskDefinition] = one(tf, 'aws_ecs_task_definition', {
  family: 'sidestep-staging-batch-worker',
});
const [container] = JSON.parse(taskDefinition.container_definitions);
const [clusterAddress, cluster] = one(tf, 'aws_ecs_cluster', { name: 'sidestep-staging-batch-worker' });
const [statusUpdaterAddress] = one(tf, 'aws_lambda_function', {
  function_name: 'sidestep-staging-status-updater',
});
const roleArn = (roleName: string) => ref(one(tf, 'aws_iam_role', { name: roleName })[0], 'arn');

describe('S3Trigger (imports in staging)', () => {
  it('keeps uploads in a private, encrypted, TLS-only, versioned bucket that expires them', () => {
    expect(bucket.force_destroy).toBe(false);
    expect(byBucket('aws_s3_bucket_public_access_block')).toMatchObject({
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    expect(byBucket('aws_s3_bucket_server_side_encryption_configuration').rule).toEqual([
      { apply_server_side_encryption_by_default: { sse_algorithm: 'AES256' } },
    ]);
    expect(byBucket('aws_s3_bucket_versioning').versioning_configuration).toEqual({ status: 'Enabled' });
    expect(JSON.parse(byBucket('aws_s3_bucket_policy').policy).Statement).toEqual([
      {
        Sid: 'DenyInsecureTransport',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:*',
        Resource: [ref(bucketAddress, 'arn'), `${ref(bucketAddress, 'arn')}/*`],
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    ]);
    const [expire, markers] = byBucket('aws_s3_bucket_lifecycle_configuration').rule;
    expect(expire).toMatchObject({
      status: 'Enabled',
      expiration: [{ days: 30 }],
      noncurrent_version_expiration: [{ noncurrent_days: 30 }],
      abort_incomplete_multipart_upload: [{ days_after_initiation: 1 }],
    });
    expect(markers.expiration).toEqual([{ expired_object_delete_marker: true }]);
  });

  it('keeps a replaced upload version as long as a current one: a retry or redrive re-reads the version its event named', () => {
    // A nightly file to the same key makes yesterday's version noncurrent the next night; `job retry`
    // and a Step Functions redrive (up to 14 days after the execution ended) read that exact version.
    // https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html
    const [expire] = byBucket('aws_s3_bucket_lifecycle_configuration').rule;
    expect(expire.noncurrent_version_expiration[0].noncurrent_days).toBe(expire.expiration[0].days);
  });

  it('starts the import workflow for the uploads the workflow package’s pattern matches', () => {
    expect(byBucket('aws_s3_bucket_notification').eventbridge).toBe(true);
    expect(JSON.parse(rule.event_pattern)).toEqual(trigger.eventPattern);
    const [, target] = one(tf, 'aws_cloudwatch_event_target', { rule: ref(ruleAddress, 'name') });
    expect(target.arn).toBe(ref(machineAddress, 'arn'));
    expect(target.role_arn).toBe(roleArn('sidestep-staging-import-trigger'));
    expect(statements(tf, 'sidestep-staging-import-trigger')).toEqual([
      {
        Sid: 'StartImportWorkflow',
        Effect: 'Allow',
        Action: ['states:StartExecution'],
        Resource: ref(machineAddress, 'arn'),
      },
    ]);
    const [, role] = one(tf, 'aws_iam_role', { name: 'sidestep-staging-import-trigger' });
    expect(JSON.parse(role.assume_role_policy).Statement[0].Principal).toEqual({
      Service: 'events.amazonaws.com',
    });
  });

  it('dead-letters events it could not deliver after a bounded retry, and alarms on them', () => {
    const [, target] = one(tf, 'aws_cloudwatch_event_target', { rule: ref(ruleAddress, 'name') });
    const [dlqAddress, deadLetters] = one(tf, 'aws_sqs_queue', {
      name: 'sidestep-staging-import-trigger-dlq',
    });
    expect(target.retry_policy).toEqual({ maximum_event_age_in_seconds: 3600, maximum_retry_attempts: 20 });
    expect(target.dead_letter_config).toEqual({ arn: ref(dlqAddress, 'arn') });
    expect(deadLetters.sqs_managed_sse_enabled).toBe(true);
    const [, queuePolicy] = one(tf, 'aws_sqs_queue_policy', { queue_url: ref(dlqAddress, 'url') });
    expect(JSON.parse(queuePolicy.policy).Statement).toEqual([
      expect.objectContaining({
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Condition: { ArnEquals: { 'aws:SourceArn': ref(ruleAddress, 'arn') } },
      }),
    ]);
    const [, alarm] = one(tf, 'aws_cloudwatch_metric_alarm', {
      alarm_name: 'sidestep-staging-import-trigger-dlq-not-empty',
    });
    expect(alarm).toMatchObject({ threshold: 0, alarm_actions: [staging.alarmTopicArn] });
  });

  it('refuses an event pattern for another bucket, naming the field', () => {
    expect(
      () =>
        new S3Trigger(bareStack('other-bucket'), 'import-trigger', {
          environment: 'staging',
          name: 'import',
          bucketName: 'sidestep-staging-uploads',
          eventPattern: trigger.eventPattern,
          objectKeyPrefix: trigger.keyPrefix,
        }),
    ).toThrow(expect.objectContaining({ field: 'import-trigger.eventPattern' }) as unknown as Error);
  });

  it('grants readers the uploads under its prefix only (and the listing that makes a gone version a 404), and starts any state machine target', () => {
    const stack = bareStack('reader');
    const uploads = new S3Trigger(stack, 'import-trigger', {
      environment: 'staging',
      name: 'import',
      bucketName: trigger.bucketName,
      eventPattern: trigger.eventPattern,
      objectKeyPrefix: trigger.keyPrefix,
    });
    const reader = new GrantableRole(stack, 'reader', {
      roleName: 'reader',
      assumedBy: 'ecs-tasks.amazonaws.com',
    });
    uploads.grantRead(reader);
    const machine = 'arn:aws:states:eu-west-1:123456789012:stateMachine:other';
    uploads.addTarget({
      stateMachineArn: machine,
      grantStartExecution: (grantee) =>
        grantee.addToPolicy({ sid: 'StartOther', actions: ['states:StartExecution'], resources: [machine] }),
    });
    const out = JSON.parse(Testing.synth(stack, true));
    const [address] = one(out, 'aws_s3_bucket');
    expect(statements(out, 'reader')).toEqual([
      {
        Sid: 'ReadImportUploads',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:GetObjectVersion'],
        Resource: `${ref(address, 'arn')}/imports/*`,
      },
      { Sid: 'ListImportUploads', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: ref(address, 'arn') },
    ]);
    expect(one(out, 'aws_cloudwatch_event_target')[1].arn).toBe(machine);
  });

  it('fails synth when it starts nothing', () => {
    const stack = bareStack('no-target');
    new S3Trigger(stack, 'import-trigger', {
      environment: 'staging',
      name: 'import',
      bucketName: trigger.bucketName,
      eventPattern: trigger.eventPattern,
      objectKeyPrefix: trigger.keyPrefix,
    });
    expect(() => Testing.synth(stack, true)).toThrow(/import-trigger\.targets/);
  });
});

describe('BatchTask (batch-worker in staging)', () => {
  it('defines an arm64 Fargate task from the task manifest, image from its own repository', () => {
    expect(taskDefinition).toMatchObject({
      requires_compatibilities: ['FARGATE'],
      network_mode: 'awsvpc',
      cpu: String(batchWorker.cpu),
      memory: String(batchWorker.memoryMb),
      runtime_platform: { operating_system_family: 'LINUX', cpu_architecture: 'ARM64' },
    });
    const [repositoryAddress, taskRepository] = one(tf, 'aws_ecr_repository', {
      name: 'sidestep-staging-batch-worker',
    });
    expect(taskRepository).toMatchObject({ image_tag_mutability: 'IMMUTABLE', force_delete: false });
    expect(container).toMatchObject({
      name: batchWorker.containerName,
      command: [...batchWorker.command],
      essential: true,
      image: `${ref(repositoryAddress, 'repository_url')}:\${var.image_tag_batch_worker}`,
    });
    expect(tf.variable.image_tag_batch_worker.validation[0].condition).toContain(
      'var.image_tag_batch_worker',
    );
  });

  // A Spot interruption's SIGTERM comes two minutes before the capacity goes, but the container is
  // killed at its stopTimeout: 30 s unless set, 120 s at most on Fargate
  // (https://repost.aws/knowledge-center/fargate-spot-termination-notice).
  it("gives the task its manifest's stop timeout between SIGTERM and SIGKILL: all of Spot's two minutes", () => {
    expect(batchWorker.stopTimeoutSeconds).toBe(120);
    expect(container.stopTimeout).toBe(120);
    expect(container.linuxParameters).toEqual({ initProcessEnabled: true });
  });

  it('runs with a read-only root filesystem, a writable /tmp, and awslogs into a log group with retention', () => {
    expect(container.readonlyRootFilesystem).toBe(true);
    expect(container.privileged).toBeUndefined();
    expect(taskDefinition.volume).toEqual([{ name: 'tmp' }]);
    expect(container.mountPoints).toEqual([{ sourceVolume: 'tmp', containerPath: '/tmp', readOnly: false }]);
    const [logGroupAddress, taskLogGroup] = one(tf, 'aws_cloudwatch_log_group', {
      name: '/ecs/sidestep-staging-batch-worker',
    });
    expect(taskLogGroup.retention_in_days).toBe(90);
    expect(container.logConfiguration).toEqual({
      logDriver: 'awslogs',
      options: {
        'awslogs-group': ref(logGroupAddress, 'name'),
        'awslogs-region': staging.region,
        'awslogs-stream-prefix': 'batch-worker',
      },
    });
  });

  it('sets what its permissions imply and leaves every input to the run’s container overrides', () => {
    expect(container.environment).toEqual([
      { name: 'DATABASE_SECRET_ARN', value: staging.databaseSecretArn },
      { name: 'IMPORTS_BUCKET', value: ref(bucketAddress, 'bucket') },
      ...Object.entries(batchWorker.environment ?? {}).map(([key, value]) => ({ name: key, value })),
      { name: 'POWERTOOLS_METRICS_NAMESPACE', value: 'sidestep' },
      { name: 'POWERTOOLS_SERVICE_NAME', value: 'batch-worker' },
      { name: 'SIDESTEP_ENV', value: 'staging' },
    ]);
    const names = container.environment.map((variable: Json) => variable.name);
    expect(names).toEqual([...names].sort());
    for (const input of Object.keys(batchWorker.inputs)) expect(names).not.toContain(input);
  });

  it('gives the program a task role with only the manifest permissions, on exact ARNs', () => {
    expect(taskDefinition.task_role_arn).toBe(roleArn('sidestep-staging-batch-worker-task'));
    const [exportsAddress] = one(tf, 'aws_s3_bucket', { bucket: 'sidestep-staging-exports-123456789012' });
    const resources: Record<string, string> = {
      'imports-bucket': `${ref(bucketAddress, 'arn')}/imports/*`,
      'exports-bucket': `${ref(exportsAddress, 'arn')}/exports/*`,
      'database-secret': staging.databaseSecretArn,
    };
    // One statement per manifest permission, in manifest order, on the exact resource it names; a
    // bucket's s3:ListBucket in a statement of its own on the bucket (never on objects).
    const buckets: Record<string, string> = {
      'imports-bucket': ref(bucketAddress, 'arn'),
      'exports-bucket': ref(exportsAddress, 'arn'),
    };
    expect(statements(tf, 'sidestep-staging-batch-worker-task')).toEqual(
      batchWorker.permissions.flatMap((permission) => {
        const sid = `Manifest${permission.resource.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase())}`;
        const list = permission.resource in buckets && permission.actions.includes('s3:ListBucket');
        return [
          {
            Sid: sid,
            Effect: 'Allow',
            Action: permission.actions.filter((action) => !list || action !== 's3:ListBucket'),
            Resource: resources[permission.resource],
          },
          ...(list
            ? [
                {
                  Sid: `${sid}List`,
                  Effect: 'Allow',
                  Action: ['s3:ListBucket'],
                  Resource: buckets[permission.resource],
                },
              ]
            : []),
        ];
      }),
    );
    expect(batchWorker.permissions.map((p) => p.resource)).toEqual(
      expect.arrayContaining(['imports-bucket', 'database-secret']),
    );
  });

  it('pulls and logs with a separate execution role scoped to its repository and log group', () => {
    expect(taskDefinition.execution_role_arn).toBe(roleArn('sidestep-staging-batch-worker-execution'));
    // Every action of AmazonECSTaskExecutionRolePolicy, none more: without one of the three ECR pull
    // actions every Fargate task fails CannotPullContainerError, without the log actions awslogs cannot
    // write. https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html
    expect(statements(tf, 'sidestep-staging-batch-worker-execution')).toEqual([
      {
        Sid: 'PullImage',
        Effect: 'Allow',
        Action: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
        Resource: ref(one(tf, 'aws_ecr_repository', { name: 'sidestep-staging-batch-worker' })[0], 'arn'),
      },
      { Sid: 'GetRegistryToken', Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*' },
      {
        Sid: 'WriteOwnLogs',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: `${ref(one(tf, 'aws_cloudwatch_log_group', { name: '/ecs/sidestep-staging-batch-worker' })[0], 'arn')}:log-stream:*`,
      },
    ]);
    const trust = (roleName: string) =>
      JSON.parse(one(tf, 'aws_iam_role', { name: roleName })[1].assume_role_policy).Statement[0];
    const account = { StringEquals: { 'aws:SourceAccount': staging.accountId } };
    expect(trust('sidestep-staging-batch-worker-execution').Principal).toEqual({
      Service: 'ecs-tasks.amazonaws.com',
    });
    expect(trust('sidestep-staging-batch-worker-execution').Condition).toEqual(account);
    expect(trust('sidestep-staging-batch-worker-task').Condition).toEqual({
      ...account,
      ArnLike: { 'aws:SourceArn': `arn:aws:ecs:${staging.region}:${staging.accountId}:*` },
    });
  });

  it('runs in a cluster with Container Insights', () => {
    expect(cluster.setting).toEqual([{ name: 'containerInsights', value: 'enabled' }]);
  });

  it('rejects a manifest that sets one of its inputs statically, naming the variable', () => {
    const sneaky = defineTask({ ...batchWorker, environment: { JOB_ID: 'imp_1' } });
    expect(() => new SidestepStack(Testing.app(), 'sneaky', { config: staging, tasks: [sneaky] })).toThrow(
      expect.objectContaining({ field: 'batch-worker.environment.JOB_ID' }) as unknown as Error,
    );
  });
});

describe('Workflow (import in staging)', () => {
  it('deploys exactly the definition the workflow package builds, with the stack’s references', () => {
    expect(JSON.parse(machine.definition)).toEqual(
      importWorkflow({
        statusUpdaterFunctionArn: ref(statusUpdaterAddress, 'arn'),
        batchWorker: batchWorkerTarget(
          { cluster: clusterAddress, taskDefinition: taskDefinitionAddress },
          batchWorker,
          { subnetIds: staging.vpc?.subnetIds ?? [], securityGroupIds: staging.vpc?.securityGroupIds ?? [] },
        ),
        mailQueueUrl: ref(queueAddress, 'url'),
        notifyAddress: staging.mail.notifyAddress,
      }),
    );
    expect(machine.type).toBe('STANDARD');
    expect(machine.role_arn).toBe(roleArn('sidestep-staging-import'));
  });

  it('queues the import mails in the environment’s notify locale, English by default', () => {
    const locales = (out: Json) => {
      const [, importMachine] = one(out, 'aws_sfn_state_machine', { name: 'sidestep-staging-import' });
      const { States: states } = JSON.parse(importMachine.definition) as {
        States: Record<string, { Parameters?: { payload?: { locale?: string } } }>;
      };
      return ['ComposeCompletedMail', 'ComposeFailedMail'].map(
        (state) => states[state]?.Parameters?.payload?.locale,
      );
    };
    expect(locales(tf)).toEqual(['en', 'en']);
    const japanese = synth({ ...staging, mail: { ...staging.mail, notifyLocale: 'ja' } });
    expect(locales(japanese)).toEqual(['ja', 'ja']);
  });

  it('logs errors without execution data (the default) and traces with X-Ray', () => {
    const [logGroupAddress, machineLogs] = one(tf, 'aws_cloudwatch_log_group', {
      name: '/aws/vendedlogs/states/sidestep-staging-import',
    });
    expect(machineLogs.retention_in_days).toBe(90);
    expect(machine.logging_configuration).toEqual({
      level: 'ERROR',
      include_execution_data: false,
      log_destination: `${ref(logGroupAddress, 'arn')}:*`,
    });
    expect(machine.tracing_configuration).toEqual({ enabled: true });
  });

  it('grants exactly what the definition calls, on exactly what it calls', () => {
    const byResource = statements(tf, 'sidestep-staging-import').map((s: Json) => [
      s.Sid,
      s.Action,
      s.Resource,
    ]);
    const ecs = `arn:aws:ecs:${staging.region}:${staging.accountId}`;
    expect(byResource).toEqual([
      ['DeliverExecutionLogs', expect.any(Array), '*'],
      ['WriteTraces', expect.any(Array), '*'],
      ['InvokeStatusUpdater', ['lambda:InvokeFunction'], ref(statusUpdaterAddress, 'arn')],
      ['RunBatchWorker', ['ecs:RunTask'], `${ref(taskDefinitionAddress, 'arn_without_revision')}:*`],
      [
        'PassBatchWorkerRoles',
        ['iam:PassRole'],
        [roleArn('sidestep-staging-batch-worker-execution'), roleArn('sidestep-staging-batch-worker-task')],
      ],
      [
        'WatchBatchWorker',
        ['ecs:StopTask', 'ecs:DescribeTasks'],
        `${ecs}:task/sidestep-staging-batch-worker/*`,
      ],
      [
        'EcsTaskStateEvents',
        ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        `arn:aws:events:${staging.region}:${staging.accountId}:rule/StepFunctionsGetEventsForECSTaskRule`,
      ],
      ['SendMail', ['sqs:SendMessage'], ref(queueAddress, 'arn')],
    ]);
    const conditions = Object.fromEntries(
      statements(tf, 'sidestep-staging-import')
        .filter((s: Json) => s.Condition)
        .map((s: Json) => [s.Sid, s.Condition]),
    );
    expect(conditions).toEqual({
      RunBatchWorker: { ArnEquals: { 'ecs:cluster': ref(clusterAddress, 'arn') } },
      PassBatchWorkerRoles: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    });
    const [, role] = one(tf, 'aws_iam_role', { name: 'sidestep-staging-import' });
    expect(JSON.parse(role.assume_role_policy).Statement[0]).toMatchObject({
      Principal: { Service: 'states.amazonaws.com' },
      Condition: { StringEquals: { 'aws:SourceAccount': staging.accountId } },
    });
  });

  /** A workflow of one Task state, built from the status-updater function, in a bare stack. */
  function oneTaskWorkflow(
    id: string,
    task: (fn: ServiceFunction) => Record<string, unknown>,
  ): TerraformStack {
    const stack = bareStack(id);
    const fn = stagingFunction(stack, statusUpdater);
    new Workflow(stack, 'check-workflow', {
      environment: 'staging',
      name: 'check',
      definition: {
        StartAt: 'Call',
        States: { Call: { Type: 'Task', End: true, ...task(fn) } as never },
      },
      callees: { functions: [fn] },
      accountId: '123456789012',
      region: 'eu-west-1',
    });
    return stack;
  }

  it('derives the role from the definition: one invoked function, one invoke grant', () => {
    const out = JSON.parse(
      Testing.synth(
        oneTaskWorkflow('invoke-only', (fn) => ({
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: { FunctionName: fn.functionArn, Payload: {} },
        })),
        true,
      ),
    );
    const [functionAddress] = one(out, 'aws_lambda_function');
    expect(
      statements(out, 'sidestep-staging-check')
        .filter((s) => !['DeliverExecutionLogs', 'WriteTraces'].includes(s.Sid))
        .map((s) => [s.Action, s.Resource]),
    ).toEqual([[['lambda:InvokeFunction'], ref(functionAddress, 'arn')]]);
  });

  it('rejects a definition that calls what the workflow was not given, naming the state', () => {
    expect(() =>
      oneTaskWorkflow('unknown-queue', () => ({
        Resource: 'arn:aws:states:::sqs:sendMessage',
        Parameters: {
          QueueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/elsewhere',
          MessageBody: 'x',
        },
      })),
    ).toThrow(
      expect.objectContaining({ field: 'check-workflow.definition.States.Call' }) as unknown as Error,
    );
  });

  it('rejects a target chosen at run time, which IAM cannot be scoped to, naming the state', () => {
    expect(() =>
      oneTaskWorkflow('dynamic-target', () => ({
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: { 'FunctionName.$': '$.function', Payload: {} },
      })),
    ).toThrow(
      expect.objectContaining({
        name: 'InfraConfigError',
        field: 'check-workflow.definition.States.Call',
      }) as unknown as Error,
    );
  });

  it('rejects a definition with text Terraform would interpolate', () => {
    expect(() =>
      oneTaskWorkflow('interpolated', (fn) => ({
        Resource: 'arn:aws:states:::lambda:invoke',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal Terraform interpolation is the point.
        Parameters: { FunctionName: fn.functionArn, Payload: { note: '${var.secret}' } },
      })),
    ).toThrow(expect.objectContaining({ field: 'check-workflow.definition' }) as unknown as Error);
  });
});
