import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isOutboxFile, outboxFiles, type Page } from '@sidestep/ops';
import { type AddressObject, simpleParser } from 'mailparser';
import { ConsoleError } from './console-error.ts';

/** A mail of the local SMTP sink's outbox. */
export interface OutboxMail {
  /** The `.eml` file's name: `<timestamp>-<message-id>.eml`, so names sort by arrival. */
  readonly file: string;
  readonly subject: string;
  readonly from: string;
  readonly to: string;
  readonly date: Date | null;
}

/** A mail with its bodies. */
export interface OutboxMailDetail extends OutboxMail {
  readonly html: string | null;
  readonly text: string | null;
}

function addresses(value: AddressObject | AddressObject[] | undefined): string {
  return (Array.isArray(value) ? value : value ? [value] : []).map((address) => address.text).join(', ');
}

async function parse(outboxDir: string, file: string): Promise<OutboxMailDetail> {
  const mail = await simpleParser(await readFile(join(outboxDir, file)));
  return {
    file,
    subject: mail.subject ?? '',
    from: addresses(mail.from),
    to: addresses(mail.to),
    date: mail.date ?? null,
    html: typeof mail.html === 'string' ? mail.html : null,
    text: mail.text ?? null,
  };
}

/** Whether `file`'s raw source mentions `needle` (a job id), read without parsing. */
async function mentions(outboxDir: string, file: string, needle: string): Promise<boolean> {
  const handle = await open(join(outboxDir, file));
  try {
    return (await handle.readFile('utf8')).includes(needle);
  } finally {
    await handle.close();
  }
}

/**
 * One page of the outbox, newest first: the cursor is the last file's name, and only the page's
 * mails are parsed. With `mentioning`, only mails whose source names it (a job's id), scanning
 * from the cursor until the page is full.
 */
export async function listOutbox(
  outboxDir: string,
  options: { readonly cursor?: string; readonly limit?: number; readonly mentioning?: string } = {},
): Promise<Page<OutboxMail>> {
  const limit = options.limit ?? 50;
  // Newest first: the names sort by arrival.
  const files = (await outboxFiles(outboxDir)).reverse();
  const after = options.cursor;
  const candidates = after === undefined ? files : files.filter((file) => file < after);
  const chosen: string[] = [];
  let index = 0;
  for (; index < candidates.length && chosen.length < limit; index += 1) {
    const file = candidates[index] as string;
    if (!options.mentioning || (await mentions(outboxDir, file, options.mentioning))) chosen.push(file);
  }
  const items = await Promise.all(chosen.map((file) => parse(outboxDir, file)));
  return {
    items: items.map(({ html: _html, text: _text, ...mail }) => mail),
    next: index < candidates.length && chosen.length === limit ? (chosen.at(-1) ?? null) : null,
  };
}

/** One mail of the outbox with its HTML and text bodies. @throws {ConsoleError} (`field: 'file'`) */
export async function readOutboxMail(outboxDir: string, file: string): Promise<OutboxMailDetail> {
  if (!isOutboxFile(file)) {
    throw new ConsoleError(`file: "${file}" is not a mail of the outbox`, { field: 'file', status: 404 });
  }
  try {
    return await parse(outboxDir, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ConsoleError(`file: no mail "${file}" in the outbox`, { field: 'file', status: 404 });
    }
    throw error;
  }
}
