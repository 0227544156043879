import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createVirtualClock } from '../src/scheduler.ts';
import {
  type DeliveredMail,
  type QuotaExceededMail,
  type RejectedMail,
  type SmtpSink,
  type SmtpSinkOptions,
  startSmtpSink,
} from '../src/smtp-sink.ts';
import { sendMail } from './fixtures/echo-service/smtp-client.mjs';

/** A sink on a free port, its outbox in a new temporary directory `<prefix>...`, which `stop` removes. */
async function startSinkIn(prefix: string, options: Omit<SmtpSinkOptions, 'outboxDir' | 'port'>) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const sink = await startSmtpSink({ outboxDir: join(dir, 'outbox'), port: 0, ...options });
  return {
    dir,
    sink,
    stop: async () => {
      await sink.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

let dir: string;
let sink: SmtpSink;
let stopSink: () => Promise<void>;
const delivered: DeliveredMail[] = [];
const rejected: RejectedMail[] = [];

beforeAll(async () => {
  ({
    dir,
    sink,
    stop: stopSink,
  } = await startSinkIn('smtp-sink-sandbox-', {
    sandbox: { verifiedRecipients: ['ops@example.com', 'verified.example'], region: 'ap-northeast-1' },
    onMail: (mail) => delivered.push(mail),
    onRejected: (mail) => rejected.push(mail),
  }));
});

afterAll(() => stopSink?.());

/** The SMTP reply a send to `to` through `port` got: `250 ...` when accepted, the refusal otherwise. */
const sendThrough = (port: number, to: string[], n: number) =>
  sendMail({
    port,
    from: 'no-reply@local.mail.example.com',
    to,
    data: `Subject: mail ${n}\r\nMessage-ID: <s${n}@x>\r\n\r\nbody ${n}`,
  }).then(
    (reply: string) => reply,
    (error: Error) => /answered "([^"]*)"/.exec(error.message)?.[1] ?? error.message,
  );
const send = (to: string[], n: number) => sendThrough(sink.port, to, n);

// A new account's SES is in the sandbox: it sends only to verified identities, and its SMTP interface
// refuses any other recipient with "554 Message rejected: Email address is not verified. The
// following identities failed the check in region REGION: ..."
// (https://repost.aws/knowledge-center/ses-554-400-message-rejected-error).
describe('startSmtpSink with a sandbox (the SES sandbox)', () => {
  it('takes a mail to verified addresses and to addresses of a verified domain', async () => {
    expect(await send(['ops@example.com'], 1)).toMatch(/^250 /);
    expect(await send(['anyone@VERIFIED.example'], 2)).toMatch(/^250 /);
    expect(delivered.map((mail) => mail.to)).toEqual([['ops@example.com'], ['anyone@VERIFIED.example']]);
  });

  it('refuses, after DATA, a mail to any recipient not verified, naming them and the region, and stores nothing for it', async () => {
    const before = (await readdir(join(dir, 'outbox'))).length;
    const reply = await send(['ops@example.com', 'jane@example.org'], 3);
    // smtp-server adds an enhanced status code; SES's own reply is the same text after "554".
    expect(reply).toBe(
      '554 5.6.0 Message rejected: Email address is not verified. The following identities failed the check in region AP-NORTHEAST-1: jane@example.org',
    );
    expect(rejected.at(-1)).toEqual({
      from: 'no-reply@local.mail.example.com',
      to: ['ops@example.com', 'jane@example.org'],
      unverified: ['jane@example.org'],
    });
    expect((await readdir(join(dir, 'outbox'))).length).toBe(before);
  });

  // "Email addresses are case-sensitive" (the same page): a verified address in another case is not it.
  it('compares a verified address exactly', async () => {
    expect(await send(['Ops@example.com'], 4)).toMatch(/^554 .* region AP-NORTHEAST-1: Ops@example\.com$/);
  });
});

// "You can send a maximum of 200 messages per 24-hour period" in the sandbox
// (https://docs.aws.amazon.com/ses/latest/dg/request-production-access.html); past it SES's SMTP
// interface answers "454 Throttling failure: Daily message quota exceeded"
// (https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html).
describe("the SES sandbox's sending quota of 24 hours", () => {
  it('takes recipients up to the quota in any 24 hours, refuses the mail past it with 454, and takes mail again as they age out', async () => {
    const clock = createVirtualClock(new Date('2026-12-07T00:00:00.000Z'));
    const exceeded: QuotaExceededMail[] = [];
    const quotaDir = await mkdtemp(join(tmpdir(), 'smtp-sink-quota-'));
    const limited = await startSmtpSink({
      outboxDir: join(quotaDir, 'outbox'),
      port: 0,
      clock,
      sandbox: { verifiedRecipients: ['example.com'], region: 'us-east-1', max24HourSend: 3 },
      onQuotaExceeded: (mail) => exceeded.push(mail),
    });
    const sendTo = (to: string[], n: number) => sendThrough(limited.port, to, 100 + n);
    try {
      expect(await sendTo(['a@example.com', 'b@example.com'], 1)).toMatch(/^250 /);
      await clock.advanceBy(3_600_000);
      // Two recipients would make 4 of 3: refused whole, and it counts for nothing.
      expect(await sendTo(['c@example.com', 'd@example.com'], 2)).toBe(
        '454 4.7.0 Throttling failure: Daily message quota exceeded.',
      );
      expect(await sendTo(['c@example.com'], 3)).toMatch(/^250 /);
      expect(await sendTo(['d@example.com'], 4)).toMatch(/^454 /);
      expect(exceeded.map((mail) => mail.sentLast24Hours)).toEqual([2, 3]);
      expect(exceeded[0]).toMatchObject({ to: ['c@example.com', 'd@example.com'], max24HourSend: 3 });
      // 24 hours after the first mail its two recipients no longer count.
      await clock.advanceBy(23 * 3_600_000);
      expect(await sendTo(['d@example.com', 'e@example.com'], 5)).toMatch(/^250 /);
      // The quota is reached again; the mailbox simulator's mails "don't affect your daily sending
      // limits" (https://docs.aws.amazon.com/ses/latest/dg/send-an-email-from-console.html#send-email-simulator).
      expect(await sendTo(['f@example.com'], 6)).toMatch(/^454 /);
      expect(await sendTo(['success@simulator.amazonses.com'], 7)).toMatch(/^250 /);
    } finally {
      await limited.stop();
      await rm(quotaDir, { recursive: true, force: true });
    }
  });

  // A mail that could not be stored (451) was not sent: the sender tries it again, not counted twice.
  it('gives back the quota a mail took when it could not be stored', async () => {
    const quotaDir = await mkdtemp(join(tmpdir(), 'smtp-sink-quota-'));
    const outboxDir = join(quotaDir, 'outbox');
    const limited = await startSmtpSink({
      outboxDir,
      port: 0,
      sandbox: { verifiedRecipients: ['example.com'], region: 'us-east-1', max24HourSend: 1 },
    });
    try {
      await rm(outboxDir, { recursive: true, force: true });
      expect(await sendThrough(limited.port, ['a@example.com'], 201)).toMatch(
        /^451 .*could not store the mail/,
      );
      await mkdir(outboxDir);
      expect(await sendThrough(limited.port, ['a@example.com'], 202)).toMatch(/^250 /);
    } finally {
      await limited.stop();
      await rm(quotaDir, { recursive: true, force: true });
    }
  });

  it('lets mail go to the SES mailbox simulator, which the sandbox takes without verifying it', async () => {
    expect(await send(['success@simulator.amazonses.com'], 7)).toMatch(/^250 /);
  });
});

// SES sends only from a verified identity, in the sandbox and out of it: "Email address is not
// verified. ... This error could apply to the From, Source, Sender, or Return-Path address"
// (https://docs.aws.amazon.com/ses/latest/dg/troubleshoot-error-messages.html).
describe('startSmtpSink with verified senders (SES sends only from a verified identity)', () => {
  let senderDir: string;
  let senders: SmtpSink;
  let stopSenders: () => Promise<void>;
  const refused: RejectedMail[] = [];

  beforeAll(async () => {
    ({
      dir: senderDir,
      sink: senders,
      stop: stopSenders,
    } = await startSinkIn('smtp-sink-senders-', {
      verifiedSenders: { identities: ['local.mail.example.com', 'ops@example.com'], region: 'us-east-1' },
      onRejected: (mail) => refused.push(mail),
    }));
  });

  afterAll(() => stopSenders?.());

  /** The reply to a mail from `envelopeFrom` whose `From:` header is `headerFrom`, to anyone (no sandbox). */
  const sendFrom = (envelopeFrom: string, headerFrom: string, n: number) =>
    sendMail({
      port: senders.port,
      from: envelopeFrom,
      to: ['anyone@example.org'],
      data: `From: ${headerFrom}\r\nSubject: mail ${n}\r\nMessage-ID: <f${n}@x>\r\n\r\nbody ${n}`,
    }).then(
      (reply: string) => reply,
      (error: Error) => /answered "([^"]*)"/.exec(error.message)?.[1] ?? error.message,
    );

  it('takes a mail from an address of a verified domain (any case) or a verified address, to anyone', async () => {
    expect(
      await sendFrom('no-reply@local.mail.example.com', 'Sidestep <no-reply@LOCAL.mail.example.com>', 1),
    ).toMatch(/^250 /);
    expect(await sendFrom('ops@example.com', 'ops@example.com', 2)).toMatch(/^250 /);
    expect(refused).toEqual([]);
  });

  // "you can send email from any subdomain ... a.example.com, a.b.example.com" (creating-identities.html).
  it('takes a mail from a subdomain of a verified domain, and checks a Sender: header too', async () => {
    expect(
      await sendFrom('bounce@mail.local.mail.example.com', 'no-reply@a.b.local.mail.example.com', 6),
    ).toMatch(/^250 /);
    const reply = await sendMail({
      port: senders.port,
      from: 'no-reply@local.mail.example.com',
      to: ['anyone@example.org'],
      data: 'From: no-reply@local.mail.example.com\r\nSender: agent@elsewhere.example\r\nSubject: s\r\n\r\nbody',
    }).then(
      (answer: string) => answer,
      (error: Error) => /answered "([^"]*)"/.exec(error.message)?.[1] ?? error.message,
    );
    expect(reply).toMatch(/^554 .* region US-EAST-1: agent@elsewhere\.example$/);
    expect(refused.splice(0).map((mail) => mail.unverified)).toEqual([['agent@elsewhere.example']]);
  });

  it('refuses, after DATA, a mail whose From: or envelope sender is not verified, naming it and the region', async () => {
    const before = (await readdir(join(senderDir, 'outbox'))).length;
    expect(await sendFrom('no-reply@local.mail.example.com', 'someone@elsewhere.example', 3)).toBe(
      '554 5.6.0 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: someone@elsewhere.example',
    );
    expect(await sendFrom('bounce@elsewhere.example', 'no-reply@local.mail.example.com', 4)).toMatch(
      /^554 .* region US-EAST-1: bounce@elsewhere\.example$/,
    );
    // "Email addresses are case-sensitive": a verified address in another case is not it.
    expect(await sendFrom('Ops@example.com', 'Ops@example.com', 5)).toMatch(/^554 .*: Ops@example\.com$/);
    expect(refused.map((mail) => mail.unverified)).toEqual([
      ['someone@elsewhere.example'],
      ['bounce@elsewhere.example'],
      ['Ops@example.com'],
    ]);
    expect((await readdir(join(senderDir, 'outbox'))).length).toBe(before);
  });
});
