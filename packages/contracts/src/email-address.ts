import * as z from 'zod/mini';
import { lazySchema } from './lazy-schema.ts';

/**
 * The longest email address sidestep takes, in characters: RFC 5321 4.5.3.1.3 limits a path (the
 * address in its angle brackets) to 256 octets, so the address to 254, and SMTP servers and SES
 * refuse longer ones. The addresses are ASCII by the pattern, so characters are octets.
 * https://www.rfc-editor.org/rfc/rfc5321#section-4.5.3.1.3
 */
export const MAX_EMAIL_LENGTH = 254;

/**
 * An email address: zod's email rule (`z.email()`), at most {@link MAX_EMAIL_LENGTH} characters.
 * Every contract's address (a mail's `to`, an export's `requestedBy`) is one, so an address no mail
 * server would take is refused at the contract, naming its field, not at send time.
 *
 * @example "ops@example.com"
 */
export const EmailAddress = /* @__PURE__ */ lazySchema(() => z.email().check(z.maxLength(MAX_EMAIL_LENGTH)));
export type EmailAddress = z.infer<typeof EmailAddress>;
