import { once } from 'node:events';
import { createServer } from 'node:http';

/**
 * A loopback Secrets Manager (awsJson1_1) answering GetSecretValue by staging label, for a client
 * pointed at it with `AWS_ENDPOINT_URL_SECRETS_MANAGER`. The local cloud has no Secrets Manager: it
 * gives the service its key as `DOWNLOAD_SIGNING_KEY`.
 */
export interface SecretsManagerDouble {
  readonly endpoint: string;
  /** Every GetSecretValue received: `<SecretId> <VersionStage or AWSCURRENT>`. */
  readonly requests: string[];
  /**
   * `put-secret-value` without `--version-stages`: the new value becomes AWSCURRENT and the version
   * that was AWSCURRENT becomes AWSPREVIOUS
   * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html).
   */
  put(secretId: string, value: string): void;
  stop(): Promise<void>;
}

/** Starts the double on a free loopback port. */
export async function startSecretsManagerDouble(): Promise<SecretsManagerDouble> {
  const stages = new Map<string, { AWSCURRENT: string; AWSPREVIOUS?: string }>();
  const requests: string[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      const { SecretId, VersionStage = 'AWSCURRENT' } = JSON.parse(body) as {
        SecretId: string;
        VersionStage?: 'AWSCURRENT' | 'AWSPREVIOUS';
      };
      requests.push(`${SecretId} ${VersionStage}`);
      const value = stages.get(SecretId)?.[VersionStage];
      response.setHeader('content-type', 'application/x-amz-json-1.1');
      if (value === undefined) {
        // What GetSecretValue answers for a label no version has, e.g. AWSPREVIOUS before the first
        // put of a second value
        // (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html).
        response.statusCode = 400;
        response.end(
          JSON.stringify({
            __type: 'ResourceNotFoundException',
            message: `Secrets Manager can't find the specified secret value for staging label: ${VersionStage}`,
          }),
        );
        return;
      }
      response.end(
        JSON.stringify({
          ARN: SecretId,
          Name: 'sidestep-test-export-download-key',
          SecretString: value,
          VersionId: `v-${value.slice(0, 4)}`,
          VersionStages: [VersionStage],
          CreatedDate: 1.7e9,
        }),
      );
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    requests,
    put(secretId, value) {
      const current = stages.get(secretId)?.AWSCURRENT;
      stages.set(
        secretId,
        current === undefined ? { AWSCURRENT: value } : { AWSCURRENT: value, AWSPREVIOUS: current },
      );
    },
    async stop() {
      server.close();
      await once(server, 'close');
    },
  };
}
