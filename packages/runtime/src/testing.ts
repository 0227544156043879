/**
 * Test support for code that talks to SQS: an in-process SQS emulator (fauxqs) on loopback and a
 * client pointed at it. fauxqs is a devDependency of every package whose tests import this.
 *
 * @example
 * ```ts
 * import { type LocalSqs, startLocalSqs } from '@sidestep/runtime/testing';
 *
 * let local: LocalSqs;
 * beforeAll(async () => { local = await startLocalSqs(); });
 * afterAll(() => local.stop());
 * ```
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type FauxqsServer, startFauxqs } from 'fauxqs';

/** An in-process SQS emulator on a random port and a client pointed at it. */
export interface LocalSqs {
  /** `http://127.0.0.1:<port>`, for the AWS_ENDPOINT_URL of a function under test. */
  readonly endpoint: string;
  readonly server: FauxqsServer;
  readonly sqs: SQSClient;
  /** A client of the emulator's S3 (path-style), for claim-check buckets. */
  readonly s3: S3Client;
  /** Receives until the queue answers empty: the bodies of every message it held, as sent. */
  receiveAll(queueUrl: string): Promise<string[]>;
  /** Destroys the client and stops the emulator; call it in afterAll. */
  stop(): Promise<void>;
}

/** Starts fauxqs on a free loopback port with a client using fixed test credentials (the emulator ignores them). */
export async function startLocalSqs(): Promise<LocalSqs> {
  const server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const client = {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  };
  const sqs = new SQSClient(client);
  const s3 = new S3Client({ ...client, forcePathStyle: true });
  return {
    endpoint,
    server,
    sqs,
    s3,
    receiveAll: async (queueUrl) => {
      const bodies: string[] = [];
      for (;;) {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
        );
        if (Messages.length === 0) return bodies;
        bodies.push(...Messages.map((message) => message.Body ?? ''));
      }
    },
    stop: async () => {
      sqs.destroy();
      s3.destroy();
      await server.stop();
    },
  };
}

/**
 * An HTTP stand-in for an AWS API on a loopback port: `start` listens on a free port, `endpoint` is
 * its URL (for the SDK's `AWS_ENDPOINT_URL_<SERVICE>`), `stop` closes it and its connections.
 */
export abstract class LoopbackHttpDouble {
  abstract readonly server: Server;

  /** Listens on a free loopback port. */
  async start(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return this;
  }

  /** `http://127.0.0.1:<port>`. */
  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

/**
 * Secrets Manager's GetSecretValue over its real wire protocol (awsJson1_1), on 127.0.0.1, so a test
 * runs Powertools' `getSecret` and the AWS SDK exactly as a deployed function would, by staging label
 * (AWSCURRENT unless the request names one). Point the SDK at it with
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER` (and any region and credentials).
 */
export class SecretsManagerDouble extends LoopbackHttpDouble {
  /** The secrets' AWSCURRENT values by ARN; set one to change it in place. */
  readonly secrets = new Map<string, string>();
  /** The secrets' AWSPREVIOUS values by ARN, which {@link put} keeps. */
  readonly previous = new Map<string, string>();
  /** Every request, as `<SecretId> <VersionStage>` (AWSCURRENT when the request named none). */
  readonly requests: string[] = [];
  readonly server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    request.on('end', () => {
      const target = request.headers['x-amz-target'];
      const { SecretId, VersionStage = 'AWSCURRENT' } = JSON.parse(body) as {
        SecretId: string;
        VersionStage?: string;
      };
      this.requests.push(`${SecretId} ${VersionStage}`);
      const secret = (VersionStage === 'AWSPREVIOUS' ? this.previous : this.secrets).get(SecretId);
      response.setHeader('content-type', 'application/x-amz-json-1.1');
      if (target !== 'secretsmanager.GetSecretValue' || secret === undefined) {
        // Also what GetSecretValue answers for a label no version has, e.g. AWSPREVIOUS before a
        // second value was put
        // (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html).
        response.statusCode = 400;
        response.end(
          JSON.stringify({
            __type: 'ResourceNotFoundException',
            message: "Secrets Manager can't find the specified secret.",
          }),
        );
        return;
      }
      response.end(
        JSON.stringify({
          ARN: SecretId,
          Name: 'db',
          SecretString: secret,
          VersionId: `v-${secret.slice(0, 4)}`,
          VersionStages: [VersionStage],
          CreatedDate: 1.7e9,
        }),
      );
    });
  });

  /**
   * `put-secret-value` without `--version-stages`: `value` becomes AWSCURRENT and the version that
   * was AWSCURRENT becomes AWSPREVIOUS
   * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html).
   */
  put(secretId: string, value: string): void {
    const current = this.secrets.get(secretId);
    if (current !== undefined) this.previous.set(secretId, current);
    this.secrets.set(secretId, value);
  }

  /**
   * The variables that point the AWS SDK at the double, for `process.env`: Powertools builds its
   * Secrets Manager client on first use, from the standard SDK settings.
   */
  environment(): Record<string, string> {
    return {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: this.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    };
  }
}
