import { createHash } from 'node:crypto';
import type { MailSendJob } from '@sidestep/contracts';
import { IDEMPOTENCY_KEY_HEADER, idempotencyKeyHeaderValue } from '@sidestep/contracts';
import { HeaderInjectionError } from '../errors.ts';
import { renderTemplate } from './templates.ts';

/** A mail ready for any transport. */
export interface OutgoingMail {
  readonly from: string;
  readonly to: readonly string[];
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /**
   * Deterministic per idempotency key: through an SMTP relay, which keeps it, two copies of one mail
   * carry the same Message-ID. SES replaces it with its own ("If you provide a Message-ID header,
   * Amazon SES overrides the header with its own value",
   * https://docs.aws.amazon.com/ses/latest/dg/header-fields.html): there the
   * `X-Sidestep-Idempotency-Key` header is what names the mail's key.
   */
  readonly messageId: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly idempotencyKey: string;
}

/** The key a mail is sent once for: the payload's, or the envelope id. */
export function idempotencyKeyOf(job: MailSendJob): string {
  return job.payload.idempotencyKey ?? job.id;
}

const LINE_BREAK = /[\r\n]/;

/**
 * Renders a mail job into an outgoing mail. Every header value is checked for CR/LF even though the
 * contract already refuses them in params: a template can combine values, and a header is where an
 * injection does harm, so the last check sits where the header is made.
 */
export function composeMail(job: MailSendJob, from: string): OutgoingMail {
  const { payload } = job;
  const rendered = renderTemplate(payload.template, payload.locale, payload.params as never);
  const to = Array.isArray(payload.to) ? payload.to : [payload.to];
  const key = idempotencyKeyOf(job);
  // SES keeps headers it does not set itself, where it replaces the Message-ID (see messageId).
  const headers: Record<string, string> = {
    // Every sidestep mail is sent by a machine: RFC 3834 section 5 asks automatic responders
    // (vacation replies) not to answer it. SES takes the field (it may appear once:
    // https://docs.aws.amazon.com/ses/latest/dg/header-fields.html).
    'Auto-Submitted': 'auto-generated',
    'X-Sidestep-Template': payload.template,
    [IDEMPOTENCY_KEY_HEADER]: idempotencyKeyHeaderValue(key),
  };
  if (payload.jobId) headers['X-Sidestep-Job-Id'] = payload.jobId;

  const check = (header: string, value: string, field: string) => {
    if (LINE_BREAK.test(value)) throw new HeaderInjectionError(header, field);
  };
  check('From', from, 'MAIL_FROM');
  for (const [index, address] of to.entries()) {
    check('To', address, Array.isArray(payload.to) ? `payload.to[${index}]` : 'payload.to');
  }
  check('Subject', rendered.subject, 'payload.params');
  for (const [name, value] of Object.entries(headers)) check(name, value, 'payload');

  const digest = createHash('sha256').update(key).digest('hex').slice(0, 32);
  return {
    from,
    to,
    subject: rendered.subject,
    text: rendered.text,
    html: rendered.html,
    messageId: `<${digest}@sidestep.mail>`,
    headers,
    idempotencyKey: key,
  };
}
