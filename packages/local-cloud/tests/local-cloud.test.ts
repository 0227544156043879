import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PurgeQueueCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import {
  type LocalCloud,
  startLocalCloud,
  UnknownQueueError,
  UnknownServiceError,
} from '../src/local-cloud.ts';
import { echoService, fixtureDir } from './fixtures/manifests.ts';
import { messagesIn } from './fixtures/sqs-endpoint.ts';

/** A 1 s visibility timeout: a failed record comes back within the test. */
const echo = echoService({ visibilityTimeoutSeconds: 1 });

const report = createCollectingReporter();
let rootDir: string;
let cloud: LocalCloud;
let sqs: SQSClient;

beforeAll(async () => {
  rootDir = await mkdtemp(join(tmpdir(), 'local-cloud-'));
  cloud = await startLocalCloud({
    rootDir,
    services: [{ manifest: echo, bundleDir: fixtureDir('echo-service') }],
    port: 0,
    smtpPort: 0,
    reporter: report.reporter,
  });
  // A producer configured only from what the cloud hands out.
  const env = cloud.producerEnvironment;
  sqs = new SQSClient({
    endpoint: env.AWS_ENDPOINT_URL,
    region: env.AWS_REGION,
    credentials: {
      accessKeyId: env.AWS_ACCESS_KEY_ID ?? '',
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? '',
    },
  });
});

afterAll(async () => {
  sqs?.destroy();
  await cloud?.stop();
  await rm(rootDir, { recursive: true, force: true });
});

/** Child processes of this test process that run the fixture's bundle (the warm sandboxes). */
function sandboxProcesses(): string[] {
  const output = spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], {
    encoding: 'utf8',
  }).stdout;
  return output.split('\n').filter((line) => line.includes('runtime-interface-client'));
}

describe('startLocalCloud', () => {
  it('starts on the requested random ports with the queues and the warm service', () => {
    expect(cloud.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(cloud.endpoint).not.toBe('http://127.0.0.1:4566');
    expect(cloud.smtpPort).toBeGreaterThan(0);
    expect(cloud.smtpPort).not.toBe(1025);
    expect(cloud.outboxDir).toBe(join(rootDir, '.sidestep', 'outbox'));
    expect(cloud.databaseUrl).toBeUndefined(); // no service asked for a database
    expect(cloud.queueUrl('echo')).toBe(`${cloud.endpoint}/000000000000/sidestep-local-echo`);
    expect(cloud.queueUrl('sidestep-local-echo-dlq')).toBe(
      `${cloud.endpoint}/000000000000/sidestep-local-echo-dlq`,
    );
    expect(() => cloud.queueUrl('nope')).toThrow(UnknownQueueError);
    expect(() => cloud.queueUrl('nope')).toThrow(expect.objectContaining({ requested: 'nope' }));
    expect(report.ofType('queue-created').map((event) => event.queue)).toEqual([
      'sidestep-local-echo-dlq',
      'sidestep-local-echo',
    ]);
    expect(report.ofType('service-started')).toEqual([
      { type: 'service-started', service: 'echo-service', coldStartMs: expect.any(Number) },
    ]);
  });

  it('versions its buckets as infra does (private-bucket.ts): a PutObject answers a version id', async () => {
    // The claim-check bucket of the queue the service consumes.
    expect(cloud.buckets).toHaveLength(1);
    const env = cloud.producerEnvironment;
    const s3 = new S3Client({
      endpoint: env.AWS_ENDPOINT_URL,
      region: env.AWS_REGION,
      forcePathStyle: true,
      credentials: {
        accessKeyId: env.AWS_ACCESS_KEY_ID ?? '',
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? '',
      },
    });
    try {
      const written = await s3.send(
        new PutObjectCommand({ Bucket: cloud.buckets[0], Key: 'v.txt', Body: 'v' }),
      );
      expect(written.VersionId).toMatch(/^[A-Za-z0-9._-]{32}$/);
    } finally {
      s3.destroy();
    }
  });

  it('runs the service for a message, delivers its mail to the outbox and deletes the message', async () => {
    const { MessageId } = await sqs.send(
      new SendMessageCommand({ QueueUrl: cloud.queueUrl('echo'), MessageBody: 'hello' }),
    );
    const mail = await report.waitFor('mail-delivered', (event) => event.subject === 'processed hello');
    expect(mail.to).toEqual(['dev@example.com']);
    expect((await readdir(cloud.outboxDir)).filter((file) => file.endsWith('.eml'))).toHaveLength(1);
    const source = await readFile(mail.file, 'utf8');
    expect(source).toContain(`Message-ID: <${MessageId}@echo-service>`);
    expect(source).toContain('From: no-reply@local.mail.example.com');

    const invocation = await report.waitFor('invocation', (event) => event.outcome === 'ok');
    expect(invocation).toMatchObject({ service: 'echo-service', queue: 'sidestep-local-echo', batchSize: 1 });
    expect(await messagesIn(sqs, cloud.queueUrl('echo'))).toBe(0);
  });

  it('redelivers a failing message and after maxReceiveCount finds it in the DLQ', async () => {
    const { MessageId } = await sqs.send(
      new SendMessageCommand({ QueueUrl: cloud.queueUrl('echo'), MessageBody: 'please fail' }),
    );
    const first = await report.waitFor('record-failed', (event) => event.messageId === MessageId);
    expect(first).toMatchObject({
      receiveCount: 1,
      deadLetterNext: false,
      reason: 'listed in batchItemFailures',
    });
    const second = await report.waitFor(
      'record-failed',
      (e) => e.messageId === MessageId && e.receiveCount === 2,
    );
    expect(second.deadLetterNext).toBe(true);

    const dead = await report.waitFor('dead-lettered', (event) => event.messageId === MessageId);
    expect(dead).toMatchObject({ queue: 'sidestep-local-echo-dlq', cause: 'redrive', receiveCount: 2 });
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: cloud.queueUrl('sidestep-local-echo-dlq'), WaitTimeSeconds: 0 }),
    );
    expect(Messages?.map((message) => [message.MessageId, message.Body])).toEqual([
      [MessageId, 'please fail'],
    ]);
    expect(await messagesIn(sqs, cloud.queueUrl('echo'))).toBe(0);
    // The sandbox's own log lines reach the reporter.
    expect(report.ofType('log').some((event) => event.line.includes('refusing record'))).toBe(true);
  });

  it('invokes a service directly, and refuses an unknown one', async () => {
    const result = await cloud.invoke('echo-service', { Records: [] });
    expect(result).toMatchObject({ ok: true, payload: { batchItemFailures: [] } });
    await expect(cloud.invoke('nope', {})).rejects.toThrow(UnknownServiceError);
    await expect(cloud.invoke('nope', {})).rejects.toMatchObject({
      requested: 'nope',
      known: ['echo-service'],
    });
  });

  // What operator tools read of CloudWatch on AWS (`sidestep status`, the console's overview), asked
  // through the SDK's CloudWatch client (its query-compatible JSON protocol).
  it("answers CloudWatch's GetMetricData: a queue's oldest message age, and none for a metric nothing sends", async () => {
    const dlq = cloud.queueUrl('sidestep-local-echo-dlq');
    await sqs.send(new SendMessageCommand({ QueueUrl: dlq, MessageBody: 'waiting' }));
    const cloudWatch = new CloudWatchClient({
      endpoint: cloud.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      const now = new Date();
      const metric = (Namespace: string, MetricName: string, Name: string, Value: string) => ({
        MetricStat: {
          Metric: { Namespace, MetricName, Dimensions: [{ Name, Value }] },
          Period: 60,
          Stat: 'Maximum',
        },
      });
      const answer = await cloudWatch.send(
        new GetMetricDataCommand({
          StartTime: new Date(now.getTime() - 15 * 60_000),
          EndTime: new Date(now.getTime() + 60_000),
          MetricDataQueries: [
            {
              Id: 'age',
              ...metric('AWS/SQS', 'ApproximateAgeOfOldestMessage', 'QueueName', 'sidestep-local-echo-dlq'),
            },
            {
              Id: 'failed',
              ...metric(
                'AWS/States',
                'ExecutionsFailed',
                'StateMachineArn',
                'arn:aws:states:us-east-1:000000000000:stateMachine:none',
              ),
            },
          ],
        }),
      );
      const [age, failed] = answer.MetricDataResults ?? [];
      expect(age).toMatchObject({ Id: 'age', StatusCode: 'Complete' });
      expect(age?.Values).toHaveLength(1);
      expect(age?.Values?.[0]).toBeGreaterThanOrEqual(0);
      expect(age?.Timestamps?.[0]).toBeInstanceOf(Date);
      expect(failed).toMatchObject({ Id: 'failed', Values: [], Timestamps: [] });
      await expect(
        cloudWatch.send(
          new GetMetricDataCommand({
            StartTime: now,
            EndTime: now,
            MetricDataQueries: [{ Id: 'age', ...metric('AWS/SQS', 'X', 'QueueName', 'q') }],
          }),
        ),
      ).rejects.toMatchObject({ name: 'InvalidParameterValueException' });
    } finally {
      cloudWatch.destroy();
      await sqs.send(new PurgeQueueCommand({ QueueUrl: dlq }));
    }
  });

  it('stops cleanly: servers closed, sandboxes gone, a second stop is a no-op', async () => {
    const endpoint = cloud.endpoint;
    expect(sandboxProcesses().length).toBeGreaterThan(0);
    const started = performance.now();
    await cloud.stop();
    expect(performance.now() - started).toBeLessThan(5_000);
    await expect(fetch(`${endpoint}/health`)).rejects.toThrow();
    expect(sandboxProcesses()).toEqual([]);
    await expect(cloud.stop()).resolves.toBeUndefined();
    expect(report.ofType('error')).toEqual([]);
  });
});

describe('startLocalCloud with prewarm: false', () => {
  // Lambda starts an on-demand function's execution environment on an invocation, not before
  // (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html).
  it('starts no sandbox until a function is invoked, then runs the invocation in a new one', async () => {
    const lazy = createCollectingReporter();
    const stateDir = await mkdtemp(join(tmpdir(), 'local-cloud-lazy-'));
    const lazyCloud = await startLocalCloud({
      rootDir,
      stateDir,
      services: [{ manifest: echo, bundleDir: fixtureDir('echo-service') }],
      port: 0,
      smtpPort: 0,
      reporter: lazy.reporter,
      prewarm: false,
    });
    try {
      expect(lazy.ofType('service-started')).toEqual([{ type: 'service-started', service: 'echo-service' }]);
      expect(sandboxProcesses()).toEqual([]);
      const result = await lazyCloud.invoke('echo-service', { Records: [] });
      expect(result).toMatchObject({ ok: true, payload: { batchItemFailures: [] } });
      expect(sandboxProcesses()).toHaveLength(1);
    } finally {
      await lazyCloud.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
    expect(sandboxProcesses()).toEqual([]);
    expect(lazy.ofType('error')).toEqual([]);
  }, 30_000);
});

/** A port nothing listens on now (the OS hands out a free one, which is then closed). */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  return typeof address === 'object' && address ? address.port : 0;
}

/** Whether something accepts connections on a loopback port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('startLocalCloud failing half way', () => {
  it('stops what the earlier steps started (endpoint, SMTP sink, sandboxes) and rethrows', async () => {
    const failing = createCollectingReporter();
    const [port, smtpPort] = [await freePort(), await freePort()];
    await expect(
      startLocalCloud({
        rootDir,
        // A state dir of its own: the cloud the other tests share may still hold rootDir's.
        stateDir: join(rootDir, 'refused-0'),
        services: [{ manifest: echo, bundleDir: fixtureDir('echo-service') }],
        // The workflows step comes after the functions: its definition names a resource no local
        // integration runs, so it throws once the endpoint, the sink and the sandboxes are up.
        workflows: [
          {
            name: 'unrunnable',
            definition: () => ({
              StartAt: 'Put',
              States: { Put: { Type: 'Task', Resource: 'arn:aws:states:::dynamodb:putItem', End: true } },
            }),
          },
        ],
        port,
        smtpPort,
        reporter: failing.reporter,
      }),
    ).rejects.toMatchObject({ name: 'UnsupportedIntegrationError' });
    expect(failing.ofType('service-started').map((event) => event.service)).toEqual(['echo-service']);
    expect(await listening(port)).toBe(false);
    expect(await listening(smtpPort)).toBe(false);
    expect(sandboxProcesses()).toEqual([]);
    expect(failing.ofType('error')).toEqual([]);
  }, 30_000);
});

describe('startLocalCloud with a service Lambda would refuse', () => {
  // Lambda refuses environment variables over 4 KB at CreateFunction (InvalidParameterValueException):
  // the local cloud, which has no CreateFunction, refuses to start the function, and so to start.
  it('refuses to start a service whose environment variables are over Lambda’s 4 KB, naming its function', async () => {
    const refusing = createCollectingReporter();
    const oversized = { ...echo, environment: { TEMPLATES: 'x'.repeat(4096) } };
    const started = startLocalCloud({
      rootDir,
      // A state dir of its own: the cloud the other tests share may still hold rootDir's.
      stateDir: join(rootDir, 'refused-1'),
      services: [{ manifest: oversized, bundleDir: fixtureDir('echo-service') }],
      port: 0,
      smtpPort: 0,
      reporter: refusing.reporter,
      prewarm: false,
    });
    await expect(started).rejects.toMatchObject({
      name: 'InvalidParameterValueException',
      functionName: 'sidestep-local-echo-service',
      message: expect.stringMatching(
        /^Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit\. String measured: \{.*"TEMPLATES":"x{4096}"/,
      ),
    });
    expect(refusing.ofType('service-started')).toEqual([]);
  }, 30_000);
});

describe('startLocalCloud with a service whose bundle is missing', () => {
  // What a build cut off by Ctrl-C leaves (the bundler empties dist first): without the check the
  // cloud came up and every invocation of the service failed with "Cannot find module 'index'".
  it('refuses to start, naming the service and the missing module, before anything starts', async () => {
    const refusing = createCollectingReporter();
    const emptyDist = await mkdtemp(join(tmpdir(), 'empty-dist-'));
    try {
      const started = startLocalCloud({
        rootDir,
        // A state dir of its own: the cloud the other tests share may still hold rootDir's.
        stateDir: join(rootDir, 'refused-2'),
        services: [{ manifest: echo, bundleDir: emptyDist }],
        port: 0,
        smtpPort: 0,
        reporter: refusing.reporter,
      });
      await expect(started).rejects.toMatchObject({
        name: 'MissingServiceBundleError',
        service: 'echo-service',
        path: join(emptyDist, 'index'),
        message: expect.stringContaining('rebuild it with `npm start` (without --no-build)'),
      });
      expect(refusing.events).toEqual([]);
    } finally {
      await rm(emptyDist, { recursive: true, force: true });
    }
  }, 30_000);
});
