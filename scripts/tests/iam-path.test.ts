import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import {
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MAIL_NOT_QUEUED_ERROR } from '@sidestep/contracts';
import { rejectionOf } from '@sidestep/contracts/testing';
import { synthStack } from '@sidestep/infra';
import {
  createCollectingReporter,
  type LocalCloud,
  type LocalCloudOptions,
  type LocalWorkflow,
  startLocalCloud,
} from '@sidestep/local-cloud';
import { TASKS } from '@sidestep/registry';
import { executionStatusRule } from '@sidestep/workflows';
import {
  LOCAL_CLOUD,
  LOCAL_NOTIFY_ADDRESS,
  LOCAL_SERVICES,
  LOCAL_TASKS,
  WORKFLOWS,
} from '../src/services.ts';
import {
  endedExecutions,
  type PathCloud,
  rootDir,
  runScriptWith,
  startPathCloud,
  startWholePathCloud,
  TEST_DATABASE,
} from './start-path-cloud.ts';

// Issue 10's "done when", as tests: the cloud `npm start` runs enforces the IAM policies of the
// `sidestep-local` stack, synthesized from the same manifests; a client acting as a role gets what
// the role may do and AccessDenied for the rest; operator credentials get everything; a manifest
// missing a permission its code uses fails the local path with the action named.
const IMPORTS = 'sidestep-local-imports';
const EXPORTS = 'sidestep-local-exports';
const IMPORT_STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import';
const JOB_SWEEPER = 'arn:aws:lambda:us-east-1:000000000000:function:sidestep-local-job-sweeper';

/**
 * Starts an import execution that fails at once (its input is no S3 event: reading the upload is a
 * States.Runtime error), so it ends FAILED and the workflow-ended rule matches its status change.
 */
async function failedImportExecution(path: PathCloud): Promise<string> {
  const { executionArn = '' } = await path.sfn.send(
    new StartExecutionCommand({ stateMachineArn: IMPORT_STATE_MACHINE, input: '{}' }),
  );
  await path.collecting.waitFor(
    'execution-finished',
    (event) => event.executionArn === executionArn && event.status === 'FAILED',
    30_000,
  );
  return executionArn;
}

/** Whether the job-sweeper ran for the execution: its task handler logs every invocation with the execution's ARN. */
const sweptFor = (executionArn: string) => (event: { service: string; line: string }) =>
  event.service === 'job-sweeper' && event.line.includes(executionArn);

/** The cloud `npm start` runs the import path with (its rule too), on `stack`: a changed synthesized stack. */
function startOnStack(
  name: string,
  stack: object,
  options: Partial<Pick<LocalCloudOptions, 'services' | 'lostStatusChange'>> = {},
): Promise<PathCloud> {
  return startPathCloud(name, {
    ...TEST_DATABASE,
    services: options.services ?? LOCAL_SERVICES,
    ...(options.lostStatusChange ? { lostStatusChange: options.lostStatusChange } : {}),
    tasks: LOCAL_TASKS,
    workflows: WORKFLOWS,
    executionStatusRule,
    stack,
  });
}

/** The error a call rejects with, as the AWS SDK's errors carry it (fails the test when it succeeds). */
const failure = (call: Promise<unknown>) =>
  rejectionOf(call, Error) as Promise<Error & { $metadata?: { httpStatusCode?: number } }>;

describe('the policies the local cloud enforces', () => {
  it('are the sidestep-local stack `pnpm --filter @sidestep/infra run synth` writes, byte for byte', async () => {
    const outdir = mkdtempSync(join(tmpdir(), 'iam-synth-'));
    try {
      const run = await runScriptWith({ CDKTF_OUTDIR: outdir }, 'infra/src/main.ts');
      expect(run.code).toBe(0);
      const written = readFileSync(join(outdir, 'stacks', 'sidestep-local', 'cdk.tf.json'), 'utf8');
      // What `npm start` and startPathCloud pass as `stack` (JSON.parse of this very text).
      expect(synthStack()).toBe(written);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('a client acting as a role of the local stack', () => {
  let path: PathCloud;
  const clients: { destroy(): void }[] = [];
  const as = <T extends { destroy(): void }>(client: T): T => {
    clients.push(client);
    return client;
  };
  const settings = (accessKeyId: string) => ({
    endpoint: path.cloud.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId, secretAccessKey: 'local' },
  });

  beforeAll(async () => {
    path = await startWholePathCloud('iam-path');
  }, 120_000);

  afterAll(async () => {
    for (const client of clients) client.destroy();
    await path?.stop();
  });

  it("acts as every stack role the cloud's callers run as, from the synthesized stack", () => {
    const stack = JSON.parse(synthStack());
    const synthesized = Object.values(stack.resource.aws_iam_role as Record<string, { name: string }>).map(
      (r) => r.name,
    );
    expect(path.cloud.iam.enforced).toBe(true);
    expect([...path.cloud.iam.roles].sort()).toEqual(synthesized.sort());
  });

  it("lets the mail-dispatcher's role send to its DLQ and refuses it the imports bucket with AccessDenied", async () => {
    const sqs = as(new SQSClient(settings('sidestep-local-mail-dispatcher')));
    const s3 = as(new S3Client({ ...settings('sidestep-local-mail-dispatcher'), forcePathStyle: true }));
    const sent = await sqs.send(
      new SendMessageCommand({ QueueUrl: path.cloud.queueUrl('sidestep-local-mail-dlq'), MessageBody: '{}' }),
    );
    expect(sent.MessageId).toBeDefined();
    const denied = await failure(
      s3.send(new PutObjectCommand({ Bucket: IMPORTS, Key: 'imports/x.csv', Body: 'a,b\n' })),
    );
    expect(denied.name).toBe('AccessDenied');
    expect(denied.$metadata?.httpStatusCode).toBe(403);
    expect(denied.message).toBe(
      `User: arn:aws:sts::000000000000:assumed-role/sidestep-local-mail-dispatcher/sidestep-local-mail-dispatcher is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::${IMPORTS}/imports/x.csv because no identity-based policy allows the s3:PutObject action`,
    );
    // Nor may it send anywhere else: the export requests queue is the pipe's.
    const elsewhere = await failure(
      sqs.send(
        new SendMessageCommand({ QueueUrl: path.cloud.queueUrl('export-requests'), MessageBody: '{}' }),
      ),
    );
    expect(elsewhere.name).toBe('AccessDenied');
  });

  it('lets operator credentials (the README’s local/local) make the same calls', async () => {
    const sqs = as(new SQSClient(path.client));
    const s3 = as(new S3Client({ ...path.client, forcePathStyle: true }));
    await sqs.send(
      new SendMessageCommand({ QueueUrl: path.cloud.queueUrl('sidestep-local-mail-dlq'), MessageBody: '{}' }),
    );
    const put = await s3.send(
      new PutObjectCommand({ Bucket: IMPORTS, Key: 'operator/not-an-import.txt', Body: 'x' }),
    );
    expect(put.ETag).toBeDefined();
  });

  it('lets anyone call the public download function URL, as its function policy allows', async () => {
    const response = await fetch(`${path.cloud.functionUrl('export-download')}?token=not-a-token`);
    // The handler answered (a bad token is its own 4xx), not IAM.
    expect(await response.text()).not.toContain('is not authorized to perform');
    expect(path.collecting.ofType('access-denied').filter((d) => d.action.startsWith('lambda:'))).toEqual([]);
  });

  it("has the workflow-ended rule's target DLQ from the start, as infra creates it with the rule", async () => {
    const sqs = as(new SQSClient(path.client));
    const { QueueUrl } = await sqs.send(
      new GetQueueUrlCommand({ QueueName: 'sidestep-local-workflow-ended-dlq' }),
    );
    expect(QueueUrl).toMatch(/\/sidestep-local-workflow-ended-dlq$/);
  });

  it("lets EventBridge invoke the job-sweeper for an ended execution, as the workflow-ended rule's function permission allows", async () => {
    const executionArn = await failedImportExecution(path);
    await path.collecting.waitFor('log', sweptFor(executionArn), 30_000);
    expect(path.collecting.ofType('access-denied').filter((d) => d.resource === JOB_SWEEPER)).toEqual([]);
  }, 60_000);

  it('answers a missing key or version 404 to the roles that may list their bucket and to the operator, as S3 does', async () => {
    // S3 answers 403 instead to a role without s3:ListBucket (the local cloud's endpoint tests): the
    // batch-worker may list the imports bucket, so a version that is gone is NoSuchVersion to it, which
    // the job reports as such; the finalizer may list the exports bucket.
    const worker = as(
      new S3Client({ ...settings('sidestep-local-batch-worker-task'), forcePathStyle: true }),
    );
    const finalizer = as(
      new S3Client({ ...settings('sidestep-local-export-finalizer'), forcePathStyle: true }),
    );
    const operator = as(new S3Client({ ...path.client, forcePathStyle: true }));
    const upload = 'imports/no-such-upload.csv';
    const asWorker = await failure(worker.send(new GetObjectCommand({ Bucket: IMPORTS, Key: upload })));
    expect(asWorker.name).toBe('NoSuchKey');
    const replaced = 'imports/replaced-upload.csv';
    const { VersionId } = await operator.send(
      new PutObjectCommand({ Bucket: IMPORTS, Key: replaced, Body: 'external_id,email\n' }),
    );
    await operator.send(new DeleteObjectCommand({ Bucket: IMPORTS, Key: replaced, VersionId }));
    const gone = await failure(
      worker.send(new GetObjectCommand({ Bucket: IMPORTS, Key: replaced, VersionId })),
    );
    expect(gone.name).toBe('NoSuchVersion');
    expect(gone.$metadata?.httpStatusCode).toBe(404);
    const manifest = 'exports/no-such-export/manifest.json';
    const asFinalizer = await failure(
      finalizer.send(new GetObjectCommand({ Bucket: EXPORTS, Key: manifest })),
    );
    expect(asFinalizer.name).toBe('NoSuchKey');
    const asOperator = await failure(operator.send(new GetObjectCommand({ Bucket: IMPORTS, Key: upload })));
    expect(asOperator.name).toBe('NoSuchKey');
  });
});

describe('a manifest missing a permission its code uses', () => {
  let path: PathCloud;
  let s3: S3Client;

  beforeAll(async () => {
    // The batch-worker's manifest without s3:GetObjectVersion on the imports bucket (it keeps
    // s3:GetObject, so it still gets IMPORTS_BUCKET): the stack synthesized from it. The imports
    // bucket is versioned, so the worker reads the event's version, which takes s3:GetObjectVersion
    // alone (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html#API_GetObject_Permissions:
    // "If you request a specific version, you do not need to have the s3:GetObject permission").
    const tasks = TASKS.map(({ manifest }) =>
      manifest.name !== 'batch-worker'
        ? manifest
        : {
            ...manifest,
            permissions: manifest.permissions.map((p) =>
              p.resource === 'imports-bucket'
                ? { ...p, actions: p.actions.filter((a) => a !== 's3:GetObjectVersion') }
                : p,
            ),
          },
    );
    // And the import workflow's role without its grant to send to the mail queue, so the failure
    // mail of the import that fails cannot be queued by its execution.
    // And the status change of each execution of an upload under imports/lost-, lost on its way to the
    // bus (Step Functions sends them best effort), with a job-sweeper that leaves an ended execution
    // to its event no time at all (WORKFLOW_END_GRACE_SECONDS=0; 60 s unless set).
    path = await startOnStack(
      'iam-missing-permission',
      withoutAction(synthStack({ tasks }), 'sidestep-local-import', 'sqs:SendMessage'),
      {
        services: LOCAL_SERVICES.map((service) =>
          service.manifest.name !== 'job-sweeper'
            ? service
            : {
                ...service,
                environment: (urls) => ({
                  ...service.environment?.(urls),
                  WORKFLOW_END_GRACE_SECONDS: '0',
                }),
              },
        ),
        lostStatusChange: (event) => event.detail.input.includes('imports/lost-'),
      },
    );
    ({ s3 } = path);
  }, 120_000);

  afterAll(async () => {
    await path?.stop();
  });

  it('fails the import locally with the missing action named', async () => {
    const key = `imports/iam-${Date.now()}/users.csv`;
    await s3.send(
      new PutObjectCommand({ Bucket: IMPORTS, Key: key, Body: 'external_id,email\nu-1,u1@example.com\n' }),
    );
    const denied = await path.collecting.waitFor(
      'access-denied',
      (event) => event.resource === `arn:aws:s3:::${IMPORTS}/${key}`,
      60_000,
    );
    expect(denied).toMatchObject({
      action: 's3:GetObjectVersion',
      caller:
        'arn:aws:sts::000000000000:assumed-role/sidestep-local-batch-worker-task/sidestep-local-batch-worker-task',
    });
    // The task's own logged error names the action, as its CloudWatch log would on AWS.
    const stopped = await path.collecting.waitFor('task-stopped', undefined, 60_000);
    expect(stopped.exitCode).not.toBe(0);
    const logs = path.collecting
      .ofType('log')
      .filter((event) => event.service === 'batch-worker')
      .map((event) => event.line);
    expect(logs.some((line) => line.includes('s3:GetObjectVersion'))).toBe(true);
  }, 90_000);

  it('ends the execution FAILED with MailNotQueuedError when its failure mail cannot be queued, and the job-sweeper queues that mail', async () => {
    // The import the test above failed: its execution ends after its failure path.
    const [ended] = await endedExecutions(path.sfn, IMPORT_STATE_MACHINE, (input) =>
      input.includes('imports/iam-'),
    );
    expect(ended).toMatchObject({ status: 'FAILED', error: MAIL_NOT_QUEUED_ERROR });
    const denied = path.collecting
      .ofType('access-denied')
      .filter((event) => event.action === 'sqs:SendMessage');
    expect(denied[0]?.caller).toMatch(/assumed-role\/sidestep-local-import\//);
    const unsent = JSON.parse(ended?.cause ?? '') as { id: string };
    expect(unsent.id).toMatch(/^import\.failed:/);
    // The workflow-ended rule hands the execution to the job-sweeper, whose own role may send it.
    const mail = await path.collecting.waitFor(
      'mail-delivered',
      (event) => event.subject.startsWith('Import failed: users.csv'),
      60_000,
    );
    expect(mail.to).toEqual([LOCAL_NOTIFY_ADDRESS]);
  }, 90_000);
  // Step Functions sends its status change events best effort
  // (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html): the job-sweeper's
  // scheduled sweep finds the end no event handled, as its own role, and queues the mail.
  it('queues the mail of an execution whose status change was lost on the next scheduled sweep', async () => {
    const key = `imports/lost-${Date.now()}/users.csv`;
    await s3.send(
      new PutObjectCommand({ Bucket: IMPORTS, Key: key, Body: 'external_id,email\nu-1,u1@example.com\n' }),
    );
    const [ended] = await endedExecutions(path.sfn, IMPORT_STATE_MACHINE, (input) => input.includes(key));
    expect(ended).toMatchObject({ status: 'FAILED', error: MAIL_NOT_QUEUED_ERROR });
    const executionArn = ended?.executionArn ?? '';
    await path.collecting.waitFor(
      'error',
      (event) =>
        event.source === 'step functions' &&
        event.message.startsWith(`the FAILED status change of execution ${ended?.name} was lost`),
      10_000,
    );
    const mailsBefore = path.collecting.ofType('mail-delivered').length;
    // The schedule invokes the job-sweeper with {}.
    const swept = await path.cloud.invoke('job-sweeper', {});
    if (!swept.ok) throw new Error(`the sweep failed: ${JSON.stringify(swept.error)}`);
    const output = swept.payload as { reconciled?: { executionArn: string; queued: string[] }[] };
    const unsent = JSON.parse(ended?.cause ?? '') as { id: string };
    expect(output.reconciled).toEqual([expect.objectContaining({ executionArn, queued: [unsent.id] })]);
    // No event ever reached the job-sweeper for this execution: only the sweep.
    expect(
      path.collecting
        .ofType('log')
        .filter(sweptFor(executionArn))
        .some((e) => e.line.includes('"detail"')),
    ).toBe(false);
    await path.collecting.waitFor(
      'mail-delivered',
      () => path.collecting.ofType('mail-delivered').length > mailsBefore,
      60_000,
    );
    // The next sweep finds the end handled.
    const again = await path.cloud.invoke('job-sweeper', {});
    expect(again).toMatchObject({
      ok: true,
      payload: expect.not.objectContaining({ reconciled: expect.anything() }),
    });
  }, 90_000);
});

/** A trust policy statement of the synthesized stack, as `assume_role_policy` holds it. */
interface TrustStatement {
  Principal: { Service: string };
  Condition?: Record<string, Record<string, string>>;
}

/** `stack` with the trust policy of its role `roleName` changed by `change` (its one statement). */
function withTrust(stack: string, roleName: string, change: (statement: TrustStatement) => void): object {
  const terraform = JSON.parse(stack) as {
    resource: { aws_iam_role: Record<string, { name: string; assume_role_policy: string }> };
  };
  const role = Object.values(terraform.resource.aws_iam_role).find((r) => r.name === roleName);
  if (!role) throw new Error(`the stack has no role ${roleName}`);
  const policy = JSON.parse(role.assume_role_policy) as { Statement: TrustStatement[] };
  for (const statement of policy.Statement) change(statement);
  role.assume_role_policy = JSON.stringify(policy);
  return terraform;
}

/** Sets the value of the condition key `key` wherever the statement's conditions name it. */
const condition = (key: string, value: string) => (statement: TrustStatement) => {
  const clauses = Object.values(statement.Condition ?? {}).filter((clause) => key in clause);
  if (clauses.length === 0) throw new Error(`the trust statement has no ${key} condition`);
  for (const clause of clauses) clause[key] = value;
};
const principal = (service: string) => (statement: TrustStatement) => {
  statement.Principal = { Service: service };
};

// On AWS a service uses a role only if the role's trust policy lets that service principal
// sts:AssumeRole with the source it names (aws:SourceArn / aws:SourceAccount): Lambda's CreateFunction
// answers "The role defined for the function cannot be assumed by Lambda", EventBridge's PutTargets
// "cannot be assumed by principal 'events.amazonaws.com'", ECS cannot start the task. The local cloud
// evaluates each trust policy of the synthesized stack once, as it starts the component.
describe('a stack role whose trust policy does not let its service assume it', () => {
  const elsewhere = '111122223333';
  let synthesized: string;

  beforeAll(() => {
    synthesized = synthStack();
  });

  /** What starting everything `npm start` runs with `stack` refuses with; fails when it starts. */
  async function refusal(stack: object): Promise<Error> {
    const stateDir = mkdtempSync(join(tmpdir(), 'iam-trust-'));
    let cloud: LocalCloud;
    try {
      cloud = await startLocalCloud({
        ...LOCAL_CLOUD,
        rootDir,
        stateDir,
        port: 0,
        smtpPort: 0,
        databasePort: 0,
        prewarm: false,
        reporter: createCollectingReporter().reporter,
        stack,
      });
    } catch (error) {
      return error as Error;
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
    await cloud.stop();
    throw new Error('the local cloud started');
  }

  it.each([
    ['sidestep-local-mail-dispatcher', 'lambda.amazonaws.com', principal('states.amazonaws.com')],
    ['sidestep-local-export-download', 'lambda.amazonaws.com', principal('edgelambda.amazonaws.com')],
    [
      'sidestep-local-import',
      'states.amazonaws.com',
      condition('aws:SourceArn', `arn:aws:states:us-east-1:${elsewhere}:stateMachine:*`),
    ],
    [
      'sidestep-local-batch-worker-task',
      'ecs-tasks.amazonaws.com',
      condition('aws:SourceAccount', elsewhere),
    ],
    ['sidestep-local-batch-worker-execution', 'ecs-tasks.amazonaws.com', principal('ecs.amazonaws.com')],
    [
      'sidestep-local-import-trigger',
      'events.amazonaws.com',
      condition('aws:SourceArn', 'arn:aws:events:us-east-1:000000000000:rule/sidestep-local-other'),
    ],
    [
      'sidestep-local-export-requests-pipe',
      'pipes.amazonaws.com',
      condition('aws:SourceArn', 'arn:aws:pipes:us-east-1:000000000000:pipe/sidestep-local-other'),
    ],
    [
      'sidestep-local-nightly-export-schedule',
      'scheduler.amazonaws.com',
      condition('aws:SourceArn', 'arn:aws:scheduler:us-east-1:000000000000:schedule-group/other'),
    ],
  ])(
    'refuses to start when %s may not be assumed by %s, naming both',
    async (role, service, change) => {
      const error = await refusal(withTrust(synthesized, role, change));
      expect(error).toMatchObject({ name: 'RoleNotAssumableError', role, principal: service });
      expect(error.message).toContain(`role ${role} cannot be assumed by ${service}`);
    },
    30_000,
  );
});

// The workflow-ended rule invokes the job-sweeper as EventBridge (its target has no role), which
// the function's policy must allow for the rule (aws_lambda_permission with the rule's ARN as
// source_arn). EventBridge does not retry a permissions error: the event goes straight to the
// target's dead-letter queue with RULE_ARN, TARGET_ARN, ERROR_CODE and ERROR_MESSAGE attributes
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html).
describe("a stack without the workflow-ended rule's permission to invoke the job-sweeper", () => {
  let path: PathCloud;

  beforeAll(async () => {
    const stack = JSON.parse(synthStack()) as {
      resource: { aws_lambda_permission: Record<string, { statement_id?: string }> };
    };
    const permissions = stack.resource.aws_lambda_permission;
    const [id] = Object.entries(permissions).find(([, p]) => p.statement_id === 'RuleWorkflowEnded') ?? [];
    if (id === undefined) throw new Error('the stack has no workflow-ended permission');
    delete permissions[id];
    path = await startOnStack('iam-workflow-ended', stack);
  }, 120_000);

  afterAll(async () => {
    await path?.stop();
  });

  it("refuses the rule's invoke for an ended import execution and dead-letters the event instead of running the job-sweeper", async () => {
    const executionArn = await failedImportExecution(path);
    const denied = await path.collecting.waitFor(
      'access-denied',
      (event) => event.resource === JOB_SWEEPER,
      15_000,
    );
    expect(denied).toMatchObject({ caller: 'events.amazonaws.com', action: 'lambda:InvokeFunction' });

    const { QueueUrl } = await path.sqs.send(
      new GetQueueUrlCommand({ QueueName: 'sidestep-local-workflow-ended-dlq' }),
    );
    let dead: Message | undefined;
    for (let attempt = 0; !dead && attempt < 10; attempt++) {
      const { Messages = [] } = await path.sqs.send(
        new ReceiveMessageCommand({ QueueUrl, MessageAttributeNames: ['All'], WaitTimeSeconds: 1 }),
      );
      dead = Messages.find((m) => JSON.parse(m.Body ?? '{}').detail?.executionArn === executionArn);
    }
    const attribute = (name: string) => dead?.MessageAttributes?.[name]?.StringValue;
    expect(attribute('RULE_ARN')).toBe(
      'arn:aws:events:us-east-1:000000000000:rule/sidestep-local-workflow-ended',
    );
    expect(attribute('TARGET_ARN')).toBe(JOB_SWEEPER);
    expect(attribute('ERROR_CODE')).toBe('NO_PERMISSIONS');
    expect(attribute('ERROR_MESSAGE')).toContain('is not authorized to perform: lambda:InvokeFunction');
    // Reported as the rule's failed invocation, naming where the event went.
    const failed = path.collecting
      .ofType('error')
      .find((event) => event.source === 'rule sidestep-local-workflow-ended');
    expect(failed?.message).toContain('NO_PERMISSIONS');
    expect(failed?.message).toContain('the event is in sidestep-local-workflow-ended-dlq');
    // Not retried, and the job-sweeper never ran for it.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(path.collecting.ofType('access-denied').filter((d) => d.resource === JOB_SWEEPER)).toHaveLength(1);
    expect(path.collecting.ofType('log').filter(sweptFor(executionArn))).toEqual([]);
  }, 90_000);
});

/** `stack` without `action` in the inline policies of its role `roleName` (a statement left with none goes). */
function withoutAction(stack: string, roleName: string, action: string): object {
  const terraform = JSON.parse(stack) as {
    resource: {
      aws_iam_role: Record<string, { name: string }>;
      aws_iam_role_policy: Record<string, { role: string; policy: string }>;
    };
  };
  const [roleId] = Object.entries(terraform.resource.aws_iam_role).find(([, r]) => r.name === roleName) ?? [];
  if (roleId === undefined) throw new Error(`the stack has no role ${roleName}`);
  let removed = false;
  for (const policy of Object.values(terraform.resource.aws_iam_role_policy)) {
    if (!policy.role.includes(`aws_iam_role.${roleId}.`)) continue;
    const document = JSON.parse(policy.policy) as { Statement: { Action: string | string[] }[] };
    document.Statement = document.Statement.flatMap((statement) => {
      const actions = [statement.Action].flat();
      if (!actions.includes(action)) return [statement];
      removed = true;
      const kept = actions.filter((a) => a !== action);
      return kept.length > 0 ? [{ ...statement, Action: kept }] : [];
    });
    policy.policy = JSON.stringify(document);
  }
  if (!removed) throw new Error(`the role ${roleName} is not granted ${action}`);
  return terraform;
}

/**
 * The import workflow's Fargate task state alone, as deployed (the state machine `sidestep-local-import`,
 * run as its role), without its Catch: the execution ends with the task's own error.
 */
const IMPORT_TASK_ONLY: LocalWorkflow = {
  name: 'import',
  definition: (resources) => {
    const importWorkflow = WORKFLOWS.find((workflow) => workflow.name === 'import');
    if (!importWorkflow) throw new Error('no import workflow');
    const { States } = importWorkflow.definition(resources) as {
      States: Record<string, Record<string, unknown>>;
    };
    const [name, state] =
      Object.entries(States).find(([, s]) => s.Resource === 'arn:aws:states:::ecs:runTask.sync') ?? [];
    if (!name || !state) throw new Error('the import workflow runs no ECS task');
    const { Catch: _catch, Next: _next, ...task } = state;
    return { StartAt: name, States: { [name]: { ...task, End: true } } };
  },
};

// Step Functions' ECS integration waiting for the task (`ecs:runTask.sync`) needs, besides ecs:RunTask
// and iam:PassRole, ecs:StopTask and ecs:DescribeTasks on the task, and events:PutTargets, PutRule
// and DescribeRule on the managed rule StepFunctionsGetEventsForECSTaskRule that tells it the task
// stopped (https://docs.aws.amazon.com/step-functions/latest/dg/ecs-iam.html).
describe('a workflow role missing an action the ECS .sync integration needs', () => {
  let synthesized: string;

  beforeAll(() => {
    synthesized = synthStack();
  });

  it.each([
    'ecs:RunTask',
    'iam:PassRole',
    'ecs:StopTask',
    'ecs:DescribeTasks',
    'events:PutTargets',
    'events:PutRule',
    'events:DescribeRule',
  ])(
    'fails the import task without %s, naming it, and starts no task',
    async (action) => {
      const path = await startPathCloud(`iam-ecs-sync-${action.replace(':', '-')}`, {
        ...TEST_DATABASE,
        services: LOCAL_SERVICES,
        tasks: LOCAL_TASKS,
        workflows: [IMPORT_TASK_ONLY],
        stack: withoutAction(synthesized, 'sidestep-local-import', action),
      });
      try {
        const { executionArn } = await path.sfn.send(
          new StartExecutionCommand({
            stateMachineArn: IMPORT_STATE_MACHINE,
            input: JSON.stringify({
              job: { jobId: 'job-ecs-sync' },
              upload: {
                source: { bucket: IMPORTS, key: 'imports/ecs-sync.csv', etag: '"e"' },
                sourceVersionId: '',
              },
            }),
          }),
        );
        const finished = await path.collecting.waitFor(
          'execution-finished',
          (event) => event.executionArn === executionArn,
          60_000,
        );
        expect(finished).toMatchObject({ status: 'FAILED', error: 'ECS.AccessDeniedException' });
        expect(finished.cause).toContain(
          'User: arn:aws:sts::000000000000:assumed-role/sidestep-local-import/sidestep-local-import is not authorized to perform: ' +
            action,
        );
        expect(path.collecting.ofType('task-started')).toEqual([]);
      } finally {
        await path.stop();
      }
    },
    90_000,
  );
});
