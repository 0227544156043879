import { S3Client } from '@aws-sdk/client-s3';
import { ConfigError, createTaskHandler } from '@sidestep/runtime';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { S3ExportStore, s3Presigner } from './adapters/s3.ts';
import { DOWNLOAD_HANDLER, loadConfig, signingKeySource } from './config.ts';
import { DownloadKeyring } from './domain/download-keyring.ts';
import { downloadLinkFactory } from './domain/download-link.ts';
import { createDownloadEndpoint } from './download-endpoint.ts';
import { finalizeTask } from './finalize-task.ts';

// Cold start: the environment is checked once, so a function without its download settings fails at
// init naming the variable.
const config = loadConfig();

// One client per environment, reused by every invocation. `forcePathStyle` for S3 emulators, as the
// batch-worker does; `AWS_ENDPOINT_URL` and `AWS_REGION` are read by the SDK itself.
const s3 = new S3Client({ forcePathStyle: config.s3ForcePathStyle });
const store = new S3ExportStore(s3);
// The signing keys, fetched when first needed and cached 5 minutes; kept across invocations, with
// when they were last fetched afresh for a token naming a key this instance does not know.
const keyring = new DownloadKeyring(signingKeySource(config.signingKey));

/** The export-finalizer's Lambda handler (image CMD `index.handler`), invoked by Step Functions. */
export const handler = createTaskHandler(
  finalizeTask({
    store,
    downloadLink: async () => {
      if (config.role !== 'finalizer') throw wrongHandler('index.handler');
      return downloadLinkFactory({
        baseUrl: config.downloadBaseUrl,
        signingKey: await keyring.signingKey(),
        ttlSeconds: config.linkTtlSeconds,
      });
    },
  }),
);

let downloadEndpoint: ReturnType<typeof createDownloadEndpoint> | undefined;

/**
 * The download endpoint as a Lambda function URL handler (the same image with CMD
 * `index.downloadHandler`): `GET <url>?token=...` answers a redirect to a fresh presigned GetObject,
 * `HEAD` to a presigned HeadObject. The method is the event's `requestContext.http.method`
 * (https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads).
 */
export async function downloadHandler(
  event: APIGatewayProxyEventV2,
): Promise<APIGatewayProxyStructuredResultV2> {
  if (config.role !== 'download') throw wrongHandler(DOWNLOAD_HANDLER);
  // Made on the first request and kept: all it holds lives as long as the process.
  downloadEndpoint ??= createDownloadEndpoint({
    bucket: config.exportsBucket,
    signingKeys: keyring,
    head: (bucket, key) => store.head(bucket, key),
    presign: s3Presigner(s3),
    redirectTtlSeconds: config.redirectTtlSeconds,
  });
  const response = await downloadEndpoint({
    method: event.requestContext?.http?.method,
    token: event.queryStringParameters?.token,
  });
  return { statusCode: response.statusCode, headers: { ...response.headers }, body: response.body };
}

/** A handler called in a function configured for the other one (`_HANDLER` decides the configuration). */
function wrongHandler(called: string): ConfigError {
  return new ConfigError(
    '_HANDLER',
    `invalid configuration: ${called} called in a function whose CMD is ${process.env._HANDLER}`,
  );
}
