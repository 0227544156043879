import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { InvalidSendRateError, MAX_SEND_RATE_LIMIT } from '@sidestep/manifest';
import { createVirtualClock, type VirtualClock } from '../src/scheduler.ts';
import { type DeliveredMail, type SmtpSink, startSmtpSink, type ThrottledMail } from '../src/smtp-sink.ts';
import { sendMail } from './fixtures/echo-service/smtp-client.mjs';

let dir: string;
let outboxDir: string;
let clock: VirtualClock;
const sinks: SmtpSink[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'smtp-sink-rate-'));
  outboxDir = join(dir, 'outbox');
  clock = createVirtualClock(new Date('2026-12-05T12:00:00.000Z'));
});

afterEach(async () => {
  await Promise.all(sinks.splice(0).map((sink) => sink.stop()));
  await rm(dir, { recursive: true, force: true });
});

/** A sink at `maxSendRate` on the test's virtual clock, recording what it stores and refuses. */
async function rateSink(maxSendRate: number) {
  const delivered: DeliveredMail[] = [];
  const throttled: ThrottledMail[] = [];
  const sink = await startSmtpSink({
    outboxDir,
    port: 0,
    maxSendRate,
    clock,
    onMail: (mail) => delivered.push(mail),
    onThrottle: (mail) => throttled.push(mail),
  });
  sinks.push(sink);
  const send = (n: number) =>
    sendMail({
      port: sink.port,
      from: 'no-reply@local.mail.example.com',
      to: [`user${n}@example.com`],
      data: `Subject: mail ${n}\r\nMessage-ID: <m${n}@x>\r\n\r\nbody ${n}`,
    });
  return { sink, delivered, throttled, send };
}

/** The SMTP reply a send got: `250 ...` when accepted, the refusal otherwise. */
const replyOf = (sending: Promise<string>) =>
  sending.then(
    (reply) => reply,
    (error: Error) => /answered "([^"]*)"/.exec(error.message)?.[1] ?? error.message,
  );

// SES's SMTP interface answers a mail over the account's maximum sending rate with "454 Throttling
// failure: Maximum sending rate exceeded" after DATA
// (https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html).
describe('startSmtpSink with maxSendRate (SES maximum sending rate)', () => {
  it('refuses the mail over the rate with 454 4.7.0 after DATA, stores nothing for it and counts it', async () => {
    const { sink, delivered, throttled, send } = await rateSink(5);
    const replies: string[] = [];
    for (let n = 1; n <= 7; n++) replies.push(await replyOf(send(n)));
    expect(replies.slice(0, 5).every((reply) => reply.startsWith('250 '))).toBe(true);
    expect(replies.slice(5)).toEqual([
      '454 4.7.0 Throttling failure: Maximum sending rate exceeded.',
      '454 4.7.0 Throttling failure: Maximum sending rate exceeded.',
    ]);
    expect(delivered.map((mail) => mail.subject)).toEqual(['mail 1', 'mail 2', 'mail 3', 'mail 4', 'mail 5']);
    expect((await readdir(outboxDir)).length).toBe(5);
    expect(sink.throttled).toBe(2);
    expect(sink.maxSendRate).toBe(5);
    expect(throttled).toEqual([
      { from: 'no-reply@local.mail.example.com', to: ['user6@example.com'], maxSendRate: 5, throttled: 1 },
      { from: 'no-reply@local.mail.example.com', to: ['user7@example.com'], maxSendRate: 5, throttled: 2 },
    ]);
  });

  it('refills at the rate, holding at most a second of burst', async () => {
    const { delivered, send } = await rateSink(5);
    for (let n = 1; n <= 5; n++) await send(n);
    expect(await replyOf(send(6))).toMatch(/^454 /);
    // A fifth of a second refills one token.
    await clock.advanceBy(200);
    expect(await replyOf(send(7))).toMatch(/^250 /);
    expect(await replyOf(send(8))).toMatch(/^454 /);
    // Ten seconds idle refill one second's worth, not ten.
    await clock.advanceBy(10_000);
    for (let n = 9; n <= 13; n++) expect(await replyOf(send(n))).toMatch(/^250 /);
    expect(await replyOf(send(14))).toMatch(/^454 /);
    expect(delivered).toHaveLength(11);
  });

  it('counts recipients, as SES does: a mail to more recipients than the rate is paid off before the next', async () => {
    const { sink } = await rateSink(2);
    const sendTo = (count: number) =>
      replyOf(
        sendMail({
          port: sink.port,
          from: 'no-reply@local.mail.example.com',
          to: Array.from({ length: count }, (_, n) => `r${n}@example.com`),
          data: 'Subject: many\r\n\r\nbody',
        }),
      );
    expect(await sendTo(3)).toMatch(/^250 /);
    // 2 tokens, 3 recipients: a token in debt, paid off after half a second, a whole token after one.
    await clock.advanceBy(999);
    expect(await sendTo(1)).toMatch(/^454 /);
    await clock.advanceBy(1);
    expect(await sendTo(1)).toMatch(/^250 /);
  });

  it('lets senders that keep to the rate together through, each paced at its share, not in step', async () => {
    const { sink, send } = await rateSink(10);
    // Five senders at 2 a second each, started 0, 37, 91, 150 and 233 ms in: their mails bunch.
    const starts = [0, 37, 91, 150, 233];
    const times = starts.flatMap((start) => Array.from({ length: 4 }, (_, k) => start + k * 500));
    let now = 0;
    let n = 0;
    for (const at of times.sort((a, b) => a - b)) {
      await clock.advanceBy(at - now);
      now = at;
      expect(await replyOf(send(++n))).toMatch(/^250 /);
    }
    expect(sink.throttled).toBe(0);
  });

  it('keeps a fractional rate on average: at 0.5 a second, one mail in any two seconds', async () => {
    const { send } = await rateSink(0.5);
    expect(await replyOf(send(1))).toMatch(/^250 /);
    await clock.advanceBy(1_999);
    expect(await replyOf(send(2))).toMatch(/^454 /);
    await clock.advanceBy(1);
    expect(await replyOf(send(3))).toMatch(/^250 /);
  });

  it('lets a sender spaced evenly at exactly the rate through, a fractional rate too', async () => {
    const { sink, send } = await rateSink(2.5);
    for (let n = 1; n <= 8; n++) {
      expect(await replyOf(send(n))).toMatch(/^250 /);
      await clock.advanceBy(400);
    }
    expect(sink.throttled).toBe(0);
  });

  it('has no rate without maxSendRate', async () => {
    const sink = await startSmtpSink({ outboxDir, port: 0, clock });
    sinks.push(sink);
    for (let n = 1; n <= 6; n++) {
      await sendMail({
        port: sink.port,
        from: 'a@example.com',
        to: ['b@example.com'],
        data: 'Subject: x\r\n\r\nx',
      });
    }
    expect(sink.maxSendRate).toBeUndefined();
    expect(sink.throttled).toBe(0);
    expect((await readdir(outboxDir)).length).toBe(6);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, MAX_SEND_RATE_LIMIT + 1, '5' as unknown as number])(
    'refuses maxSendRate %p with InvalidSendRateError naming the field, starting nothing',
    async (maxSendRate) => {
      const starting = startSmtpSink({ outboxDir, port: 0, maxSendRate });
      await expect(starting).rejects.toThrow(InvalidSendRateError);
      await expect(starting).rejects.toThrow(
        expect.objectContaining({ name: 'InvalidSendRateError', field: 'maxSendRate' }),
      );
      await expect(starting).rejects.toThrow(/^maxSendRate: must be a number of mails per second/);
    },
  );
});
