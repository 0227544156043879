import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetRoleCommand, IAMClient, NoSuchEntityException } from '@aws-sdk/client-iam';
import {
  GetAccountSettingsCommand,
  GetFunctionConcurrencyCommand,
  LambdaClient,
  ResourceNotFoundException as LambdaNotFound,
} from '@aws-sdk/client-lambda';
import { GetBucketTaggingCommand, HeadBucketCommand, NotFound, S3Client } from '@aws-sdk/client-s3';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ResourceNotFoundException as SecretNotFound,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetServiceQuotaCommand, ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import {
  GetAccountCommand,
  GetEmailIdentityCommand,
  NotFoundException as IdentityNotFound,
  SESv2Client,
} from '@aws-sdk/client-sesv2';
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { environmentConfigs, InfraConfigError } from '@sidestep/infra';
import { mockClient } from 'aws-sdk-client-mock';
import type { CheckResult } from '../src/preflight/preflight-check.ts';
import { PREFLIGHT_ACTIONS } from '../src/preflight/preflight-checks.ts';
import { preflightCommand } from '../src/preflight/preflight-command.ts';
import { STAGING_ACCOUNT, STAGING_REGION, stagingSettings } from './staging-settings.ts';

const lambda = mockClient(LambdaClient);
const sesv2 = mockClient(SESv2Client);
const iam = mockClient(IAMClient);
const s3 = mockClient(S3Client);
const secrets = mockClient(SecretsManagerClient);
const quotas = mockClient(ServiceQuotasClient);

const rootDir = join(import.meta.dirname, '..', '..');
const account = STAGING_ACCOUNT;
const region = STAGING_REGION;
const importsBucket = `sidestep-staging-imports-${account}`;
const exportsBucket = `sidestep-staging-exports-${account}`;
let secretCounter = 0;

/** Real settings with a fresh secret per test (Powertools caches a secret by its name). */
function realSettings(): Record<string, string> {
  secretCounter += 1;
  return {
    ...stagingSettings(`sidestep-staging-db-${secretCounter}`),
    SIDESTEP_GITHUB_REPOSITORY: 'acme/sidestep',
  };
}

const stack = {
  resource: {
    aws_lambda_function: {
      sweeper: { function_name: 'sidestep-staging-job-sweeper', reserved_concurrent_executions: 1 },
      mail: { function_name: 'sidestep-staging-mail-dispatcher' },
    },
    aws_s3_bucket: { imports: { bucket: importsBucket }, exports: { bucket: exportsBucket } },
    aws_ecs_task_definition: { batch: { family: 'sidestep-staging-batch-worker', cpu: '1024' } },
  },
};

const rdsSecret = JSON.stringify({
  engine: 'postgres',
  host: 'db.cluster-x.eu-west-1.rds.amazonaws.com',
  port: 5432,
  username: 'sidestep',
  password: 's3cret-value',
  dbname: 'sidestep',
});

/** Every stub answering as a ready account does. */
function greenAccount(): void {
  lambda.on(GetAccountSettingsCommand).resolves({
    AccountLimit: { ConcurrentExecutions: 1000, UnreservedConcurrentExecutions: 1000 },
  });
  lambda
    .on(GetFunctionConcurrencyCommand)
    .rejects(new LambdaNotFound({ message: 'Function not found', $metadata: { httpStatusCode: 404 } }));
  sesv2.on(GetAccountCommand).resolves({
    SendingEnabled: true,
    ProductionAccessEnabled: true,
    // The rate SIDESTEP_STAGING_MAIL_MAX_SEND_RATE defaults to.
    SendQuota: { MaxSendRate: 1, Max24HourSend: 50_000, SentLast24Hours: 0 },
  });
  sesv2
    .on(GetEmailIdentityCommand)
    .resolves({ VerifiedForSendingStatus: true, DkimAttributes: { Status: 'SUCCESS' } });
  iam.on(GetRoleCommand).resolves({
    Role: {
      RoleName: 'AWSServiceRoleForECS',
      Path: '/aws-service-role/ecs.amazonaws.com/',
      RoleId: 'AROA',
      Arn: `arn:aws:iam::${account}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS`,
      CreateDate: new Date(),
    },
  });
  s3.on(HeadBucketCommand).rejects(
    new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } }),
  );
  secrets.on(DescribeSecretCommand).resolves({ Name: 'sidestep-staging-db' });
  secrets.on(GetSecretValueCommand).resolves({ SecretString: rdsSecret });
  // The documented default of Fargate's On-Demand (and Spot) vCPU quota.
  quotas.on(GetServiceQuotaCommand).resolves({ Quota: { Value: 4000 } });
}

function serviceError(name: string, status: number, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
}

interface Run {
  readonly exitCode: number | undefined;
  readonly output: string;
  readonly results: CheckResult[];
}

async function preflight(
  settings: Record<string, string | undefined>,
  args: readonly string[] = [],
  options: { readonly stack?: object | null; readonly table?: boolean } = {},
): Promise<Run> {
  const lines: string[] = [];
  let exitCode: number | undefined;
  const command = preflightCommand({
    rootDir,
    env: settings,
    clients: (clientRegion) => ({
      lambda: new LambdaClient({ region: clientRegion }),
      sesv2: new SESv2Client({ region: clientRegion }),
      iam: new IAMClient({ region: clientRegion }),
      s3: new S3Client({ region: clientRegion }),
      secretsManager: new SecretsManagerClient({ region: clientRegion }),
      serviceQuotas: new ServiceQuotasClient({ region: clientRegion }),
    }),
    readFile: () => {
      if (options.stack === null) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return JSON.stringify(options.stack ?? stack);
    },
    out: (line) => lines.push(line),
    setExitCode: (code) => {
      exitCode = code;
    },
  });
  await command.parseAsync(['--env', 'staging', ...(options.table ? [] : ['--json']), ...args], {
    from: 'user',
  });
  const output = lines.join('\n');
  return {
    exitCode,
    output,
    results: options.table ? [] : (JSON.parse(output) as { results: CheckResult[] }).results,
  };
}

function verdicts(run: Run, check: string): Array<[string, CheckResult['verdict']]> {
  return run.results.filter((r) => r.check === check).map((r) => [r.subject, r.verdict]);
}
function only(run: Run, check: string, subject?: string): CheckResult {
  const found = run.results.filter(
    (r) => r.check === check && (subject === undefined || r.subject === subject),
  );
  expect(found).toHaveLength(1);
  return found[0] as CheckResult;
}

beforeAll(() => {
  // Powertools' secrets provider (the runtime's resolveDatabaseUrl) builds its client from AWS_REGION.
  process.env.AWS_REGION = region;
});
afterEach(() => {
  for (const mock of [lambda, sesv2, iam, s3, secrets, quotas]) mock.reset();
});

describe('preflight, all green', () => {
  it('passes every check and exits 0 on a ready account', async () => {
    greenAccount();
    const run = await preflight(realSettings());
    expect(run.exitCode).toBe(0);
    expect(run.results.filter((r) => r.verdict !== 'pass')).toEqual([]);
    expect(run.results.map((r) => r.check)).toEqual([
      'placeholders',
      'lambda-concurrency',
      'fargate-vcpu',
      'ses',
      'ses',
      'ses',
      'ses',
      'ecs-service-linked-role',
      'bucket-names',
      'bucket-names',
      'database-secret',
    ]);
    expect(verdicts(run, 'bucket-names')).toEqual([
      [importsBucket, 'pass'],
      [exportsBucket, 'pass'],
    ]);
    // The database check says where the database is, never the credential.
    expect(only(run, 'database-secret').detail).toContain(
      'db.cluster-x.eu-west-1.rds.amazonaws.com:5432/sidestep',
    );
    expect(run.output).not.toContain('s3cret-value');
  });

  it('prints a table with a summary line by default', async () => {
    greenAccount();
    const { output: table } = await preflight(realSettings(), [], { table: true });
    expect(table).toMatch(/^CHECK\s+VERDICT\s+SUBJECT\s+DETAIL/);
    expect(table).toMatch(/ecs-service-linked-role\s+ok\s+AWSServiceRoleForECS/);
    expect(table).toContain('0 failed, 0 warning(s), 11 passed');
  });

  it('lists every IAM action it calls (what the deploy role needs for it)', () => {
    expect(PREFLIGHT_ACTIONS).toEqual([
      'iam:GetRole',
      // GetSecretValue of a secret encrypted with a customer-managed key.
      'kms:Decrypt',
      'lambda:GetAccountSettings',
      'lambda:GetFunctionConcurrency',
      's3:GetBucketTagging',
      's3:ListBucket',
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'servicequotas:GetServiceQuota',
      'ses:GetAccount',
      'ses:GetEmailIdentity',
    ]);
  });
});

describe('preflight, placeholders', () => {
  it('fails each placeholder setting and names the SIDESTEP_* variable that sets it', async () => {
    greenAccount();
    const run = await preflight({}, ['--only', 'placeholders']);
    expect(run.exitCode).toBe(1);
    const fixes = run.results.map((r) => [r.subject, r.verdict, r.fix?.split(':')[0]]);
    expect(fixes).toEqual([
      ['accountId', 'fail', 'set SIDESTEP_STAGING_ACCOUNT_ID'],
      ['databaseSecretArn', 'fail', 'set SIDESTEP_STAGING_DATABASE_SECRET_ARN'],
      [
        'taskNetwork.subnetIds',
        'fail',
        'set SIDESTEP_STAGING_TASK_SUBNET_IDS (or SIDESTEP_STAGING_SUBNET_IDS)',
      ],
      [
        'taskNetwork.securityGroupIds',
        'fail',
        'set SIDESTEP_STAGING_TASK_SECURITY_GROUP_IDS (or SIDESTEP_STAGING_SECURITY_GROUP_IDS)',
      ],
      ['backend.bucket', 'fail', 'set SIDESTEP_STAGING_STATE_BUCKET'],
      ['mail.fromAddress', 'fail', 'set SIDESTEP_STAGING_MAIL_FROM'],
      ['mail.domain', 'fail', 'set SIDESTEP_STAGING_MAIL_DOMAIN'],
      ['mail.notifyAddress', 'fail', 'set SIDESTEP_STAGING_NOTIFY_ADDRESS'],
      ['github', 'fail', 'set SIDESTEP_GITHUB_REPOSITORY'],
    ]);
  });

  it('fails a single leftover placeholder (the task subnets) among real settings', async () => {
    const settings = {
      ...realSettings(),
      SIDESTEP_STAGING_TASK_SUBNET_IDS: 'subnet-0a1b2c3d,subnet-placeholder',
    };
    const run = await preflight(settings, ['--only', 'placeholders']);
    expect(run.exitCode).toBe(1);
    expect(verdicts(run, 'placeholders')).toEqual([['taskNetwork.subnetIds', 'fail']]);
  });

  it('also stops the synth of the environment being deployed (SIDESTEP_DEPLOY_ENVIRONMENT), not the others', () => {
    expect(() => environmentConfigs({ SIDESTEP_DEPLOY_ENVIRONMENT: 'staging' })).toThrow(InfraConfigError);
    expect(() => environmentConfigs({ SIDESTEP_DEPLOY_ENVIRONMENT: 'staging' })).toThrow(
      /set SIDESTEP_STAGING_ACCOUNT_ID .*SIDESTEP_STAGING_TASK_SUBNET_IDS/,
    );
    // Production still holds placeholders: only the deployed environment must be real.
    expect(() =>
      environmentConfigs({ ...realSettings(), SIDESTEP_DEPLOY_ENVIRONMENT: 'staging' }),
    ).not.toThrow();
    expect(() => environmentConfigs({ SIDESTEP_DEPLOY_ENVIRONMENT: 'local' })).toThrow(
      /SIDESTEP_DEPLOY_ENVIRONMENT/,
    );
    expect(() => environmentConfigs({})).not.toThrow();
  });
});

describe('preflight, Lambda concurrency', () => {
  it('fails when the reservations would leave fewer than 100 unreserved (a new account: quota 10)', async () => {
    greenAccount();
    lambda.on(GetAccountSettingsCommand).resolves({
      AccountLimit: { ConcurrentExecutions: 10, UnreservedConcurrentExecutions: 10 },
    });
    const run = await preflight(realSettings(), ['--only', 'lambda-concurrency']);
    expect(run.exitCode).toBe(1);
    const result = only(run, 'lambda-concurrency');
    expect(result.verdict).toBe('fail');
    expect(result.detail).toContain('sidestep-staging-job-sweeper: 1');
    expect(result.detail).toContain('leaves 9 of the quota 10 unreserved');
    expect(result.fix).toContain('L-B99A9384');
    expect(result.fix).toContain('at least 101');
  });

  it('counts what the functions already reserve as available', async () => {
    greenAccount();
    lambda.on(GetAccountSettingsCommand).resolves({
      AccountLimit: { ConcurrentExecutions: 101, UnreservedConcurrentExecutions: 100 },
    });
    lambda.on(GetFunctionConcurrencyCommand).resolves({ ReservedConcurrentExecutions: 1 });
    const run = await preflight(realSettings(), ['--only', 'lambda-concurrency']);
    expect(only(run, 'lambda-concurrency').verdict).toBe('pass');
    expect(run.exitCode).toBe(0);
  });

  it('warns, without failing, about a quota of 10 when nothing is reserved', async () => {
    greenAccount();
    lambda.on(GetAccountSettingsCommand).resolves({
      AccountLimit: { ConcurrentExecutions: 10, UnreservedConcurrentExecutions: 10 },
    });
    const unreserved = {
      ...stack,
      resource: {
        ...stack.resource,
        aws_lambda_function: { mail: { function_name: 'sidestep-staging-mail' } },
      },
    };
    const run = await preflight(realSettings(), ['--only', 'lambda-concurrency'], { stack: unreserved });
    const result = only(run, 'lambda-concurrency');
    expect(result.verdict).toBe('warn');
    expect(result.detail).toContain('quota is 10');
    // Where to see it before it happens: the local cloud under the same quota.
    expect(result.detail).toContain('`npm start -- --lambda-concurrency 10`');
    expect(run.exitCode).toBe(0);
  });

  it('fails the checks that read the stack, saying to synthesize, when there is none', async () => {
    greenAccount();
    const run = await preflight(realSettings(), ['--only', 'lambda-concurrency', 'bucket-names'], {
      stack: null,
    });
    expect(run.exitCode).toBe(1);
    expect(run.results.map((r) => [r.check, r.verdict])).toEqual([
      ['lambda-concurrency', 'fail'],
      ['bucket-names', 'fail'],
    ]);
    expect(run.results[0]?.detail).toMatch(/StackNotSynthesizedError: .*run `pnpm synth`/);
  });

  it('warns, naming the actions, when the caller may not read the settings', async () => {
    greenAccount();
    lambda.on(GetAccountSettingsCommand).rejects(serviceError('AccessDeniedException', 403));
    const run = await preflight(realSettings(), ['--only', 'lambda-concurrency']);
    expect(only(run, 'lambda-concurrency').verdict).toBe('warn');
    expect(only(run, 'lambda-concurrency').fix).toContain('lambda:GetAccountSettings');
    expect(run.exitCode).toBe(0);
  });
});

// A new account's Fargate vCPU quota may start far below the documented default ("New AWS accounts
// might have initial lower quotas", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html):
// the batch task must fit it, and a few imports at once should.
describe('preflight, Fargate vCPU quota', () => {
  it('fails when not one batch task fits the quota, naming the quota code to raise', async () => {
    greenAccount();
    quotas.on(GetServiceQuotaCommand).resolves({ Quota: { Value: 0.5 } });
    const run = await preflight(realSettings(), ['--only', 'fargate-vcpu']);
    expect(run.exitCode).toBe(1);
    const result = only(run, 'fargate-vcpu', 'sidestep-staging-batch-worker');
    expect(result.verdict).toBe('fail');
    expect(result.detail).toContain('asks 1 vCPU on FARGATE');
    expect(result.detail).toContain('quota in eu-west-1 is 0.5: no import or export can start');
    expect(result.fix).toContain('L-3032A538');
    expect(result.fix).toContain('at least 4');
    expect(quotas.commandCalls(GetServiceQuotaCommand)[0]?.args[0].input).toEqual({
      ServiceCode: 'fargate',
      QuotaCode: 'L-3032A538',
    });
  });

  it('warns when fewer than four batch tasks fit at once, and passes when they do', async () => {
    greenAccount();
    quotas.on(GetServiceQuotaCommand).resolves({ Quota: { Value: 3 } });
    const low = only(await preflight(realSettings(), ['--only', 'fargate-vcpu']), 'fargate-vcpu');
    expect(low.verdict).toBe('warn');
    expect(low.detail).toContain('room for 3 batch task(s) at once');
    // What the fourth import meets: the workflow's wait for room (ECS_CAPACITY_RETRY), not a failure.
    expect(low.detail).toContain('waits for one to end, at most 60 minutes, then its job fails');
    quotas.on(GetServiceQuotaCommand).resolves({ Quota: { Value: 4 } });
    const enough = only(await preflight(realSettings(), ['--only', 'fargate-vcpu']), 'fargate-vcpu');
    expect([enough.verdict, enough.detail]).toEqual([
      'pass',
      expect.stringContaining('room for 4 batch tasks at once'),
    ]);
  });

  it('warns, without failing the deploy, when Service Quotas tracks no such quota in the region', async () => {
    greenAccount();
    quotas
      .on(GetServiceQuotaCommand)
      .rejects(
        serviceError(
          'NoSuchResourceException',
          400,
          'The request failed because the specified resource does not exist.',
        ),
      );
    const run = await preflight(realSettings(), ['--only', 'fargate-vcpu']);
    expect(run.exitCode).toBe(0);
    expect(only(run, 'fargate-vcpu')).toMatchObject({
      verdict: 'warn',
      detail: expect.stringContaining('(L-3032A538) in eu-west-1: not checked'),
    });
  });

  it('reads the Spot quota for a batch task on FARGATE_SPOT', async () => {
    greenAccount();
    const run = await preflight({ ...realSettings(), SIDESTEP_STAGING_BATCH_CAPACITY: 'FARGATE_SPOT' }, [
      '--only',
      'fargate-vcpu',
    ]);
    expect(only(run, 'fargate-vcpu').verdict).toBe('pass');
    expect(quotas.commandCalls(GetServiceQuotaCommand)[0]?.args[0].input.QuotaCode).toBe('L-36FBB829');
  });
});

describe('preflight, SES', () => {
  it('warns about the sandbox and an identity not created yet', async () => {
    greenAccount();
    sesv2.on(GetAccountCommand).resolves({
      SendingEnabled: true,
      ProductionAccessEnabled: false,
      SendQuota: { MaxSendRate: 1, Max24HourSend: 200, SentLast24Hours: 0 },
    });
    sesv2
      .on(GetEmailIdentityCommand)
      .rejects(new IdentityNotFound({ message: 'not found', $metadata: { httpStatusCode: 404 } }));
    const run = await preflight(realSettings(), ['--only', 'ses']);
    expect(verdicts(run, 'ses')).toEqual([
      ['account', 'warn'],
      ['send rate', 'pass'],
      ['24-hour quota', 'pass'],
      ['mail.acme.dev', 'warn'],
    ]);
    expect(only(run, 'ses', '24-hour quota').detail).toBe(
      `0 of 200 recipients sent in the last 24 hours in ${region}`,
    );
    expect(only(run, 'ses', 'account').fix).toContain('production access');
    expect(only(run, 'ses', 'account').fix).toContain('SIDESTEP_STAGING_MAIL_SANDBOX_RECIPIENTS');
    expect(only(run, 'ses', 'mail.acme.dev').detail).toContain('the first apply creates it');
    expect(run.exitCode).toBe(0);
  });

  it('warns about an identity whose DKIM records are not published', async () => {
    greenAccount();
    sesv2
      .on(GetEmailIdentityCommand)
      .resolves({ VerifiedForSendingStatus: false, DkimAttributes: { Status: 'PENDING' } });
    const run = await preflight(realSettings(), ['--only', 'ses']);
    expect(only(run, 'ses', 'mail.acme.dev')).toMatchObject({
      verdict: 'warn',
      detail: expect.stringContaining('DKIM PENDING'),
      fix: expect.stringContaining('DKIM CNAME'),
    });
  });

  it('fails when sending is paused for the account', async () => {
    greenAccount();
    sesv2.on(GetAccountCommand).resolves({ SendingEnabled: false, ProductionAccessEnabled: true });
    const run = await preflight(realSettings(), ['--only', 'ses']);
    expect(only(run, 'ses', 'account').verdict).toBe('fail');
    expect(run.exitCode).toBe(1);
  });

  /** The send rate row of a run with `setting` as SIDESTEP_STAGING_MAIL_MAX_SEND_RATE against `accountRate`. */
  async function sendRate(setting: string | undefined, accountRate: number | undefined): Promise<Run> {
    greenAccount();
    sesv2.on(GetAccountCommand).resolves({
      SendingEnabled: true,
      ProductionAccessEnabled: true,
      SendQuota: { MaxSendRate: accountRate, Max24HourSend: 50_000, SentLast24Hours: 0 },
    });
    return preflight({ ...realSettings(), SIDESTEP_STAGING_MAIL_MAX_SEND_RATE: setting }, ['--only', 'ses']);
  }

  // SES throttles what goes above the account's maximum send rate (SendQuota.MaxSendRate of GetAccount,
  // https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendQuota.html):
  // https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html
  it("fails a SIDESTEP_<ENV>_MAIL_MAX_SEND_RATE above the account's maximum send rate (SES would throttle a burst)", async () => {
    const run = await sendRate('14', 1);
    expect(only(run, 'ses', 'send rate')).toMatchObject({
      verdict: 'fail',
      detail: expect.stringMatching(
        /SIDESTEP_STAGING_MAIL_MAX_SEND_RATE is 14 .*allows 1 .*throttle.*dead-letter/,
      ),
      fix: expect.stringMatching(
        /SIDESTEP_STAGING_MAIL_MAX_SEND_RATE=1\b.*https:\/\/docs\.aws\.amazon\.com\/ses\/latest\/dg\/manage-sending-quotas-request-increase\.html/,
      ),
    });
    expect(run.exitCode).toBe(1);
    expect(only(await sendRate('14.5', 14), 'ses', 'send rate').verdict).toBe('fail');
  });

  it("warns about a rate below the account's (bursts go slower than they could), naming the setting to raise", async () => {
    // The default, 1, on an account out of the sandbox.
    const run = await sendRate(undefined, 14);
    expect(only(run, 'ses', 'send rate')).toMatchObject({
      verdict: 'warn',
      detail: expect.stringMatching(/\b1 mail\(s\) per second .*allows 14\b/),
      fix: expect.stringContaining('SIDESTEP_STAGING_MAIL_MAX_SEND_RATE=14'),
    });
    expect(run.exitCode).toBe(0);
    expect(only(await sendRate('0.5', 1), 'ses', 'send rate')).toMatchObject({
      verdict: 'warn',
      detail: expect.stringMatching(/\b0\.5 mail\(s\) per second/),
    });
  });

  it("passes a rate equal to the account's", async () => {
    for (const [setting, accountRate] of [
      ['14', 14],
      ['0.5', 0.5],
      [undefined, 1],
    ] as const) {
      const run = await sendRate(setting, accountRate);
      expect([setting, only(run, 'ses', 'send rate').verdict]).toEqual([setting, 'pass']);
      expect(run.exitCode).toBe(0);
    }
  });

  // https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html: past the 24-hour
  // quota SES throttles every send ("Daily message quota exceeded"); nothing paces it.
  it('shows the 24-hour quota used, warns from 80% with the redrive to run when it frees, and says an unlimited one', async () => {
    const quotaRow = async (sendQuota: Record<string, number>) => {
      greenAccount();
      sesv2
        .on(GetAccountCommand)
        .resolves({ SendingEnabled: true, ProductionAccessEnabled: true, SendQuota: sendQuota });
      const run = await preflight(realSettings(), ['--only', 'ses']);
      expect(run.exitCode).toBe(0);
      return only(run, 'ses', '24-hour quota');
    };
    expect(await quotaRow({ MaxSendRate: 14, Max24HourSend: 50_000, SentLast24Hours: 39_999 })).toMatchObject(
      {
        verdict: 'pass',
        detail: `39999 of 50000 recipients sent in the last 24 hours in ${region}`,
      },
    );
    expect(await quotaRow({ MaxSendRate: 14, Max24HourSend: 50_000, SentLast24Hours: 40_000 })).toMatchObject(
      {
        verdict: 'warn',
        detail: expect.stringContaining('Daily message quota exceeded'),
        fix: expect.stringContaining('sidestep dlq redrive mail'),
      },
    );
    expect(await quotaRow({ MaxSendRate: 14, Max24HourSend: -1, SentLast24Hours: 12 })).toMatchObject({
      verdict: 'pass',
      detail: `unlimited in ${region}`,
    });
  });

  it('warns when GetAccount does not say the maximum send rate', async () => {
    const run = await sendRate('14', undefined);
    expect(only(run, 'ses', 'send rate')).toMatchObject({
      verdict: 'warn',
      detail: expect.stringContaining('SendQuota.MaxSendRate'),
    });
  });
});

describe('preflight, ECS service-linked role', () => {
  it('fails without AWSServiceRoleForECS and gives the command that creates it', async () => {
    greenAccount();
    iam
      .on(GetRoleCommand)
      .rejects(new NoSuchEntityException({ message: 'no role', $metadata: { httpStatusCode: 404 } }));
    const run = await preflight(realSettings(), ['--only', 'ecs-service-linked-role']);
    expect(run.exitCode).toBe(1);
    expect(only(run, 'ecs-service-linked-role').fix).toContain(
      'aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com',
    );
    expect(iam.commandCalls(GetRoleCommand)[0]?.args[0].input).toEqual({ RoleName: 'AWSServiceRoleForECS' });
  });
});

describe('preflight, bucket names', () => {
  it('fails a name another account holds (403) and passes a free one (404)', async () => {
    greenAccount();
    s3.on(HeadBucketCommand, { Bucket: importsBucket }).rejects(serviceError('Forbidden', 403));
    const run = await preflight(realSettings(), ['--only', 'bucket-names']);
    expect(verdicts(run, 'bucket-names')).toEqual([
      [importsBucket, 'fail'],
      [exportsBucket, 'pass'],
    ]);
    expect(only(run, 'bucket-names', importsBucket).detail).toContain('another account');
    expect(run.exitCode).toBe(1);
  });

  it('passes an existing bucket tagged as this environment and fails one that is not', async () => {
    greenAccount();
    s3.on(HeadBucketCommand).resolves({});
    s3.on(GetBucketTaggingCommand, { Bucket: importsBucket }).resolves({
      TagSet: [
        { Key: 'project', Value: 'sidestep' },
        { Key: 'environment', Value: 'staging' },
      ],
    });
    s3.on(GetBucketTaggingCommand, { Bucket: exportsBucket }).rejects(serviceError('NoSuchTagSet', 404));
    const run = await preflight(realSettings(), ['--only', 'bucket-names']);
    expect(verdicts(run, 'bucket-names')).toEqual([
      [importsBucket, 'pass'],
      [exportsBucket, 'fail'],
    ]);
  });
});

describe('preflight, database secret', () => {
  it('fails a secret that does not exist, naming the variable', async () => {
    greenAccount();
    secrets
      .on(DescribeSecretCommand)
      .rejects(new SecretNotFound({ message: 'not found', $metadata: { httpStatusCode: 400 } }));
    const run = await preflight(realSettings(), ['--only', 'database-secret']);
    expect(only(run, 'database-secret')).toMatchObject({
      verdict: 'fail',
      detail: 'no such secret',
      fix: expect.stringContaining('SIDESTEP_STAGING_DATABASE_SECRET_ARN'),
    });
    expect(run.exitCode).toBe(1);
  });

  it('fails a partial ARN (without the suffix Secrets Manager appends), naming the full one', async () => {
    greenAccount();
    const settings = realSettings();
    const full = settings.SIDESTEP_STAGING_DATABASE_SECRET_ARN as string;
    const partial = full.replace(/-AbCdEf$/, '');
    secrets.on(DescribeSecretCommand).resolves({ ARN: full, Name: 'sidestep-staging-db' });
    const run = await preflight({ ...settings, SIDESTEP_STAGING_DATABASE_SECRET_ARN: partial }, [
      '--only',
      'database-secret',
    ]);
    expect(only(run, 'database-secret')).toMatchObject({
      verdict: 'fail',
      detail: expect.stringContaining("is not the secret's full ARN"),
      fix: `set SIDESTEP_STAGING_DATABASE_SECRET_ARN to ${full}`,
    });
    expect(run.exitCode).toBe(1);
  });

  it('fails a value that is neither a postgres:// URL nor the RDS JSON', async () => {
    greenAccount();
    secrets.on(GetSecretValueCommand).resolves({ SecretString: 'mysql://u:p@h/db' });
    const run = await preflight(realSettings(), ['--only', 'database-secret']);
    expect(only(run, 'database-secret').verdict).toBe('fail');
    expect(only(run, 'database-secret').detail).toContain('neither a postgres:// URL nor JSON');
    expect(run.output).not.toContain('u:p@h');
  });

  it('fails RDS JSON without a host, naming the field', async () => {
    greenAccount();
    secrets
      .on(GetSecretValueCommand)
      .resolves({ SecretString: JSON.stringify({ username: 'u', password: 'p' }) });
    const run = await preflight(realSettings(), ['--only', 'database-secret']);
    expect(only(run, 'database-secret')).toMatchObject({
      verdict: 'fail',
      detail: expect.stringMatching(/host/),
    });
  });

  it('passes a postgres:// URL', async () => {
    greenAccount();
    secrets.on(GetSecretValueCommand).resolves({ SecretString: 'postgres://u:pw@10.0.0.5:6432/app' });
    const run = await preflight(realSettings(), ['--only', 'database-secret']);
    expect(only(run, 'database-secret')).toMatchObject({
      verdict: 'pass',
      detail: 'PostgreSQL at 10.0.0.5:6432/app',
    });
  });

  it('fails a secret scheduled for deletion', async () => {
    greenAccount();
    secrets.on(DescribeSecretCommand).resolves({ DeletedDate: new Date('2026-12-31T00:00:00Z') });
    const run = await preflight(realSettings(), ['--only', 'database-secret']);
    expect(only(run, 'database-secret')).toMatchObject({
      verdict: 'fail',
      fix: expect.stringContaining('restore-secret'),
    });
  });

  // GetSecretValue decrypts with the caller's permissions: a customer-managed key needs kms:Decrypt, which
  // the stack grants only on SIDESTEP_<ENV>_DATABASE_SECRET_KMS_KEY_ARN; aws/secretsmanager needs nothing.
  // https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
  describe('encrypted with a customer-managed KMS key', () => {
    const keyId = '1234abcd-12ab-34cd-56ef-1234567890ab';
    const keyArn = `arn:aws:kms:${region}:${account}:key/${keyId}`;
    const otherKeyArn = `arn:aws:kms:${region}:${account}:key/9999abcd-12ab-34cd-56ef-1234567890ab`;
    const variable = 'SIDESTEP_STAGING_DATABASE_SECRET_KMS_KEY_ARN';
    /** The secret is encrypted with `kmsKeyId` and readable only by a caller holding that key (the stack's roles then). */
    function encryptedWith(kmsKeyId: string | undefined): void {
      greenAccount();
      secrets.on(DescribeSecretCommand).resolves({ Name: 'sidestep-staging-db', KmsKeyId: kmsKeyId });
      secrets.on(GetSecretValueCommand).resolves({ SecretString: rdsSecret });
    }

    it.each([
      ['its key ARN', keyArn],
      ['its key id (a secret made in the console)', keyId],
    ])(
      'fails when the key (named by %s) is not configured, naming the variable and the key',
      async (_label, id) => {
        encryptedWith(id);
        const run = await preflight(realSettings(), ['--only', 'database-secret']);
        expect(only(run, 'database-secret')).toMatchObject({
          verdict: 'fail',
          detail: expect.stringContaining(`customer-managed KMS key ${id}`),
          fix: `set ${variable} to ${keyArn}, so the roles that read the secret may decrypt it`,
        });
        expect(run.exitCode).toBe(1);
      },
    );

    it('fails when the secret is encrypted with another key than the configured one', async () => {
      encryptedWith(otherKeyArn);
      const run = await preflight({ ...realSettings(), [variable]: keyArn }, ['--only', 'database-secret']);
      expect(only(run, 'database-secret')).toMatchObject({
        verdict: 'fail',
        detail: expect.stringContaining(`not the configured ${keyArn}`),
        fix: `set ${variable} to ${otherKeyArn}, so the roles that read the secret may decrypt it`,
      });
      expect(run.exitCode).toBe(1);
    });

    it('fails a key named by an alias when none is configured', async () => {
      const alias = `arn:aws:kms:${region}:${account}:alias/sidestep-db`;
      encryptedWith(alias);
      const run = await preflight(realSettings(), ['--only', 'database-secret']);
      expect(only(run, 'database-secret')).toMatchObject({
        verdict: 'fail',
        fix: expect.stringContaining(`set ${variable} to the ARN of the key ${alias}`),
      });
    });

    it.each([
      ['its key ARN', keyArn],
      ['its key id', keyId],
    ])('reads the value when the configured key is the secret’s (named by %s)', async (_label, id) => {
      encryptedWith(id);
      const run = await preflight({ ...realSettings(), [variable]: keyArn }, ['--only', 'database-secret']);
      expect(only(run, 'database-secret')).toMatchObject({ verdict: 'pass' });
    });

    it.each([
      ['no KmsKeyId', undefined],
      ['the alias', 'alias/aws/secretsmanager'],
      ['the alias ARN', `arn:aws:kms:${region}:${account}:alias/aws/secretsmanager`],
    ])('needs no key for aws/secretsmanager (%s)', async (_label, id) => {
      encryptedWith(id);
      const run = await preflight(realSettings(), ['--only', 'database-secret']);
      expect(only(run, 'database-secret')).toMatchObject({ verdict: 'pass' });
    });

    it('warns when a key is configured but the secret uses aws/secretsmanager', async () => {
      encryptedWith(undefined);
      const run = await preflight({ ...realSettings(), [variable]: keyArn }, ['--only', 'database-secret']);
      expect(verdicts(run, 'database-secret').map(([, verdict]) => verdict)).toEqual(['warn', 'pass']);
      expect(run.results[0]).toMatchObject({ fix: `unset ${variable}` });
      expect(run.exitCode).toBe(0);
    });

    // The deploy role (which runs preflight in the pipeline) gets kms:Decrypt on the key from the
    // deploy stack, so a key set after that stack's last apply is denied until it is applied again.
    it('warns naming the key, and that the deploy stack is re-applied after setting it, when the configured key still cannot be used', async () => {
      encryptedWith(keyArn);
      secrets
        .on(GetSecretValueCommand)
        .rejects(serviceError('AccessDeniedException', 400, 'Access to KMS is not allowed'));
      const run = await preflight({ ...realSettings(), [variable]: keyArn }, ['--only', 'database-secret']);
      expect(only(run, 'database-secret')).toMatchObject({
        verdict: 'warn',
        fix: expect.stringContaining(`kms:Decrypt on ${keyArn}`),
      });
      expect(only(run, 'database-secret').fix).toMatch(
        new RegExp(
          `^re-apply the sidestep-staging-deploy stack \\(bootstrap step 4\\) after setting ${variable}`,
        ),
      );
    });
  });

  it('warns when the caller may describe but not read the value', async () => {
    greenAccount();
    secrets.on(GetSecretValueCommand).rejects(serviceError('AccessDeniedException', 400));
    const run = await preflight(realSettings(), ['--only', 'database-secret']);
    expect(only(run, 'database-secret').verdict).toBe('warn');
    expect(run.exitCode).toBe(0);
  });
});

describe('preflight through its entry (node scripts/preflight.ts)', () => {
  const run = promisify(execFile);
  const node = join(rootDir, 'node_modules', '.bin', 'node');

  it('prints its help', async () => {
    const { stdout } = await run(node, ['scripts/preflight.ts', '--help'], { cwd: rootDir });
    expect(stdout).toContain('Usage: preflight');
    expect(stdout).toContain('--env <environment>');
    expect(stdout).toContain('--only <checks...>');
  });

  it('exits 1 naming the variable when a setting is a placeholder, without calling AWS', async () => {
    const env = { PATH: process.env.PATH ?? '', ...realSettings(), SIDESTEP_STAGING_ACCOUNT_ID: '' };
    const failed = run(node, ['scripts/preflight.ts', '--env', 'staging', '--only', 'placeholders'], {
      cwd: rootDir,
      env,
    });
    await expect(failed).rejects.toMatchObject({
      code: 1,
      stdout: expect.stringMatching(
        /placeholders\s+FAIL\s+accountId[\s\S]*fix: set SIDESTEP_STAGING_ACCOUNT_ID/,
      ),
    });
    const { stdout } = await run(
      node,
      ['scripts/preflight.ts', '--env', 'staging', '--only', 'placeholders'],
      {
        cwd: rootDir,
        env: { PATH: process.env.PATH ?? '', ...realSettings() },
      },
    );
    expect(stdout).toContain('0 failed, 0 warning(s), 1 passed');
  });
});
