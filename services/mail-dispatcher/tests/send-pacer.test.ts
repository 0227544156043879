import { describe, expect, it } from '@jest/globals';
import { pacedSender, SendPacer } from '../src/adapters/send-pacer.ts';
import { loadConfig } from '../src/config.ts';
import type { OutgoingMail } from '../src/domain/compose-mail.ts';
import type { MailSender } from '../src/domain/dispatch-mail.ts';
import { SendDeferredError } from '../src/errors.ts';

/** A clock that stands still unless moved; `sleep` records the wait and moves it. */
function manualClock(start = 1_000_000) {
  const clock = {
    time: start,
    waits: [] as number[],
    now: () => clock.time,
    sleep: async (ms: number) => {
      clock.waits.push(ms);
    },
  };
  return clock;
}

function recordingSender(): MailSender & { sent: OutgoingMail[] } {
  const sent: OutgoingMail[] = [];
  return {
    sent,
    async send(mail) {
      sent.push(mail);
      return { messageId: mail.messageId };
    },
  };
}

describe('SendPacer (SES maximum send rate: https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html)', () => {
  it('spaces the sends that ask at once 1 / perSecond apart, the first at once', async () => {
    const clock = manualClock();
    const pacer = new SendPacer(4, clock);
    expect(await Promise.all([pacer.slot(), pacer.slot(), pacer.slot()])).toEqual([true, true, true]);
    expect(clock.waits).toEqual([250, 500]);
  });

  it('gives a slot at once again once the interval has passed', async () => {
    const clock = manualClock();
    const pacer = new SendPacer(2, clock);
    await pacer.slot();
    clock.time += 200;
    await pacer.slot();
    clock.time += 2_000;
    await pacer.slot();
    expect(clock.waits).toEqual([300]);
  });

  it('refuses a slot that would come after notAfter, without taking it', async () => {
    const clock = manualClock();
    const pacer = new SendPacer(1, clock);
    expect(await pacer.slot(clock.time)).toBe(true);
    // The next slot is a second away: not before a deadline half a second away.
    expect(await pacer.slot(clock.time + 500)).toBe(false);
    // Refused, it took nothing: the next send still gets the slot a second after the first.
    expect(await pacer.slot(clock.time + 1_000)).toBe(true);
    expect(clock.waits).toEqual([1_000]);
  });

  it('takes a slot per recipient: SES counts recipients, not messages (https://docs.aws.amazon.com/ses/latest/dg/quotas.html)', async () => {
    const clock = manualClock();
    const pacer = new SendPacer(10, clock);
    await pacer.slot(Number.POSITIVE_INFINITY, 3);
    await pacer.slot(Number.POSITIVE_INFINITY, 1);
    await pacer.slot(Number.POSITIVE_INFINITY, 1);
    expect(clock.waits).toEqual([300, 400]);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('refuses a rate of %s', (rate) => {
    expect(() => new SendPacer(rate)).toThrow(RangeError);
  });
});

describe('pacedSender', () => {
  const mail = { messageId: '<m@x>', to: ['a@example.com'] } as unknown as OutgoingMail;

  it('takes as many slots as the mail has recipients', async () => {
    const clock = manualClock();
    const sender = pacedSender(recordingSender(), new SendPacer(1, clock));
    await sender.send({ ...mail, to: ['a@example.com', 'b@example.com'] } as OutgoingMail);
    await sender.send(mail);
    expect(clock.waits).toEqual([2_000]);
  });

  it('sends when the slot comes in time', async () => {
    const inner = recordingSender();
    const sender = pacedSender(inner, new SendPacer(10, manualClock()));
    await expect(sender.send(mail, { notAfter: Number.POSITIVE_INFINITY })).resolves.toEqual({
      messageId: '<m@x>',
    });
    expect(inner.sent).toEqual([mail]);
  });

  it('gives the mail back, not sent and deferred (not failed), naming the rate, when its slot would come after notAfter', async () => {
    const clock = manualClock();
    const inner = recordingSender();
    const sender = pacedSender(inner, new SendPacer(0.5, clock));
    await sender.send(mail, { notAfter: clock.time });
    const error = await sender
      .send(mail, { notAfter: clock.time + 1_000 })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SendDeferredError);
    // Deferred, not failed: the SQS handler reports it back without counting a failure.
    expect(error).toMatchObject({ permanent: false, deferred: true });
    expect((error as Error).message).toMatch(/0\.5 recipients per second.*MAIL_MAX_SEND_RATE/);
    expect(inner.sent).toHaveLength(1);
  });
});

describe('MAIL_MAX_SEND_RATE', () => {
  const base = { MAIL_FROM: 'no-reply@mail.example.com', MAIL_TRANSPORT: 'ses' };

  it('is read as mails per second for the whole function, and is optional', () => {
    expect(loadConfig({ ...base, MAIL_MAX_SEND_RATE: '14' }).maxSendRate).toBe(14);
    expect(loadConfig({ ...base, MAIL_MAX_SEND_RATE: '0.5' }).maxSendRate).toBe(0.5);
    expect(loadConfig(base).maxSendRate).toBeUndefined();
  });

  it.each(['0', '-1', 'fast', '1e3', '14/s', '100001', ''])('refuses %j, naming the variable', (value) => {
    expect(() => loadConfig({ ...base, MAIL_MAX_SEND_RATE: value })).toThrow(
      expect.objectContaining({ name: 'ConfigError', field: 'MAIL_MAX_SEND_RATE' }),
    );
  });
});
