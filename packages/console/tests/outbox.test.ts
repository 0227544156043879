import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { listOutbox, readOutboxMail } from '../src/outbox.ts';

let dir: string;

function mail(subject: string, body: string): string {
  return `From: a@example.com\r\nTo: b@example.com\r\nSubject: ${subject}\r\n\r\n${body}\r\n`;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'outbox-'));
  writeFileSync(join(dir, '20261124T100000000Z-a.eml'), mail('first', 'job imp_1'));
  writeFileSync(join(dir, '20261124T110000000Z-b.eml'), mail('second', 'job imp_2'));
  writeFileSync(join(dir, '20261124T120000000Z-c.eml'), mail('third', 'job imp_1'));
  writeFileSync(join(dir, '.20261124T130000000Z-d.eml.tmp'), 'half written');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('listOutbox', () => {
  it('pages newest first by file name, without temporary files', async () => {
    const first = await listOutbox(dir, { limit: 2 });
    expect(first.items.map((item) => item.subject)).toEqual(['third', 'second']);
    expect(first.next).toBe('20261124T110000000Z-b.eml');
    const second = await listOutbox(dir, { limit: 2, cursor: first.next ?? '' });
    expect(second.items.map((item) => item.subject)).toEqual(['first']);
    expect(second.next).toBeNull();
  });

  it("keeps only the mails that mention a job's id", async () => {
    const page = await listOutbox(dir, { mentioning: 'imp_1' });
    expect(page.items.map((item) => item.subject)).toEqual(['third', 'first']);
  });

  it("reads each mail once per job: a live page's next render opens only the mails that came since", async () => {
    const busy = mkdtempSync(join(tmpdir(), 'outbox-'));
    const at = (minute: number) =>
      `20261124T${String(10 + Math.floor(minute / 60)).padStart(2, '0')}${String(minute % 60).padStart(2, '0')}00000Z`;
    for (let minute = 0; minute < 200; minute += 1) {
      writeFileSync(
        join(busy, `${at(minute)}-m${minute}.eml`),
        mail(`mail ${minute}`, minute === 7 ? 'job imp_7' : 'job imp_x'),
      );
    }
    // Every read of a mail's source for a job goes through a FileHandle's readFile.
    const handle = await open(join(busy, `${at(0)}-m0.eml`));
    const fileHandle = Object.getPrototypeOf(handle) as { readFile: (...args: never[]) => unknown };
    await handle.close();
    const reads = jest.spyOn(fileHandle, 'readFile');
    try {
      const first = await listOutbox(busy, { mentioning: 'imp_7' });
      expect(first.items.map((item) => item.subject)).toEqual(['mail 7']);
      expect(reads).toHaveBeenCalledTimes(200);

      reads.mockClear();
      for (let minute = 200; minute < 203; minute += 1) {
        writeFileSync(
          join(busy, `${at(minute)}-m${minute}.eml`),
          mail(`mail ${minute}`, minute === 202 ? 'job imp_7' : 'job imp_x'),
        );
      }
      const again = await listOutbox(busy, { mentioning: 'imp_7' });
      expect(again.items.map((item) => item.subject)).toEqual(['mail 202', 'mail 7']);
      expect(reads).toHaveBeenCalledTimes(3);

      // A mail the outbox's retention deleted is no longer shown.
      rmSync(join(busy, `${at(7)}-m7.eml`));
      expect((await listOutbox(busy, { mentioning: 'imp_7' })).items.map((item) => item.subject)).toEqual([
        'mail 202',
      ]);
    } finally {
      reads.mockRestore();
      rmSync(busy, { recursive: true, force: true });
    }
  });

  it('is empty for an outbox that does not exist yet', async () => {
    expect(await listOutbox(join(dir, 'missing'))).toEqual({ items: [], next: null });
  });
});

describe('readOutboxMail', () => {
  it('refuses a name that is not an outbox file, naming the field', async () => {
    await expect(readOutboxMail(dir, '../etc/passwd.eml')).rejects.toMatchObject({
      name: 'ConsoleError',
      field: 'file',
      status: 404,
    });
    await expect(readOutboxMail(dir, 'missing.eml')).rejects.toMatchObject({ status: 404 });
  });
});
