import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { SEND_DEADLINE_MARGIN_SECONDS } from '@sidestep/manifest';
import type Mail from 'nodemailer/lib/mailer/index.js';
import type SESTransportType from 'nodemailer/lib/ses-transport/index.js';
import type SMTPPoolType from 'nodemailer/lib/smtp-pool/index.js';
import type { OutgoingMail } from '../domain/compose-mail.ts';
import type { MailSender } from '../domain/dispatch-mail.ts';
import { MailTransportError, type SendFailure } from '../errors.ts';

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
 * How long a send may take and still leave its outcome's record time before the invocation's
 * deadline: the last send of a paced invocation starts {@link SEND_DEADLINE_MARGIN_SECONDS} before
 * it, so a send gets that margin less a second for the record. Without a bound of its own a send to
 * a stalled server would run into the Lambda timeout (30 s), which stops the whole invocation: every
 * mail of the batch still in flight would then be an unknown outcome, dead-lettered, though most had
 * not left. SES answers a SendEmail in well under a second; an SMTP relay that scans before it
 * answers the message's final dot needs to do so within this too.
 */
export const SEND_TIMEOUT_MS = (SEND_DEADLINE_MARGIN_SECONDS - 1) * 1_000;

/**
 * How long opening a connection (TCP) may take, within {@link SEND_TIMEOUT_MS}: a send whose
 * connection never opened sent nothing, so it is retried (not sent) rather than an unknown outcome.
 * nodemailer's own default is two minutes, four times the function's timeout.
 */
export const CONNECT_TIMEOUT_MS = 2_000;

/** The time bounds of a send ({@link createMailSender}); tests shorten them. */
export interface SendTimeouts {
  /** From the send's start to the transport's answer. */
  readonly sendMs: number;
  /** Opening a connection. */
  readonly connectMs: number;
  /** How long an SMTP connection may stay silent before it is closed. @default sendMs */
  readonly idleMs?: number;
}

const SEND_TIMEOUTS: SendTimeouts = { sendMs: SEND_TIMEOUT_MS, connectMs: CONNECT_TIMEOUT_MS };

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
export async function createMailSender(
  config: MailTransportConfig,
  timeouts: SendTimeouts = SEND_TIMEOUTS,
): Promise<MailSender> {
  const transporter =
    config.kind === 'ses' ? await sesTransporter(timeouts) : await smtpTransporter(config.url, timeouts);
  return {
    async send(mail: OutgoingMail) {
      const handOver: HandOver = { started: false, abandoned: false };
      let info: { readonly messageId?: unknown; readonly rejected?: readonly unknown[] };
      try {
        const options: Mail.Options & { [HAND_OVER]: HandOver } = {
          ...mailOptions(mail),
          // nodemailer passes `ses` options to SendEmailCommand (configuration set for reputation metrics).
          ...(config.kind === 'ses' && config.configurationSet
            ? { ses: { ConfigurationSetName: config.configurationSet } }
            : {}),
          [HAND_OVER]: handOver,
        };
        const sending = transporter.sendMail(options);
        // The SES client bounds its request itself (and cancels it); nodemailer's SMTP has no bound
        // for a whole message, only for each wait, so the send is given up here.
        info = config.kind === 'ses' ? await sending : await within(sending, timeouts.sendMs, handOver);
      } catch (error) {
        // Classified on the transport's own error; only its summary leaves this adapter.
        const outcome = config.kind === 'ses' ? sesFailure(error) : smtpFailure(error, handOver.started);
        const failure = transportFailure(error);
        const remedy = accountRemedy(failure);
        throw new MailTransportError(
          `mail transport ${config.kind} failed${outcome === 'unknown' ? ' after it handed the mail over' : ''}${failureCodes(failure)}: ${failure.message}${remedy ? ` (${remedy})` : ''}`,
          failure,
          outcome,
          // Room in the 24-hour quota comes back as the sends of a day before age out: 15 minutes,
          // then 1 hour, 4 and 12 before the next tries, not the queue's 3 minutes each.
          DAILY_QUOTA.test(failure.message) ? DAILY_QUOTA_RETRY_SECONDS : undefined,
        );
      }
      // An SMTP server may refuse some recipients at RCPT TO and take the mail for the others:
      // nodemailer fails only when it refuses them all (EENVELOPE), and resolves with the refused
      // ones in `rejected`. Part of the mail went, so sending it again would repeat it for those
      // who have it: the outcome is unknown, for an operator to check, never "sent" to everyone.
      const refused = info.rejected?.length ?? 0;
      if (refused > 0) {
        const message = `the server refused ${refused} of its ${mail.to.length} recipients and took the mail for the others`;
        throw new MailTransportError(
          `mail transport ${config.kind} failed after it handed the mail over: ${message}`,
          { name: 'PartlyRefusedError', message },
          'unknown',
        );
      }
      return { messageId: String(info.messageId ?? mail.messageId) };
    },
  };
}

/**
 * What an operator needs of a failed send, and nothing more: the {@link MailTransportError}'s
 * `cause`, in its place of the transport's own error. That error names the recipients: SES's
 * sandbox refusal lists the unverified identities in its message ("Email address is not verified.
 * The following identities failed the check in region EU-WEST-1: jane.doe@example.com",
 * https://repost.aws/knowledge-center/ses-554-400-message-rejected-error), an SMTP server's reply
 * often quotes the address (Postfix: "550 5.1.1 <jane.doe@example.com>: Recipient address
 * rejected"), and nodemailer's error carries `rejected: [address]` and `rejectedErrors[].recipient`.
 * The SQS handler logs the error with its cause, and Powertools' Logger writes `error.cause` however
 * it is defined (an Error's own `cause` is not enumerable) and, for an Error, each of its enumerable
 * properties, its cause's too: so the raw error must not be the cause at all, and the message is
 * the dead-letter reason. sidestep keeps addresses out of logs and reasons: a mail job's recipient
 * is personal data.
 */
export interface TransportFailure {
  /** The error's name: SES's error code (`MessageRejected`), or `Error` for nodemailer's. */
  readonly name: string;
  /** The transport's message, every email address in it replaced by `<address>`. */
  readonly message: string;
  /** nodemailer's code (`EENVELOPE`, `ETIMEDOUT`) or a system one (`ECONNREFUSED`). */
  readonly code?: string;
  /** SES: the HTTP status of its answer. */
  readonly httpStatusCode?: number;
  /** SES: the request id AWS Support asks for. */
  readonly requestId?: string;
  /** SMTP: the server's reply code (550). */
  readonly responseCode?: number;
  /** SMTP: the command the server answered (`RCPT TO`). */
  readonly command?: string;
}

/** The {@link TransportFailure} of a transport's error (a thrown value that is not one is read as text). */
export function transportFailure(error: unknown): TransportFailure {
  const { name, message, code, responseCode, command, $metadata } = (error ?? {}) as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    responseCode?: unknown;
    command?: unknown;
    $metadata?: { httpStatusCode?: unknown; requestId?: unknown };
  };
  const { httpStatusCode, requestId } = $metadata ?? {};
  return {
    name: typeof name === 'string' && name !== '' ? name : 'Error',
    message: withoutAddresses(typeof message === 'string' ? message : String(error)),
    ...(typeof code === 'string' ? { code } : {}),
    ...(typeof httpStatusCode === 'number' ? { httpStatusCode } : {}),
    ...(typeof requestId === 'string' ? { requestId } : {}),
    ...(typeof responseCode === 'number' ? { responseCode } : {}),
    ...(typeof command === 'string' ? { command } : {}),
  };
}

/**
 * What to do about a refusal of the account's sending rather than of the mail, keyed by SES's error
 * code (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html#API_SendEmail_Errors):
 * every mail meets it until the account is mended, and each is dead-lettered with this in its
 * reason, so an operator reading one dead letter learns what to mend and that a redrive then sends
 * them all (nothing of theirs was sent: a failed call sends nothing).
 */
const ACCOUNT_REMEDIES: Readonly<Record<string, string>> = {
  SendingPausedException:
    'sending is paused for the account or its configuration set, by SES (bounces, complaints) or an operator: `npm run preflight` says which; redrive the mail DLQ once it is resumed',
  AccountSuspendedException:
    "SES has stopped the account's sending (the SES console's account dashboard says why): redrive the mail DLQ once it sends again",
  MailFromDomainNotVerifiedException:
    "the MAIL FROM domain is not verified (its MX and SPF records: infra's HOSTED_ZONE_ID creates them, or publish them): redrive the mail DLQ once it is",
};

/** The 24-hour quota's refusal, SES's API and SMTP alike (manage-sending-quotas-errors.html). */
const DAILY_QUOTA = /Daily message quota exceeded/i;

/** How long a mail the 24-hour quota refused waits before its first retry (then 4 times longer each). */
export const DAILY_QUOTA_RETRY_SECONDS = 900;

/** What to do about `failure` when it refuses the account rather than the mail (SES's API or SMTP). */
function accountRemedy(failure: TransportFailure): string | undefined {
  if (DAILY_QUOTA.test(failure.message)) {
    return "the account's 24-hour sending quota is used up: redrive the mail DLQ once `npm run preflight` shows room";
  }
  return Object.hasOwn(ACCOUNT_REMEDIES, failure.name) ? ACCOUNT_REMEDIES[failure.name] : undefined;
}

/** ` (MessageRejected, HTTP 400)`, ` (EENVELOPE, RCPT TO answered 550)`: the codes for the reason. */
function failureCodes(failure: TransportFailure): string {
  const codes = [
    failure.name === 'Error' ? undefined : failure.name,
    failure.code,
    failure.httpStatusCode === undefined ? undefined : `HTTP ${failure.httpStatusCode}`,
    failure.responseCode === undefined
      ? undefined
      : `${failure.command ?? 'the server'} answered ${failure.responseCode}`,
  ].filter((code) => code !== undefined);
  return codes.length > 0 ? ` (${codes.join(', ')})` : '';
}

/**
 * An email address as servers quote it: a local part (a dot-atom, UTF-8 included, or a quoted
 * string), `@`, a domain (not ending in the sentence's full stop) or an address literal, optionally
 * in angle brackets. A part ends at a space or one of `"<>()[],;:@\` (RFC 5322's specials but the
 * dot), so a list of addresses is replaced address by address. An unquoted local part starts only
 * where a part can (the lookbehind): tried from every character of a long run without one of those,
 * each try scanned to the run's end, quadratic in its length (100,000 characters took 9 s).
 */
const EMAIL_ADDRESS =
  /<?(?:"(?:[^"\\\r\n]|\\.)*"|(?<![^\s"<>()[\],;:@\\])[^\s"<>()[\],;:@\\]+)@(?:\[[^\]\s]*\]|[^\s"<>()[\],;:@\\]*[^\s"<>()[\],;:@\\.])>?/gu;

/** `text` with every email address in it replaced by `<address>`. */
export function withoutAddresses(text: string): string {
  return text.replace(EMAIL_ADDRESS, '<address>');
}

/**
 * Whether the SMTP transport began sending the message's content (after the server's 354 to DATA),
 * and whether the send was given up before it did ({@link within}): then the content never starts.
 */
interface HandOver {
  started: boolean;
  abandoned: boolean;
}

/**
 * `sending`, or a timeout error (`ETIMEDOUT`, as nodemailer's own) once `ms` pass without its answer.
 * A send given up before its content started to leave is abandoned: should the server answer later,
 * the content refuses to start ({@link markHandOver}), so nodemailer closes the connection in the
 * middle of DATA, and a server discards a message whose final dot never came (RFC 5321 4.1.1.4):
 * not sent, truly. Given up after, it may have been delivered: an unknown outcome.
 */
async function within<T>(sending: Promise<T>, ms: number, handOver: HandOver): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      handOver.abandoned = true;
      reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'ETIMEDOUT' }));
    }, ms);
  });
  // The abandoned send still settles later (its connection's timeout, or the refused content): the
  // race's handler on `sending` takes that rejection.
  try {
    return await Promise.race([sending, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The mail option that carries a send's {@link HandOver} to the stream plugin below: nodemailer
 * copies a mail's options (own enumerable keys) onto the message its plugins see, and ignores keys it
 * does not know.
 */
const HAND_OVER = 'sidestepHandOver';

/**
 * Marks a send's {@link HandOver} started when the transport first reads the message's content. The
 * SMTP connection pipes the message into the socket only once the server answered DATA with 354, and
 * a stream made by `Readable.from` reads nothing from its source before its first read, so the mark
 * is the moment the content starts to leave: a failure before it cannot have delivered the mail.
 */
const markHandOver: Mail.PluginFunction = (mail, done) => {
  const handOver = (mail.data as Record<string, unknown>)[HAND_OVER] as HandOver | undefined;
  if (handOver) {
    mail.message.processFunc((input) =>
      Readable.from(
        (async function* () {
          if (handOver.abandoned) throw new Error('the send was given up before its content left');
          handOver.started = true;
          yield* input;
        })(),
        { objectMode: false },
      ),
    );
  }
  done();
};

/** SMTP commands whose 5xx answer refuses this very mail (its sender, a recipient, its content). */
const MAIL_COMMANDS = new Set(['MAIL FROM', 'RCPT TO', 'DATA']);

/**
 * What a failed SMTP send (nodemailer's error: `code`, `command`, the server's `responseCode`) says
 * about the mail. A server's answer is definite: a 5xx to the envelope or the content, or once the
 * content was sent, rejects the mail (RFC 5321 4.2.1: permanent); any other answer (4xx, a 5xx to
 * the greeting or AUTH: the relay's setup) leaves it not sent. nodemailer's own refusal of the
 * envelope or message is a rejection. Without an answer, the mail may have been delivered only if
 * its content had started to leave ({@link HandOver}).
 */
export function smtpFailure(error: unknown, contentStarted: boolean): SendFailure {
  const { code, command, responseCode, rejectedErrors } = (error ?? {}) as {
    code?: unknown;
    command?: unknown;
    responseCode?: unknown;
    rejectedErrors?: unknown;
  };
  // Every recipient refused: nodemailer's error carries the last RCPT reply as its own and each one
  // in `rejectedErrors`. A recipient refused for now (4xx: greylisted, a full mailbox) takes the mail
  // on a retry, so the mail is rejected only if every refusal is permanent, whatever their order.
  if (Array.isArray(rejectedErrors) && rejectedErrors.length > 0) {
    const codes = rejectedErrors.map((rejected) => (rejected as { responseCode?: unknown })?.responseCode);
    if (codes.some((reply) => typeof reply !== 'number' || reply < 500)) return 'not-sent';
  }
  if (typeof responseCode === 'number') {
    const rejectsMail = contentStarted || (typeof command === 'string' && MAIL_COMMANDS.has(command));
    return responseCode >= 500 && rejectsMail ? 'rejected' : 'not-sent';
  }
  if (code === 'EENVELOPE' || code === 'EMESSAGE') return 'rejected';
  return contentStarted ? 'unknown' : 'not-sent';
}

/** SES v2 errors of a request refused for the rate or quota, not for the mail: retried. */
const SES_THROTTLING = new Set(['TooManyRequestsException', 'LimitExceededException', 'ThrottlingException']);

/** Errors of a connection that never reached the server: nothing was sent. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * The message of @smithy/node-http-handler's connection timeout, which has no code of its own ("the
 * request socket did not establish a connection with the server within the configured timeout of
 * 2000 ms."); its request timeout, after the connection opened, is `ETIMEDOUT`. The handler counts a
 * connection open at TCP's connect, before TLS: a send whose TLS handshake stalled ends in the
 * request timeout, an unknown outcome though nothing reached SES (dead-lettered for an operator to
 * check by its header, never sent twice). Telling the two apart would take watching each request's
 * socket for `secureConnect`, which the SDK does not expose per request.
 */
const NOT_CONNECTED_TIMEOUT = /did not establish a connection/;

/**
 * What a failed SES v2 `SendEmail` says about the mail. An HTTP error is definite: throttling or a
 * 5xx leaves it not sent (what the SDK's own retry policy would retry), any other 4xx rejects it; a
 * 2xx the SDK could not read is unknown (SES took the mail)
 * (`MessageRejected`, an unverified sender, a paused account: the reason goes to the DLQ). SES sends
 * nothing for a call that failed ("If an Amazon SES call to send an email fails, Amazon SES returns an
 * error message to your application and the email isn't sent":
 * https://docs.aws.amazon.com/ses/latest/dg/troubleshoot-error-messages.html), a 5xx included. Without
 * an answer, the request reached SES unless the connection was never made: SendEmail has no
 * idempotency token, so the mail may have been sent.
 * https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html
 */
export function sesFailure(error: unknown): SendFailure {
  const { name, code, message, $metadata } = (error ?? {}) as {
    name?: unknown;
    code?: unknown;
    message?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  };
  const status = $metadata?.httpStatusCode;
  // A 2xx whose body could not be read (cut, or not JSON): SES queued the mail ("Composes an email
  // message and immediately queues it for sending"), and the SDK puts that status on the error.
  if (typeof status === 'number' && status < 400) return 'unknown';
  if (typeof status === 'number') {
    if (status === 429 || status >= 500 || SES_THROTTLING.has(String(name))) return 'not-sent';
    return 'rejected';
  }
  // The request handler's connection timeout (CONNECT_TIMEOUT_MS): the socket never connected.
  if (name === 'TimeoutError' && NOT_CONNECTED_TIMEOUT.test(String(message))) return 'not-sent';
  // The SDK's retry middleware turns a thrown value that is not an Error of its realm into
  // `AWS SDK error wrapper for <the value>`, without its code: the code is then in that text.
  const systemCode = typeof code === 'string' ? code : /\b(E[A-Z_]+)\b/.exec(String(message))?.[1];
  return systemCode !== undefined && NOT_CONNECTED.has(systemCode) ? 'not-sent' : 'unknown';
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

async function sesTransporter(timeouts: SendTimeouts): Promise<Mail> {
  const [{ default: Mailer }, { default: SESTransport }, { SESv2Client, SendEmailCommand }] =
    await Promise.all([
      import('nodemailer/lib/mailer/index.js'),
      import('nodemailer/lib/ses-transport/index.js'),
      import('./ses-client.ts'),
    ]);
  // The SDK's HTTPS agent keeps its connections alive and Nagle off (Node's agents default to
  // `noDelay: true`), so SES needs nothing like the SMTP pool's `connectWithoutNagle`.
  // One attempt per send (the SDK's default is 3): SendEmail has no idempotency token, so the SDK
  // retrying a request whose answer was lost sends the mail again; SQS redelivery is the retry.
  // Bounded as every send is (SEND_TIMEOUT_MS): the SDK sets no request timeout of its own, and
  // without `throwOnRequestTimeout` one past it is only logged. The handler cancels the request.
  const sesClient = new SESv2Client({
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: timeouts.connectMs,
      requestTimeout: timeouts.sendMs,
      throwOnRequestTimeout: true,
    },
  });
  const options: SESTransportType.Options = { SES: { sesClient, SendEmailCommand } };
  return new Mailer(new SESTransport(options), options);
}

async function smtpTransporter(url: string, timeouts: SendTimeouts): Promise<Mail> {
  const [{ default: Mailer }, { default: SMTPPool }] = await Promise.all([
    import('nodemailer/lib/mailer/index.js'),
    import('nodemailer/lib/smtp-pool/index.js'),
  ]);
  const options: SMTPPoolType.Options = {
    ...smtpOptions(url),
    getSocket: connectWithoutNagle,
    connectionTimeout: timeouts.connectMs,
    // A connection silent for longer than a send may take is of no more use: a send given up on it
    // (above) would otherwise keep it, and its place in the pool, until nodemailer's defaults (30 s
    // for the greeting, 10 minutes of silence), and a pool filled with them gives up every later send
    // though the server answers again. An idle pooled connection closes after as long, and the next
    // send opens a new one. (The greeting is awaited as long: nodemailer's own default is 30 s.)
    greetingTimeout: timeouts.idleMs ?? timeouts.sendMs,
    socketTimeout: timeouts.idleMs ?? timeouts.sendMs,
    pool: true,
    maxConnections: MAIL_SEND_CONCURRENCY,
    // A connection is not recycled after a fixed count (nodemailer's default is 100 messages).
    maxMessages: Number.POSITIVE_INFINITY,
  };
  const mailer = new Mailer(new SMTPPool(options), options);
  mailer.use('stream', markHandOver);
  return mailer;
}

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
 * socket's setting. So the socket is connected here (within the pool's `connectionTimeout`) and
 * handed over with Nagle off.
 */
export function connectWithoutNagle(
  options: SMTPPoolType.Options,
  callback: (error: Error | null, socketOptions?: { connection: Socket }) => void,
): void {
  const socket = connect({ host: options.host ?? 'localhost', port: options.port ?? 587 });
  // `once` rejects on the socket's 'error' and on the timeout.
  const signal = AbortSignal.timeout(options.connectionTimeout ?? CONNECT_TIMEOUT_MS);
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
