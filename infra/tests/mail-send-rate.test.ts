import { describe, expect, it } from '@jest/globals';
import { type EnvironmentConfig, environmentConfigs, InfraConfigError } from '../src/index.ts';
import { STAGING, synthStack } from './environment-fixture.ts';
import { one } from './terraform-json.ts';

/** The stack for `config`, synthesized once per distinct config (a synth takes 1-2 s). */
const synthesized = new Map<string, ReturnType<typeof synthStack>>();
function stackFor(config: EnvironmentConfig): ReturnType<typeof synthStack> {
  const key = JSON.stringify(config);
  const stack = synthesized.get(key) ?? synthStack(config);
  synthesized.set(key, stack);
  return stack;
}

/** The environment variables of the mail-dispatcher function the stack synthesizes for `config`. */
function dispatcherEnvironment(config: EnvironmentConfig): Record<string, string> {
  const [, fn] = one(stackFor(config), 'aws_lambda_function', {
    function_name: `sidestep-${config.name}-mail-dispatcher`,
  });
  return fn.environment.variables;
}

// SES accepts at most the account's maximum send rate, 1 mail per second in the sandbox, and
// throttles the rest: https://docs.aws.amazon.com/ses/latest/dg/quotas.html,
// https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html
describe('the mail send rate (SIDESTEP_<ENV>_MAIL_MAX_SEND_RATE -> MAIL_MAX_SEND_RATE)', () => {
  it("defaults to the SES sandbox's 1 mail per second on staging and production, and the mail-dispatcher gets it", () => {
    const configs = environmentConfigs({});
    expect(configs.staging.mail.maxSendRate).toBe(1);
    expect(configs.production.mail.maxSendRate).toBe(1);
    expect(dispatcherEnvironment(configs.staging)).toMatchObject({ MAIL_MAX_SEND_RATE: '1' });
    // A config written by hand without the field is an AWS environment too: the same default.
    expect(STAGING.mail.maxSendRate).toBeUndefined();
    expect(dispatcherEnvironment(STAGING)).toMatchObject({ MAIL_MAX_SEND_RATE: '1' });
  });

  it('leaves the local environment without one: the local cloud decides its own', () => {
    const local = environmentConfigs({}).local;
    expect(local.mail.maxSendRate).toBeUndefined();
    expect(dispatcherEnvironment(local)).not.toHaveProperty('MAIL_MAX_SEND_RATE');
  });

  it('passes a configured rate, whole or decimal, written as a plain decimal', () => {
    for (const [setting, variable] of [
      ['14', '14'],
      ['0.5', '0.5'],
      ['100000', '100000'],
      ['007.50', '7.5'],
      ['.5', '0.5'],
      // String(0.0000001) is "1e-7", which the variable's contract does not allow.
      ['0.0000001', '0.0000001'],
    ] as const) {
      const config = environmentConfigs({ SIDESTEP_PRODUCTION_MAIL_MAX_SEND_RATE: setting }).production;
      expect([setting, config.mail.maxSendRate]).toEqual([setting, Number(setting)]);
      // The variable's text is sendRateText's (tested in @sidestep/manifest): synthesized for the
      // setting that String would write with an exponent.
      if (setting === '0.0000001') {
        expect([setting, dispatcherEnvironment(config).MAIL_MAX_SEND_RATE]).toEqual([setting, variable]);
      }
    }
    expect(dispatcherEnvironment({ ...STAGING, mail: { ...STAGING.mail, maxSendRate: 14 } })).toMatchObject({
      MAIL_MAX_SEND_RATE: '14',
    });
  });

  it('refuses at synth a rate that is not a decimal number above 0 and at most 100000, naming the setting', () => {
    for (const setting of [
      '0',
      '0.0',
      '-1',
      '100001',
      '100000.5',
      '1e3',
      '14/s',
      '14 ',
      'fast',
      '1,000',
      ' ',
    ]) {
      expect(() => environmentConfigs({ SIDESTEP_STAGING_MAIL_MAX_SEND_RATE: setting })).toThrow(
        expect.objectContaining({
          name: 'InfraConfigError',
          field: 'staging.mail.maxSendRate',
          message: expect.stringContaining(
            `SIDESTEP_STAGING_MAIL_MAX_SEND_RATE: must be a number of mails per second`,
          ),
        }),
      );
    }
    for (const maxSendRate of [0, -1, 100_001, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => synthStack({ ...STAGING, mail: { ...STAGING.mail, maxSendRate } })).toThrow(
        expect.objectContaining({ name: 'InfraConfigError', field: 'staging.mail.maxSendRate' }),
      );
    }
    expect(() => synthStack({ ...STAGING, mail: { ...STAGING.mail, maxSendRate: 0 } })).toThrow(
      InfraConfigError,
    );
  });
});

describe("the mail queue's mapping at the send rate (pacedForSendRate)", () => {
  /** The mail queue's event source mapping for `config`. */
  function mailMapping(config: EnvironmentConfig): {
    batch_size: number;
    scaling_config: { maximum_concurrency: number };
  } {
    const tf = stackFor(config);
    const [address] = one(tf, 'aws_lambda_function', {
      function_name: `sidestep-${config.name}-mail-dispatcher`,
    });
    const [, mapping] = one(tf, 'aws_lambda_event_source_mapping', { function_name: `\${${address}.arn}` });
    return mapping;
  }

  it.each([
    [undefined, 2, 10],
    [0.5, 2, 6],
    [14, 5, 10],
  ])(
    'runs as many sandboxes, with batches as large, as send a whole batch within an invocation (rate %p: %p sandboxes, batches of %p)',
    (maxSendRate, maximumConcurrency, batchSize) => {
      const config =
        maxSendRate === undefined ? STAGING : { ...STAGING, mail: { ...STAGING.mail, maxSendRate } };
      const mapping = mailMapping(config);
      expect([mapping.scaling_config.maximum_concurrency, mapping.batch_size]).toEqual([
        maximumConcurrency,
        batchSize,
      ]);
    },
  );
});
