import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * An outbox file name as the local cloud's SMTP sink writes it (`<timestamp>-<message-id>.eml`, so
 * names sort by arrival); anything else (a path, the sink's hidden temp file) is not a mail of it.
 */
export const OUTBOX_FILE_NAME = /^[\w.@+=-]+\.eml$/;

/** Whether `file` names a mail of the outbox ({@link OUTBOX_FILE_NAME}, not hidden). */
export function isOutboxFile(file: string): boolean {
  return OUTBOX_FILE_NAME.test(file) && !file.startsWith('.');
}

/** The mails' file names in `outboxDir`, oldest first; none when it does not exist. */
export async function outboxFiles(outboxDir: string): Promise<string[]> {
  let files: string[];
  try {
    files = await readdir(outboxDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return files.filter(isOutboxFile).sort();
}

/** A mail of the outbox as `mail find` shows it: its file and the headers that say which mail it is. */
export interface OutboxMailHeaders {
  readonly file: string;
  readonly to: string;
  readonly subject: string;
  /** The `Date` header as written. */
  readonly date: string | null;
  readonly messageId: string | null;
}

/**
 * RFC 2047 encoded words (`=?UTF-8?B?...?=`, `=?UTF-8?Q?...?=`) decoded, as nodemailer writes a
 * non-ASCII header: the whitespace between two adjacent encoded words is dropped (RFC 2047 section 6.2).
 */
function decodeWords(value: string): string {
  return value
    .replace(/(\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (word, charset: string, encoding: string, text: string) => {
      if (!/^utf-?8$/i.test(charset)) return word;
      const bytes =
        encoding.toUpperCase() === 'B'
          ? Buffer.from(text, 'base64')
          : Buffer.from(
              text
                .replace(/_/g, ' ')
                .replace(/=([0-9A-Fa-f]{2})/g, (_match, hex: string) =>
                  String.fromCharCode(Number.parseInt(hex, 16)),
                ),
              'latin1',
            );
      return bytes.toString('utf8');
    });
}

/**
 * The header section of a raw mail, unfolded (RFC 5322 section 2.2.3: a line break before
 * whitespace is removed), as `name -> values` with names lower-cased and encoded words decoded.
 */
export function mailHeaders(raw: string): Map<string, string[]> {
  const end = raw.search(/\r?\n\r?\n/);
  const section = (end === -1 ? raw : raw.slice(0, end)).replace(/\r?\n(?=[ \t])/g, '');
  const headers = new Map<string, string[]>();
  for (const line of section.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), decodeWords(line.slice(colon + 1).trim())]);
  }
  return headers;
}

/**
 * The mails of `outboxDir` with header `name` exactly `value` (after unfolding and decoding: a
 * longer key that starts with `value` is another mail's), oldest first.
 */
export async function outboxMailsWithHeader(
  outboxDir: string,
  name: string,
  value: string,
): Promise<OutboxMailHeaders[]> {
  const found: OutboxMailHeaders[] = [];
  for (const file of await outboxFiles(outboxDir)) {
    let raw: string;
    try {
      raw = await readFile(join(outboxDir, file), 'utf8');
    } catch (error) {
      // Gone since it was listed (a cleaned outbox): not a mail any more.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    const headers = mailHeaders(raw);
    if (!headers.get(name.toLowerCase())?.includes(value)) continue;
    const first = (header: string) => headers.get(header)?.[0] ?? null;
    found.push({
      file,
      to: first('to') ?? '',
      subject: first('subject') ?? '',
      date: first('date'),
      messageId: first('message-id'),
    });
  }
  return found;
}
