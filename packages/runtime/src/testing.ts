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
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type FauxqsServer, startFauxqs } from 'fauxqs';

/** An in-process SQS emulator on a random port and a client pointed at it. */
export interface LocalSqs {
  /** `http://127.0.0.1:<port>`, for the AWS_ENDPOINT_URL of a function under test. */
  readonly endpoint: string;
  readonly server: FauxqsServer;
  readonly sqs: SQSClient;
  /** Receives until the queue answers empty: the bodies of every message it held, as sent. */
  receiveAll(queueUrl: string): Promise<string[]>;
  /** Destroys the client and stops the emulator; call it in afterAll. */
  stop(): Promise<void>;
}

/** Starts fauxqs on a free loopback port with a client using fixed test credentials (the emulator ignores them). */
export async function startLocalSqs(): Promise<LocalSqs> {
  const server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const sqs = new SQSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  return {
    endpoint,
    server,
    sqs,
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
      await server.stop();
    },
  };
}
