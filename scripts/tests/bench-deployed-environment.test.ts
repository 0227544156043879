// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform references are literal text in the stack.
import { describe, expect, it } from '@jest/globals';
import { synthStack } from '@sidestep/infra';
import { SERVICES } from '@sidestep/registry';
import {
  DEPLOYED_ENVIRONMENT,
  DeployedEnvironmentError,
  deployedStack,
  type LoopbackEndpoints,
  lambdaEnvironment,
  loopbackEndpointEnvironment,
  type SynthesizedStack,
  synthesizedFunctionEnvironment,
} from '../src/bench/deployed-environment.ts';
import { FIRST_JOBS } from '../src/bench/first-jobs.ts';

const endpoints: LoopbackEndpoints = {
  secretsManager: 'http://127.0.0.1:1001',
  sesv2: 'http://127.0.0.1:1002',
  s3: 'http://127.0.0.1:1003',
  sqs: 'http://127.0.0.1:1004',
  stepFunctions: 'http://127.0.0.1:1005',
};
// The local stack as infra synthesizes it (the same JSON `pnpm --filter @sidestep/infra run synth` writes).
const stack = JSON.parse(synthStack()) as SynthesizedStack;

/** A stack of one function whose environment is `variables`, and the resources it may refer to. */
function stackWith(
  variables: Record<string, unknown>,
  resources: Record<string, Record<string, Record<string, unknown>>> = {},
): SynthesizedStack {
  return {
    provider: { aws: [{ region: 'eu-west-1' }] },
    resource: {
      ...resources,
      aws_lambda_function: { fn: { function_name: 'sidestep-x-fn', environment: { variables } } },
    },
  };
}

describe('deployedStack', () => {
  // The local stack has no MAIL_MAX_SEND_RATE (the local cloud sets its own); a staging one has the default.
  it("gives the deployed mail-dispatcher what infra gives an AWS environment's, MAIL_MAX_SEND_RATE included", () => {
    const environment = synthesizedFunctionEnvironment(
      deployedStack(),
      `sidestep-${DEPLOYED_ENVIRONMENT}-mail-dispatcher`,
      endpoints,
    );
    expect(environment).toMatchObject({ MAIL_TRANSPORT: 'ses', MAIL_MAX_SEND_RATE: '1' });
    expect(environment.DATABASE_SECRET_ARN).toMatch(/^arn:aws:secretsmanager:/);
  });
});

describe('synthesizedFunctionEnvironment on the synthesized stack', () => {
  it("gives the mail-dispatcher infra's SES transport, its database secret and loopback queue URLs", () => {
    const environment = synthesizedFunctionEnvironment(stack, 'sidestep-local-mail-dispatcher', endpoints);
    expect(environment).toMatchObject({
      MAIL_TRANSPORT: 'ses',
      DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:sidestep-local-database',
      DEAD_LETTER_QUEUE_URL: 'http://127.0.0.1:1004/000000000000/sidestep-local-mail-dlq',
      SES_CONFIGURATION_SET: 'sidestep-local-mail',
      POWERTOOLS_SERVICE_NAME: 'mail-dispatcher',
    });
    expect(environment.DATABASE_URL).toBeUndefined();
  });

  it('gives the export-finalizer the signing key secret of its stack, and a loopback download URL', () => {
    const environment = synthesizedFunctionEnvironment(stack, 'sidestep-local-export-finalizer', endpoints);
    expect(environment.DOWNLOAD_SIGNING_KEY_SECRET_ARN).toMatch(
      /^arn:aws:secretsmanager:us-east-1:000000000000:secret:sidestep-local-/,
    );
    expect(environment.DOWNLOAD_BASE_URL).toMatch(/^http:\/\/127\.0\.0\.1:1003\/lambda-url\/.+\/$/);
    expect(environment.DOWNLOAD_SIGNING_KEY).toBeUndefined();
  });

  it('resolves every Lambda service of the registry, with a first job for each, and no Terraform token left', () => {
    for (const { manifest } of SERVICES) {
      const environment = synthesizedFunctionEnvironment(stack, `sidestep-local-${manifest.name}`, endpoints);
      expect(environment.POWERTOOLS_SERVICE_NAME).toBe(manifest.name);
      for (const value of Object.values(environment)) expect(value).not.toContain('${');
      expect(FIRST_JOBS[manifest.name]).toBeDefined();
    }
  });
});

describe('synthesizedFunctionEnvironment refusals', () => {
  it('names the variable whose reference it has no stand-in for', () => {
    const unknown = stackWith(
      { TABLE: '${aws_dynamodb_table.t.name}' },
      { aws_dynamodb_table: { t: { name: 'sidestep-x-table' } } },
    );
    expect(() => synthesizedFunctionEnvironment(unknown, 'sidestep-x-fn', endpoints)).toThrow(
      expect.objectContaining({ name: 'DeployedEnvironmentError', field: 'sidestep-x-fn.TABLE' }),
    );
  });

  it('names the variable that refers to a resource the stack does not have, or embeds an expression', () => {
    for (const value of ['${aws_sqs_queue.gone.url}', 'https://${aws_s3_bucket.b.bucket}.example']) {
      const error = (() => {
        try {
          synthesizedFunctionEnvironment(stackWith({ X: value }), 'sidestep-x-fn', endpoints);
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(DeployedEnvironmentError);
      expect((error as DeployedEnvironmentError).field).toBe('sidestep-x-fn.X');
    }
  });

  it('names the function the stack does not have', () => {
    expect(() => synthesizedFunctionEnvironment(stack, 'sidestep-local-nope', endpoints)).toThrow(
      expect.objectContaining({ field: 'sidestep-local-nope' }),
    );
  });

  it("resolves a secret's ARN in the provider's region and a queue by its literal name", () => {
    const environment = synthesizedFunctionEnvironment(
      stackWith(
        { S: '${aws_secretsmanager_secret.s.arn}', Q: '${aws_sqs_queue.q.url}', PLAIN: 'x' },
        { aws_secretsmanager_secret: { s: { name: 'key' } }, aws_sqs_queue: { q: { name: 'jobs' } } },
      ),
      'sidestep-x-fn',
      endpoints,
    );
    expect(environment).toEqual({
      S: 'arn:aws:secretsmanager:eu-west-1:000000000000:secret:key',
      Q: 'http://127.0.0.1:1004/000000000000/jobs',
      PLAIN: 'x',
    });
  });
});

describe('lambdaEnvironment and loopbackEndpointEnvironment', () => {
  it("set what Lambda sets (temporary credentials, the handler) and the SDK's per-service endpoints", () => {
    const environment = lambdaEnvironment({
      functionName: 'sidestep-local-x',
      memoryMb: 256,
      handler: 'index.handler',
      taskRoot: '/var/task',
      region: 'us-east-1',
    });
    expect(environment).toMatchObject({
      AWS_REGION: 'us-east-1',
      AWS_SESSION_TOKEN: expect.any(String),
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
      _HANDLER: 'index.handler',
      LAMBDA_TASK_ROOT: '/var/task',
    });
    // https://docs.aws.amazon.com/sdkref/latest/guide/ss-endpoints-table.html
    expect(loopbackEndpointEnvironment(endpoints)).toEqual({
      AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://127.0.0.1:1001',
      AWS_ENDPOINT_URL_SESV2: 'http://127.0.0.1:1002',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1003',
      AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:1004',
      AWS_ENDPOINT_URL_SFN: 'http://127.0.0.1:1005',
    });
  });
});
