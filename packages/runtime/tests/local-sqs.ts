import { SQSClient } from '@aws-sdk/client-sqs';
import { type FauxqsServer, startFauxqs } from 'fauxqs';

/** An in-process SQS emulator on a random port and a client pointed at it. */
export interface LocalSqs {
  readonly server: FauxqsServer;
  readonly sqs: SQSClient;
  /** Destroys the client and stops the emulator; call it in afterAll. */
  stop(): Promise<void>;
}

/** Starts fauxqs on port 0 with a client using fixed test credentials (the emulator ignores them). */
export async function startLocalSqs(): Promise<LocalSqs> {
  const server = await startFauxqs({ port: 0, logger: false });
  const sqs = new SQSClient({
    endpoint: `http://127.0.0.1:${server.port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  return {
    server,
    sqs,
    stop: async () => {
      sqs.destroy();
      await server.stop();
    },
  };
}
