import { describe, expect, it } from '@jest/globals';
import { createLocalStepFunctions, type LocalCloud } from '@sidestep/local-cloud';
import { formatBanner, queueUrlVariable } from '../src/banner.ts';

const endpoint = 'http://127.0.0.1:4566';
const cloud: LocalCloud = {
  endpoint,
  region: 'us-east-1',
  smtpPort: 1025,
  smtpUrl: 'smtp://127.0.0.1:1025',
  mail: { maxSendRate: undefined, throttled: 0, sandboxRecipients: undefined },
  databaseUrl: 'postgres://postgres@127.0.0.1:5433/postgres',
  databaseSecretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:sidestep-local-database',
  databaseKind: 'embedded',
  fargateVcpuQuota: undefined,
  lambdaConcurrency: undefined,
  stateDir: '/repo/.sidestep',
  outboxDir: '/repo/.sidestep/outbox',
  queues: [
    {
      service: 'mail-dispatcher',
      queue: {
        name: 'sidestep-local-mail',
        url: `${endpoint}/000000000000/sidestep-local-mail`,
        arn: 'arn:aws:sqs:us-east-1:000000000000:sidestep-local-mail',
        deadLetter: {
          name: 'sidestep-local-mail-dlq',
          url: `${endpoint}/000000000000/sidestep-local-mail-dlq`,
          arn: 'arn:aws:sqs:us-east-1:000000000000:sidestep-local-mail-dlq',
        },
      },
    },
  ],
  queueUrl: (name) => `${endpoint}/000000000000/sidestep-local-${name}`,
  producerEnvironment: {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
  },
  invoke: async () => ({ ok: true, requestId: 'r', durationMs: 1, payload: null }),
  interruptTask: async () => false,
  pipes: [
    {
      workflow: 'export',
      queue: {
        name: 'sidestep-local-export-requests',
        url: `${endpoint}/000000000000/sidestep-local-export-requests`,
        arn: 'arn:aws:sqs:us-east-1:000000000000:sidestep-local-export-requests',
        deadLetter: {
          name: 'sidestep-local-export-requests-dlq',
          url: `${endpoint}/000000000000/sidestep-local-export-requests-dlq`,
          arn: 'arn:aws:sqs:us-east-1:000000000000:sidestep-local-export-requests-dlq',
        },
      },
    },
  ],
  eventBusName: 'sidestep-local',
  scheduler: undefined,
  functionUrl: (name) => `${endpoint}/lambda-url/${name}/`,
  iam: { enforced: true, roles: ['sidestep-local-mail-dispatcher'] },
  stepFunctions: createLocalStepFunctions({
    stateMachines: [
      {
        name: 'sidestep-local-import',
        definition: { StartAt: 'Done', States: { Done: { Type: 'Succeed' } } },
      },
    ],
    integrations: {},
    region: 'us-east-1',
    accountId: '000000000000',
    reporter: () => undefined,
  }),
  buckets: ['sidestep-local-imports'],
  stop: async () => undefined,
};

describe('queueUrlVariable', () => {
  it('names the variable after the queue', () => {
    expect(queueUrlVariable('mail')).toBe('MAIL_QUEUE_URL');
    expect(queueUrlVariable('status-updates')).toBe('STATUS_UPDATES_QUEUE_URL');
  });
});

describe('formatBanner', () => {
  const banner = formatBanner(cloud, {
    rootDir: '/repo',
    queueNames: ['mail'],
    state: 'resumed',
    uploadExamples: ['aws s3 cp users.csv s3://sidestep-local-imports/imports/users.csv'],
    commandExamples: ['aws sqs send-message --queue-url "$EXPORT_REQUESTS_QUEUE_URL" --message-body {}'],
    schedules: [{ name: 'stale-job-sweeper', description: 'every 15 minutes' }],
  });

  it('shows the endpoint, both queues, the outbox and the database', () => {
    expect(banner).toContain(`endpoint   ${endpoint}`);
    expect(banner).toContain(`queue      ${endpoint}/000000000000/sidestep-local-mail\n`);
    expect(banner).toContain(`dlq        ${endpoint}/000000000000/sidestep-local-mail-dlq`);
    expect(banner).toContain('mail lands in .sidestep/outbox/');
    expect(banner).toContain(
      'postgres://postgres@127.0.0.1:5433/postgres  (embedded PGlite, data in .sidestep/)',
    );
    expect(banner).toContain('psql postgres://postgres@127.0.0.1:5433/postgres\n');
  });

  it("says the account's Fargate vCPU quota when there is one, in the right number", () => {
    const context = { rootDir: '/repo', queueNames: [], state: 'new' } as const;
    expect(formatBanner(cloud, context)).not.toContain('  fargate ');
    expect(formatBanner({ ...cloud, fargateVcpuQuota: 1 }, context)).toContain(
      "  fargate    at most 1 vCPU of tasks at once (the account's vCPU quota)",
    );
    expect(formatBanner({ ...cloud, fargateVcpuQuota: 0.5 }, context)).toContain(
      'at most 0.5 vCPUs of tasks',
    );
  });

  it("says the account's Lambda concurrency quota when there is one, in the right number", () => {
    const context = { rootDir: '/repo', queueNames: [], state: 'new' } as const;
    expect(formatBanner(cloud, context)).not.toContain('  lambda ');
    expect(formatBanner({ ...cloud, lambdaConcurrency: 1 }, context)).toContain(
      "  lambda     at most 1 invocation of all functions at once (the account's concurrency quota)",
    );
    expect(formatBanner({ ...cloud, lambdaConcurrency: 10 }, context)).toContain(
      'at most 10 invocations of all functions',
    );
  });

  it('shows each pipe queue with the workflow it starts, and its DLQ', () => {
    expect(banner).toContain(
      `queue      ${endpoint}/000000000000/sidestep-local-export-requests  (pipe -> workflow export)\n`,
    );
    expect(banner).toContain(`dlq        ${endpoint}/000000000000/sidestep-local-export-requests-dlq\n`);
  });

  it('shows the buckets and the workflows with their state machine ARNs', () => {
    expect(banner).toContain('bucket     sidestep-local-imports');
    expect(banner).toContain(
      'workflow   arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import',
    );
  });

  it('shows how to start a workflow by an upload', () => {
    expect(banner).toContain(
      'Start a workflow by uploading a file:\n    aws s3 cp users.csv s3://sidestep-local-imports/imports/users.csv\n',
    );
  });

  it('shows how to request an export and fire a schedule', () => {
    expect(banner).toContain(
      'Request an export, fire a schedule by hand:\n' +
        '    aws sqs send-message --queue-url "$EXPORT_REQUESTS_QUEUE_URL" --message-body {}\n' +
        '    npm run fire-schedule -- stale-job-sweeper   # every 15 minutes\n',
    );
  });

  it('prints the console URL when the console runs, and no console line otherwise', () => {
    const withConsole = formatBanner(cloud, {
      rootDir: '/repo',
      queueNames: [],
      state: 'resumed',
      consoleUrl: 'http://127.0.0.1:4580/?token=secret',
    });
    expect(withConsole).toMatch(
      /^ {2}console {4}http:\/\/127\.0\.0\.1:4580\/\?token=secret {2}operator web console/m,
    );
    expect(banner).not.toMatch(/^ {2}console /m);
  });

  it('names the endpoint in the fire-schedule commands when the cloud is not on the default port', () => {
    const elsewhere = 'http://127.0.0.1:45123';
    const moved = formatBanner(
      { ...cloud, endpoint: elsewhere },
      {
        rootDir: '/repo',
        queueNames: [],
        state: 'resumed',
        schedules: [{ name: 'nightly-export', description: 'nightly' }],
      },
    );
    expect(moved).toContain(
      `    npm run fire-schedule -- nightly-export --endpoint ${elsewhere}   # nightly\n`,
    );
  });

  it('prints the exact environment a producer needs', () => {
    for (const assignment of [
      `AWS_ENDPOINT_URL=${endpoint}`,
      'AWS_REGION=us-east-1',
      'AWS_ACCESS_KEY_ID=local',
      'AWS_SECRET_ACCESS_KEY=local',
      `MAIL_QUEUE_URL=${endpoint}/000000000000/sidestep-local-mail`,
    ]) {
      expect(banner).toContain(assignment);
    }
  });

  it('says the state dir is kept across restarts, or that --fresh cleared it', () => {
    expect(banner).toContain(
      'state      .sidestep/  resumed: messages, objects, executions, schedules; kept across restarts (--fresh starts empty)',
    );
    const fresh = formatBanner(cloud, { rootDir: '/repo', queueNames: [], state: 'cleared' });
    expect(fresh).toContain('state      .sidestep/  cleared (--fresh): started empty;');
  });

  it('says the state is new, not resumed, when there was nothing to resume (a first start)', () => {
    const first = formatBanner(cloud, { rootDir: '/repo', queueNames: [], state: 'new' });
    expect(first).toContain('state      .sidestep/  new: nothing to resume, started empty;');
    expect(first).not.toContain('resumed');
  });

  it('prints a state dir outside the repository as an absolute path', () => {
    const elsewhere = formatBanner(
      { ...cloud, stateDir: '/tmp/state', outboxDir: '/tmp/state/outbox' },
      { rootDir: '/repo', queueNames: [], state: 'resumed' },
    );
    expect(elsewhere).toContain('mail lands in /tmp/state/outbox/');
    expect(elsewhere).toContain('data in /tmp/state/');
  });

  it('says the maximum send rate of the SMTP sink when it has one, and none otherwise', () => {
    expect(banner).toMatch(/smtp sink {2}smtp:\/\/127\.0\.0\.1:1025 {2}mail lands in \.sidestep\/outbox\/\n/);
    const limited = formatBanner(
      { ...cloud, mail: { maxSendRate: 0.5, throttled: 0, sandboxRecipients: undefined } },
      { rootDir: '/repo', queueNames: [], state: 'resumed' },
    );
    expect(limited).toContain(
      'smtp sink  smtp://127.0.0.1:1025  mail lands in .sidestep/outbox/; at most 0.5 mails/s, above it 454 Throttling failure as SES (MAIL_MAX_SEND_RATE=0.5)\n',
    );
  });

  // A new account's SES sends only to verified identities (infra's MAIL_SANDBOX_RECIPIENTS lists them).
  it('says whom the SES sandbox lets mail go to, when the sink has one, and nothing otherwise', () => {
    expect(banner).not.toContain('sandbox');
    const sandboxed = formatBanner(
      {
        ...cloud,
        mail: { maxSendRate: 1, throttled: 0, sandboxRecipients: ['ops@sidestep.localhost', 'example.com'] },
      },
      { rootDir: '/repo', queueNames: [], state: 'resumed' },
    );
    expect(sandboxed).toContain(
      '\n             the SES sandbox: mail only to ops@sidestep.localhost, example.com, to others 554 Email address is not verified\n',
    );
  });

  it('leaves the database out when no service uses one', () => {
    const without = formatBanner(
      { ...cloud, databaseUrl: undefined, databaseKind: undefined },
      { rootDir: '/repo', queueNames: [], state: 'resumed' },
    );
    expect(without).not.toContain('database');
  });

  it('says IAM is enforced and who acts as whom', () => {
    expect(banner).toContain("iam        enforced: the sidestep-local stack's policies (1 roles)");
    expect(banner).not.toContain('IAM IS OFF');
  });

  it('warns loudly when IAM is off (--no-iam)', () => {
    const off = formatBanner(
      { ...cloud, iam: { enforced: false, roles: [] } },
      { rootDir: '/repo', queueNames: [], state: 'resumed' },
    );
    expect(off).toContain('IAM IS OFF (--no-iam): every call is allowed');
    expect(off).not.toContain('iam        enforced');
  });
});
