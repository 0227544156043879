import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { outboxFileName, outboxFileTime } from '../src/outbox-retention.ts';
import { type SmtpSinkOptions, startSmtpSink } from '../src/smtp-sink.ts';
import { sendMail } from './fixtures/echo-service/smtp-client.mjs';

let root: string;
let outboxDir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'smtp-retention-'));
  outboxDir = join(root, 'outbox');
  await mkdir(outboxDir);
});

afterEach(() => rm(root, { recursive: true, force: true }));

const DAY_MS = 24 * 3600_000;

/** The name the sink gives a mail written at `time`. */
const nameAt = (time: Date, id: string) => outboxFileName(time, `<${id}>`, id);

const eml = 'From: sidestep@localhost\r\nTo: ada@example.com\r\nSubject: hi\r\n\r\nhello\r\n';

describe('outboxFileTime', () => {
  it('reads the time the sink wrote into a mail’s or temp file’s name, and none from another name', () => {
    expect(outboxFileTime('20261124T100000123Z-m1.eml')).toEqual(new Date('2026-11-24T10:00:00.123Z'));
    expect(outboxFileTime('.20261124T100000123Z-m1.eml.0f1e.tmp')).toEqual(
      new Date('2026-11-24T10:00:00.123Z'),
    );
    expect(outboxFileTime('notes.eml')).toBeUndefined();
  });
});

describe('the SMTP sink’s outbox retention', () => {
  it('deletes at the start the mails older than the retention, by the time in their names', async () => {
    const now = new Date('2026-12-07T12:00:00.000Z');
    const old = nameAt(new Date(now.getTime() - 31 * DAY_MS), 'old');
    const kept = nameAt(new Date(now.getTime() - 29 * DAY_MS), 'kept');
    const crashedTemp = `.${nameAt(new Date(now.getTime() - 40 * DAY_MS), 'temp')}.0f1e.tmp`;
    for (const file of [old, kept, crashedTemp, 'notes.eml']) await writeFile(join(outboxDir, file), eml);

    const sink = await startSmtpSink({ outboxDir, port: 0, clock: { now: () => now } });
    await sink.stop();

    expect((await readdir(outboxDir)).sort()).toEqual([kept, 'notes.eml'].sort());
  });

  it('keeps as many days as retentionDays says', async () => {
    const now = new Date('2026-12-07T12:00:00.000Z');
    const twoDaysOld = nameAt(new Date(now.getTime() - 2 * DAY_MS), 'a');
    await writeFile(join(outboxDir, twoDaysOld), eml);

    const sink = await startSmtpSink({ outboxDir, port: 0, retentionDays: 1, clock: { now: () => now } });
    await sink.stop();

    expect(await readdir(outboxDir)).toEqual([]);
  });

  it('refuses a retention that is not a positive number, naming it, before it touches the outbox', async () => {
    const now = new Date('2026-12-07T12:00:00.000Z');
    const recent = nameAt(new Date(now.getTime() - DAY_MS), 'recent');
    await writeFile(join(outboxDir, recent), eml);
    // A sink that starts anyway is stopped, so the test fails instead of leaving it listening.
    const outcome = (options: Partial<SmtpSinkOptions>) =>
      startSmtpSink({ outboxDir, port: 0, clock: { now: () => now }, ...options }).then(
        async (sink) => {
          await sink.stop();
          return 'started';
        },
        (error: unknown) => error,
      );
    for (const retentionDays of [0, -1, Number.NaN]) {
      expect(await outcome({ retentionDays })).toMatchObject({
        name: 'InvalidOutboxRetentionError',
        field: 'retentionDays',
      });
    }
    expect(await outcome({ pruneIntervalMs: 0 })).toMatchObject({ field: 'pruneIntervalMs' });
    expect(await readdir(outboxDir)).toEqual([recent]);
  });

  it('deletes, while it runs, the mails it took once they pass the retention', async () => {
    let now = new Date();
    const sink = await startSmtpSink({ outboxDir, port: 0, pruneIntervalMs: 20, clock: { now: () => now } });
    try {
      const reply = await sendMail({
        port: sink.port,
        from: 'sidestep@localhost',
        to: ['ada@example.com'],
        data: eml,
      });
      expect(reply).toMatch(/^250 /);
      expect(await readdir(outboxDir)).toHaveLength(1);

      now = new Date(now.getTime() + 31 * DAY_MS);
      const deadline = Date.now() + 5_000;
      while ((await readdir(outboxDir)).length > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(await readdir(outboxDir)).toEqual([]);
    } finally {
      await sink.stop();
    }
  });

  // The retention is measured on the sink's clock: a mail named by another clock would be pruned at
  // once by a clock ahead of it (or kept for ever by one behind it).
  it('names a mail by the time on its clock, so a clock ahead keeps what it just took', async () => {
    const ahead = new Date(Date.now() + 40 * DAY_MS);
    const sink = await startSmtpSink({
      outboxDir,
      port: 0,
      pruneIntervalMs: 20,
      clock: { now: () => ahead },
    });
    try {
      await sendMail({ port: sink.port, from: 'sidestep@localhost', to: ['ada@example.com'], data: eml });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const kept = await readdir(outboxDir);
      expect(kept).toHaveLength(1);
      expect(outboxFileTime(kept[0] as string)?.getTime()).toBe(ahead.getTime());
    } finally {
      await sink.stop();
    }
  });
});
