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

/** Whether `file`'s raw source mentions `needle` (a job id), read without parsing; a file gone (pruned) does not. */
async function mentions(outboxDir: string, file: string, needle: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(join(outboxDir, file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  try {
    return (await handle.readFile('utf8')).includes(needle);
  } finally {
    await handle.close();
  }
}

/** The most needles (job ids) whose answers {@link mentionsOf} keeps, the least recently asked dropped first. */
const MAX_REMEMBERED_NEEDLES = 32;

/** Per outbox and needle: each file read so far, and whether it mentions the needle. */
const remembered = new Map<string, Map<string, boolean>>();

/**
 * Whether each file mentions `needle`, remembered per outbox and needle. The job's mail page is live
 * (re-rendered every few seconds) and a job with fewer mails than a page reads back to the oldest mail:
 * without this every render opened every file of the outbox (0.5 s at 10,000 mails). The SMTP sink
 * writes a mail once (a temp file renamed) and never changes it, so an answer holds until the file
 * goes: a render reads only the mails that came since the last one, and answers for files the
 * outbox's retention deleted are forgotten.
 */
function mentionsOf(
  outboxDir: string,
  needle: string,
  files: readonly string[],
): (file: string) => Promise<boolean> {
  const key = `${outboxDir}\n${needle}`;
  const answers = remembered.get(key) ?? new Map<string, boolean>();
  // Most recently asked last, so the first key is the one to drop.
  remembered.delete(key);
  remembered.set(key, answers);
  const oldest = remembered.keys().next().value;
  if (remembered.size > MAX_REMEMBERED_NEEDLES && oldest !== undefined) remembered.delete(oldest);
  const present = new Set(files);
  for (const file of answers.keys()) if (!present.has(file)) answers.delete(file);
  return async (file) => {
    const known = answers.get(file);
    if (known !== undefined) return known;
    const answer = await mentions(outboxDir, file, needle);
    answers.set(file, answer);
    return answer;
  };
}

/** How many files a job's scan reads at once. */
const SCAN_BATCH = 16;

/** The mail in `file`, or undefined when it is gone (the outbox's retention deleted it since it was listed). */
async function parseIfPresent(outboxDir: string, file: string): Promise<OutboxMailDetail | undefined> {
  try {
    return await parse(outboxDir, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * One page of the outbox, newest first: the cursor is the last file's name, and only the page's
 * mails are parsed. With `mentioning`, only mails whose source names it (a job's id), scanning
 * from the cursor until the page is full, each file read once per needle ({@link mentionsOf}).
 */
export async function listOutbox(
  outboxDir: string,
  options: { readonly cursor?: string; readonly limit?: number; readonly mentioning?: string } = {},
): Promise<Page<OutboxMail>> {
  const limit = options.limit ?? 50;
  const listed = await outboxFiles(outboxDir);
  const { mentioning } = options;
  const isShown = mentioning ? mentionsOf(outboxDir, mentioning, listed) : async () => true;
  // Newest first: the names sort by arrival.
  const files = listed.reverse();
  const after = options.cursor;
  const candidates = after === undefined ? files : files.filter((file) => file < after);
  const chosen: string[] = [];
  // How many candidates were looked at: the page goes on after them.
  let index = 0;
  // Files are read a batch at a time: a job's first render reads back until its page is full, and
  // waiting on one file at a time made that twice as slow. The few read past the page are remembered.
  for (let start = 0; start < candidates.length && chosen.length < limit; start += SCAN_BATCH) {
    const batch = candidates.slice(start, start + SCAN_BATCH);
    const shown = await Promise.all(batch.map(isShown));
    for (let at = 0; at < batch.length && chosen.length < limit; at += 1) {
      index = start + at + 1;
      if (shown[at]) chosen.push(batch[at] as string);
    }
  }
  const items = await Promise.all(chosen.map((file) => parseIfPresent(outboxDir, file)));
  return {
    items: items.flatMap((item) => (item ? [item] : [])).map(({ html: _html, text: _text, ...mail }) => mail),
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
