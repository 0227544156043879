import { buildApp } from 'fauxqs';

/** The region every local resource lives in. */
export const LOCAL_REGION = 'us-east-1';
/** The account id fauxqs puts in every ARN and queue URL. */
export const LOCAL_ACCOUNT_ID = '000000000000';

/** Options of {@link startAwsEndpoint}. */
export interface AwsEndpointOptions {
  /** @default 4566 (0 picks a free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
}

/** A message as it sits in a queue, seen without receiving it. */
export interface QueuedMessage {
  readonly messageId: string;
  readonly body: string;
  readonly messageAttributes: Readonly<
    Record<string, { readonly DataType?: string; readonly StringValue?: string }>
  >;
  readonly approximateReceiveCount: number;
}

/** A running SQS + S3 endpoint. */
export interface AwsEndpoint {
  /** `http://<host>:<port>`: what `AWS_ENDPOINT_URL` must be. */
  readonly url: string;
  readonly port: number;
  /** The URL of a queue on this endpoint, in AWS's `<endpoint>/<account>/<name>` form. */
  queueUrl(name: string): string;
  /** Every message in a queue (ready, delayed, in flight) without changing it; `undefined` if no such queue. */
  peek(queueName: string): Promise<QueuedMessage[] | undefined>;
  stop(): Promise<void>;
}

/**
 * Starts fauxqs serving SQS and S3 on one port.
 *
 * Built from fauxqs's `buildApp` rather than `startFauxqs` for two reasons: `startFauxqs` always
 * listens on 0.0.0.0, which would expose an unauthenticated SQS/S3 to the network, and its queue
 * URLs use the host `sqs.<region>.localhost`, which does not resolve on Linux (and the AWS SDK sends
 * requests to a queue URL's host when it differs from the endpoint). So this listens on loopback
 * and rewrites queue URLs in SQS/SNS responses to `http://127.0.0.1:<port>/000000000000/<name>`;
 * fauxqs finds a queue by its name whatever the URL's host.
 * State is in memory: queues are recreated from the manifests at every start.
 */
export async function startAwsEndpoint(options: AwsEndpointOptions = {}): Promise<AwsEndpoint> {
  const host = options.host ?? '127.0.0.1';
  const app = buildApp({ logger: false, defaultRegion: LOCAL_REGION });
  let url = '';
  app.addHook('onSend', async (request, _reply, payload) => {
    const contentType = request.headers['content-type'] ?? '';
    const isSqsOrSns = contentType.includes('x-amz-json') || contentType.includes('x-www-form-urlencoded');
    if (!isSqsOrSns || typeof payload !== 'string') return payload;
    return payload.replace(/http:\/\/sqs\.[a-z0-9-]+\.localhost(?::\d+)?/g, url);
  });
  await app.listen({ port: options.port ?? 4566, host });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('fauxqs is not listening on a TCP port');
  const port = address.port;
  url = `http://${host}:${port}`;

  return {
    url,
    port,
    queueUrl: (name) => `${url}/${LOCAL_ACCOUNT_ID}/${name}`,
    async peek(queueName) {
      // fauxqs's own non-destructive inspection route, called in-process (no socket).
      const response = await app.inject({
        method: 'GET',
        url: `/_fauxqs/queues/${encodeURIComponent(queueName)}`,
      });
      if (response.statusCode === 404) return undefined;
      const inspection = response.json() as {
        messages: {
          ready: QueuedMessage[];
          delayed: QueuedMessage[];
          inflight: { message: QueuedMessage }[];
        };
      };
      const { ready, delayed, inflight } = inspection.messages;
      return [...ready, ...delayed, ...inflight.map((entry) => entry.message)];
    },
    stop: () => app.close(),
  };
}
