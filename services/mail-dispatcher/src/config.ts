import { EmailAddress } from '@sidestep/contracts';
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
});

export interface MailDispatcherConfig {
  readonly from: string;
  readonly transport: MailTransportConfig;
}

/** Reads the mail-dispatcher's environment once, at cold start; a missing variable is named. */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
): MailDispatcherConfig {
  const config = readConfig(MailDispatcherEnvironment, env);
  if (config.MAIL_TRANSPORT === 'smtp') {
    if (!config.SMTP_URL)
      throw new ConfigError('SMTP_URL', 'SMTP_URL is required when MAIL_TRANSPORT is smtp');
    return { from: config.MAIL_FROM, transport: { kind: 'smtp', url: config.SMTP_URL } };
  }
  return {
    from: config.MAIL_FROM,
    transport: { kind: 'ses', configurationSet: config.SES_CONFIGURATION_SET },
  };
}
