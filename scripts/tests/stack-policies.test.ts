// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform references and IAM policy variables are literal text in policies.
import { describe, expect, it } from '@jest/globals';
import {
  evaluateRequest,
  loadStackPolicies,
  type RequestPrincipal,
  resourcePolicyFor,
  type StackPolicies,
  type SynthesizedTerraformJson,
} from '@sidestep/iam';
import { environmentConfigs, synthStack } from '@sidestep/infra';

// The local stack as infra synthesizes it: the same JSON `pnpm --filter @sidestep/infra run synth` writes.
const config = environmentConfigs({}).local;
const terraform = JSON.parse(synthStack({}, config)) as SynthesizedTerraformJson & {
  resource: Record<string, Record<string, Record<string, unknown>>>;
};
const ACCOUNT = config.accountId;
const REGION = config.region;
const SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:sidestep-local-export-download-key-AbCdEf`;
const secretReference = Object.keys(terraform.resource.aws_secretsmanager_secret ?? {}).map(
  (id) => `aws_secretsmanager_secret.${id}.arn`,
)[0];
const stack = loadStackPolicies(terraform, {
  accountId: ACCOUNT,
  resolve: (reference) => (reference === secretReference ? SECRET : undefined),
});

const sqs = (name: string) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;
function decide(stack: StackPolicies, roleName: string, action: string, resource: string, context = {}) {
  const role = stack.roles.get(roleName);
  if (!role) throw new Error(`no role ${roleName}`);
  const principal: RequestPrincipal = { type: 'role', roleArn: role.arn, sessionName: 'local' };
  const resourcePolicy = resourcePolicyFor(stack, resource);
  return evaluateRequest(
    { principal, action, resource, context: { 'aws:SecureTransport': true, ...context } },
    { identityPolicies: role.policies, ...(resourcePolicy ? { resourcePolicy } : {}) },
  ).decision;
}

describe('loadStackPolicies on the synthesized local stack', () => {
  it('loads every role under its literal synthesized name, with its inline policies', () => {
    const roles = Object.values(terraform.resource.aws_iam_role ?? {});
    expect(stack.roles.size).toBe(roles.length);
    for (const r of roles)
      expect(stack.roles.get(String(r.name))?.arn).toBe(`arn:aws:iam::${ACCOUNT}:role/${r.name}`);
    const attached = [...stack.roles.values()].reduce((n, role) => n + role.policies.length, 0);
    expect(attached).toBe(Object.keys(terraform.resource.aws_iam_role_policy ?? {}).length);
    expect(stack.roles.get('sidestep-local-mail-dispatcher')?.trustPolicy?.statements[0]?.principal).toEqual({
      Service: ['lambda.amazonaws.com'],
    });
  });

  it('resolves every reference of the local stack, given the secret ARN only the caller knows', () => {
    expect(stack.warnings).toEqual([]);
    const resources = [...stack.roles.values()].flatMap((r) =>
      r.policies.flatMap((p) => p.statements.flatMap((s) => s.resource ?? [])),
    );
    expect(resources.filter((r) => r.includes('${'))).toEqual([]);
    expect(resources).toContain(
      `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/sidestep-local-mail-dispatcher:log-stream:*`,
    );
    expect(resources).toContain(
      `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/sidestep-local-batch-worker:*`,
    );
  });

  it('reports a reference nobody resolves and lets its statement fail closed', () => {
    const partial = loadStackPolicies(terraform, { accountId: ACCOUNT });
    expect(partial.warnings.some((w) => w.includes(`\${${secretReference}}`))).toBe(true);
    expect(decide(partial, 'sidestep-local-export-download', 'secretsmanager:GetSecretValue', SECRET)).toBe(
      'implicit-deny',
    );
    expect(decide(stack, 'sidestep-local-export-download', 'secretsmanager:GetSecretValue', SECRET)).toBe(
      'allow',
    );
  });

  it("prefers the caller's resolver to the ARNs it derives", () => {
    const queueReference = `aws_sqs_queue.${Object.entries(terraform.resource.aws_sqs_queue ?? {}).find(([, q]) => q.name === 'sidestep-local-mail-dlq')?.[0]}.arn`;
    const elsewhere = loadStackPolicies(terraform, {
      accountId: ACCOUNT,
      resolve: (reference) => (reference === queueReference ? sqs('somewhere-else') : undefined),
    });
    expect(
      decide(elsewhere, 'sidestep-local-mail-dispatcher', 'sqs:SendMessage', sqs('somewhere-else')),
    ).toBe('allow');
    expect(
      decide(elsewhere, 'sidestep-local-mail-dispatcher', 'sqs:SendMessage', sqs('sidestep-local-mail-dlq')),
    ).toBe('implicit-deny');
  });

  // The issue's acceptance example: the mail-dispatcher's role may dead-letter but not write imports.
  it("lets the mail-dispatcher's role send to its DLQ and refuses it the imports bucket", () => {
    expect(
      decide(stack, 'sidestep-local-mail-dispatcher', 'sqs:SendMessage', sqs('sidestep-local-mail-dlq')),
    ).toBe('allow');
    expect(
      decide(stack, 'sidestep-local-mail-dispatcher', 'sqs:ReceiveMessage', sqs('sidestep-local-mail')),
    ).toBe('allow');
    expect(
      decide(stack, 'sidestep-local-mail-dispatcher', 'sqs:SendMessage', sqs('sidestep-local-mail')),
    ).toBe('implicit-deny');
    expect(
      decide(
        stack,
        'sidestep-local-mail-dispatcher',
        's3:PutObject',
        'arn:aws:s3:::sidestep-local-imports/imports/a.csv',
      ),
    ).toBe('implicit-deny');
  });

  // The export file's multipart upload: the worker creates it, uploads into it, lists it to resume
  // and aborts one it cannot resume; the finalizer lists and completes it; neither may touch imports.
  it('lets the export roles put, list and abort the upload of an export file, and nothing of imports', () => {
    const file = 'arn:aws:s3:::sidestep-local-exports/exports/exp_1/users-2026-12-04.csv.gz';
    for (const role of ['sidestep-local-batch-worker-task', 'sidestep-local-export-finalizer']) {
      for (const action of ['s3:PutObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload']) {
        expect({ role, action, decision: decide(stack, role, action, file) }).toEqual({
          role,
          action,
          decision: 'allow',
        });
      }
    }
    expect(
      decide(
        stack,
        'sidestep-local-export-finalizer',
        's3:ListMultipartUploadParts',
        'arn:aws:s3:::sidestep-local-imports/imports/a.csv',
      ),
    ).toBe('implicit-deny');
  });

  it("applies the buckets' TLS-only policy to every caller", () => {
    const object = 'arn:aws:s3:::sidestep-local-exports/exports/job/part-0.csv.gz';
    expect(decide(stack, 'sidestep-local-batch-worker-task', 's3:PutObject', object)).toBe('allow');
    expect(
      decide(stack, 'sidestep-local-batch-worker-task', 's3:PutObject', object, {
        'aws:SecureTransport': false,
      }),
    ).toBe('explicit-deny');
    expect(resourcePolicyFor(stack, object)?.statements[0]?.sid).toBe('DenyInsecureTransport');
  });

  it('checks a workflow role’s PassRole and RunTask conditions as synthesized', () => {
    const taskRole = stack.roles.get('sidestep-local-batch-worker-task')?.arn ?? '';
    expect(
      decide(stack, 'sidestep-local-export', 'iam:PassRole', taskRole, {
        'iam:PassedToService': 'ecs-tasks.amazonaws.com',
      }),
    ).toBe('allow');
    expect(
      decide(stack, 'sidestep-local-export', 'iam:PassRole', taskRole, {
        'iam:PassedToService': 'lambda.amazonaws.com',
      }),
    ).toBe('implicit-deny');
    const taskDefinition = `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/sidestep-local-batch-worker:3`;
    const cluster = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/sidestep-local-batch-worker`;
    expect(
      decide(stack, 'sidestep-local-export', 'ecs:RunTask', taskDefinition, { 'ecs:cluster': cluster }),
    ).toBe('allow');
    expect(
      decide(stack, 'sidestep-local-export', 'ecs:RunTask', taskDefinition, {
        'ecs:cluster': `${cluster}-other`,
      }),
    ).toBe('implicit-deny');
  });

  it('turns lambda permissions into the function policy Lambda keeps', () => {
    const download = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:sidestep-local-export-download`;
    const policy = resourcePolicyFor(stack, download);
    expect(policy?.statements.map((s) => s.sid).sort()).toEqual([
      'PublicDownloadUrl',
      'PublicDownloadUrlInvoke',
    ]);
    const anonymous: RequestPrincipal = { type: 'anonymous' };
    const invoke = (action: string, context: Record<string, string>) =>
      evaluateRequest(
        { principal: anonymous, action, resource: download, context },
        policy ? { resourcePolicy: policy } : {},
      ).decision;
    expect(invoke('lambda:InvokeFunctionUrl', { 'lambda:FunctionUrlAuthType': 'NONE' })).toBe('allow');
    expect(invoke('lambda:InvokeFunctionUrl', { 'lambda:FunctionUrlAuthType': 'AWS_IAM' })).toBe(
      'implicit-deny',
    );
    expect(invoke('lambda:InvokeFunction', { 'lambda:InvokedViaFunctionUrl': 'true' })).toBe('allow');
    expect(invoke('lambda:InvokeFunction', {})).toBe('implicit-deny');

    const sweeper = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:sidestep-local-job-sweeper`;
    const rule = `arn:aws:events:${REGION}:${ACCOUNT}:rule/sidestep-local/sidestep-local-stale-job-sweeper-operator`;
    const events: RequestPrincipal = { type: 'service', service: 'events.amazonaws.com' };
    const sweeperPolicy = resourcePolicyFor(stack, sweeper);
    const fire = (source: string) =>
      evaluateRequest(
        {
          principal: events,
          action: 'lambda:InvokeFunction',
          resource: sweeper,
          context: { 'aws:SourceArn': source },
        },
        sweeperPolicy ? { resourcePolicy: sweeperPolicy } : {},
      ).decision;
    expect(fire(rule)).toBe('allow');
    expect(fire(`arn:aws:events:${REGION}:${ACCOUNT}:rule/sidestep-local/other`)).toBe('implicit-deny');
  });

  it("keys queue policies by the queue's ARN and evaluates their SourceArn conditions", () => {
    const dlq = sqs('sidestep-local-schedules-dlq');
    const policy = resourcePolicyFor(stack, dlq);
    expect(policy?.statements[0]?.sid).toBe('OperatorRuleDeadLetters');
    const events: RequestPrincipal = { type: 'service', service: 'events.amazonaws.com' };
    const rule = `arn:aws:events:${REGION}:${ACCOUNT}:rule/sidestep-local/sidestep-local-nightly-export-operator`;
    expect(
      evaluateRequest(
        { principal: events, action: 'sqs:SendMessage', resource: dlq, context: { 'aws:SourceArn': rule } },
        policy ? { resourcePolicy: policy } : {},
      ).decision,
    ).toBe('allow');
  });
});

describe('loadStackPolicies on hand-written stacks', () => {
  const provider = { aws: [{ region: 'eu-west-1' }] };

  it('reads inline_policy blocks, permissions boundaries and data sources', () => {
    const boundaryPolicy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'sqs:*', Resource: '*' }],
    });
    const inline = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['sqs:SendMessage', 's3:GetObject'],
          Resource: [
            'arn:${data.aws_partition.p.partition}:sqs:${data.aws_region.r.region}:${data.aws_caller_identity.c.account_id}:q',
            'arn:aws:s3:::b/${aws:PrincipalAccount}/*',
          ],
        },
      ],
    });
    const loaded = loadStackPolicies(
      {
        provider,
        resource: {
          aws_iam_policy: { boundary: { name: 'boundary', policy: boundaryPolicy } },
          aws_iam_role: {
            worker: {
              name: 'worker',
              path: '/jobs/',
              inline_policy: [{ name: 'inline', policy: inline }],
              permissions_boundary: '${aws_iam_policy.boundary.arn}',
            },
          },
        },
      },
      { accountId: '123456789012' },
    );
    expect(loaded.warnings).toEqual([]);
    const worker = loaded.roles.get('worker');
    expect(worker?.arn).toBe('arn:aws:iam::123456789012:role/jobs/worker');
    expect(worker?.policies[0]?.statements[0]?.resource).toEqual([
      'arn:aws:sqs:eu-west-1:123456789012:q',
      // IAM policy variables stay for the evaluator.
      'arn:aws:s3:::b/${aws:PrincipalAccount}/*',
    ]);
    const principal: RequestPrincipal = { type: 'role', roleArn: worker?.arn ?? '' };
    const ask = (action: string, resource: string) =>
      evaluateRequest(
        { principal, action, resource },
        {
          identityPolicies: worker?.policies ?? [],
          ...(worker?.permissionsBoundary ? { permissionsBoundary: worker.permissionsBoundary } : {}),
        },
      );
    expect(ask('sqs:SendMessage', 'arn:aws:sqs:eu-west-1:123456789012:q').decision).toBe('allow');
    expect(ask('s3:GetObject', 'arn:aws:s3:::b/123456789012/k')).toMatchObject({
      decision: 'implicit-deny',
      missingAllow: 'permissions-boundary',
    });
  });

  it('fails a role closed when its boundary cannot be read, and warns of attachments it does not load', () => {
    const loaded = loadStackPolicies(
      {
        provider,
        resource: {
          aws_iam_role: { r: { name: 'r', permissions_boundary: 'arn:aws:iam::aws:policy/PowerUserAccess' } },
          aws_iam_role_policy: {
            p: {
              name: 'p',
              role: '${aws_iam_role.r.name}',
              policy: JSON.stringify({ Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }),
            },
          },
          aws_iam_role_policy_attachment: {
            a: { role: 'r', policy_arn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' },
          },
        },
      },
      { accountId: '123456789012' },
    );
    expect(loaded.warnings).toHaveLength(2);
    const role = loaded.roles.get('r');
    const decision = evaluateRequest(
      { principal: { type: 'role', roleArn: role?.arn ?? '' }, action: 's3:GetObject', resource: '*' },
      {
        identityPolicies: role?.policies ?? [],
        ...(role?.permissionsBoundary ? { permissionsBoundary: role.permissionsBoundary } : {}),
      },
    );
    expect(decision.decision).toBe('implicit-deny');
  });

  it('applies a Deny whose reference nobody resolves to its action on every resource, and warns', () => {
    const loaded = loadStackPolicies(
      {
        provider,
        resource: {
          aws_iam_role: { r: { name: 'r' } },
          aws_iam_role_policy: {
            p: {
              name: 'p',
              role: '${aws_iam_role.r.name}',
              policy: JSON.stringify({
                Statement: [
                  { Effect: 'Allow', Action: 'sqs:*', Resource: '*' },
                  { Effect: 'Deny', Action: 'sqs:DeleteQueue', Resource: '${aws_sqs_queue.gone.arn}' },
                ],
              }),
            },
          },
        },
      },
      { accountId: '123456789012' },
    );
    expect(loaded.warnings).toEqual([
      expect.stringContaining('fails closed: cannot resolve ${aws_sqs_queue.gone.arn}'),
    ]);
    const role = loaded.roles.get('r');
    const ask = (action: string) =>
      evaluateRequest(
        {
          principal: { type: 'role', roleArn: role?.arn ?? '' },
          action,
          resource: 'arn:aws:sqs:eu-west-1:123456789012:jobs',
        },
        { identityPolicies: role?.policies ?? [] },
      );
    expect(ask('sqs:DeleteQueue')).toMatchObject({
      decision: 'explicit-deny',
      reason: expect.stringContaining('aws_sqs_queue.gone.arn'),
    });
    expect(ask('sqs:SendMessage').decision).toBe('allow');
  });

  // A permission with a qualifier allows invoking that alias or version
  // (https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html): the qualified
  // ARN an Invoke of fn:live is authorized on is governed by the function's policy.
  it("evaluates a qualified function ARN against the function's policy and its qualified statement", () => {
    const loaded = loadStackPolicies(
      {
        provider,
        resource: {
          aws_lambda_permission: {
            l: {
              function_name: 'fn',
              action: 'lambda:InvokeFunction',
              principal: 'events.amazonaws.com',
              qualifier: 'live',
            },
          },
        },
      },
      { accountId: '123456789012' },
    );
    const events: RequestPrincipal = { type: 'service', service: 'events.amazonaws.com' };
    const invoke = (resource: string) => {
      const resourcePolicy = resourcePolicyFor(loaded, resource);
      return evaluateRequest(
        { principal: events, action: 'lambda:InvokeFunction', resource },
        resourcePolicy ? { resourcePolicy } : {},
      ).decision;
    };
    const fn = 'arn:aws:lambda:eu-west-1:123456789012:function:fn';
    expect(invoke(`${fn}:live`)).toBe('allow');
    expect(invoke(fn)).toBe('implicit-deny');
    expect(invoke(`${fn}:7`)).toBe('implicit-deny');
  });

  it('reads literal queue URLs, bucket names and function names of resource policies', () => {
    const allow = (resource: string) =>
      JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: resource }] });
    const loaded = loadStackPolicies(
      {
        provider,
        resource: {
          aws_sqs_queue_policy: {
            q: { queue_url: 'https://sqs.eu-west-1.amazonaws.com/123456789012/jobs', policy: allow('*') },
          },
          aws_s3_bucket_policy: { b: { bucket: 'my-bucket', policy: allow('*') } },
          aws_lambda_permission: {
            l: {
              function_name: 'fn',
              action: 'lambda:InvokeFunction',
              principal: '111122223333',
              qualifier: 'live',
            },
          },
        },
      },
      { accountId: '123456789012' },
    );
    expect([...loaded.resourcePolicies.keys()].sort()).toEqual([
      'arn:aws:lambda:eu-west-1:123456789012:function:fn',
      'arn:aws:s3:::my-bucket',
      'arn:aws:sqs:eu-west-1:123456789012:jobs',
    ]);
    const fn = loaded.resourcePolicies.get('arn:aws:lambda:eu-west-1:123456789012:function:fn');
    expect(fn?.statements[0]).toMatchObject({
      principal: { AWS: ['arn:aws:iam::111122223333:root'] },
      resource: ['arn:aws:lambda:eu-west-1:123456789012:function:fn:live'],
    });
  });
});
