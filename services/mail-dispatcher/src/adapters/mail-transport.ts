import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import type Mail from 'nodemailer/lib/mailer/index.js';
import type SESTransportType from 'nodemailer/lib/ses-transport/index.js';
import type SMTPPoolType from 'nodemailer/lib/smtp-pool/index.js';
import type { OutgoingMail } from '../domain/compose-mail.ts';
import type { MailSender } from '../domain/dispatch-mail.ts';
import { MailTransportError } from '../errors.ts';

export type MailTransportConfig =
  | { readonly kind: 'ses'; readonly configurationSet?: string | undefined }
  | { readonly kind: 'smtp'; readonly url: string };

/**
 * Mails one sandbox sends at once: the records of a batch are sent in parallel (the handler's
 * `recordConcurrency`), over as many pooled SMTP connections. SES v2 answers each call on the SDK's
 * keep-alive connections; its account sending rate still applies (a throttled send is a
 * MailTransportError, retried by SQS).
 */
export const MAIL_SEND_CONCURRENCY = 10;

/**
 * nodemailer builds the MIME message (encoding, multipart, folding) for both transports: SES v2
 * `SendEmail` with raw content on AWS, plain SMTP where an SMTP relay is configured (the local
 * cloud's sink, or a corporate relay).
 *
 * Only the selected transport is loaded (at cold start, through `await`): nodemailer's entry module
 * requires all of its transports, and the SES one needs the SES client and its part of the AWS SDK,
 * so the mailer and the one transport are imported directly. `new Mailer(new Transport(options),
 * options)` is what nodemailer's `createTransport(options)` does for these options.
 *
 * The transporter is created once per container and reused by every invocation: SMTP goes through
 * nodemailer's pool (`pool: true`), so a mail costs one MAIL/RCPT/DATA exchange on an open
 * connection instead of a TCP connect, greeting and EHLO each (measured locally: ~150 ms per mail
 * without the pool, most of it the handshake); SES reuses the one SESv2Client and its connections.
 */
export async function createMailSender(config: MailTransportConfig): Promise<MailSender> {
  const transporter = config.kind === 'ses' ? await sesTransporter() : await smtpTransporter(config.url);
  return {
    async send(mail: OutgoingMail) {
      try {
        const info = await transporter.sendMail({
          ...mailOptions(mail),
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

/** The message nodemailer composes for `mail` (both transports; SES adds its own options). */
export function mailOptions(mail: OutgoingMail): Mail.Options {
  return {
    from: mail.from,
    to: [...mail.to],
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    messageId: mail.messageId,
    headers: { ...mail.headers },
  };
}

async function sesTransporter(): Promise<Mail> {
  const [{ default: Mailer }, { default: SESTransport }, { SESv2Client, SendEmailCommand }] =
    await Promise.all([
      import('nodemailer/lib/mailer/index.js'),
      import('nodemailer/lib/ses-transport/index.js'),
      import('./ses-client.ts'),
    ]);
  // The SDK's HTTPS agent keeps its connections alive and Nagle off (Node's agents default to
  // `noDelay: true`), so SES needs nothing like the SMTP pool's `connectWithoutNagle`.
  const options: SESTransportType.Options = { SES: { sesClient: new SESv2Client({}), SendEmailCommand } };
  return new Mailer(new SESTransport(options), options);
}

async function smtpTransporter(url: string): Promise<Mail> {
  const [{ default: Mailer }, { default: SMTPPool }] = await Promise.all([
    import('nodemailer/lib/mailer/index.js'),
    import('nodemailer/lib/smtp-pool/index.js'),
  ]);
  const options: SMTPPoolType.Options = {
    ...smtpOptions(url),
    getSocket: connectWithoutNagle,
    pool: true,
    maxConnections: MAIL_SEND_CONCURRENCY,
    // A connection is not recycled after a fixed count (nodemailer's default is 100 messages).
    maxMessages: Number.POSITIVE_INFINITY,
  };
  return new Mailer(new SMTPPool(options), options);
}

/** nodemailer's connection timeout, which its own connect would apply. */
const CONNECTION_TIMEOUT_MS = 2 * 60 * 1000;

/**
 * Nagle's algorithm off (TCP_NODELAY) on every pooled SMTP connection, as MTAs and the SDK's HTTP
 * agents do. An SMTP client writes small packets and waits for each reply (MAIL FROM/RCPT TO, DATA,
 * the message, its final dot); with Nagle on, a small write behind one not yet acknowledged waits for
 * the server's delayed ACK (40 ms on Linux): measured locally, ~50 ms per mail with Nagle, ~10 ms
 * without.
 *
 * nodemailer has no option for it and connects with its own `net.connect`. Its pool's `getSocket`
 * hook (meant for proxies) may hand it a connected socket (`{ connection }`): nodemailer then runs
 * SMTP on it, wrapping it in TLS first for `smtps://` (and for STARTTLS), which keeps the TCP
 * socket's setting. So the socket is connected here (within nodemailer's connection timeout) and
 * handed over with Nagle off.
 */
export function connectWithoutNagle(
  options: SMTPPoolType.Options,
  callback: (error: Error | null, socketOptions?: { connection: Socket }) => void,
): void {
  const socket = connect({ host: options.host ?? 'localhost', port: options.port ?? 587 });
  // `once` rejects on the socket's 'error' and on the timeout.
  const signal = AbortSignal.timeout(options.connectionTimeout ?? CONNECTION_TIMEOUT_MS);
  once(socket, 'connect', { signal }).then(
    () => callback(null, { connection: socket.setNoDelay(true) }),
    (error: Error) => {
      socket.destroy();
      callback(error);
    },
  );
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
