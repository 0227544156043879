import { randomUUID } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { checkSendRate } from '@sidestep/manifest';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import {
  checkOutboxRetention,
  OUTBOX_RETENTION_DAYS,
  outboxFileName,
  pruneOutbox,
} from './outbox-retention.ts';
import { createRateBucket } from './rate-bucket.ts';

/** A mail the sink stored. */
export interface DeliveredMail {
  /** Envelope recipients (RCPT TO), which is who the mail was really sent to. */
  readonly to: readonly string[];
  /** Envelope sender (MAIL FROM). */
  readonly from: string;
  readonly subject: string;
  /** The `Message-ID` header, if the mail had one. */
  readonly messageId?: string;
  /** Absolute path of the `.eml` file holding the raw RFC 822 source. */
  readonly file: string;
  /**
   * The http(s) links in the decoded body (text part, then the HTML part's `href`s), in order and
   * without repeats: the `.eml` holds them quoted-printable encoded, hard to copy out.
   */
  readonly links: readonly string[];
}

/** A mail the sink refused for being over its maximum send rate. */
export interface ThrottledMail {
  /** Envelope recipients (RCPT TO). */
  readonly to: readonly string[];
  /** Envelope sender (MAIL FROM). */
  readonly from: string;
  /** The rate it was over, mails per second. */
  readonly maxSendRate: number;
  /** How many mails the sink has refused so far, this one included. */
  readonly throttled: number;
}

/**
 * A mail the sink refused as SES refuses one from a sender, or (in the sandbox) to a recipient, that is
 * not a verified identity.
 */
export interface RejectedMail {
  /** Envelope recipients (RCPT TO). */
  readonly to: readonly string[];
  /** Envelope sender (MAIL FROM). */
  readonly from: string;
  /** The addresses not verified, which the refusal names. */
  readonly unverified: readonly string[];
}

/**
 * The identities SES may send from (email addresses, or domains whose every address counts) and the
 * region the refusal names. SES sends only from a verified identity, in the sandbox and out of it.
 */
export interface SmtpVerifiedSenders {
  readonly identities: readonly string[];
  readonly region: string;
}

/**
 * The SES sandbox as the sink applies it: the identities (email addresses, or domains whose every
 * address counts) mail may go to, and the region the refusal names.
 */
export interface SmtpSandbox {
  readonly verifiedRecipients: readonly string[];
  readonly region: string;
  /**
   * The sandbox's sending quota, recipients in any 24 hours: "You can send a maximum of 200 messages
   * per 24-hour period" (https://docs.aws.amazon.com/ses/latest/dg/request-production-access.html).
   * @default 200
   */
  readonly max24HourSend?: number;
}

/** A mail the sink refused for being over its SES sandbox's sending quota of 24 hours. */
export interface QuotaExceededMail {
  readonly to: readonly string[];
  readonly from: string;
  /** The quota, recipients in 24 hours. */
  readonly max24HourSend: number;
  /** Recipients of the mails taken in the last 24 hours. */
  readonly sentLast24Hours: number;
}

/** Options of {@link startSmtpSink}. */
export interface SmtpSinkOptions {
  /** Directory the `.eml` files go to; created if missing. */
  readonly outboxDir: string;
  /** @default 1025 (0 picks a free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Called after each mail is stored. */
  readonly onMail?: (mail: DeliveredMail) => void;
  /** Called when a mail could not be stored (the client gets a 451 and may retry). */
  readonly onError?: (error: Error) => void;
  /**
   * The most mails the sink accepts per second, as SES's maximum sending rate (the account's
   * `SendQuota.MaxSendRate`, 1 in the SES sandbox): a mail above it is answered `454 4.7.0 Throttling
   * failure: Maximum sending rate exceeded.` after DATA and not stored. Above 0 and at most 100000;
   * anything else is refused with `InvalidSendRateError` naming `maxSendRate`.
   * @default none: every mail is accepted
   */
  readonly maxSendRate?: number;
  /** Called after a mail was refused for being over {@link maxSendRate}. */
  readonly onThrottle?: (mail: ThrottledMail) => void;
  /**
   * The SES sandbox: a new account's SES sends only to verified identities, and a mail to any other
   * recipient is refused `554 Message rejected: Email address is not verified. The following
   * identities failed the check in region <REGION>: <identities>` after DATA and not stored
   * (https://repost.aws/knowledge-center/ses-554-400-message-rejected-error). Addresses compare as
   * SES compares them, exactly ("Email addresses are case-sensitive"); a domain, whatever its case.
   * @default none: every recipient is taken
   */
  readonly sandbox?: SmtpSandbox;
  /**
   * The identities mail may come from: SES refuses a mail whose sender is not a verified identity
   * ("Email address is not verified. ... This error could apply to the From, Source, Sender, or
   * Return-Path address": https://docs.aws.amazon.com/ses/latest/dg/troubleshoot-error-messages.html),
   * so a mail whose envelope sender (MAIL FROM, the Return-Path), `From:` or `Sender:` address is none
   * of these (an address, or any address of a domain or of its subdomains) is
   * refused `554 Message rejected: Email address is not verified. The following identities failed the
   * check in region <REGION>: <addresses>` after DATA and not stored.
   * @default none: every sender is taken
   */
  readonly verifiedSenders?: SmtpVerifiedSenders;
  /** Called after a mail was refused by {@link verifiedSenders} or {@link sandbox}. */
  readonly onRejected?: (mail: RejectedMail) => void;
  /** Called after a mail was refused for being over the sandbox's sending quota of 24 hours. */
  readonly onQuotaExceeded?: (mail: QuotaExceededMail) => void;
  /** The clock the send rate and the outbox's retention are measured on (tests move a virtual one). @default the real clock */
  readonly clock?: { now(): Date };
  /**
   * How long the outbox keeps a mail, counted from the time in its file name: older ones are deleted at
   * the start and every {@link pruneIntervalMs}. SES keeps no copy of what it sends (keeping mail is
   * opt-in, in a Mail Manager archive with a retention period:
   * https://docs.aws.amazon.com/sesmailmanager/latest/APIReference/API_ArchiveRetention.html), and an
   * outbox kept for ever makes every reader of it (`mail find`, the console's mail page) slower.
   * @default 30 ({@link OUTBOX_RETENTION_DAYS}, as the local cloud's log groups)
   * @throws {InvalidOutboxRetentionError} naming it unless it is a positive number
   */
  readonly retentionDays?: number;
  /** How often the outbox is pruned while the sink runs; a positive number, as retentionDays. @default 3600000 (an hour) */
  readonly pruneIntervalMs?: number;
}

/** A running SMTP sink. */
export interface SmtpSink {
  readonly host: string;
  readonly port: number;
  /** `smtp://<host>:<port>`, what `SMTP_URL` must be. */
  readonly url: string;
  readonly outboxDir: string;
  /** The rate enforced, mails per second, when one is. */
  readonly maxSendRate: number | undefined;
  /** How many mails were refused for being over {@link maxSendRate} since the start. */
  readonly throttled: number;
  stop(): Promise<void>;
}

/**
 * An SMTP server that delivers nowhere: it accepts any sender, recipient and credentials (or
 * none), without TLS, and stores each message's raw source as
 * `<outboxDir>/<timestamp>-<message-id>.eml`. It writes a hidden temp file and renames it, so a
 * reader listing `*.eml` never sees a half-written mail.
 */
export async function startSmtpSink(options: SmtpSinkOptions): Promise<SmtpSink> {
  const host = options.host ?? '127.0.0.1';
  const { outboxDir } = options;
  checkOutboxRetention({ retentionDays: options.retentionDays, pruneIntervalMs: options.pruneIntervalMs });
  const throttle =
    options.maxSendRate === undefined
      ? undefined
      : sendRateThrottle(checkSendRate(options.maxSendRate, 'maxSendRate'), options);
  await mkdir(outboxDir, { recursive: true });
  const retention = outboxRetention(outboxDir, options);
  await retention.prune();
  const quota = options.sandbox ? dailyQuota(options.sandbox.max24HourSend ?? 200, options) : undefined;

  /** SES's refusal of a mail naming addresses that are not verified identities, reported. */
  const notVerified = (envelope: Envelope, unverified: readonly string[], region: string): Error => {
    options.onRejected?.({ ...envelope, unverified });
    return smtpRefusal(
      554,
      `Message rejected: Email address is not verified. The following identities failed the check in region ${region.toUpperCase()}: ${unverified.join(', ')}`,
    );
  };

  /** The refusal of a mail whose envelope sender, `From:` or `Sender:` is not a verified identity. */
  const senderRefusal = (envelope: Envelope, parsed: ParsedMail): Error | undefined => {
    const { verifiedSenders } = options;
    if (!verifiedSenders) return undefined;
    // The envelope's (Return-Path), `From:` and `Sender:` (verify-addresses-and-domains.html).
    const sender = parsed.headers.get('sender') as ParsedMail['from'];
    const senders = [envelope.from, ...[parsed.from, sender].flatMap((header) => header?.value ?? [])].map(
      (address) => (typeof address === 'string' ? address : (address.address ?? '')),
    );
    const unverified = [...new Set(senders)].filter(
      (address) => address !== '' && !isVerifiedIdentity(address, verifiedSenders.identities),
    );
    return unverified.length === 0 ? undefined : notVerified(envelope, unverified, verifiedSenders.region);
  };

  /** The sandbox's refusal of a mail to a recipient not verified: sent to no one (a mail refused takes no place in the rate). */
  const sandboxRefusal = (envelope: Envelope): Error | undefined => {
    const { sandbox } = options;
    if (!sandbox) return undefined;
    const unverified = envelope.to.filter((to) => !isVerifiedRecipient(to, sandbox.verifiedRecipients));
    return unverified.length === 0 ? undefined : notVerified(envelope, unverified, sandbox.region);
  };

  const store = async (raw: Buffer, envelope: Envelope, parsed: ParsedMail): Promise<DeliveredMail> => {
    const messageId = parsed.messageId;
    const fileName = outboxFileName(options.clock?.now() ?? new Date(), messageId, randomUUID());
    const file = join(outboxDir, fileName);
    const temporary = join(outboxDir, `.${fileName}.${randomUUID()}.tmp`);
    await writeFile(temporary, raw);
    await rename(temporary, file);
    return {
      to: envelope.to,
      from: envelope.from,
      subject: parsed.subject ?? '(no subject)',
      ...(messageId ? { messageId } : {}),
      file,
      links: mailLinks(parsed.text, typeof parsed.html === 'string' ? parsed.html : undefined),
    };
  };

  // smtp-server turns Nagle off (TCP_NODELAY) on each connection, as MTAs do: its replies to a
  // client's pipelined commands do not wait on the client's delayed ACKs (tested).
  const server = new SMTPServer({
    logger: false,
    secure: false,
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    // Enhanced status codes (RFC 2034, 3463) on every reply, as Postfix and SES's SMTP endpoint give
    // them: a refusal then says what kind it is (`554 5.6.0` for a line too long).
    hideENHANCEDSTATUSCODES: false,
    // A local sink: stop() should not wait the default 30 s for idle clients.
    closeTimeout: 1_000,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username ?? 'anonymous' });
    },
    onData(stream, session, callback) {
      const envelope: Envelope = {
        from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
        to: session.envelope.rcptTo.map((recipient) => recipient.address),
      };
      buffer(stream)
        .then(async (raw) => {
          // Refused as the transaction's outcome (a 5xx, or a 454 over the rate), not reported as a
          // failure to store. A mail refused for its content takes no place in the rate.
          const overlong = overlongLine(raw);
          if (overlong) return overlong;
          // mailparser decodes encoded-word subjects (=?UTF-8?...?=) and quoted-printable or base64
          // bodies, so the report is readable; its `From:` is checked against the verified senders.
          const parsed = await simpleParser(raw, {
            skipHtmlToText: true,
            skipTextToHtml: true,
            skipImageLinks: true,
          });
          const refusal =
            senderRefusal(envelope, parsed) ??
            sandboxRefusal(envelope) ??
            quota?.refuse(envelope) ??
            throttle?.refuse(envelope);
          if (refusal) return refusal;
          // Taken before the store (a mail on another connection is checked against it meanwhile),
          // given back if the store fails: the sender tries again, as SES would not have sent it.
          const taken = quota?.take(envelope);
          try {
            return await store(raw, envelope, parsed);
          } catch (error) {
            taken?.giveBack();
            throw error;
          }
        })
        .then(
          (mail) => {
            if (mail instanceof Error) return callback(mail);
            options.onMail?.(mail);
            callback();
          },
          (error: unknown) => {
            const failure = error instanceof Error ? error : new Error(String(error));
            options.onError?.(failure);
            callback(smtpRefusal(451, `could not store the mail: ${failure.message}`));
          },
        );
    },
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 1025, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  retention.start();
  // After start-up, a broken client connection must not crash the process.
  server.on('error', (error) => options.onError?.(error));
  const address = server.server.address();
  if (!address || typeof address === 'string')
    throw new Error('the SMTP sink is not listening on a TCP port');

  return {
    host,
    port: address.port,
    url: `smtp://${host}:${address.port}`,
    outboxDir,
    maxSendRate: throttle?.maxSendRate,
    get throttled() {
      return throttle?.count ?? 0;
    },
    stop: async () => {
      await retention.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The outbox's retention: {@link pruneOutbox} now and on an unref'd timer (a sink left running does
 * not keep the process alive for it), one prune at a time, and a stop that waits for the one under way.
 * A prune that fails is reported through `onError` and tried again at the next tick.
 */
function outboxRetention(
  outboxDir: string,
  options: Pick<SmtpSinkOptions, 'clock' | 'onError' | 'retentionDays' | 'pruneIntervalMs'>,
): { prune(): Promise<void>; start(): void; stop(): Promise<void> } {
  const retentionMs = (options.retentionDays ?? OUTBOX_RETENTION_DAYS) * DAY_MS;
  const now = () => (options.clock ?? { now: () => new Date() }).now().getTime();
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const prune = () => {
    running = running.then(() =>
      pruneOutbox(outboxDir, new Date(now() - retentionMs)).then(
        () => undefined,
        (error: unknown) => options.onError?.(error instanceof Error ? error : new Error(String(error))),
      ),
    );
    return running;
  };
  return {
    prune,
    start() {
      timer = setInterval(() => void prune(), options.pruneIntervalMs ?? 3600_000);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * SES's maximum sending rate at the sink: the refusal of a mail above `maxSendRate`, as SES's SMTP
 * interface gives it ("454 Throttling failure: Maximum sending rate exceeded" after DATA,
 * https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html; smtp-server adds the
 * enhanced code 4.7.0 it gives 454). 454 is transient: the sender gives the mail back and tries later,
 * as it must on SES.
 *
 * SES documents the rate as "the maximum number of emails that Amazon SES can accept from your account
 * each second", which "you can exceed [...] for short bursts, but not for sustained periods of time"
 * (https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas.html), and counts recipients, not
 * mails ("Quotas are based on the number of recipients", https://docs.aws.amazon.com/ses/latest/dg/quotas.html),
 * without saying how it measures either. The sink models both with a token bucket
 * (`createRateBucket`: a second's worth of burst, refilled at the rate, a token per recipient of
 * the envelope), AWS's usual model of a rate limit: a burst above the rate for longer than a second
 * is refused here as SES refuses a sustained one, while the mail-dispatcher's sandboxes, each paced at
 * its share but not in step with the others, pass once the rate is at least the number of sandboxes
 * (the dispatcher runs 5 from 2 a second up, 2 below): at a lower rate their first sends of a burst
 * can land together on fewer tokens than sandboxes, and the ones over are refused and delivered
 * again, as SES may refuse them.
 */
function sendRateThrottle(
  maxSendRate: number,
  options: Pick<SmtpSinkOptions, 'clock' | 'onThrottle'>,
): {
  readonly maxSendRate: number;
  readonly count: number;
  refuse(envelope: Envelope): SmtpRefusal | undefined;
} {
  const { clock } = options;
  const bucket = createRateBucket(maxSendRate, clock ? () => clock.now().getTime() : () => performance.now());
  let count = 0;
  return {
    maxSendRate,
    get count() {
      return count;
    },
    refuse(envelope) {
      if (bucket.admit(envelope.to.length)) return undefined;
      count += 1;
      options.onThrottle?.({ ...envelope, maxSendRate, throttled: count });
      return smtpRefusal(454, 'Throttling failure: Maximum sending rate exceeded.');
    },
  };
}

/** The envelope of a mail: who sent it (MAIL FROM) and to whom (RCPT TO). */
interface Envelope {
  readonly from: string;
  readonly to: string[];
}

/** An error smtp-server answers the transaction with: `responseCode` and the message. */
type SmtpRefusal = Error & { responseCode: number };

/** The refusal smtp-server answers `responseCode text` with. */
function smtpRefusal(responseCode: number, text: string): SmtpRefusal {
  return Object.assign(new Error(text), { responseCode });
}

/** The longest line a message may have, in octets without its CRLF (RFC 5322 2.1.1). */
const MAX_LINE_OCTETS = 998;

const LF = 0x0a;
const CR = 0x0d;

/**
 * The refusal of a message with a line over {@link MAX_LINE_OCTETS} octets, as a strict server
 * gives it: RFC 5322 2.1.1 says a line MUST be at most 998 characters without its CRLF, RFC 5321
 * 4.5.3.1.6 that a text line is at most 1000 octets with it, and SES refuses such a raw message ("The
 * length of any single line of text in the message can't exceed 1,000 characters",
 * https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_RawMessage.html). A sink that stored it
 * would hide a mail that SES would refuse. The reply is 554 (transaction failed; smtp-server adds the
 * enhanced code 5.6.0, a media error, RFC 3463), permanent, so the sender dead-letters the mail as it
 * would on SES. One pass over the bytes, `indexOf` from line end to line end.
 */
function overlongLine(raw: Buffer): SmtpRefusal | undefined {
  let line = 1;
  for (let start = 0; start < raw.length; line++) {
    const lf = raw.indexOf(LF, start);
    const end = lf === -1 ? raw.length : lf;
    const octets = end - start - (lf !== -1 && end > start && raw[end - 1] === CR ? 1 : 0);
    if (octets > MAX_LINE_OCTETS) {
      return smtpRefusal(
        554,
        `line ${line} of the message is ${octets} octets long; a line may have at most ${MAX_LINE_OCTETS} before its CRLF (RFC 5322 2.1.1, RFC 5321 4.5.3.1.6)`,
      );
    }
    if (lf === -1) break;
    start = lf + 1;
  }
  return undefined;
}

/**
 * The http(s) URLs in a mail's decoded text and the `href`s of its HTML, in order, without repeats.
 * A pattern, not a linkifier library: the links sidestep's mails carry are plain absolute URLs that
 * end at whitespace or markup, and the sink only shows them.
 */
export function mailLinks(text: string | undefined, html: string | undefined): string[] {
  const fromText = [...(text ?? '').matchAll(/https?:\/\/[^\s<>"']+/g)].map(([url]) => url);
  const fromHtml = [...(html ?? '').matchAll(/href\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)]
    .map(([, double, single]) => decodeHtmlEntities(double ?? single ?? ''))
    .filter((url) => /^https?:\/\//i.test(url));
  // A sentence may end right after a URL: its closing punctuation is not part of it.
  const trimmed = fromText.map((url) => url.replace(/[.,;:!?)\]]+$/, ''));
  return [...new Set([...trimmed, ...fromHtml])];
}

/** `&amp;` and the other entities an attribute value may carry (a signed URL's `&` is `&amp;`). */
function decodeHtmlEntities(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (_entity, name: string) => HTML_ENTITIES[name] ?? '');
}

const HTML_ENTITIES: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  '#39': "'",
  '#x27': "'",
};

/** The Amazon SES mailbox simulator's domain (`success@simulator.amazonses.com`, ...). */
const SES_MAILBOX_SIMULATOR_DOMAIN = 'simulator.amazonses.com';

/**
 * Whether the SES sandbox lets a mail go to `address`: it is a verified address (compared exactly:
 * SES says email addresses are case-sensitive), its domain is a verified domain (domain names compare
 * in any case), or it is the mailbox simulator's.
 */
function isVerifiedRecipient(address: string, verified: readonly string[]): boolean {
  // "or to the Amazon SES mailbox simulator" (the sandbox's restrictions, request-production-access.html).
  return isMailboxSimulator(address) || isVerifiedIdentity(address, verified);
}

/** Whether `address` is a verified identity: the address itself (exactly), or its domain (any case). */
function isVerifiedIdentity(address: string, verified: readonly string[]): boolean {
  const domain = domainOf(address);
  // A verified domain covers its subdomains ("a.example.com, a.b.example.com":
  // https://docs.aws.amazon.com/ses/latest/dg/creating-identities.html).
  return verified.some((identity) => {
    if (identity.includes('@')) return identity === address;
    const verifiedDomain = identity.toLowerCase();
    return domain === verifiedDomain || domain.endsWith(`.${verifiedDomain}`);
  });
}

const DAY_MS = 24 * 3600_000;

/** The recipients of `envelope` the sandbox's daily quota counts: all but the mailbox simulator's. */
function counted(envelope: Envelope): readonly string[] {
  return envelope.to.filter((to) => !isMailboxSimulator(to));
}

/** Whether `address` is the SES mailbox simulator's. */
function isMailboxSimulator(address: string): boolean {
  return domainOf(address) === SES_MAILBOX_SIMULATOR_DOMAIN;
}

/** The domain of `address`, in lower case (domain names compare in any case). */
function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/**
 * The SES sandbox's sending quota at the sink: recipients of the mails taken in the last 24 hours
 * (SES counts recipients, https://docs.aws.amazon.com/ses/latest/dg/quotas.html), and the refusal of a
 * mail that would pass it, as SES's SMTP interface gives it: "454 Throttling failure: Daily message
 * quota exceeded" (https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html), a
 * throttle the sender may try again after. Taken mails count from when they were taken; a refused one
 * counts for nothing, nor does a recipient of the mailbox simulator: its mails "don't affect your daily
 * sending limits" (https://docs.aws.amazon.com/ses/latest/dg/send-an-email-from-console.html#send-email-simulator).
 */
function dailyQuota(
  max24HourSend: number,
  options: Pick<SmtpSinkOptions, 'clock' | 'onQuotaExceeded'>,
): {
  refuse(envelope: Envelope): SmtpRefusal | undefined;
  take(envelope: Envelope): { giveBack(): void };
} {
  const clock = options.clock ?? { now: () => new Date() };
  /** When each recipient of the last 24 hours was taken, oldest first. */
  const taken: number[] = [];
  const sentLast24Hours = () => {
    const since = clock.now().getTime() - DAY_MS;
    while (taken.length > 0 && (taken[0] ?? 0) <= since) taken.shift();
    return taken.length;
  };
  return {
    refuse(envelope) {
      const sent = sentLast24Hours();
      if (sent + counted(envelope).length <= max24HourSend) return undefined;
      options.onQuotaExceeded?.({ ...envelope, max24HourSend, sentLast24Hours: sent });
      return smtpRefusal(454, 'Throttling failure: Daily message quota exceeded.');
    },
    take(envelope) {
      const now = clock.now().getTime();
      const times = counted(envelope).map(() => now);
      taken.push(...times);
      return {
        giveBack() {
          for (const time of times) {
            const at = taken.lastIndexOf(time);
            if (at >= 0) taken.splice(at, 1);
          }
        },
      };
    },
  };
}
