import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { createTransport, type Transporter } from 'nodemailer';
import type { OutgoingMail } from '../domain/compose-mail.ts';
import type { MailSender } from '../domain/dispatch-mail.ts';
import { MailTransportError } from '../errors.ts';

export type MailTransportConfig =
  | { readonly kind: 'ses'; readonly configurationSet?: string | undefined }
  | { readonly kind: 'smtp'; readonly url: string };

/**
 * nodemailer builds the MIME message (encoding, multipart, folding) for both transports: SES v2
 * `SendEmail` with raw content on AWS, plain SMTP where an SMTP relay is configured (the local
 * cloud's sink, or a corporate relay).
 */
export function createMailSender(config: MailTransportConfig): MailSender {
  const transporter: Transporter =
    config.kind === 'ses'
      ? createTransport({ SES: { sesClient: new SESv2Client({}), SendEmailCommand } })
      : createTransport(smtpOptions(config.url));
  return {
    async send(mail: OutgoingMail) {
      try {
        const info = await transporter.sendMail({
          from: mail.from,
          to: [...mail.to],
          subject: mail.subject,
          text: mail.text,
          html: mail.html,
          messageId: mail.messageId,
          headers: { ...mail.headers },
          // nodemailer passes `ses` options to SendEmailCommand (configuration set for reputation metrics).
          ...(config.kind === 'ses' && config.configurationSet
            ? { ses: { ConfigurationSetName: config.configurationSet } }
            : {}),
        });
        return { messageId: String(info.messageId ?? mail.messageId) };
      } catch (error) {
        throw new MailTransportError(
          `mail transport ${config.kind} failed: ${(error as Error).message}`,
          error,
        );
      }
    },
  };
}

/**
 * SMTP options from `smtp://user:pass@host:port` (or `smtps://`). Parsed here with the WHATWG URL API
 * because nodemailer's own URL handling goes through the deprecated `url.parse()` (DEP0169), whose
 * warning would otherwise be printed at every cold start.
 */
export function smtpOptions(url: string) {
  const parsed = new URL(url);
  const secure = parsed.protocol === 'smtps:';
  return {
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : secure ? 465 : 587,
    secure,
    ...(parsed.username
      ? { auth: { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } }
      : {}),
  };
}
