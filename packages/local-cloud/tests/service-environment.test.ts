import { describe, expect, it } from '@jest/globals';
import type { ServiceManifest } from '@sidestep/manifest';
import { sampleService, sampleTask } from '@sidestep/manifest/testing';
import {
  LOCAL_MAIL_FROM,
  MissingLocalResourceError,
  needsDatabase,
  serviceEnvironment,
  taskEnvironment,
} from '../src/service-environment.ts';

const mailer = sampleService;

const resources = {
  environment: 'local',
  region: 'us-east-1',
  awsEndpoint: 'http://127.0.0.1:4566',
  deadLetterQueueUrl: 'http://127.0.0.1:4566/000000000000/sidestep-local-mail-dlq',
  queueUrl: 'http://127.0.0.1:4566/000000000000/sidestep-local-mail',
  smtpUrl: 'smtp://127.0.0.1:1025',
  databaseSecretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:sidestep-local-database',
};

describe('serviceEnvironment', () => {
  it('gives the exports bucket and the mail queue to services granted them', () => {
    const sweeper: ServiceManifest = {
      ...sampleService,
      queue: undefined,
      permissions: [
        { resource: 'exports-bucket', actions: ['s3:GetObject'] },
        { resource: 'mail-queue', actions: ['sqs:SendMessage'] },
      ],
    };
    const mailQueueUrl = 'http://127.0.0.1:4566/000000000000/sidestep-local-mail';
    expect(serviceEnvironment(sweeper, { ...resources, mailQueueUrl })).toMatchObject({
      EXPORTS_BUCKET: 'sidestep-local-exports',
      AWS_S3_FORCE_PATH_STYLE: 'true',
      MAIL_QUEUE_URL: mailQueueUrl,
    });
    expect(() => serviceEnvironment(sweeper, resources)).toThrow(
      expect.objectContaining({ name: 'MissingLocalResourceError', field: 'mailQueueUrl' }),
    );
  });

  it('gives a service what infra gives it, with local stand-ins for SES, Secrets Manager and AWS', () => {
    expect(serviceEnvironment(mailer, resources)).toEqual({
      TEMPLATE_LOCALE: 'en',
      SIDESTEP_ENV: 'local',
      POWERTOOLS_SERVICE_NAME: 'mail-dispatcher',
      POWERTOOLS_METRICS_NAMESPACE: 'sidestep',
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'sidestep-local-mail-dispatcher', // its execution role's name: the local identity,
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
      DEAD_LETTER_QUEUE_URL: resources.deadLetterQueueUrl,
      // Its own queue, as infra gives it: a mail the 24-hour quota refused is put off on it.
      QUEUE_URL: resources.queueUrl,
      MAX_RECEIVE_COUNT: String(mailer.queue?.maxReceiveCount),
      CLAIM_CHECK_BUCKET: 'sidestep-local-claims',
      MAIL_FROM: LOCAL_MAIL_FROM,
      MAIL_TRANSPORT: 'smtp',
      SMTP_URL: 'smtp://127.0.0.1:1025',
      DATABASE_SECRET_ARN: resources.databaseSecretArn,
    });
  });

  it("gives a service the database's client variables beside DATABASE_SECRET_ARN (the embedded server's answer limit off)", () => {
    const embedded = { ...resources, databaseEnvironment: { DATABASE_ANSWER_TIMEOUT_MS: '0' } };
    expect(serviceEnvironment(mailer, embedded)).toMatchObject({
      DATABASE_SECRET_ARN: resources.databaseSecretArn,
      DATABASE_ANSWER_TIMEOUT_MS: '0',
    });
    expect(taskEnvironment(sampleTask, embedded)).toMatchObject({
      DATABASE_SECRET_ARN: resources.databaseSecretArn,
      DATABASE_ANSWER_TIMEOUT_MS: '0',
    });
  });

  // On AWS infra gives the mail-dispatcher MAIL_MAX_SEND_RATE (SIDESTEP_<ENV>_MAIL_MAX_SEND_RATE);
  // locally the rate the SMTP sink enforces, written as the variable's contract has it.
  it('gives a service granted mail-identity MAIL_MAX_SEND_RATE only when the sink has a rate', () => {
    expect(serviceEnvironment(mailer, { ...resources, mailMaxSendRate: 14 })).toMatchObject({
      MAIL_TRANSPORT: 'smtp',
      MAIL_MAX_SEND_RATE: '14',
    });
    expect(serviceEnvironment(mailer, { ...resources, mailMaxSendRate: 1e-7 }).MAIL_MAX_SEND_RATE).toBe(
      '0.0000001',
    );
    expect(serviceEnvironment(mailer, resources)).not.toHaveProperty('MAIL_MAX_SEND_RATE');
    const sweeper: ServiceManifest = {
      ...mailer,
      permissions: [{ resource: 'mail-queue', actions: ['sqs:SendMessage'] }],
    };
    expect(
      serviceEnvironment(sweeper, { ...resources, mailQueueUrl: 'http://q', mailMaxSendRate: 14 }),
    ).not.toHaveProperty('MAIL_MAX_SEND_RATE');
  });

  it('uses a sender address that strict e-mail validators accept', () => {
    expect(LOCAL_MAIL_FROM).toMatch(/^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$/);
  });

  it('names the missing resource when a permission cannot be satisfied', () => {
    const { databaseSecretArn: _omitted, ...withoutDatabase } = resources;
    expect(() => serviceEnvironment(mailer, withoutDatabase)).toThrow(MissingLocalResourceError);
    expect(() => serviceEnvironment(mailer, withoutDatabase)).toThrow(/needs databaseSecretArn/);
  });

  it('gives a service without queue or permissions only the common variables', () => {
    const plain: ServiceManifest = { ...mailer, queue: undefined, permissions: [], environment: undefined };
    const environment = serviceEnvironment(plain, {
      environment: 'local',
      region: 'us-east-1',
      awsEndpoint: 'http://x',
    });
    expect(Object.keys(environment).sort()).toEqual([
      'AWS_ACCESS_KEY_ID',
      'AWS_DEFAULT_REGION',
      'AWS_ENDPOINT_URL',
      'AWS_REGION',
      'AWS_SECRET_ACCESS_KEY',
      'POWERTOOLS_METRICS_NAMESPACE',
      'POWERTOOLS_SERVICE_NAME',
      'SIDESTEP_ENV',
    ]);
  });
});

describe('needsDatabase', () => {
  it('is true only when some service holds database-secret', () => {
    expect(needsDatabase([mailer])).toBe(true);
    expect(needsDatabase([{ ...mailer, permissions: [mailer.permissions[0]!] }])).toBe(false);
  });
});

describe('taskEnvironment', () => {
  const worker = sampleTask;

  it('gives a task its static environment, local AWS, path-style S3, the database and the imports bucket', () => {
    expect(taskEnvironment(worker, resources)).toEqual({
      PROGRESS_EVERY_ROWS: '100000',
      SIDESTEP_ENV: 'local',
      POWERTOOLS_SERVICE_NAME: 'batch-worker',
      POWERTOOLS_METRICS_NAMESPACE: 'sidestep',
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'sidestep-local-batch-worker-task', // its task role's name,
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
      AWS_S3_FORCE_PATH_STYLE: 'true',
      DATABASE_SECRET_ARN: resources.databaseSecretArn,
      IMPORTS_BUCKET: 'sidestep-local-imports',
    });
  });

  it('names the missing resource for a task too', () => {
    const { databaseSecretArn: _omitted, ...withoutDatabase } = resources;
    expect(() => taskEnvironment(worker, withoutDatabase)).toThrow(/batch-worker needs databaseSecretArn/);
  });

  it('counts tasks that hold database-secret as needing the database', () => {
    expect(needsDatabase([worker])).toBe(true);
    expect(needsDatabase([{ ...worker, permissions: [] }])).toBe(false);
  });
});
