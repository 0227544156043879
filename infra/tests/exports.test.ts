import { describe, expect, it } from '@jest/globals';
import type { Permission } from '@sidestep/manifest';
import { registeredService, registeredTask } from '@sidestep/registry';
import { defineSchedules, exportWorkflow, operatorEventPattern, SCHEDULES } from '@sidestep/workflows';
import { TerraformStack, Testing } from 'cdktn';
import {
  type EnvironmentConfig,
  EXPORT_PART_TAG,
  ExportsBucket,
  InfraConfigError,
  SERVICES,
  SidestepStack,
} from '../src/index.ts';
import { STAGING } from './environment-fixture.ts';
import { all, batchWorkerTarget, type Json, one, ref, statements } from './terraform-json.ts';

const batchWorker = registeredTask('batch-worker').manifest;

const { vpc: _functionsOutsideVpc, ...stagingWithoutVpc } = STAGING;
const staging: EnvironmentConfig = {
  ...stagingWithoutVpc,
  alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:sidestep-alarms',
  taskNetwork: { subnetIds: ['subnet-a'], securityGroupIds: ['sg-1'] },
};

const exportFinalizer = registeredService('export-finalizer').manifest;
const jobSweeper = registeredService('job-sweeper').manifest;

/** The actions a manifest declares on a resource (what the stack must grant, no more). */
function declaredActions(
  manifest: { readonly permissions: readonly Permission[] },
  resource: Permission['resource'],
): readonly string[] {
  const permission = manifest.permissions.find((p) => p.resource === resource);
  if (!permission) throw new Error(`the manifest declares no ${resource} permission`);
  return permission.actions;
}

/** The body of a resource that references `address` in its `bucket` attribute. */
function bucketSetting(tf: Json, type: string, address: string): Json {
  return one(tf, type, { bucket: `\${${address}.id}` })[1];
}

const tf: Json = JSON.parse(
  Testing.synth(
    new SidestepStack(Testing.app(), 'sidestep-staging', {
      config: staging,
    }),
    true,
  ),
);
const [bucketAddress, bucket] = one(tf, 'aws_s3_bucket', { bucket: 'sidestep-staging-exports-123456789012' });

describe('ExportsBucket (staging)', () => {
  it('keeps exports in a private, encrypted, TLS-only, versioned bucket', () => {
    expect(bucket.force_destroy).toBe(false);
    expect(bucketSetting(tf, 'aws_s3_bucket_public_access_block', bucketAddress)).toMatchObject({
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    const encryption = bucketSetting(tf, 'aws_s3_bucket_server_side_encryption_configuration', bucketAddress);
    expect(encryption.rule[0].apply_server_side_encryption_by_default.sse_algorithm).toBe('AES256');
    const versioning = bucketSetting(tf, 'aws_s3_bucket_versioning', bucketAddress);
    expect(versioning.versioning_configuration.status).toBe('Enabled');
    const policy = JSON.parse(bucketSetting(tf, 'aws_s3_bucket_policy', bucketAddress).policy);
    expect(policy.Statement).toEqual([
      expect.objectContaining({
        Effect: 'Deny',
        Action: 's3:*',
        Resource: [`\${${bucketAddress}.arn}`, `\${${bucketAddress}.arn}/*`],
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    ]);
  });

  it('expires exports, tagged parts sooner, and aborts incomplete multipart uploads after a day', () => {
    const rules = bucketSetting(tf, 'aws_s3_bucket_lifecycle_configuration', bucketAddress).rule;
    const rule = (id: string) => rules.find((r: Json) => r.id === id);
    expect(rule('expire-exports')).toMatchObject({
      status: 'Enabled',
      filter: [{ prefix: 'exports/' }],
      expiration: [{ days: 7 }],
      noncurrent_version_expiration: [{ noncurrent_days: 1 }],
    });
    expect(rule('expire-export-parts')).toMatchObject({
      filter: [{ and: [{ prefix: 'exports/', tags: { [EXPORT_PART_TAG.key]: EXPORT_PART_TAG.value } }] }],
      expiration: [{ days: 2 }],
    });
    expect(rule('abort-incomplete-multipart-uploads')).toMatchObject({
      filter: [{}],
      abort_incomplete_multipart_upload: [{ days_after_initiation: 1 }],
    });
  });

  it('grants a manifest’s exports-bucket actions on exports/* only and names the bucket', () => {
    const statement = statements(tf, 'sidestep-staging-export-finalizer').find(
      (s) => s.Sid === 'ManifestExportsBucket',
    );
    expect(statement).toEqual({
      Sid: 'ManifestExportsBucket',
      Effect: 'Allow',
      Action: declaredActions(exportFinalizer, 'exports-bucket').filter((a) => a !== 's3:ListBucket'),
      Resource: `\${${bucketAddress}.arn}/exports/*`,
    });
    const [, fn] = one(tf, 'aws_lambda_function', { function_name: 'sidestep-staging-export-finalizer' });
    expect(fn.environment.variables.EXPORTS_BUCKET).toBe('sidestep-staging-exports-123456789012');
  });

  it('grants the finalizer s3:ListBucket on the bucket, so a missing manifest is a 404, not a 403', () => {
    // S3 answers 403 for a missing key to a caller without s3:ListBucket; the finalizer tests its
    // final manifest's absence on every first run.
    // https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
    expect(declaredActions(exportFinalizer, 'exports-bucket')).toContain('s3:ListBucket');
    expect(statements(tf, 'sidestep-staging-export-finalizer')).toContainEqual({
      Sid: 'ManifestExportsBucketList',
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: ref(bucketAddress, 'arn'),
    });
    // Listing is granted on the bucket only, never on its objects.
    for (const s of statements(tf, 'sidestep-staging-export-finalizer')) {
      if ([s.Action].flat().includes('s3:ListBucket')) expect(s.Resource).toBe(ref(bucketAddress, 'arn'));
    }
  });

  it('refuses parts that outlive their exports, naming the field', () => {
    const create = () =>
      new ExportsBucket(new TerraformStack(Testing.app(), 'bad'), 'exports', {
        bucketName: 'sidestep-staging-exports-123456789012',
        lifecycle: { exportExpirationDays: 1, partExpirationDays: 3 },
      });
    expect(create).toThrow(InfraConfigError);
    expect(create).toThrow(/^exports-bucket\.lifecycle\.partExpirationDays:/);
  });
});

describe('mail-queue permission', () => {
  it('grants sending to the mail queue only and sets MAIL_QUEUE_URL, whatever the service order', () => {
    const [mailAddress] = one(tf, 'aws_sqs_queue', { name: 'sidestep-staging-mail' });
    const statement = statements(tf, 'sidestep-staging-job-sweeper').find(
      (s) => s.Sid === 'ManifestMailQueue',
    );
    expect(statement).toEqual({
      Sid: 'ManifestMailQueue',
      Effect: 'Allow',
      Action: declaredActions(jobSweeper, 'mail-queue'),
      Resource: `\${${mailAddress}.arn}`,
    });
    const [, fn] = one(tf, 'aws_lambda_function', { function_name: 'sidestep-staging-job-sweeper' });
    expect(fn.environment.variables.MAIL_QUEUE_URL).toBe(`\${${mailAddress}.url}`);
    // Declared before the mail-dispatcher: the queue does not exist yet when the function is built.
    const early = JSON.parse(
      Testing.synth(
        new SidestepStack(Testing.app(), 'sidestep-staging', {
          config: staging,
          services: [jobSweeper, ...SERVICES.filter((m) => m !== jobSweeper)],
        }),
      ),
    );
    const [earlyMail] = one(early, 'aws_sqs_queue', { name: 'sidestep-staging-mail' });
    expect(
      statements(early, 'sidestep-staging-job-sweeper').find((s) => s.Sid === 'ManifestMailQueue').Resource,
    ).toBe(`\${${earlyMail}.arn}`);
  });

  it('refuses a mail-queue permission in a stack without a mail consumer, naming the service', () => {
    const create = () =>
      new SidestepStack(Testing.app(), 'sidestep-staging', {
        config: staging,
        services: SERVICES.filter((m) => !m.queue),
      });
    expect(create).toThrow(InfraConfigError);
    expect(create).toThrow(/^job-sweeper\.permissions:/);
  });
});

describe('the export file’s multipart upload', () => {
  // The worker creates the upload and uploads into it (s3:PutObject), lists it to resume and aborts
  // one it cannot resume; the finalizer lists and completes it (s3:PutObject) and aborts it when its
  // parts are not the manifest's.
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions
  it.each([['sidestep-staging-batch-worker-task'], ['sidestep-staging-export-finalizer']])(
    'lets %s put, list and abort uploads under exports/',
    (role) => {
      const statement = statements(tf, role).find((s) => s.Sid === 'ManifestExportsBucket');
      expect(statement?.Resource).toBe(`\${${bucketAddress}.arn}/exports/*`);
      expect(statement?.Action).toEqual(
        expect.arrayContaining(['s3:PutObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload']),
      );
    },
  );
});

describe('BatchTask with the exports-bucket permission', () => {
  it('grants the task role the actions and leaves a variable the runs pass as input to them', () => {
    // EXPORTS_BUCKET is one of the batch-worker's inputs: the export workflow passes it per run.
    expect(Object.keys(batchWorker.inputs)).toContain('EXPORTS_BUCKET');
    expect(statements(tf, 'sidestep-staging-batch-worker-task')).toContainEqual({
      Sid: 'ManifestExportsBucket',
      Effect: 'Allow',
      Action: declaredActions(batchWorker, 'exports-bucket').filter((a) => a !== 's3:ListBucket'),
      Resource: `\${${bucketAddress}.arn}/exports/*`,
    });
    // The worker reads its progress record, absent on every first attempt: a 404 needs s3:ListBucket,
    // granted on the bucket only.
    expect(statements(tf, 'sidestep-staging-batch-worker-task')).toContainEqual({
      Sid: 'ManifestExportsBucketList',
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: ref(bucketAddress, 'arn'),
    });
    const [, definition] = one(tf, 'aws_ecs_task_definition');
    const names = JSON.parse(definition.container_definitions)[0].environment.map((v: Json) => v.name);
    expect(names).toContain('IMPORTS_BUCKET');
    expect(names).not.toContain('EXPORTS_BUCKET');
  });
});

describe('SidestepStack (export workflow in staging)', () => {
  const [machineAddress, machine] = one(tf, 'aws_sfn_state_machine', { name: 'sidestep-staging-export' });
  const [statusUpdater] = one(tf, 'aws_lambda_function', {
    function_name: 'sidestep-staging-status-updater',
  });
  const [finalizer] = one(tf, 'aws_lambda_function', { function_name: 'sidestep-staging-export-finalizer' });
  const [mailQueue] = one(tf, 'aws_sqs_queue', { name: 'sidestep-staging-mail' });
  const [cluster] = one(tf, 'aws_ecs_cluster');
  const [taskDefinition] = one(tf, 'aws_ecs_task_definition');

  it('deploys exactly the definition the workflow package builds, with the stack’s references', () => {
    expect(JSON.parse(machine.definition)).toEqual(
      exportWorkflow({
        statusUpdaterFunctionArn: ref(statusUpdater, 'arn'),
        batchWorker: batchWorkerTarget({ cluster, taskDefinition }, batchWorker, {
          subnetIds: ['subnet-a'],
          securityGroupIds: ['sg-1'],
        }),
        exportFinalizerFunctionArn: ref(finalizer, 'arn'),
        exportsBucket: 'sidestep-staging-exports-123456789012',
        mailQueueUrl: ref(mailQueue, 'url'),
      }),
    );
    expect(machine.type).toBe('STANDARD');
  });

  it('grants the state machine exactly what the definition calls', () => {
    const sids = statements(tf, 'sidestep-staging-export').map((s: Json) => [s.Sid, s.Resource]);
    expect(sids).toEqual(
      expect.arrayContaining([
        ['InvokeStatusUpdater', ref(statusUpdater, 'arn')],
        ['InvokeExportFinalizer', ref(finalizer, 'arn')],
        ['RunBatchWorker', `${ref(taskDefinition, 'arn_without_revision')}:*`],
        ['SendMail', ref(mailQueue, 'arn')],
      ]),
    );
    const invoked = statements(tf, 'sidestep-staging-export').filter((s: Json) =>
      s.Action.includes('lambda:InvokeFunction'),
    );
    expect(invoked).toHaveLength(2);
  });

  it('alarms on any failed execution of either workflow, notifying the topic', () => {
    for (const workflow of ['import', 'export']) {
      const [machine] = one(tf, 'aws_sfn_state_machine', { name: `sidestep-staging-${workflow}` });
      const [, alarm] = one(tf, 'aws_cloudwatch_metric_alarm', {
        alarm_name: `sidestep-staging-${workflow}-executions-failed`,
      });
      expect(alarm).toMatchObject({
        namespace: 'AWS/States',
        metric_name: 'ExecutionsFailed',
        dimensions: { StateMachineArn: ref(machine, 'arn') },
        threshold: 0,
        comparison_operator: 'GreaterThanThreshold',
        alarm_actions: [staging.alarmTopicArn],
      });
    }
  });

  it('starts it from sidestep-<env>-export-requests through a pipe', () => {
    const [queueAddress] = one(tf, 'aws_sqs_queue', { name: 'sidestep-staging-export-requests' });
    const [, pipe] = one(tf, 'aws_pipes_pipe');
    expect(pipe.source).toBe(ref(queueAddress, 'arn'));
    expect(pipe.target).toBe(ref(machineAddress, 'arn'));
    expect(Object.keys(tf.output)).toEqual(
      expect.arrayContaining([
        'exports_bucket_name',
        'export_state_machine_arn',
        'export_requests_queue_url',
        'export_requests_dead_letter_queue_url',
        'event_bus_name',
        'schedule_group_name',
      ]),
    );
  });

  // https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency:
  // CreatePipe checks the role, which IAM may not show Pipes for seconds after the policy was written.
  it('creates the pipe only after its role policy has had 30 s to reach Pipes, and waits again when the policy changes', () => {
    const [, pipe] = one(tf, 'aws_pipes_pipe');
    const [roleAddress] = one(tf, 'aws_iam_role', { name: 'sidestep-staging-export-requests-pipe' });
    const [policyAddress] = one(tf, 'aws_iam_role_policy', { role: ref(roleAddress, 'name') });
    const [waitAddress, wait] = one(tf, 'time_sleep');
    expect(pipe.depends_on).toEqual([waitAddress]);
    expect(pipe.role_arn).toBe(ref(roleAddress, 'arn'));
    expect(wait).toMatchObject({
      create_duration: '30s',
      depends_on: [policyAddress],
      triggers: { role_policy: ref(policyAddress, 'policy') },
    });
    // The provider of the wait, pinned as the AWS provider is (an unpinned one moves under a deploy).
    expect(tf.terraform.required_providers.time).toEqual({ source: 'hashicorp/time', version: '0.13.1' });
  });

  it('tells the job-sweeper where mails go and who gets the platform’s own', () => {
    const [, sweeper] = one(tf, 'aws_lambda_function', { function_name: 'sidestep-staging-job-sweeper' });
    expect(sweeper.environment.variables).toMatchObject({
      MAIL_QUEUE_URL: ref(mailQueue, 'url'),
      NOTIFY_ADDRESS: staging.mail.notifyAddress,
    });
  });

  it('refuses a stack without the export-finalizer, naming it', () => {
    const create = () =>
      new SidestepStack(Testing.app(), 'sidestep-staging', {
        config: staging,
        services: SERVICES.filter((m) => m.name !== 'export-finalizer'),
      });
    expect(create).toThrow(/^export-workflow\.callees\.export-finalizer:/);
  });
});

describe('SidestepStack (schedules in staging)', () => {
  it('deploys every schedule of the workflows package, to its declared target, with its input', () => {
    const deployed = defineSchedules({ nightlyExportRecipient: staging.mail.notifyAddress });
    expect(deployed.map((d) => d.name)).toEqual(
      expect.arrayContaining(['nightly-export', 'stale-job-sweeper']),
    );
    for (const definition of deployed) {
      const [, schedule] = one(tf, 'aws_scheduler_schedule', { name: `sidestep-staging-${definition.name}` });
      const [target] =
        definition.target.kind === 'queue'
          ? one(tf, 'aws_sqs_queue', { name: `sidestep-staging-${definition.target.queue}` })
          : one(tf, 'aws_lambda_function', {
              function_name: `sidestep-staging-${definition.target.service}`,
            });
      expect(schedule.schedule_expression).toBe(definition.expression);
      expect(schedule.schedule_expression_timezone).toBe(definition.timezone);
      expect(schedule.target.arn).toBe(ref(target, 'arn'));
      expect(JSON.parse(schedule.target.input)).toEqual(definition.input);
      const [, rule] = one(tf, 'aws_cloudwatch_event_rule', {
        name: `sidestep-staging-${definition.name}-operator`,
      });
      expect(JSON.parse(rule.event_pattern)).toEqual(operatorEventPattern(definition.name));
    }
  });

  it('refuses a schedule whose target the stack does not have, naming the schedule', () => {
    const [first] = SCHEDULES;
    if (!first) throw new Error('SCHEDULES is empty');
    const create = () =>
      new SidestepStack(Testing.app(), 'sidestep-staging', {
        config: staging,
        schedules: [{ ...first, name: 'orphan', target: { kind: 'function', service: 'nobody' } }],
      });
    expect(create).toThrow(InfraConfigError);
    expect(create).toThrow(/^schedules\.orphan\.target:/);
  });
});

describe('ExportDownload (staging)', () => {
  const [finalizerAddress, finalizer] = one(tf, 'aws_lambda_function', {
    function_name: 'sidestep-staging-export-finalizer',
  });
  const [downloadAddress, download] = one(tf, 'aws_lambda_function', {
    function_name: 'sidestep-staging-export-download',
  });
  const [secretAddress, secret] = one(tf, 'aws_secretsmanager_secret', {
    name: 'sidestep-staging-export-download-key',
  });
  const [urlAddress, url] = one(tf, 'aws_lambda_function_url');

  // A deleted secret keeps its name for its recovery window (30 days by default), and CreateSecret of
  // that name fails until then: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html
  it('deletes its signing key without a recovery window, so an environment of the same name can be created again at once', () => {
    expect(secret.recovery_window_in_days).toBe(0);
  });

  it('runs the finalizer’s image with the download handler behind a public function URL', () => {
    expect(download.image_uri).toBe(finalizer.image_uri);
    expect(download.image_config).toEqual({ command: ['index.downloadHandler'] });
    expect(download.tracing_config).toEqual({ mode: 'Active' });
    expect(url).toMatchObject({
      function_name: ref(downloadAddress, 'function_name'),
      authorization_type: 'NONE',
    });
    const permissions = all(tf, 'aws_lambda_permission')
      .map(([, p]) => p)
      .filter((p: Json) => p.function_name === ref(downloadAddress, 'function_name'));
    const byAction = Object.fromEntries(permissions.map((p: Json) => [p.action, p]));
    expect(Object.keys(byAction).sort()).toEqual(['lambda:InvokeFunction', 'lambda:InvokeFunctionUrl']);
    expect(byAction['lambda:InvokeFunctionUrl']).toMatchObject({
      principal: '*',
      function_url_auth_type: 'NONE',
    });
    expect(byAction['lambda:InvokeFunction']).toMatchObject({
      principal: '*',
      invoked_via_function_url: true,
    });
  });

  it('lets Lambda pull the shared image for both functions only', () => {
    const [repository] = one(tf, 'aws_ecr_repository', { name: 'sidestep-staging-export-finalizer' });
    const [, pull] = one(tf, 'aws_ecr_repository_policy', { repository: ref(repository, 'name') });
    expect(JSON.parse(pull.policy).Statement[0].Condition.StringLike['aws:sourceArn']).toEqual([
      'arn:aws:lambda:eu-west-1:123456789012:function:sidestep-staging-export-finalizer',
      'arn:aws:lambda:eu-west-1:123456789012:function:sidestep-staging-export-download',
    ]);
  });

  // Lambda checks at CreateFunction (and at each image update) that it may pull the image, so a function
  // applied before the repository policy that names it fails to create.
  // https://docs.aws.amazon.com/lambda/latest/dg/images-create.html#configuration-images-permissions
  it('creates both functions of the shared image only after the pull policy that names them', () => {
    const [repository] = one(tf, 'aws_ecr_repository', { name: 'sidestep-staging-export-finalizer' });
    const [pullAddress] = one(tf, 'aws_ecr_repository_policy', { repository: ref(repository, 'name') });
    for (const name of ['sidestep-staging-export-finalizer', 'sidestep-staging-export-download']) {
      const [, fn] = one(tf, 'aws_lambda_function', { function_name: name });
      expect([name, fn.depends_on]).toEqual([name, expect.arrayContaining([pullAddress])]);
    }
  });

  it('gives the endpoint read access to exports/* and the signing key only', () => {
    const [bucketAddress] = one(tf, 'aws_s3_bucket', { bucket: 'sidestep-staging-exports-123456789012' });
    const bySid = Object.fromEntries(
      statements(tf, 'sidestep-staging-export-download').map((s: Json) => [s.Sid, [s.Action, s.Resource]]),
    );
    expect(Object.keys(bySid).sort()).toEqual([
      'ListExports',
      'ReadExportDownloadKey',
      'ReadExports',
      'WriteOwnLogs',
      'WriteTraces',
    ]);
    // An expired export is a 404 (answered 410), not a 403 (a 5xx), only with s3:ListBucket.
    expect(statements(tf, 'sidestep-staging-export-download')).toContainEqual({
      Sid: 'ListExports',
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: ref(bucketAddress, 'arn'),
    });
    expect(bySid.ReadExports).toEqual([['s3:GetObject'], `${ref(bucketAddress, 'arn')}/exports/*`]);
    // Every version of the key, with no secretsmanager:VersionStage condition: the endpoint checks links
    // signed with AWSPREVIOUS too
    // (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html).
    expect(statements(tf, 'sidestep-staging-export-download')).toContainEqual({
      Sid: 'ReadExportDownloadKey',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: ref(secretAddress, 'arn'),
    });
    expect(download.environment.variables).toMatchObject({
      EXPORTS_BUCKET: 'sidestep-staging-exports-123456789012',
      DOWNLOAD_SIGNING_KEY_SECRET_ARN: ref(secretAddress, 'arn'),
    });
    expect(download.environment.variables.DOWNLOAD_BASE_URL).toBeUndefined();
  });

  it('tells the finalizer where links point and lets it read the key to sign them', () => {
    expect(finalizer.environment.variables).toMatchObject({
      DOWNLOAD_BASE_URL: ref(urlAddress, 'function_url'),
      DOWNLOAD_SIGNING_KEY_SECRET_ARN: ref(secretAddress, 'arn'),
    });
    expect(statements(tf, 'sidestep-staging-export-finalizer')).toContainEqual({
      Sid: 'ReadExportDownloadKey',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: ref(secretAddress, 'arn'),
    });
    expect(finalizerAddress).toBeDefined();
  });
});
