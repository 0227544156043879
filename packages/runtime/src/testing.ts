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
