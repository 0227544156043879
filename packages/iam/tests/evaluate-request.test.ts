import { describe, expect, it } from '@jest/globals';
import {
  type AuthorizationRequest,
  accessDeniedMessage,
  evaluateRequest,
  IamPolicyError,
  type Policy,
  parsePolicy,
  type RequestPrincipal,
} from '../src/index.ts';

const ACCOUNT = '123456789012';
const role = (name: string, sessionName?: string): RequestPrincipal => ({
  type: 'role',
  roleArn: `arn:aws:iam::${ACCOUNT}:role/${name}`,
  ...(sessionName ? { sessionName } : {}),
});
const policy = (name: string, ...Statement: object[]): Policy =>
  parsePolicy({ Version: '2012-10-17', Statement }, name);

describe('evaluateRequest', () => {
  // IAM User Guide, "Policy evaluation for requests within a single account", the carlossalazar
  // example (there an IAM user; here a role of the same name, the logic is the same).
  describe("AWS's identity-based and resource-based policy example", () => {
    const identity = policy(
      'carlossalazar',
      {
        Sid: 'AllowS3ListRead',
        Effect: 'Allow',
        Action: [
          's3:GetBucketLocation',
          's3:GetAccountPublicAccessBlock',
          's3:ListAccessPoints',
          's3:ListAllMyBuckets',
        ],
        Resource: 'arn:aws:s3:::*',
      },
      {
        Sid: 'AllowS3Self',
        Effect: 'Allow',
        Action: 's3:*',
        Resource: [
          'arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/*',
          'arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar',
        ],
      },
      { Sid: 'DenyS3Logs', Effect: 'Deny', Action: 's3:*', Resource: 'arn:aws:s3:::*log*' },
    );
    const bucketPolicy = policy('bucket policy of amzn-s3-demo-bucket-carlossalazar', {
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/carlossalazar` },
      Action: 's3:*',
      Resource: 'arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/*',
    });
    const carlos = role('carlossalazar');

    it('denies saving a file to the logs bucket by the explicit DenyS3Logs statement', () => {
      const decision = evaluateRequest(
        {
          principal: carlos,
          action: 's3:PutObject',
          resource: 'arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/file.txt',
        },
        { identityPolicies: [identity] },
      );
      expect(decision.decision).toBe('explicit-deny');
      expect(decision.matchedStatement).toMatchObject({ sid: 'DenyS3Logs', policyType: 'identity' });
    });

    it('allows saving a file to his own bucket', () => {
      const decision = evaluateRequest(
        {
          principal: carlos,
          action: 's3:PutObject',
          resource: 'arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/file.txt',
        },
        { identityPolicies: [identity], resourcePolicy: bucketPolicy },
      );
      expect(decision.decision).toBe('allow');
    });

    it('allows listing buckets through AllowS3ListRead', () => {
      const decision = evaluateRequest(
        { principal: carlos, action: 's3:ListAllMyBuckets', resource: 'arn:aws:s3:::*' },
        { identityPolicies: [identity] },
      );
      expect(decision.matchedStatement?.sid).toBe('AllowS3ListRead');
    });
  });

  describe('same account and cross account', () => {
    const queue = `arn:aws:sqs:us-east-1:${ACCOUNT}:jobs`;
    const queuePolicy = (principal: unknown) =>
      policy('queue policy of jobs', {
        Effect: 'Allow',
        Principal: principal,
        Action: 'sqs:SendMessage',
        Resource: queue,
      });
    const sender = policy('sender', { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: queue });

    it('allows a same-account call granted by the resource policy alone', () => {
      const decision = evaluateRequest(
        { principal: role('producer'), action: 'sqs:SendMessage', resource: queue },
        {
          identityPolicies: [],
          resourcePolicy: queuePolicy({ AWS: `arn:aws:iam::${ACCOUNT}:role/producer` }),
        },
      );
      expect(decision).toMatchObject({ decision: 'allow', matchedStatement: { policyType: 'resource' } });
    });

    it('allows a same-account call granted by the identity policy alone', () => {
      const decision = evaluateRequest(
        { principal: role('producer'), action: 'sqs:SendMessage', resource: queue },
        { identityPolicies: [sender] },
      );
      expect(decision).toMatchObject({ decision: 'allow', matchedStatement: { policyType: 'identity' } });
    });

    it('denies implicitly when neither side allows', () => {
      const decision = evaluateRequest(
        { principal: role('producer'), action: 'sqs:DeleteMessage', resource: queue },
        { identityPolicies: [sender], resourcePolicy: queuePolicy('*') },
      );
      expect(decision).toMatchObject({ decision: 'implicit-deny', missingAllow: 'identity' });
    });

    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-accounts:
    // naming an account "delegates authority to the account", whose identity-based policies then
    // decide for its principals (the KMS key policy's account statement "doesn't by itself give any
    // IAM principal permission": https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
    it('treats the account id and the root ARN as delegating to the account: its roles still need an identity-based allow', () => {
      for (const principal of [{ AWS: ACCOUNT }, { AWS: `arn:aws:iam::${ACCOUNT}:root` }]) {
        const request = { principal: role('producer'), action: 'sqs:SendMessage', resource: queue };
        expect(evaluateRequest(request, { resourcePolicy: queuePolicy(principal) })).toMatchObject({
          decision: 'implicit-deny',
          missingAllow: 'identity',
        });
        expect(
          evaluateRequest(request, { identityPolicies: [sender], resourcePolicy: queuePolicy(principal) })
            .decision,
        ).toBe('allow');
      }
    });

    it('denies every principal of an account a Deny names by account', () => {
      for (const principal of [{ AWS: ACCOUNT }, { AWS: `arn:aws:iam::${ACCOUNT}:root` }]) {
        const deny = policy('queue policy', {
          Effect: 'Deny',
          Principal: principal,
          Action: 'sqs:SendMessage',
          Resource: queue,
        });
        expect(
          evaluateRequest(
            { principal: role('producer'), action: 'sqs:SendMessage', resource: queue },
            { identityPolicies: [sender], resourcePolicy: deny },
          ).decision,
        ).toBe('explicit-deny');
      }
    });

    it('lets a statement that names the role grant where an earlier one names only its account', () => {
      const both = policy(
        'queue policy',
        { Effect: 'Allow', Principal: { AWS: ACCOUNT }, Action: 'sqs:SendMessage', Resource: queue },
        {
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/producer` },
          Action: 'sqs:SendMessage',
          Resource: queue,
        },
      );
      expect(
        evaluateRequest(
          { principal: role('producer'), action: 'sqs:SendMessage', resource: queue },
          { resourcePolicy: both },
        ),
      ).toMatchObject({ decision: 'allow', matchedStatement: { policyType: 'resource', index: 1 } });
    });

    it('needs both sides for a cross-account call', () => {
      const other: RequestPrincipal = { type: 'role', roleArn: 'arn:aws:iam::999999999999:role/producer' };
      const grant = queuePolicy({ AWS: 'arn:aws:iam::999999999999:role/producer' });
      const request = { principal: other, action: 'sqs:SendMessage', resource: queue };
      expect(evaluateRequest(request, { resourcePolicy: grant })).toMatchObject({
        decision: 'implicit-deny',
        missingAllow: 'identity',
      });
      expect(evaluateRequest(request, { identityPolicies: [sender] })).toMatchObject({
        decision: 'implicit-deny',
        missingAllow: 'resource',
      });
      expect(evaluateRequest(request, { identityPolicies: [sender], resourcePolicy: grant }).decision).toBe(
        'allow',
      );
    });

    it('lets a service principal in only through the resource policy and its conditions', () => {
      const rule = `arn:aws:events:us-east-1:${ACCOUNT}:rule/nightly`;
      // The shape of sidestep's synthesized queue policies for EventBridge targets.
      const eventsPolicy = policy('queue policy of jobs', {
        Sid: 'EventBridgeRules',
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queue,
        Condition: { ArnEquals: { 'aws:SourceArn': [rule] } },
      });
      const events: RequestPrincipal = { type: 'service', service: 'events.amazonaws.com' };
      const request = (context: AuthorizationRequest['context']) => ({
        principal: events,
        action: 'sqs:SendMessage',
        resource: queue,
        context,
      });
      expect(
        evaluateRequest(request({ 'aws:SourceArn': rule }), { resourcePolicy: eventsPolicy }).decision,
      ).toBe('allow');
      expect(
        evaluateRequest(request({ 'aws:SourceArn': `${rule}-other` }), { resourcePolicy: eventsPolicy })
          .decision,
      ).toBe('implicit-deny');
      expect(evaluateRequest(request({}), { resourcePolicy: eventsPolicy }).decision).toBe('implicit-deny');
      const scheduler: RequestPrincipal = { type: 'service', service: 'scheduler.amazonaws.com' };
      expect(
        evaluateRequest(
          { ...request({ 'aws:SourceArn': rule }), principal: scheduler },
          { resourcePolicy: eventsPolicy },
        ).decision,
      ).toBe('implicit-deny');
    });
  });

  // IAM User Guide, "Permissions boundaries for IAM entities": Shirley's boundary allows S3,
  // CloudWatch and EC2; her identity policy allows iam:CreateUser; creating a user fails.
  describe('permissions boundaries', () => {
    const boundary = policy('ShirleyBoundary', {
      Effect: 'Allow',
      Action: ['s3:*', 'cloudwatch:*', 'ec2:*'],
      Resource: '*',
    });
    const createUser = policy('CreateUser', { Effect: 'Allow', Action: 'iam:CreateUser', Resource: '*' });
    const shirley = role('Shirley', 'shirley-session');

    it('refuses what the identity policy allows but the boundary does not', () => {
      const decision = evaluateRequest(
        { principal: shirley, action: 'iam:CreateUser', resource: `arn:aws:iam::${ACCOUNT}:user/new` },
        { identityPolicies: [createUser], permissionsBoundary: boundary },
      );
      expect(decision).toMatchObject({ decision: 'implicit-deny', missingAllow: 'permissions-boundary' });
    });

    it('grants nothing by itself', () => {
      const decision = evaluateRequest(
        { principal: shirley, action: 's3:GetObject', resource: 'arn:aws:s3:::bucket/key' },
        { identityPolicies: [createUser], permissionsBoundary: boundary },
      );
      expect(decision).toMatchObject({ decision: 'implicit-deny', missingAllow: 'identity' });
    });

    it('allows what both allow', () => {
      const s3 = policy('S3', { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::bucket/*' });
      const decision = evaluateRequest(
        { principal: shirley, action: 's3:GetObject', resource: 'arn:aws:s3:::bucket/key' },
        { identityPolicies: [s3], permissionsBoundary: boundary },
      );
      expect(decision.decision).toBe('allow');
    });

    const sqsBoundary = policy('NoSqs', { Effect: 'Allow', Action: 's3:*', Resource: '*' });
    const queue = `arn:aws:sqs:us-east-1:${ACCOUNT}:jobs`;
    const grantTo = (aws: string) =>
      policy('queue policy of jobs', {
        Effect: 'Allow',
        Principal: { AWS: aws },
        Action: 'sqs:*',
        Resource: queue,
      });

    it('limits a resource policy that names the role ARN', () => {
      const decision = evaluateRequest(
        { principal: shirley, action: 'sqs:SendMessage', resource: queue },
        { permissionsBoundary: sqsBoundary, resourcePolicy: grantTo(`arn:aws:iam::${ACCOUNT}:role/Shirley`) },
      );
      expect(decision).toMatchObject({ decision: 'implicit-deny', missingAllow: 'permissions-boundary' });
    });

    it('does not limit a resource policy that names the role session', () => {
      const decision = evaluateRequest(
        { principal: shirley, action: 'sqs:SendMessage', resource: queue },
        {
          permissionsBoundary: sqsBoundary,
          resourcePolicy: grantTo(`arn:aws:sts::${ACCOUNT}:assumed-role/Shirley/shirley-session`),
        },
      );
      expect(decision).toMatchObject({ decision: 'allow', matchedStatement: { policyType: 'resource' } });
    });

    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html: within
    // one account a boundary's implicit deny limits a resource-based policy's grant, unless that policy
    // names the role session itself; "*" names every principal, not the session.
    it('limits a resource policy that grants to every principal ("*") as one naming the role', () => {
      for (const everyone of [
        grantTo('*'),
        policy('queue policy of jobs', { Effect: 'Allow', Principal: '*', Action: 'sqs:*', Resource: queue }),
      ]) {
        const decision = evaluateRequest(
          { principal: shirley, action: 'sqs:SendMessage', resource: queue },
          { permissionsBoundary: sqsBoundary, resourcePolicy: everyone },
        );
        expect(decision).toMatchObject({ decision: 'implicit-deny', missingAllow: 'permissions-boundary' });
      }
    });

    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html:
    // across accounts the trusted account's identity-based policies and boundary must allow, and the
    // resource policy too.
    it('limits a cross-account call the identity and resource policies both allow', () => {
      const other: RequestPrincipal = { type: 'role', roleArn: 'arn:aws:iam::999999999999:role/producer' };
      const sender = policy('sender', { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: queue });
      const policies = {
        identityPolicies: [sender],
        resourcePolicy: grantTo('arn:aws:iam::999999999999:role/producer'),
      };
      const request = { principal: other, action: 'sqs:SendMessage', resource: queue };
      expect(evaluateRequest(request, policies).decision).toBe('allow');
      expect(evaluateRequest(request, { ...policies, permissionsBoundary: sqsBoundary })).toMatchObject({
        decision: 'implicit-deny',
        missingAllow: 'permissions-boundary',
      });
    });

    it('denies explicitly from a Deny in the boundary', () => {
      const denying = policy('DenyDelete', { Effect: 'Deny', Action: 's3:Delete*', Resource: '*' });
      const s3 = policy('S3', { Effect: 'Allow', Action: 's3:*', Resource: '*' });
      const decision = evaluateRequest(
        { principal: shirley, action: 's3:DeleteObject', resource: 'arn:aws:s3:::bucket/key' },
        { identityPolicies: [s3], permissionsBoundary: denying },
      );
      expect(decision).toMatchObject({
        decision: 'explicit-deny',
        matchedStatement: { policyType: 'permissions-boundary' },
      });
    });
  });

  describe('explicit deny in a resource policy', () => {
    // The TLS-only statement every sidestep bucket policy carries.
    const bucketPolicy = policy('bucket policy of exports', {
      Sid: 'DenyInsecureTransport',
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Resource: ['arn:aws:s3:::exports', 'arn:aws:s3:::exports/*'],
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
    const reader = policy('reader', {
      Effect: 'Allow',
      Action: 's3:GetObject',
      Resource: 'arn:aws:s3:::exports/*',
    });
    const request = (secure?: boolean): AuthorizationRequest => ({
      principal: role('reader'),
      action: 's3:GetObject',
      resource: 'arn:aws:s3:::exports/a.csv',
      ...(secure === undefined ? {} : { context: { 'aws:SecureTransport': secure } }),
    });

    it('wins over the identity allow for a plain HTTP request', () => {
      const decision = evaluateRequest(request(false), {
        identityPolicies: [reader],
        resourcePolicy: bucketPolicy,
      });
      expect(decision).toMatchObject({
        decision: 'explicit-deny',
        matchedStatement: { sid: 'DenyInsecureTransport', policyType: 'resource' },
      });
    });

    it('does not apply over TLS, nor when the key is absent (Bool on an absent key is false)', () => {
      expect(
        evaluateRequest(request(true), { identityPolicies: [reader], resourcePolicy: bucketPolicy }).decision,
      ).toBe('allow');
      expect(
        evaluateRequest(request(), { identityPolicies: [reader], resourcePolicy: bucketPolicy }).decision,
      ).toBe('allow');
    });
  });

  describe('statement elements', () => {
    it('matches actions case-insensitively with * and ? and resources case-sensitively', () => {
      const p = policy('p', {
        Effect: 'Allow',
        Action: 'SQS:send?essage*',
        Resource: 'arn:aws:sqs:*:*:Jobs',
      });
      const ask = (action: string, resource: string) =>
        evaluateRequest({ principal: role('r'), action, resource }, { identityPolicies: [p] }).decision;
      expect(ask('sqs:SendMessage', `arn:aws:sqs:us-east-1:${ACCOUNT}:Jobs`)).toBe('allow');
      expect(ask('sqs:sendmessagebatch', `arn:aws:sqs:us-east-1:${ACCOUNT}:Jobs`)).toBe('allow');
      expect(ask('sqs:SendMessage', `arn:aws:sqs:us-east-1:${ACCOUNT}:jobs`)).toBe('implicit-deny');
      expect(ask('sqs:ReceiveMessage', `arn:aws:sqs:us-east-1:${ACCOUNT}:Jobs`)).toBe('implicit-deny');
    });

    it('matches a pattern with no wildcard left only in full: …-imports is not …-import', () => {
      const p = policy('p', {
        Effect: 'Allow',
        Action: 'sqs:SendMessage',
        Resource: `arn:aws:sqs:us-east-1:${ACCOUNT}:sidestep-local-imports`,
      });
      const ask = (queue: string) =>
        evaluateRequest(
          {
            principal: role('r'),
            action: 'sqs:SendMessage',
            resource: `arn:aws:sqs:us-east-1:${ACCOUNT}:${queue}`,
          },
          { identityPolicies: [p] },
        ).decision;
      expect(ask('sidestep-local-imports')).toBe('allow');
      expect(ask('sidestep-local-import')).toBe('implicit-deny');
    });

    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn:
    // for a role "the request context returns the ARN of the role, not the ARN of the user that
    // assumed the role" (nor the session's).
    it('reads aws:PrincipalArn of a role session as the role ARN', () => {
      const ask = (arn: string) =>
        evaluateRequest(
          { principal: role('r', 's1'), action: 'sqs:SendMessage', resource: '*' },
          {
            identityPolicies: [
              policy('p', {
                Effect: 'Allow',
                Action: 'sqs:SendMessage',
                Resource: '*',
                Condition: { ArnEquals: { 'aws:PrincipalArn': arn } },
              }),
            ],
          },
        ).decision;
      expect(ask(`arn:aws:iam::${ACCOUNT}:role/r`)).toBe('allow');
      expect(ask(`arn:aws:sts::${ACCOUNT}:assumed-role/r/s1`)).toBe('implicit-deny');
    });

    it('matches a Resource pattern shorter than an ARN against the whole ARN (arn:aws:sqs:*)', () => {
      const p = policy('p', { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: 'arn:aws:sqs:*' });
      const ask = (resource: string) =>
        evaluateRequest(
          { principal: role('r'), action: 'sqs:SendMessage', resource },
          { identityPolicies: [p] },
        ).decision;
      expect(ask(`arn:aws:sqs:us-east-1:${ACCOUNT}:jobs`)).toBe('allow');
      expect(ask('arn:aws:s3:::jobs')).toBe('implicit-deny');
    });

    it('keeps a wildcard within one ARN part (ArnLike)', () => {
      const p = policy('p', {
        Effect: 'Allow',
        Action: 'sqs:SendMessage',
        Resource: '*',
        Condition: { ArnLike: { 'aws:SourceArn': 'arn:aws:events:*:*:rule/nightly' } },
      });
      const ask = (source: string) =>
        evaluateRequest(
          {
            principal: role('r'),
            action: 'sqs:SendMessage',
            resource: '*',
            context: { 'aws:SourceArn': source },
          },
          { identityPolicies: [p] },
        ).decision;
      expect(ask(`arn:aws:events:us-east-1:${ACCOUNT}:rule/nightly`)).toBe('allow');
      // As one string `*:*` would swallow `${ACCOUNT}:extra`; part by part the resource part differs.
      expect(ask(`arn:aws:events:us-east-1:${ACCOUNT}:extra:rule/nightly`)).toBe('implicit-deny');
    });

    // IAM User Guide, "NotAction": allow everything except IAM.
    it('reads NotAction as every action but the listed ones', () => {
      const p = policy('p', { Effect: 'Allow', NotAction: 'iam:*', Resource: '*' });
      const ask = (action: string) =>
        evaluateRequest({ principal: role('r'), action, resource: '*' }, { identityPolicies: [p] }).decision;
      expect(ask('s3:GetObject')).toBe('allow');
      expect(ask('iam:CreateUser')).toBe('implicit-deny');
    });

    it('reads NotResource as every resource but the listed ones', () => {
      const allow = policy('allow', { Effect: 'Allow', Action: 's3:*', Resource: '*' });
      const deny = policy('deny', {
        Effect: 'Deny',
        Action: 's3:*',
        NotResource: ['arn:aws:s3:::allowed', 'arn:aws:s3:::allowed/*'],
      });
      const ask = (resource: string) =>
        evaluateRequest(
          { principal: role('r'), action: 's3:GetObject', resource },
          { identityPolicies: [allow, deny] },
        ).decision;
      expect(ask('arn:aws:s3:::allowed/key')).toBe('allow');
      expect(ask('arn:aws:s3:::other/key')).toBe('explicit-deny');
    });

    it('exempts from a NotPrincipal Deny only a session listed with its role and account', () => {
      const queue = `arn:aws:sqs:us-east-1:${ACCOUNT}:jobs`;
      const deny = (aws: string[]) =>
        policy('queue policy', {
          Effect: 'Deny',
          NotPrincipal: { AWS: aws },
          Action: 'sqs:*',
          Resource: queue,
        });
      const allow = policy('allow', { Effect: 'Allow', Action: 'sqs:*', Resource: queue });
      const principal = role('admin', 's1');
      const ask = (aws: string[], withBoundary = false) =>
        evaluateRequest(
          { principal, action: 'sqs:SendMessage', resource: queue },
          {
            identityPolicies: [allow],
            resourcePolicy: deny(aws),
            ...(withBoundary ? { permissionsBoundary: allow } : {}),
          },
        ).decision;
      const roleArn = `arn:aws:iam::${ACCOUNT}:role/admin`;
      const session = `arn:aws:sts::${ACCOUNT}:assumed-role/admin/s1`;
      expect(ask([roleArn])).toBe('explicit-deny');
      expect(ask([roleArn, session, ACCOUNT])).toBe('allow');
      expect(ask([roleArn, session, ACCOUNT], true)).toBe('explicit-deny');
    });

    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html: a variable
    // takes the request's value, "${aws:username, 'anonymous'}" its default when the key is absent.
    it('substitutes policy variables from the request or their default, and fails a value whose variable is absent', () => {
      const ask = (pattern: string, resource: string) =>
        evaluateRequest(
          { principal: role('r'), action: 's3:GetObject', resource },
          { identityPolicies: [policy('p', { Effect: 'Allow', Action: 's3:GetObject', Resource: pattern })] },
        ).decision;
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal IAM policy variable.
      const byAccount = 'arn:aws:s3:::home/${aws:PrincipalAccount}/*';
      expect(ask(byAccount, `arn:aws:s3:::home/${ACCOUNT}/a`)).toBe('allow');
      expect(ask(byAccount, 'arn:aws:s3:::home/other/a')).toBe('implicit-deny');
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal IAM policy variable.
      const withDefault = "arn:aws:s3:::home/${aws:username, 'anonymous'}/*";
      expect(ask(withDefault, 'arn:aws:s3:::home/anonymous/a')).toBe('allow');
      expect(ask(withDefault, 'arn:aws:s3:::home/someone/a')).toBe('implicit-deny');
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal IAM policy variable.
      expect(ask('arn:aws:s3:::home/${aws:username}/*', 'arn:aws:s3:::home//a')).toBe('implicit-deny');
    });
  });

  describe('unresolved references', () => {
    const withUnresolved = (effect: 'Allow' | 'Deny'): Policy => {
      const p = policy('p', {
        Effect: effect,
        Action: 'sqs:SendMessage',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal Terraform reference, as the loader leaves an unresolved one.
        Resource: '${aws_sqs_queue.jobs.arn}',
      });
      return {
        ...p,
        statements: p.statements.map((s) => ({ ...s, unresolved: ['aws_sqs_queue.jobs.arn'] })),
      };
    };
    const request = {
      principal: role('r'),
      action: 'sqs:SendMessage',
      resource: `arn:aws:sqs:us-east-1:${ACCOUNT}:jobs`,
    };
    const everything = policy('all', { Effect: 'Allow', Action: '*', Resource: '*' });

    it('never lets an Allow grant', () => {
      expect(evaluateRequest(request, { identityPolicies: [withUnresolved('Allow')] }).decision).toBe(
        'implicit-deny',
      );
    });

    it('applies a Deny on its action alone and names the references', () => {
      const decision = evaluateRequest(request, { identityPolicies: [everything, withUnresolved('Deny')] });
      expect(decision.decision).toBe('explicit-deny');
      expect(decision.reason).toContain('aws_sqs_queue.jobs.arn');
    });
  });

  describe('accessDeniedMessage', () => {
    it("names the principal, action, resource and policy type in AWS's words", () => {
      const request = {
        principal: role('mail-dispatcher', 'local'),
        action: 's3:PutObject',
        resource: 'arn:aws:s3:::imports/a.csv',
      };
      const decision = evaluateRequest(request, {});
      expect(accessDeniedMessage(request, decision)).toBe(
        `User: arn:aws:sts::${ACCOUNT}:assumed-role/mail-dispatcher/local is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::imports/a.csv because no identity-based policy allows the s3:PutObject action`,
      );
      const deny = policy('d', { Effect: 'Deny', Action: 's3:*', Resource: '*' });
      expect(accessDeniedMessage(request, evaluateRequest(request, { identityPolicies: [deny] }))).toMatch(
        /with an explicit deny in an? identity-based policy$/,
      );
    });
  });
});

describe('parsePolicy', () => {
  it('rejects an operator it does not evaluate, naming the element', () => {
    expect(() =>
      parsePolicy(
        {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: '*', Resource: '*', Condition: { StringSortOf: { 'aws:x': 'y' } } },
          ],
        },
        'role-policy',
      ),
    ).toThrow(
      expect.objectContaining({
        name: 'IamPolicyError',
        field: 'role-policy.Statement[0].Condition.StringSortOf',
      }),
    );
  });

  it('rejects a statement with both Action and NotAction, and one with neither', () => {
    expect(() =>
      parsePolicy({ Statement: { Effect: 'Allow', Action: '*', NotAction: 's3:*', Resource: '*' } }, 'p'),
    ).toThrow(IamPolicyError);
    expect(() => parsePolicy({ Statement: { Effect: 'Allow', Resource: '*' } }, 'p')).toThrow(IamPolicyError);
  });

  it('reads the JSON text Terraform keeps in `policy`', () => {
    const parsed = parsePolicy(
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Sid: 'A', Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }],
      }),
      'p',
    );
    expect(parsed.statements[0]).toMatchObject({
      sid: 'A',
      effect: 'Allow',
      action: ['s3:GetObject'],
      resource: ['*'],
    });
  });
});
