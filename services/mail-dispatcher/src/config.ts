import { EmailAddress } from '@sidestep/contracts';
import { InvalidSendRateError, parseSendRate } from '@sidestep/manifest';
import { ConfigError, readConfig } from '@sidestep/runtime';
import * as z from 'zod/mini';
import type { MailTransportConfig } from './adapters/mail-transport.ts';

const MailDispatcherEnvironment = z.object({
  /** The address mails are sent from (the SES identity on AWS). */
  MAIL_FROM: EmailAddress,
  /** `ses` on AWS; `smtp` with SMTP_URL for the local cloud's sink or an SMTP relay. */
  MAIL_TRANSPORT: z.enum(['ses', 'smtp']),
  SMTP_URL: z.optional(z.url({ protocol: /^smtps?$/ })),
  /** SES configuration set for reputation metrics and event destinations. */
  SES_CONFIGURATION_SET: z.optional(z.string().check(z.minLength(1))),
  /**
   * Mails per second the whole function may send (all its sandboxes): the account's SES maximum send
   * rate or sidestep's share of it (infra's SIDESTEP_<ENV>_MAIL_MAX_SEND_RATE). Unset: no limit.
   */
  MAIL_MAX_SEND_RATE: z.optional(z.string()),
});

export interface MailDispatcherConfig {
  readonly from: string;
  readonly transport: MailTransportConfig;
  /** MAIL_MAX_SEND_RATE: mails per second for the whole function, if limited. */
  readonly maxSendRate?: number;
}

/** Reads the mail-dispatcher's environment once, at cold start; a missing variable is named. */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
): MailDispatcherConfig {
  const config = readConfig(MailDispatcherEnvironment, env);
  const rate =
    config.MAIL_MAX_SEND_RATE === undefined ? {} : { maxSendRate: sendRate(config.MAIL_MAX_SEND_RATE) };
  if (config.MAIL_TRANSPORT === 'smtp') {
    if (!config.SMTP_URL)
      throw new ConfigError('SMTP_URL', 'SMTP_URL is required when MAIL_TRANSPORT is smtp');
    return { from: config.MAIL_FROM, transport: { kind: 'smtp', url: config.SMTP_URL }, ...rate };
  }
  return {
    from: config.MAIL_FROM,
    transport: { kind: 'ses', configurationSet: config.SES_CONFIGURATION_SET },
    ...rate,
  };
}

/** MAIL_MAX_SEND_RATE by its contract (@sidestep/manifest), as infra and the local cloud write it. */
function sendRate(text: string): number {
  try {
    return parseSendRate(text, 'MAIL_MAX_SEND_RATE');
  } catch (error) {
    if (error instanceof InvalidSendRateError) {
      throw new ConfigError('MAIL_MAX_SEND_RATE', `invalid configuration: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
}
