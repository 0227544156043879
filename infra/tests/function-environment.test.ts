import { describe, expect, it } from '@jest/globals';
import { LAMBDA_ENVIRONMENT_LIMIT_BYTES, type ServiceManifest } from '@sidestep/manifest';
import { environmentConfigs, functionEnvironmentSizes, InfraConfigError, SERVICES } from '../src/index.ts';
import { STAGING, synthStack } from './environment-fixture.ts';
import { one } from './terraform-json.ts';

// Lambda refuses a function whose environment variables, as the JSON it measures, pass 4 KB
// (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, "Function resource
// quotas"): CreateFunction / UpdateFunctionConfiguration fail with InvalidParameterValueException,
// which without this check `terraform apply` would be the first to say.

/** SERVICES, `name`'s manifest given one more variable. */
function withVariable(name: string, key: string, value: string): ServiceManifest[] {
  return SERVICES.map((service) =>
    service.name === name ? { ...service, environment: { ...service.environment, [key]: value } } : service,
  );
}

/** The thrown error, for its fields. */
function thrown(act: () => unknown): unknown {
  try {
    act();
  } catch (error) {
    return error;
  }
  throw new Error('did not throw');
}

describe('function environments', () => {
  it('refuse an environment over Lambda’s 4 KB at synth, naming the function and its environment', () => {
    const error = thrown(() =>
      synthStack(STAGING, withVariable('mail-dispatcher', 'TEMPLATES', 'x'.repeat(4096))),
    );
    expect(error).toBeInstanceOf(InfraConfigError);
    expect(error).toMatchObject({ field: 'mail-dispatcher.environment' });
    expect((error as Error).message).toMatch(
      /^mail-dispatcher\.environment: the environment variables of sidestep-staging-mail-dispatcher measure \d+ bytes as Lambda measures them .*over Lambda's limit of 4096/,
    );
  });

  it('measure references as the values AWS gives them: 4096 bytes pass, one more is refused', () => {
    // The export-finalizer's variables refer to a function URL and a secret, whose ids AWS picks: as
    // deployed, `https://<32-character id>.lambda-url.<region>.on.aws/` and the secret's ARN ending
    // in `-` and six characters.
    const [, finalizer] = one(synthStack(STAGING), 'aws_lambda_function', {
      function_name: 'sidestep-staging-export-finalizer',
    });
    const deployed = {
      ...finalizer.environment.variables,
      DOWNLOAD_BASE_URL: 'https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/',
      DOWNLOAD_SIGNING_KEY_SECRET_ARN:
        'arn:aws:secretsmanager:eu-west-1:123456789012:secret:sidestep-staging-export-download-key-AbCdEf',
    };
    const padding = LAMBDA_ENVIRONMENT_LIMIT_BYTES - JSON.stringify({ ...deployed, PADDING: '' }).length;
    const stack = (length: number) => () =>
      synthStack(STAGING, withVariable('export-finalizer', 'PADDING', 'x'.repeat(length)));

    const sizes = functionEnvironmentSizes(stack(padding)(), STAGING);
    expect(sizes.find((size) => size.functionName === 'sidestep-staging-export-finalizer')).toEqual({
      functionName: 'sidestep-staging-export-finalizer',
      field: 'export-finalizer.environment',
      bytes: 4096,
      exceeded: false,
    });
    expect(thrown(stack(padding + 1))).toMatchObject({
      name: 'InfraConfigError',
      field: 'export-finalizer.environment',
    });
  });

  // The sizes with the placeholder settings (`environmentConfigs({})`): a variable added or grown
  // changes them, so the change says by how much, and how far each function still is from 4 KB.
  it.each([
    [
      'staging',
      {
        'sidestep-staging-export-download': 307,
        'sidestep-staging-export-finalizer': 405,
        'sidestep-staging-job-sweeper': 563,
        'sidestep-staging-mail-dispatcher': 656,
        'sidestep-staging-ops-ledger': 275,
        'sidestep-staging-status-updater': 231,
      },
    ],
    [
      'production',
      {
        'sidestep-production-export-download': 316,
        'sidestep-production-export-finalizer': 414,
        'sidestep-production-job-sweeper': 581,
        'sidestep-production-mail-dispatcher': 677,
        'sidestep-production-ops-ledger': 284,
        'sidestep-production-status-updater': 237,
      },
    ],
  ] as const)(
    'stay under Lambda’s 4 KB in every function of the %s stack, at these sizes',
    (name, recorded) => {
      const config = environmentConfigs({})[name];
      const sizes = functionEnvironmentSizes(synthStack(config), config);
      expect(Object.fromEntries(sizes.map((size) => [size.functionName, size.bytes]))).toEqual(recorded);
      for (const size of sizes) expect(size.bytes).toBeLessThanOrEqual(LAMBDA_ENVIRONMENT_LIMIT_BYTES);
    },
  );
});
