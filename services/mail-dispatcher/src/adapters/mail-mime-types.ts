/**
 * What the bundle uses in place of nodemailer's MIME type table (`nodemailer/lib/mime-funcs/mime-types.js`,
 * ~75 KiB minified, 600 types): the same two functions over the few types a mail of sidestep's could
 * name. nodemailer consults the table only to guess a content type from a file name or an extension
 * from a content type, which happens for attachments, `alternatives` and data URLs; sidestep's mails
 * are a text and an HTML part with their content types set (`OutgoingMail` has no attachment),
 * so the table is never read, yet it was a sixth of what the mail-dispatcher loaded at cold start. Every
 * type below maps as it does in nodemailer's table (tests/mail-mime-types.test.ts compares them, and
 * compares the raw message the bundle composes with nodemailer's own); any other input gets
 * nodemailer's defaults. The bundle (`bundle-options.ts`) carries this file; the unit tests, which
 * run the sources, use nodemailer's own table.
 *
 * @see {@link https://github.com/nodemailer/nodemailer/blob/master/lib/mime-funcs/mime-types.js}
 */
import { parse } from 'node:path';

const DEFAULT_MIME_TYPE = 'application/octet-stream';
const DEFAULT_EXTENSION = 'bin';

/** Content type to extension: nodemailer's first extension for each. */
export const MAIL_EXTENSIONS: ReadonlyMap<string, string> = new Map([
  ['text/plain', 'txt'],
  ['text/html', 'html'],
  ['text/calendar', 'ics'],
  ['text/csv', 'csv'],
  ['application/json', 'json'],
  ['application/pdf', 'pdf'],
  ['image/png', 'png'],
  ['image/jpeg', 'jpeg'],
]);

/** Extension to content type: nodemailer's first content type for each. */
export const MAIL_MIME_TYPES: ReadonlyMap<string, string> = new Map([
  ['txt', 'text/plain'],
  ['html', 'text/html'],
  ['htm', 'text/html'],
  ['ics', 'text/calendar'],
  ['csv', 'text/csv'],
  ['json', 'application/json'],
  ['pdf', 'application/pdf'],
  ['png', 'image/png'],
  ['jpg', 'image/jpeg'],
  ['jpeg', 'image/jpeg'],
]);

/** nodemailer's `detectMimeType`, over {@link MAIL_MIME_TYPES}. */
export function detectMimeType(filename: string | undefined): string {
  if (!filename) return DEFAULT_MIME_TYPE;
  const parsed = parse(filename);
  const extension = (parsed.ext.slice(1) || parsed.name || '').split('?')[0]?.trim().toLowerCase() ?? '';
  return MAIL_MIME_TYPES.get(extension) ?? DEFAULT_MIME_TYPE;
}

/** nodemailer's `detectExtension`, over {@link MAIL_EXTENSIONS}. */
export function detectExtension(mimeType: string | undefined): string {
  if (!mimeType) return DEFAULT_EXTENSION;
  const [rootType = '', ...rest] = mimeType.toLowerCase().trim().split('/');
  const type = `${rootType.trim()}/${rest.join('/').trim()}`;
  return MAIL_EXTENSIONS.get(type) ?? (rootType.trim() === 'text' ? 'txt' : DEFAULT_EXTENSION);
}
