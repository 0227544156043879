import { describe, expect, it } from '@jest/globals';
import {
  MAIL_LOCALES,
  MAIL_TEMPLATE_NAMES,
  MAX_REJECTED_SAMPLES,
  MailSendJob,
  validate,
} from '@sidestep/contracts';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { mailOptions } from '../src/adapters/mail-transport.ts';
import { composeMail } from '../src/domain/compose-mail.ts';

/**
 * The longest line a message may have, in octets without its CRLF: RFC 5322 2.1.1 ("MUST be no more
 * than 998 characters"); RFC 5321 4.5.3.1.6 allows 1000 with the CRLF, and SES refuses a raw message
 * with a longer line ("The length of any single line of text in the message can't exceed 1,000
 * characters", https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_RawMessage.html), which
 * the dispatcher can only dead-letter.
 */
const MAX_LINE_OCTETS = 998;

/** Each param at the longest its contract allows (packages/contracts/src/mail.ts). */
function longestParams(text: (length: number) => string) {
  const jobId = 'j'.repeat(128);
  const fileName = text(1000);
  return {
    'import.completed': {
      jobId,
      fileName,
      rows: Number.MAX_SAFE_INTEGER,
      usersWritten: Number.MAX_SAFE_INTEGER,
      rejectedRows: Number.MAX_SAFE_INTEGER,
      rejectedSamples: Array.from({ length: MAX_REJECTED_SAMPLES }, (_, index) => ({
        line: index + 1,
        field: text(200),
        reason: text(500),
      })),
    },
    'import.failed': { jobId, fileName, reason: text(2000) },
    'export.ready': {
      jobId,
      rows: Number.MAX_SAFE_INTEGER,
      downloadUrl: `https://downloads.example.com/${'d'.repeat(4000)}`,
      downloadExpiresAt: '2026-12-01T09:00:00.000Z',
    },
    'export.failed': { jobId, reason: text(2000) },
  } as const;
}

/** Words without a space, which no folding can break: ASCII, CJK, and astral (two UTF-16 units each). */
const TEXTS = {
  ascii: (length: number) => 'a'.repeat(length),
  cjk: (length: number) => '日'.repeat(length),
  astral: (length: number) => '😀'.repeat(length / 2),
} as const;

async function rawMessage(payload: Record<string, unknown>): Promise<string> {
  const job = validate(MailSendJob, { type: 'mail.send', version: 1, id: 'msg-1', payload });
  const raw = await new MailComposer(mailOptions(composeMail(job, 'no-reply@mail.example.com')))
    .compile()
    .build();
  return raw.toString('utf8');
}

describe('the raw message of every mail', () => {
  it.each(
    Object.keys(TEXTS).flatMap((text) =>
      MAIL_TEMPLATE_NAMES.flatMap((template) =>
        MAIL_LOCALES.map((locale) => [template, locale, text as keyof typeof TEXTS] as const),
      ),
    ),
  )(
    'has no line over 998 octets for %s in %s with every param at its longest (%s, no spaces)',
    async (template, locale, text) => {
      const raw = await rawMessage({
        template,
        locale,
        to: 'ops@example.com',
        jobId: 'j'.repeat(128),
        idempotencyKey: TEXTS[text](256),
        params: longestParams(TEXTS[text])[template],
      });
      const longest = raw
        .split('\r\n')
        .map((line) => Buffer.byteLength(line))
        .reduce((a, b) => Math.max(a, b));
      expect(longest).toBeLessThanOrEqual(MAX_LINE_OCTETS);
    },
  );

  it('has no line over 998 octets for an idempotency key of 256 control characters (escaped sixfold in its header)', async () => {
    const raw = await rawMessage({
      template: 'export.failed',
      to: 'ops@example.com',
      idempotencyKey: '\u0001'.repeat(256),
      params: longestParams(TEXTS.ascii)['export.failed'],
    });
    const longest = raw
      .split('\r\n')
      .map((line) => Buffer.byteLength(line))
      .reduce((a, b) => Math.max(a, b));
    expect(longest).toBeLessThanOrEqual(MAX_LINE_OCTETS);
  });
});
