import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LambdaClient } from '@aws-sdk/client-lambda';

/**
 * A real LambdaClient (the SDK's own send, its retries included) whose endpoint is a loopback server
 * answering with `listener`; `close` destroys the client and stops the server.
 */
export async function loopbackLambda(
  listener: RequestListener,
): Promise<{ readonly lambda: LambdaClient; close(): void }> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const lambda = new LambdaClient({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  return {
    lambda,
    close() {
      lambda.destroy();
      server.close();
    },
  };
}
