import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The outbox's retention when none is given: 30 days, as the local cloud's log groups keep their
 * events (`local-logs.ts`, infra's default `LOG_RETENTION_DAYS`). A mail's record is then as long-lived
 * as its sending function's log lines, and longer than anything that may still ask whether the mail
 * went out: `mail find` before `mail release` matters while the mail's idempotency record lives, 19
 * days (the README's Retention).
 */
export const OUTBOX_RETENTION_DAYS = 30;

/** An outbox retention option that is not a positive number; `field` names it. */
export class InvalidOutboxRetentionError extends Error {
  override readonly name = 'InvalidOutboxRetentionError';
  readonly field: string;
  constructor(field: string, value: unknown) {
    super(`${field}: must be a positive number, not ${String(value)}`);
    this.field = field;
  }
}

/**
 * Refuses a retention of no time, a negative one or NaN, before the sink starts: the cut-off it makes
 * would put every mail of the outbox, or none, past the retention.
 * @throws {InvalidOutboxRetentionError}
 */
export function checkOutboxRetention(options: {
  readonly retentionDays?: number;
  readonly pruneIntervalMs?: number;
}): void {
  for (const [field, value] of Object.entries(options)) {
    if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
      throw new InvalidOutboxRetentionError(field, value);
    }
  }
}

/**
 * The name the SMTP sink gives a mail it takes at `time`: `<yyyymmdd>T<hhmmssmmm>Z-<id>.eml`, so the
 * names sort by arrival and carry the time {@link outboxFileTime} reads back; `<id>` is the mail's
 * Message-ID without its angle brackets (else `fallbackId`), anything but letters, digits, `.`, `_`
 * and `-` made `_`, at most 120 characters.
 */
export function outboxFileName(time: Date, messageId: string | undefined, fallbackId: string): string {
  const stamp = time.toISOString().replace(/[-:]/g, '').replace('.', '');
  const id = (messageId ?? fallbackId)
    .replace(/^<|>$/g, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .slice(0, 120);
  return `${stamp}-${id}.eml`;
}

/**
 * The time a file of the outbox was written, from its name ({@link outboxFileName}): the SMTP sink names a mail
 * `<yyyymmdd>T<hhmmssmmm>Z-<message-id>.eml` and writes it first as the hidden
 * `.<that name>.<uuid>.tmp`, so both carry it. Undefined for a name without it (a file someone put
 * there by hand), which the retention leaves alone: its age is not the sink's to judge.
 */
export function outboxFileTime(file: string): Date | undefined {
  const match = /^\.?(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-.+\.(?:eml|tmp)$/.exec(file);
  if (!match) return undefined;
  const [year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0, millisecond = 0] = match
    .slice(1, 8)
    .map(Number);
  const time = new Date(Date.UTC(year, month - 1, day, hour, minute, second, millisecond));
  return Number.isNaN(time.getTime()) ? undefined : time;
}

/**
 * Deletes the outbox's mails written before `before` (and temp files a crash left that old), by the
 * time in their names: no file is opened or stat'ed, so a prune costs a directory listing. A file
 * already gone (a reader's or another prune's race) is not an error.
 * @returns how many files it deleted
 */
export async function pruneOutbox(outboxDir: string, before: Date): Promise<number> {
  let files: string[];
  try {
    files = await readdir(outboxDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  let deleted = 0;
  for (const file of files) {
    const time = outboxFileTime(file);
    if (time === undefined || time >= before) continue;
    try {
      await unlink(join(outboxDir, file));
      deleted += 1;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return deleted;
}
