import { createHash } from 'node:crypto';

/** The header that carries a mail's idempotency key into the provider's records and the recipient's copy. */
export const IDEMPOTENCY_KEY_HEADER = 'X-Sidestep-Idempotency-Key';

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/g;

/**
 * The idempotency key as its header carries it: the contract lets a key be any text of 1-256
 * characters, so a control character is written `\uXXXX` (CR/LF would be header injection, and the
 * mail was sent with such a key before the header existed). Anything else is the key as is;
 * nodemailer sends non-ASCII as RFC 2047 encoded words, which a mail client shows decoded.
 */
export function idempotencyKeyHeaderValue(key: string): string {
  const text = key.replace(
    CONTROL_CHARACTER,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  // Escaped, a key of control characters grows sixfold, with no space to fold at: past this, the
  // header's line could pass RFC 5322's 998 characters, which SES refuses. Such a key is named by its
  // SHA-256 instead (the mail-dispatcher's log line has the key itself).
  return text.length <= MAX_KEY_HEADER_LENGTH
    ? text
    : `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** The longest key text the header carries as is (256 characters of key, escapes counted). */
const MAX_KEY_HEADER_LENGTH = 512;
