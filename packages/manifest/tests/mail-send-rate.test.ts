import { describe, expect, it } from '@jest/globals';
import { checkSendRate, MAX_SEND_RATE_LIMIT, parseSendRate, sendRateText } from '../src/index.ts';

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
