import { describe, expect, it } from '@jest/globals';
import {
  checkSendRate,
  MAX_SEND_RATE_LIMIT,
  pacedForSendRate,
  parseSendRate,
  SEND_DEADLINE_MARGIN_SECONDS,
  sendRateShare,
  sendRateText,
} from '../src/index.ts';
import { sampleService } from '../src/testing.ts';

// MAIL_MAX_SEND_RATE's contract, which infra, the local cloud and the mail-dispatcher share.
describe('checkSendRate', () => {
  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, MAX_SEND_RATE_LIMIT + 1, '5' as unknown as number])(
    'refuses %p naming the field',
    (value) => {
      expect(() => checkSendRate(value, 'mail.maxSendRate')).toThrow(
        expect.objectContaining({ name: 'InvalidSendRateError', field: 'mail.maxSendRate' }),
      );
    },
  );

  it('takes a rate whose decimal text reads back as itself', () => {
    expect(checkSendRate(14, 'f')).toBe(14);
    expect(checkSendRate(MAX_SEND_RATE_LIMIT, 'f')).toBe(MAX_SEND_RATE_LIMIT);
  });
});

describe('sendRateText', () => {
  it('writes what Intl.NumberFormat writes, without making one for a rate of 1e-6 or more', () => {
    const intl = new Intl.NumberFormat('en-US', { useGrouping: false, maximumFractionDigits: 100 });
    for (const rate of [1e-6, 0.001, 0.5, 1 / 3, 1, 2.5, 14, 99_999.99, 100_000]) {
      expect([rate, sendRateText(rate)]).toEqual([rate, intl.format(rate)]);
    }
  });

  it('writes a rate as MAIL_MAX_SEND_RATE takes it: decimal, no exponent, no grouping', () => {
    expect(sendRateText(14)).toBe('14');
    expect(sendRateText(0.5)).toBe('0.5');
    expect(sendRateText(100_000)).toBe('100000');
    expect(sendRateText(1e-7)).toBe('0.0000001');
    expect(sendRateText(1 / 3)).toBe(String(1 / 3));
  });
});

describe('parseSendRate', () => {
  it('reads a decimal number of mails per second', () => {
    expect(parseSendRate('14', 'SIDESTEP_LOCAL_MAIL_MAX_SEND_RATE')).toBe(14);
    expect(parseSendRate('0.5', 'SIDESTEP_LOCAL_MAIL_MAX_SEND_RATE')).toBe(0.5);
    expect(parseSendRate('.5', 'SIDESTEP_LOCAL_MAIL_MAX_SEND_RATE')).toBe(0.5);
  });

  it.each(['', '1e3', '14/s', '0x10', ' 14', '-1', '0', '5.', '100001'])(
    'refuses %p naming the setting',
    (text) => {
      expect(() => parseSendRate(text, 'SIDESTEP_LOCAL_MAIL_MAX_SEND_RATE')).toThrow(
        expect.objectContaining({ name: 'InvalidSendRateError', field: 'SIDESTEP_LOCAL_MAIL_MAX_SEND_RATE' }),
      );
    },
  );
});

describe('pacedForSendRate (a batch must go out within one invocation: a given-back mail costs a receive)', () => {
  // A queue-fed mail sender: 30 s, batches of 10, up to 5 sandboxes.
  const mailer = sampleService;

  it.each([
    [1, 2, 10],
    [0.5, 2, 6],
    [0.1, 2, 1],
    [2, 5, 10],
    [14, 5, 10],
    [10_000, 5, 10],
  ])('at %p recipients a second: %p sandboxes, batches of %p', (rate, maximumConcurrency, batchSize) => {
    expect(pacedForSendRate(mailer, rate).queue).toMatchObject({ maximumConcurrency, batchSize });
  });

  it("lets every sandbox send a whole batch of one-recipient mails within an invocation's budget", () => {
    const budget = mailer.timeoutSeconds - SEND_DEADLINE_MARGIN_SECONDS;
    for (const rate of [0.08, 0.3, 0.5, 0.8, 1, 1.5, 2, 3, 7, 14, 50]) {
      const { maximumConcurrency = 0, batchSize = Number.POSITIVE_INFINITY } =
        pacedForSendRate(mailer, rate).queue ?? {};
      const share = sendRateShare(mailer, rate);
      // The first send goes at once, the last (batchSize - 1) slots later.
      expect([rate, (batchSize - 1) / share <= budget]).toEqual([rate, true]);
      expect(maximumConcurrency).toBeGreaterThanOrEqual(2);
    }
  });

  it('leaves a manifest alone without a rate, or when it sends no mail', () => {
    expect(pacedForSendRate(mailer, undefined)).toBe(mailer);
    const quiet = {
      ...mailer,
      permissions: [{ resource: 'mail-queue' as const, actions: ['sqs:SendMessage'] }],
    };
    expect(pacedForSendRate(quiet, 1)).toBe(quiet);
  });
});
