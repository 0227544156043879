import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ServiceManifest } from '@sidestep/manifest';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import { startLocalCloud } from '../src/local-cloud.ts';
import { sendMail } from './fixtures/echo-service/smtp-client.mjs';
import { type FixtureCloud, startFixtureCloud } from './fixtures/fixture-cloud.ts';
import { fixtureDir, queuelessService } from './fixtures/manifests.ts';

/** A function granted the mail identity, as the mail-dispatcher is. */
const mailer: ServiceManifest = {
  ...queuelessService('env-service', 'returns its MAIL_* variables'),
  permissions: [{ resource: 'mail-identity', actions: ['ses:SendEmail'] }],
};

const report = createCollectingReporter();
let fixture: FixtureCloud;

beforeAll(async () => {
  fixture = await startFixtureCloud('mail-send-rate-', {
    services: [{ manifest: mailer, bundleDir: fixtureDir('env-service') }],
    mail: { maxSendRate: 2 },
    reporter: report.reporter,
  });
}, 60_000);

afterAll(() => fixture?.stop());

const send = (n: number) =>
  sendMail({
    port: fixture.cloud.smtpPort,
    from: 'no-reply@local.mail.example.com',
    to: [`user${n}@example.com`],
    data: `Subject: mail ${n}\r\n\r\nbody`,
  }).then(
    (reply) => reply,
    (error: Error) => error.message,
  );

describe('a local cloud started with mail: { maxSendRate }', () => {
  it('hands the rate to a service granted mail-identity as MAIL_MAX_SEND_RATE, as infra does on AWS', async () => {
    const { cloud } = fixture;
    expect(cloud.mail.maxSendRate).toBe(2);
    expect(await cloud.invoke('env-service', { prefix: 'MAIL_' })).toMatchObject({
      ok: true,
      payload: { MAIL_TRANSPORT: 'smtp', MAIL_MAX_SEND_RATE: '2' },
    });
  });

  // https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html
  it('starts its SMTP sink at that rate: the mails over it are refused with 454 and reported', async () => {
    // Five at once at 2 a second: however loaded the machine, they do not spread over 2 s.
    const replies = await Promise.all([1, 2, 3, 4, 5].map(send));
    const refused = replies.filter((reply) => reply.includes('454 4.7.0 Throttling failure'));
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(replies.filter((reply) => reply.startsWith('250 '))).toHaveLength(5 - refused.length);
    expect(fixture.cloud.mail.throttled).toBe(refused.length);
    expect(report.ofType('mail-throttled')).toHaveLength(refused.length);
    expect(report.ofType('mail-throttled')[0]).toEqual({
      type: 'mail-throttled',
      from: 'no-reply@local.mail.example.com',
      to: [expect.stringMatching(/^user\d@example\.com$/)],
      maxSendRate: 2,
      throttled: 1,
    });
    expect(report.ofType('mail-delivered')).toHaveLength(5 - refused.length);
  });
});

// SES sends only from a verified identity (troubleshoot-error-messages.html): the local stack's is the
// domain of the MAIL_FROM its services get.
describe('a local cloud’s SMTP sink', () => {
  it('refuses a mail from a sender outside the stack’s mail identity, as SES does, and reports it', async () => {
    const reply = await sendMail({
      port: fixture.cloud.smtpPort,
      from: 'no-reply@elsewhere.example',
      to: ['user9@example.com'],
      data: 'From: no-reply@elsewhere.example\r\nSubject: mail 9\r\n\r\nbody',
    }).then(
      (answer) => answer,
      (error: Error) => error.message,
    );
    expect(reply).toContain('554 5.6.0 Message rejected: Email address is not verified');
    expect(report.ofType('mail-rejected')).toEqual([
      {
        type: 'mail-rejected',
        from: 'no-reply@elsewhere.example',
        to: ['user9@example.com'],
        unverified: ['no-reply@elsewhere.example'],
      },
    ]);
  });
});

describe('startLocalCloud mail option', () => {
  it('refuses a mail.maxSendRate that is no rate, naming it, before starting anything', async () => {
    const rootDir = await mkdtemp(join(tmpdir(), 'mail-bad-rate-'));
    try {
      await expect(
        startLocalCloud({ rootDir, services: [], port: 0, mail: { maxSendRate: 0 } }),
      ).rejects.toThrow(expect.objectContaining({ name: 'InvalidSendRateError', field: 'mail.maxSendRate' }));
      expect(await readdir(rootDir)).toEqual([]);
    } finally {
      await rm(rootDir, { recursive: true, force: true });
    }
  });
});

// "You can send a maximum of 1 message per second" in the SES sandbox
// (https://docs.aws.amazon.com/ses/latest/dg/request-production-access.html).
describe('a local cloud started with mail: { sandboxRecipients }', () => {
  it("sends at the sandbox's 1 a second when no rate is given, and tells a service granted mail-identity so", async () => {
    const sandboxed = await startFixtureCloud('mail-sandbox-', {
      services: [{ manifest: mailer, bundleDir: fixtureDir('env-service') }],
      mail: { sandboxRecipients: ['ops@example.com'] },
    });
    try {
      expect(sandboxed.cloud.mail).toMatchObject({ maxSendRate: 1, sandboxRecipients: ['ops@example.com'] });
      expect(await sandboxed.cloud.invoke('env-service', { prefix: 'MAIL_' })).toMatchObject({
        ok: true,
        payload: { MAIL_MAX_SEND_RATE: '1' },
      });
    } finally {
      await sandboxed.stop();
    }
  }, 60_000);
});
